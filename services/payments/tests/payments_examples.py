"""Example requests and payments shared by the payments unit and integration tests."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import TypeVar

from hypothesis import HealthCheck, settings

from chassis.uow import SqlUnitOfWork
from payments import domain
from payments.domain import (
    Approval,
    AuthorizationRequest,
    Decline,
    DeclineReason,
    Money,
    OrderCancellation,
    Payment,
    ProcessorUnavailable,
)
from payments.repository import Repositories

T = TypeVar("T")
UnitsOfWork = Callable[[], SqlUnitOfWork[Repositories]]

ORDER_ID = "0b4f1d0e-5c1a-4d6e-9f3b-7a2c8e6d1f40"
CUSTOMER_ID = "customer-42"
EUR_100 = Money("EUR", 10_000)
NOW = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)

# Property tests: no wall-clock deadline (a loaded machine is not a failure), no example
# database written into the checkout, and fixtures shared across examples on purpose
# (each example works on payments of its own).
PROPERTIES = settings(
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def new_key() -> str:
    return str(uuid.uuid4())


def authorization(
    token: str = "tok_visa", amount: Money = EUR_100, **changes: object
) -> AuthorizationRequest:
    base = AuthorizationRequest(
        order_id=ORDER_ID, customer_id=CUSTOMER_ID, amount=amount, payment_token=token
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def authorized_payment(amount: Money = EUR_100, payment_id: str = "") -> Payment:
    """A payment as the domain makes it when the processor approves."""
    change = domain.authorize(
        payment_id or str(uuid.uuid4()),
        authorization(amount=amount),
        Approval("simauth_example"),
        NOW,
    )
    return change.payment


def declined_payment(reason: DeclineReason = DeclineReason.PROCESSOR_DECLINED) -> Payment:
    change = domain.authorize(
        str(uuid.uuid4()), authorization(), Decline("simauth_declined", reason), NOW
    )
    return change.payment


def cancellation(
    payment_id: str | None, total: Money = EUR_100, order_id: str = ORDER_ID
) -> OrderCancellation:
    return OrderCancellation(
        order_id=order_id, payment_id=payment_id, total=total, reason="changed my mind"
    )


async def after_lost_answers(command: Callable[[], Awaitable[T]], attempts: int = 3) -> T:
    """Runs the command as a well-behaved caller does: again, with the same idempotency key
    (inside `command`), while the processor's answer is lost."""
    for _ in range(attempts - 1):
        try:
            return await command()
        except ProcessorUnavailable:
            continue
    return await command()
