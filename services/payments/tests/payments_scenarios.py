"""Random sequences of payment commands as callers would send them (Hypothesis strategies),
a player that runs them through the use cases, and the books every sequence must leave
balanced. Shared by the in-memory and the Postgres property tests."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from hypothesis import strategies as st
from payments_examples import after_lost_answers, authorization, cancellation, new_key

from chassis.domain import DomainError
from chassis.uow import UnitOfWork
from payments import service
from payments.domain import (
    CaptureRequest,
    Money,
    Payment,
    PaymentStatus,
    RefundRequest,
    VoidRequest,
)
from payments.ledger import Account
from payments.repository import Repositories
from payments.simulated_processor import SimulatedProcessor

CURRENCIES = ("EUR", "USD", "JPY")
TOKENS = ("tok_visa", "tok_flaky", "tok_declined", "tok_insufficient_funds", "tok_timeout")


@dataclass(frozen=True)
class Authorize:
    token: str
    amount: Money


@dataclass(frozen=True)
class Capture:
    payment: int  # which payment made so far (modulo their number)
    amount_minor: int | None  # None: all
    other_currency: bool  # ask in a currency the payment is not in


@dataclass(frozen=True)
class Void:
    payment: int


@dataclass(frozen=True)
class Refund:
    payment: int
    amount_minor: int | None
    other_currency: bool


@dataclass(frozen=True)
class CancelOrder:
    payment: int
    total_minor: int


@dataclass(frozen=True)
class Replay:
    step: int  # which command sent so far, sent again with its key


Operation = Authorize | Capture | Void | Refund | CancelOrder | Replay

amounts = st.integers(min_value=1, max_value=20_000)
operations = st.lists(
    st.one_of(
        st.builds(
            Authorize,
            st.sampled_from(TOKENS),
            st.builds(Money, st.sampled_from(CURRENCIES), amounts),
        ),
        st.builds(Capture, st.integers(0, 50), st.none() | amounts, st.booleans()),
        st.builds(Void, st.integers(0, 50)),
        st.builds(Refund, st.integers(0, 50), st.none() | amounts, st.booleans()),
        st.builds(CancelOrder, st.integers(0, 50), amounts),
        st.builds(Replay, st.integers(0, 50)),
    ),
    max_size=30,
)


@dataclass
class Sent:
    command: Callable[[], Awaitable[object]]
    outcome: object  # what it answered, when it succeeded (a retry must answer the same)


class Player:
    """Sends the operations one after the other, as well-behaved callers: a lost processor
    answer is retried with the same key; a refusal is accepted."""

    def __init__(
        self, units_of_work: Callable[[], UnitOfWork[Repositories]], processor: SimulatedProcessor
    ) -> None:
        self._uow = units_of_work
        self._processor = processor
        self.payment_ids: list[str] = []
        self._currencies: dict[str, str] = {}
        self._sent: list[Sent] = []

    async def play(self, script: list[Operation]) -> None:
        for operation in script:
            if isinstance(operation, Replay):
                await self._replay(operation.step)
            elif isinstance(operation, Authorize):
                await self._send(self._authorize(operation))
            elif self.payment_ids:
                await self._send(self._command(operation))

    async def payments(self) -> list[Payment]:
        return [await service.get_payment(self._uow(), p) for p in self.payment_ids]

    def _authorize(self, operation: Authorize) -> Callable[[], Awaitable[object]]:
        key, request = new_key(), authorization(operation.token, operation.amount)

        async def authorize() -> Payment:
            payment = await service.authorize_payment(
                self._uow(), self._processor, idempotency_key=key, request=request
            )
            if payment.payment_id not in self._currencies:
                self.payment_ids.append(payment.payment_id)
                self._currencies[payment.payment_id] = payment.currency
            return payment

        return authorize

    def _command(
        self, operation: Capture | Void | Refund | CancelOrder
    ) -> Callable[[], Awaitable[object]]:
        payment_id = self.payment_ids[operation.payment % len(self.payment_ids)]
        currency = self._currencies[payment_id]
        key, uow, processor = new_key(), self._uow, self._processor
        match operation:
            case Capture(amount_minor=amount, other_currency=other):
                capture = CaptureRequest(payment_id, _money(amount, currency, other))
                return lambda: service.capture_payment(
                    uow(), processor, idempotency_key=key, request=capture
                )
            case Void():
                void = VoidRequest(payment_id, "changed plans")
                return lambda: service.void_authorization(
                    uow(), processor, idempotency_key=key, request=void
                )
            case Refund(amount_minor=amount, other_currency=other):
                refund = RefundRequest(payment_id, _money(amount, currency, other), "returned")
                return lambda: service.refund_payment(
                    uow(), processor, idempotency_key=key, request=refund
                )
            case CancelOrder(total_minor=total):
                cancelled = cancellation(payment_id, Money(currency, total))
                return lambda: service.refund_or_void_cancelled_order(
                    uow(), processor, event_id=key, cancellation=cancelled
                )

    async def _send(self, command: Callable[[], Awaitable[object]]) -> None:
        sent = Sent(command, None)
        self._sent.append(sent)
        # Refused, or the processor never answered (ProcessorUnavailable is a DomainError
        # too): the caller gives up.
        with contextlib.suppress(DomainError):
            sent.outcome = await after_lost_answers(command)

    async def _replay(self, step: int) -> None:
        if not self._sent:
            return
        sent = self._sent[step % len(self._sent)]
        if sent.outcome is None:
            return  # it failed: a retry may now succeed, which is not a replay
        assert await sent.command() == sent.outcome, "a replay answered something else"


def _money(amount_minor: int | None, currency: str, other_currency: bool) -> Money | None:
    """The amount in the payment's currency, or (other_currency) in one nobody pays in."""
    if amount_minor is None:
        return None
    return Money("CHF" if other_currency else currency, amount_minor)


def check_books(
    payments: list[Payment],
    balances: dict[str, dict[Account, int]],
    totals_by_currency: dict[str, int],
    processor: SimulatedProcessor,
) -> None:
    """What every sequence leaves true: the ledger balances per currency; each payment's
    accounts hold what the payment says; and the processor's books agree with payments'
    (nothing held, taken or given back twice, no hold payments does not know of)."""
    assert all(total == 0 for total in totals_by_currency.values()), totals_by_currency
    approved = [p for p in payments if p.status is not PaymentStatus.DECLINED]
    for payment in payments:
        assert balances[payment.payment_id] == payment.ledger_balances(), payment
    assert {a.reference for a in processor.authorizations()} == {
        p.processor_reference for p in approved
    }
    for payment in approved:
        held = processor.authorization(payment.processor_reference)
        assert held is not None
        assert held.held == payment.ledger_balances()[Account.AUTHORIZATION_HOLDS]
        assert (held.captured, held.refunded) == (
            payment.captured.amount_minor,
            payment.refunded.amount_minor,
        )
