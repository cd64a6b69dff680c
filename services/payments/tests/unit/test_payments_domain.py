"""The payment state machine: which transitions it allows, what each leaves behind, and
the contract's refusal for every one it does not allow."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from payments_examples import (
    EUR_100,
    NOW,
    ORDER_ID,
    authorization,
    authorized_payment,
    cancellation,
    declined_payment,
)

from payments import domain
from payments.domain import (
    Approval,
    AuthorizationRequest,
    CaptureExceedsAuthorization,
    CurrencyMismatch,
    Decline,
    DeclineReason,
    InvalidPayment,
    Money,
    Payment,
    PaymentAlreadyCaptured,
    PaymentNotAuthorized,
    PaymentNotCaptured,
    PaymentOrderMismatch,
    PaymentStatus,
    Refunded,
    RefundExceedsCapture,
    Voided,
)
from payments.ledger import Account, MovementKind

LATER = NOW + timedelta(minutes=5)


def eur(amount_minor: int) -> Money:
    return Money("EUR", amount_minor)


def captured_payment(amount: int = 10_000, of: int = 10_000) -> Payment:
    return domain.capture(authorized_payment(eur(of)), eur(amount), LATER).payment


def refund(payment: Payment, amount: int | None) -> Refunded:
    change = domain.refund(payment, None if amount is None else eur(amount), "", LATER)
    assert change is not None
    return change


# --- authorize -------------------------------------------------------------------------------


def test_an_approval_makes_an_authorized_payment_that_holds_the_amount() -> None:
    change = domain.authorize("p-1", authorization(), Approval("simauth_1"), NOW)

    payment = change.payment
    assert isinstance(change, domain.Authorized)
    assert (payment.status, payment.version) == (PaymentStatus.AUTHORIZED, 1)
    assert (payment.authorized, payment.captured, payment.refunded) == (EUR_100, eur(0), eur(0))
    assert payment.processor_reference == "simauth_1"
    assert change.movement.kind is MovementKind.AUTHORIZATION


def test_a_decline_makes_a_declined_payment_with_its_reason_and_moves_no_money() -> None:
    change = domain.authorize(
        "p-1", authorization(), Decline("simauth_2", DeclineReason.INSUFFICIENT_FUNDS), NOW
    )

    assert isinstance(change, domain.Declined)
    assert change.payment.status is PaymentStatus.DECLINED
    assert change.payment.decline_reason is DeclineReason.INSUFFICIENT_FUNDS
    assert not hasattr(change, "movement")


@pytest.mark.parametrize("token", ["4242424242424242", "4111111111111111", "0"])
def test_a_card_number_is_refused_as_a_payment_token(token: str) -> None:
    with pytest.raises(InvalidPayment) as raised:
        authorization(token=token)
    assert raised.value.field == "payment_token"
    assert token not in str(raised.value)


def test_the_payment_token_never_appears_in_a_requests_repr() -> None:
    request = authorization(token="tok_secret_looking")

    assert "tok_secret_looking" not in repr(request)
    assert "tok_secret_looking" not in str(request)


def test_an_authorization_must_be_for_more_than_zero() -> None:
    with pytest.raises(InvalidPayment) as raised:
        AuthorizationRequest(ORDER_ID, "c", eur(0), "tok_visa")
    assert raised.value.field == "amount.amount_minor"


# --- capture ---------------------------------------------------------------------------------


def test_capturing_all_takes_the_authorized_amount() -> None:
    change = domain.capture(authorized_payment(), None, LATER)

    assert change.payment.status is PaymentStatus.CAPTURED
    assert change.payment.captured == EUR_100
    assert change.amount == EUR_100
    assert (change.payment.version, change.payment.updated_at) == (2, LATER)


def test_capturing_part_takes_that_part_and_releases_the_rest() -> None:
    change = domain.capture(authorized_payment(), eur(6_000), LATER)

    assert change.payment.captured == eur(6_000)
    assert change.payment.authorized == EUR_100  # what was authorized stays on record
    assert change.payment.ledger_balances()[Account.AUTHORIZATION_HOLDS] == 0


def test_capturing_more_than_authorized_is_refused() -> None:
    with pytest.raises(CaptureExceedsAuthorization) as raised:
        domain.capture(authorized_payment(), eur(10_001), LATER)
    assert raised.value.metadata["authorized_amount_minor"] == "10000"
    assert raised.value.metadata["requested_amount_minor"] == "10001"


def test_capturing_in_another_currency_is_refused_naming_the_field() -> None:
    with pytest.raises(CurrencyMismatch) as raised:
        domain.capture(authorized_payment(), Money("USD", 100), LATER)
    assert raised.value.field == "amount.currency_code"
    assert raised.value.metadata["payment_currency"] == "EUR"


def test_capturing_twice_is_refused_as_already_captured() -> None:
    with pytest.raises(PaymentAlreadyCaptured):
        domain.capture(captured_payment(), eur(1), LATER)


@pytest.mark.parametrize(
    "payment",
    [
        pytest.param(declined_payment(), id="declined"),
        pytest.param(
            domain.void(authorized_payment(), "", LATER).payment,  # type: ignore[union-attr]
            id="voided",
        ),
    ],
)
def test_capturing_a_payment_that_holds_nothing_is_not_authorized(payment: Payment) -> None:
    with pytest.raises(PaymentNotAuthorized) as raised:
        domain.capture(payment, None, LATER)
    assert raised.value.metadata["status"] == payment.status.value


# --- void ------------------------------------------------------------------------------------


def test_voiding_an_authorization_releases_its_hold() -> None:
    change = domain.void(authorized_payment(), "out of stock", LATER)

    assert isinstance(change, Voided)
    assert change.payment.status is PaymentStatus.VOIDED
    assert change.reason == "out of stock"
    assert change.movement.kind is MovementKind.VOID


def test_voiding_what_holds_nothing_changes_nothing() -> None:
    voided = domain.void(authorized_payment(), "", LATER)
    assert voided is not None

    assert domain.void(voided.payment, "", LATER) is None
    assert domain.void(declined_payment(), "", LATER) is None


def test_voiding_after_capture_is_refused_as_already_captured() -> None:
    with pytest.raises(PaymentAlreadyCaptured):
        domain.void(captured_payment(), "", LATER)


# --- refund ----------------------------------------------------------------------------------


def test_partial_refunds_add_up_until_the_capture_is_refunded() -> None:
    first = refund(captured_payment(amount=8_000), 3_000)
    second = refund(first.payment, 5_000)

    assert first.payment.status is PaymentStatus.PARTIALLY_REFUNDED
    assert first.payment.refundable == eur(5_000)
    assert second.payment.status is PaymentStatus.REFUNDED
    assert second.payment.refunded == eur(8_000)
    assert (second.amount, second.payment.version) == (eur(5_000), 4)


def test_a_full_refund_gives_back_what_remains() -> None:
    partly = refund(captured_payment(), 2_500)

    rest = refund(partly.payment, None)

    assert rest.amount == eur(7_500)
    assert rest.payment.status is PaymentStatus.REFUNDED


def test_refunding_more_than_remains_is_refused() -> None:
    partly = refund(captured_payment(), 9_000)

    with pytest.raises(RefundExceedsCapture) as raised:
        domain.refund(partly.payment, eur(1_001), "", LATER)
    assert raised.value.metadata["refundable_amount_minor"] == "1000"


def test_refunding_everything_when_nothing_remains_changes_nothing() -> None:
    refunded = refund(captured_payment(), None).payment

    assert domain.refund(refunded, None, "", LATER) is None
    with pytest.raises(RefundExceedsCapture):  # a stated amount is more than remains
        domain.refund(refunded, eur(1), "", LATER)


def test_refunding_in_another_currency_is_refused() -> None:
    with pytest.raises(CurrencyMismatch):
        domain.refund(captured_payment(), Money("GBP", 1), "", LATER)


@pytest.mark.parametrize(
    "payment",
    [
        pytest.param(authorized_payment(), id="authorized"),
        pytest.param(declined_payment(), id="declined"),
    ],
)
def test_refunding_what_was_never_captured_is_refused(payment: Payment) -> None:
    with pytest.raises(PaymentNotCaptured):
        domain.refund(payment, None, "", LATER)


def test_a_reason_longer_than_the_contract_allows_is_refused() -> None:
    with pytest.raises(InvalidPayment) as raised:
        domain.void(authorized_payment(), "x" * 501, LATER)
    assert raised.value.field == "reason"


# --- the aggregate's invariants --------------------------------------------------------------


def test_a_payment_cannot_be_built_with_refunds_above_its_capture() -> None:
    payment = captured_payment(amount=5_000)

    with pytest.raises(InvalidPayment):
        replace(payment, refunded=eur(5_001))


def test_a_payment_cannot_mix_currencies() -> None:
    payment = authorized_payment()

    with pytest.raises(InvalidPayment):
        replace(payment, captured=Money("USD", 0))


def test_money_of_different_currencies_does_not_add_up() -> None:
    with pytest.raises(ValueError, match="cannot combine"):
        _ = eur(1) + Money("USD", 1)


# --- a cancelled order -----------------------------------------------------------------------


def test_a_cancelled_orders_authorization_is_voided_with_the_cancellation_reason() -> None:
    payment = authorized_payment()

    change = domain.settle_cancellation(payment, cancellation(payment.payment_id), LATER)

    assert isinstance(change, Voided)
    assert change.reason == "order cancelled: changed my mind"


def test_a_cancelled_orders_capture_is_refunded_up_to_the_orders_total() -> None:
    partly = refund(captured_payment(), 1_000).payment  # support gave 10.00 back already

    change = domain.settle_cancellation(partly, cancellation(partly.payment_id), LATER)

    assert isinstance(change, Refunded)
    assert change.amount == eur(9_000)
    assert change.payment.status is PaymentStatus.REFUNDED


def test_a_cancellation_never_refunds_more_than_the_orders_total() -> None:
    payment = captured_payment()

    change = domain.settle_cancellation(
        payment, cancellation(payment.payment_id, total=eur(4_000)), LATER
    )

    assert isinstance(change, Refunded)
    assert change.amount == eur(4_000)
    assert change.payment.status is PaymentStatus.PARTIALLY_REFUNDED


@pytest.mark.parametrize(
    "payment",
    [
        pytest.param(declined_payment(), id="declined"),
        pytest.param(refund(captured_payment(), None).payment, id="refunded"),
    ],
)
def test_a_cancellation_leaves_a_payment_with_nothing_held_or_left_alone(
    payment: Payment,
) -> None:
    assert domain.settle_cancellation(payment, cancellation(payment.payment_id), LATER) is None


def test_a_cancellation_naming_another_orders_payment_is_refused() -> None:
    payment = authorized_payment()
    other_order = cancellation(payment.payment_id, order_id="9d2e1c8b-0000-4000-8000-000000000000")

    with pytest.raises(PaymentOrderMismatch):
        domain.settle_cancellation(payment, other_order, LATER)
