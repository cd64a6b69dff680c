"""The double-entry ledger in the domain: every movement balances, and the movements of a
payment's transitions always add up to what the payment says it holds, took and gave back."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from payments_examples import NOW, PROPERTIES, authorization

from chassis.domain import DomainError
from payments import domain, ledger
from payments.domain import Approval, Money, Payment
from payments.ledger import Account, Movement, MovementKind, Origin, Posting, UnbalancedMovement

ORIGIN = Origin("p-1", 2, "EUR", NOW)


def test_a_partial_capture_takes_part_and_returns_the_rest_of_the_hold() -> None:
    movement = ledger.capture(ORIGIN, authorized=10_000, captured=6_000)

    assert {p.account: p.amount_minor for p in movement.postings} == {
        Account.AUTHORIZATION_HOLDS: -10_000,
        Account.PROCESSOR_SETTLEMENT: 6_000,
        Account.CUSTOMER_CARDS: 4_000,
    }


def test_a_full_capture_posts_no_zero_entry() -> None:
    movement = ledger.capture(ORIGIN, authorized=10_000, captured=10_000)

    assert {p.account for p in movement.postings} == {
        Account.AUTHORIZATION_HOLDS,
        Account.PROCESSOR_SETTLEMENT,
    }


@pytest.mark.parametrize(
    "postings",
    [
        pytest.param(
            (Posting(Account.CUSTOMER_CARDS, -5), Posting(Account.AUTHORIZATION_HOLDS, 4)),
            id="unbalanced",
        ),
        pytest.param(
            (Posting(Account.CUSTOMER_CARDS, 0), Posting(Account.AUTHORIZATION_HOLDS, 0)), id="zero"
        ),
        pytest.param((Posting(Account.CUSTOMER_CARDS, 0),), id="single"),
        pytest.param(
            (Posting(Account.CUSTOMER_CARDS, -1), Posting(Account.CUSTOMER_CARDS, 1)),
            id="same-account",
        ),
    ],
)
def test_a_movement_that_does_not_balance_cannot_be_built(postings: tuple[Posting, ...]) -> None:
    with pytest.raises(UnbalancedMovement):
        Movement(ORIGIN, MovementKind.REFUND, postings)


# A payment's life as the API could drive it: which command, and how much (None: all).
Command = tuple[str, int | None]
commands = st.lists(
    st.tuples(
        st.sampled_from(["capture", "void", "refund"]),
        st.none() | st.integers(min_value=1, max_value=12_000),
    ),
    max_size=8,
)


@PROPERTIES
@given(authorized=st.integers(min_value=1, max_value=10_000), life=commands)
def test_a_payments_movements_always_sum_to_what_it_holds_and_took(
    authorized: int, life: list[Command]
) -> None:
    request = authorization(amount=Money("JPY", authorized))
    authorized_change = domain.authorize("p-1", request, Approval("simauth_1"), NOW)
    assert isinstance(authorized_change, domain.Authorized)
    payment, movements = authorized_change.payment, [authorized_change.movement]
    at = NOW
    for name, amount in life:
        at += timedelta(seconds=1)
        change = _apply(payment, name, None if amount is None else Money("JPY", amount), at)
        if change is None:
            continue  # refused, or nothing to do: the payment and the ledger stay as they are
        payment = change.payment
        movements.append(change.movement)

        balances = ledger.balances(movements)
        assert sum(balances.values()) == 0
        per_account = {account: balances.get(("JPY", account), 0) for account in Account}
        assert per_account == payment.ledger_balances()
        assert len({m.origin for m in movements}) == len(movements)  # one per version


def _apply(
    payment: Payment, name: str, amount: Money | None, at: datetime
) -> domain.Captured | domain.Voided | domain.Refunded | None:
    try:
        if name == "capture":
            return domain.capture(payment, amount, at)
        if name == "void":
            return domain.void(payment, "", at)
        return domain.refund(payment, amount, "", at)
    except DomainError:
        return None
