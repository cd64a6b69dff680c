"""Cancelling: a cancel queued while the saga runs (honoured before the next step by
compensating, or, past the confirmed reservation, by finishing and cancelling the
confirmed order), and a confirmed order's cancellation settled by the outcomes payments,
inventory and shipping report. In memory (InMemoryUnitOfWork, fake peers)."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import replace

import grpc
import pytest
from orders_fakes import Clock, command, refused, unavailable
from orders_world import World

from orders import domain, saga
from orders.domain import Order, OrderStatus, PaymentStatus, RejectionReason, Undone
from orders.peers import INSUFFICIENT_STOCK
from orders.saga import Phase, StepKind, StepRecord, StepState

pytestmark = pytest.mark.anyio


# --- a cancel queued while the order is PENDING ------------------------------------------


async def test_a_cancel_queued_before_the_first_step_calls_nobody() -> None:
    world = World()
    order_id = await world.place()
    answered = await world.cancel(order_id)
    assert answered.status is OrderStatus.PENDING  # answered at once; the saga honours it
    assert world.saga(order_id).cancel_requested
    await world.settle()
    order = world.order(order_id)
    assert order.status is OrderStatus.CANCELLED
    assert order.cancel_reason == "changed my mind"
    assert order.rejection_reason is None
    assert world.methods() == []
    assert world.events() == ["OrderPlaced", "OrderCancellationCompleted"]
    assert world.saga(order_id).phase is Phase.CANCELLED


@pytest.mark.parametrize(
    ("during", "compensations"),
    [
        ("authorize", ["void"]),
        ("reserve", ["release", "void"]),
        ("create_shipment", ["cancel_shipment", "release", "void"]),
    ],
)
async def test_a_cancel_queued_mid_step_is_honoured_before_the_next_step(
    during: str, compensations: list[str]
) -> None:
    world = World()
    order_id = await world.place()
    world.during(during, lambda: world.cancel(order_id))
    await world.settle()
    forward = ["authorize", "reserve", "create_shipment"]
    done = forward[: forward.index(during) + 1]
    assert world.methods() == done + compensations  # the call in flight finished first
    order = world.order(order_id)
    assert order.status is OrderStatus.CANCELLED
    assert order.payment_status is PaymentStatus.VOIDED
    assert not world.peers.open_authorizations()
    assert not world.peers.open_reservations()
    assert set(world.peers.shipments.values()) <= world.peers.cancelled_shipments
    # Nobody else has anything to undo: no OrderCancelled, only the final state.
    assert world.events() == ["OrderPlaced", "OrderCancellationCompleted"]
    states = {r.kind: r.state for r in world.saga(order_id).steps}
    assert all(states[k] is StepState.COMPENSATED for k in list(states)[: len(done)])


@pytest.mark.parametrize("during", ["confirm", "capture"])
async def test_a_cancel_queued_past_the_confirmed_reservation_cancels_the_confirmed_order(
    during: str,
) -> None:
    world = World()
    order_id = await world.place()
    world.during(during, lambda: world.cancel(order_id))
    await world.settle()
    assert world.methods() == ["authorize", "reserve", "create_shipment", "confirm", "capture"]
    order = world.order(order_id)
    assert order.status is OrderStatus.CANCELLING
    assert order.cancel_reason == "changed my mind"
    assert world.events() == ["OrderPlaced", "OrderConfirmed", "OrderCancelled"]
    assert world.saga(order_id).phase is Phase.CONFIRMED


async def test_a_cancel_queued_while_the_saga_fails_ends_rejected() -> None:
    world = World()
    world.peers.fail["reserve"] = [refused(grpc.StatusCode.FAILED_PRECONDITION, INSUFFICIENT_STOCK)]
    order_id = await world.place()
    world.during("void", lambda: world.cancel(order_id))
    await world.settle()
    order = world.order(order_id)
    assert order.status is OrderStatus.REJECTED
    assert order.rejection_reason is RejectionReason.OUT_OF_STOCK
    assert world.methods() == ["authorize", "reserve", "void"]


async def test_a_step_waiting_to_retry_finishes_before_a_queued_cancel() -> None:
    world = World()
    world.peers.fail["reserve"] = [unavailable()]
    order_id = await world.place()
    await world.runner.run_once()  # authorize, then reserve fails transiently: retry later
    before = world.saga(order_id)
    await world.cancel(order_id)
    queued = world.saga(order_id)
    assert queued.next_run_at == before.next_run_at  # the retry keeps its backoff
    assert not saga.cancel_takes_effect(queued)  # RESERVE_STOCK is RUNNING (a retry due)
    await world.settle()
    assert world.methods() == ["authorize", "reserve", "reserve", "release", "void"]
    assert world.order(order_id).status is OrderStatus.CANCELLED


# --- the pure decisions ------------------------------------------------------------------


UNDOABLE = (StepKind.AUTHORIZE_PAYMENT, StepKind.RESERVE_STOCK, StepKind.CREATE_SHIPMENT)


def _saga_with(*done: StepKind, running: StepKind | None = None) -> saga.Saga:
    clock = Clock()
    records = [StepRecord(k, StepState.SUCCEEDED, 1, "", clock.now) for k in done]
    if running is not None:
        records.append(StepRecord(running, StepState.RUNNING, 1, "", clock.now))
    return replace(saga.started("o", "tok", clock.now), steps=tuple(records))


@pytest.mark.parametrize(
    ("done", "running", "honoured"),
    [
        ((), None, True),
        ((StepKind.AUTHORIZE_PAYMENT,), None, True),
        ((StepKind.AUTHORIZE_PAYMENT,), StepKind.RESERVE_STOCK, False),
        (
            (StepKind.AUTHORIZE_PAYMENT, StepKind.RESERVE_STOCK, StepKind.CREATE_SHIPMENT),
            None,
            True,
        ),
        (
            (
                StepKind.AUTHORIZE_PAYMENT,
                StepKind.RESERVE_STOCK,
                StepKind.CREATE_SHIPMENT,
                StepKind.CONFIRM_RESERVATION,
            ),
            None,
            False,  # the confirmed reservation has no compensation: finish, then cancel
        ),
        (tuple(step.action.kind for step in saga.STEPS), None, False),  # nothing left to run
    ],
)
def test_a_queued_cancel_takes_effect_only_between_undoable_steps(
    done: tuple[StepKind, ...], running: StepKind | None, honoured: bool
) -> None:
    now = Clock().now
    queued = saga.request_cancel(_saga_with(*done, running=running), "why", now)
    assert saga.cancel_takes_effect(queued) is honoured
    after = saga.honour_cancel(queued, now)
    assert (after.phase is Phase.COMPENSATING) is honoured
    assert after.rejection is None
    assert after.cancelling is honoured
    assert saga.request_cancel(queued, "again", now) is queued  # asked twice: no change


def test_a_leased_saga_keeps_its_lease_time_when_a_cancel_is_queued() -> None:
    now = Clock().now
    leased = replace(_saga_with(), lease="runner-1", next_run_at=now.replace(year=2030))
    assert saga.request_cancel(leased, "", now).next_run_at == leased.next_run_at
    idle = replace(_saga_with(), next_run_at=now.replace(year=2030))
    assert saga.request_cancel(idle, "", now).next_run_at == now


# --- a confirmed order's choreographed cancellation --------------------------------------


async def test_cancelling_a_confirmed_order_publishes_order_cancelled_and_nothing_else() -> None:
    world = World()
    order_id = await world.place()
    await world.settle()
    called = world.methods()
    cancelling = await world.cancel(order_id)
    assert cancelling.status is OrderStatus.CANCELLING
    assert world.methods() == called  # no call: payments, inventory, shipping react on their own
    assert world.events() == ["OrderPlaced", "OrderConfirmed", "OrderCancelled"]
    again = await world.cancel(order_id)
    assert again == cancelling
    assert world.events() == ["OrderPlaced", "OrderConfirmed", "OrderCancelled"]


async def test_a_dispatched_or_rejected_order_is_not_cancellable() -> None:
    world = World()
    order_id = await world.place()
    await world.settle()
    world.peers.dispatched = True
    with pytest.raises(domain.NotCancellable):
        await world.cancel(order_id)
    world.peers.declined = True
    rejected_id = await world.place()
    await world.settle()
    with pytest.raises(domain.NotCancellable):
        await world.cancel(rejected_id)


OUTCOMES = [
    (Undone.PAYMENT_REFUNDED, 2500),
    (Undone.STOCK_RESTOCKED, 0),
    (Undone.SHIPMENT_CANCELLED, 0),
]


@pytest.mark.parametrize("arrival", list(itertools.permutations(OUTCOMES)))
def test_the_last_of_the_three_outcomes_cancels_the_order_in_any_order(
    arrival: tuple[tuple[Undone, int], ...],
) -> None:
    now = Clock().now
    order = _confirmed_order()
    order = domain.cancel(order, reason="", dispatched=False, now=now)
    seen = []
    for undone, refunded in [*arrival, *arrival]:  # each twice: the second changes nothing
        order = domain.record_undone(order, undone, refunded, now)
        seen.append(order.status)
    assert seen[:3] == [OrderStatus.CANCELLING, OrderStatus.CANCELLING, OrderStatus.CANCELLED]
    assert order.status is OrderStatus.CANCELLED
    assert order.version == 2 + 3  # confirmed, cancelling, then one per outcome
    assert (order.payment_undone, order.refunded_minor) == (PaymentStatus.REFUNDED, 2500)


def test_an_outcome_for_an_order_not_cancelling_changes_nothing() -> None:
    order = _confirmed_order()
    for undone, refunded in OUTCOMES:  # a saga's compensation publishes the same events
        assert domain.record_undone(order, undone, refunded, Clock().now) is order


def _confirmed_order() -> Order:
    now = Clock().now
    return Order(
        order_id=str(uuid.uuid4()),
        customer_id="alice",
        status=OrderStatus.CONFIRMED,
        lines=(domain.OrderLine("SKU-1", "Mug", 2, domain.Money("EUR", 1000)),),
        shipping_cost=domain.Money("EUR", 500),
        address=command().address,
        speed=domain.ShippingSpeed.STANDARD,
        created_at=now,
        updated_at=now,
        version=1,
        payment_id="p",
        reservation_id="r",
        shipment_id="s",
    )
