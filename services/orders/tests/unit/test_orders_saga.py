"""The saga table and its interpreter, with in-memory fakes for the three peers and
chassis.testing.InMemoryUnitOfWork: every failure path, compensation order, derived keys,
retries of transient errors and their bound, crash recovery."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from orders_fakes import Crash, refused, unavailable
from orders_world import World
from sqlalchemy import exc as sa

from chassis.testing import InMemoryUnitOfWork
from orders import saga
from orders.domain import Order, OrderStatus, RejectionReason
from orders.peers import DESTINATION_NOT_SERVED, INSUFFICIENT_STOCK, PROCESSOR_UNAVAILABLE
from orders.repository import Repositories
from orders.runner import SagaRunner
from orders.saga import StepKind, StepState
from shop.orders.v1 import events_pb2

pytestmark = pytest.mark.anyio

FORWARD = ["authorize", "reserve", "create_shipment", "confirm", "capture"]


async def test_the_happy_path_confirms_after_every_step_in_order() -> None:
    world = World()
    order_id = await world.place()
    await world.settle()
    order = world.repos.orders.rows[order_id]  # type: ignore[attr-defined]
    assert order.status is OrderStatus.CONFIRMED
    assert world.methods() == FORWARD
    assert order.payment_id
    assert order.reservation_id
    assert order.shipment_id
    assert world.events() == ["OrderPlaced", "OrderConfirmed"]
    steps = world.repos.sagas.rows[order_id].steps  # type: ignore[attr-defined]
    assert [s.kind for s in steps] == [step.action.kind for step in saga.STEPS]
    assert all(s.state is StepState.SUCCEEDED and s.attempts == 1 for s in steps)
    assert world.repos.sagas.rows[order_id].payment_token == ""  # type: ignore[attr-defined]


async def test_each_call_carries_a_key_derived_from_saga_step_and_side() -> None:
    world = World()
    order_id = await world.place()
    await world.settle()
    keys = [r.key for r in world.peers.received if r.method != "quote"]
    expected = [saga.idempotency_key(order_id, s.action.kind, False) for s in saga.STEPS]
    assert keys == expected
    assert len(set(keys)) == 5
    assert saga.idempotency_key(order_id, StepKind.AUTHORIZE_PAYMENT, True) not in keys


async def test_a_declined_card_rejects_at_once_with_nothing_to_undo() -> None:
    world = World()
    world.peers.declined = True
    order_id = await world.place()
    await world.settle()
    order = world.repos.orders.rows[order_id]  # type: ignore[attr-defined]
    assert order.status is OrderStatus.REJECTED
    assert order.rejection_reason is RejectionReason.PAYMENT_DECLINED
    assert "declined" in order.rejection_detail
    assert world.methods() == ["authorize"]
    rejected = world.uow.committed[-1].event
    assert isinstance(rejected, events_pb2.OrderRejected)


async def test_out_of_stock_voids_the_authorization() -> None:
    world = World()
    world.peers.fail["reserve"] = [refused(grpc.StatusCode.FAILED_PRECONDITION, INSUFFICIENT_STOCK)]
    order_id = await world.place()
    await world.settle()
    order = world.repos.orders.rows[order_id]  # type: ignore[attr-defined]
    assert order.rejection_reason is RejectionReason.OUT_OF_STOCK
    assert world.methods() == ["authorize", "reserve", "void"]
    assert not world.peers.open_authorizations()
    void_key = world.peers.calls("void")[0].key
    assert void_key == saga.idempotency_key(order_id, StepKind.AUTHORIZE_PAYMENT, True)


async def test_shipping_refusal_compensates_in_reverse_order() -> None:
    world = World()
    world.peers.fail["create_shipment"] = [
        refused(grpc.StatusCode.FAILED_PRECONDITION, DESTINATION_NOT_SERVED)
    ]
    order_id = await world.place()
    await world.settle()
    order = world.repos.orders.rows[order_id]  # type: ignore[attr-defined]
    assert order.rejection_reason is RejectionReason.DESTINATION_NOT_SERVED
    assert world.methods() == ["authorize", "reserve", "create_shipment", "release", "void"]
    assert not world.peers.open_authorizations()
    assert not world.peers.open_reservations()
    states = {s.kind: s.state for s in world.repos.sagas.rows[order_id].steps}  # type: ignore[attr-defined]
    assert states[StepKind.AUTHORIZE_PAYMENT] is StepState.COMPENSATED
    assert states[StepKind.RESERVE_STOCK] is StepState.COMPENSATED
    assert states[StepKind.CREATE_SHIPMENT] is StepState.FAILED


async def test_a_failed_confirm_cancels_the_shipment_too() -> None:
    world = World()
    world.peers.fail["confirm"] = [
        refused(grpc.StatusCode.INTERNAL, INSUFFICIENT_STOCK)  # any permanent failure
    ]
    order_id = await world.place()
    await world.settle()
    assert world.methods() == [
        "authorize", "reserve", "create_shipment", "confirm",
        "cancel_shipment", "release", "void",
    ]  # fmt: skip
    order = world.repos.orders.rows[order_id]  # type: ignore[attr-defined]
    assert order.status is OrderStatus.REJECTED
    assert order.rejection_reason is RejectionReason.INTERNAL_ERROR


async def test_transient_errors_are_retried_with_the_same_key_then_succeed() -> None:
    world = World()
    world.peers.fail["reserve"] = [unavailable(), unavailable(), None]
    order_id = await world.place()
    await world.settle()
    assert world.repos.orders.rows[order_id].status is OrderStatus.CONFIRMED  # type: ignore[attr-defined]
    reserves = world.peers.calls("reserve")
    assert len(reserves) == 3
    assert len({r.key for r in reserves}) == 1
    record = world.repos.sagas.rows[order_id].record(StepKind.RESERVE_STOCK)  # type: ignore[attr-defined]
    assert record.attempts == 3
    assert record.last_error.startswith("UNAVAILABLE")


async def test_transient_errors_are_bounded_then_compensated() -> None:
    """A processor that never answers (tok_timeout): retried up to the bound, then REJECTED
    with PAYMENT_ERROR; nothing was authorized, so nothing is voided."""
    world = World()
    bound = saga.STEPS[0].action.retry.max_attempts
    world.peers.fail["authorize"] = [unavailable(PROCESSOR_UNAVAILABLE)] * 10
    order_id = await world.place()
    await world.settle()
    order = world.repos.orders.rows[order_id]  # type: ignore[attr-defined]
    assert order.rejection_reason is RejectionReason.PAYMENT_ERROR
    assert len(world.peers.calls("authorize")) == bound
    assert world.methods() == ["authorize"] * bound


def test_the_backoff_is_jittered_and_capped() -> None:
    policy = saga.RetryPolicy(max_attempts=9, first_delay_s=0.2, max_delay_s=1.0)
    assert policy.delay_s(1, lambda: 1.0) == pytest.approx(0.2)
    assert policy.delay_s(2, lambda: 1.0) == pytest.approx(0.4)
    assert policy.delay_s(8, lambda: 1.0) == pytest.approx(1.0)
    assert policy.delay_s(3, lambda: 0.5) == pytest.approx(0.4)


async def test_a_crash_mid_step_resumes_with_the_same_key_and_no_second_effect() -> None:
    """The runner dies after persisting RESERVE_STOCK as RUNNING and after inventory took
    effect: a fresh runner (same instance restarted) calls again with the same key."""
    world = World()
    order_id = await world.place()
    world.peers.fail["create_shipment"] = [Crash()]  # dies in the call
    with pytest.raises(Crash):
        await world.runner.run_once()
    assert world.methods() == ["authorize", "reserve", "create_shipment"]
    running = world.repos.sagas.rows[order_id].record(StepKind.CREATE_SHIPMENT)  # type: ignore[attr-defined]
    assert running.state is StepState.RUNNING
    fresh = SagaRunner(lambda: world.uow, world.peers.peers(), owner="orders-1", clock=world.clock)
    assert await fresh.resume() == 1
    await fresh.run_once()
    assert world.repos.orders.rows[order_id].status is OrderStatus.CONFIRMED  # type: ignore[attr-defined]
    assert len(world.peers.authorizations) == 1
    assert len(world.peers.reservations) == 1
    assert len({r.key for r in world.peers.calls("create_shipment")}) == 1


async def test_another_instance_takes_over_only_after_the_step_deadline() -> None:
    world = World()
    order_id = await world.place()
    world.peers.fail["authorize"] = [Crash()]
    with pytest.raises(Crash):
        await world.runner.run_once()
    other = SagaRunner(lambda: world.uow, world.peers.peers(), owner="orders-2", clock=world.clock)
    await other.run_once()
    assert world.methods() == ["authorize"]  # leased: not due yet
    world.clock.advance(saga.STEPS[0].action.deadline.total_seconds() + 1)
    await other.run_once()
    assert world.repos.orders.rows[order_id].status is OrderStatus.CONFIRMED  # type: ignore[attr-defined]
    assert len(world.peers.authorizations) == 1


async def test_a_saga_past_its_time_limit_is_compensated_as_timed_out() -> None:
    world = World()
    world.peers.fail["create_shipment"] = [unavailable()] * 3
    order_id = await world.place()
    await world.runner.run_once()
    world.clock.advance(saga.SAGA_TIME_LIMIT.total_seconds() + 1)
    await world.settle()
    order = world.repos.orders.rows[order_id]  # type: ignore[attr-defined]
    assert order.rejection_reason is RejectionReason.TIMED_OUT
    assert not world.peers.open_authorizations()
    assert not world.peers.open_reservations()


async def test_a_compensation_retries_transient_errors_until_it_succeeds() -> None:
    world = World()
    world.peers.fail["reserve"] = [refused(grpc.StatusCode.FAILED_PRECONDITION, INSUFFICIENT_STOCK)]
    world.peers.fail["void"] = [unavailable()] * 6
    order_id = await world.place()
    await world.settle()
    assert world.repos.orders.rows[order_id].status is OrderStatus.REJECTED  # type: ignore[attr-defined]
    assert len(world.peers.calls("void")) == 7
    assert not world.peers.open_authorizations()


async def test_a_saga_whose_outcome_could_not_be_recorded_is_driven_again_at_once() -> None:
    """The pool is busy when the authorization's outcome is to be recorded: the runner
    drives the saga again shortly (the same key: one authorization), instead of leaving
    it until the step's deadline (the clock here never gets there)."""
    world = World()
    order_id = await world.place()
    entered = 0

    def busy_on_the_fourth() -> InMemoryUnitOfWork[Repositories]:
        nonlocal entered
        entered += 1  # resume, claim, before the authorization, its outcome
        if entered == 4:
            raise sa.TimeoutError("QueuePool limit reached")
        return world.uow

    runner = SagaRunner(
        busy_on_the_fourth, world.peers.peers(), owner="orders-1", clock=world.clock
    )
    running = asyncio.create_task(runner.run())
    try:
        async with asyncio.timeout(10):
            while world.repos.orders.rows[order_id].status is not OrderStatus.CONFIRMED:  # type: ignore[attr-defined]
                await asyncio.sleep(0.01)
    finally:
        running.cancel()
    assert [r.method for r in world.peers.calls("authorize")] == ["authorize", "authorize"]
    assert len({r.key for r in world.peers.calls("authorize")}) == 1
    assert len(world.peers.authorizations) == 1


@pytest.mark.parametrize("turns", range(6))
async def test_the_runner_stops_when_cancelled_even_as_it_is_woken(turns: int) -> None:
    """A cancellation that arrives as a wake-up does (shutdown while a saga finishes) stops
    the runner: asyncio.wait_for would return the wake-up and lose it (it hung CI)."""
    world = World()
    task = asyncio.create_task(world.runner.run())
    for _ in range(20):
        await asyncio.sleep(0)  # resumed nothing, now idle waiting for a wake-up
    world.runner.wake()
    for _ in range(turns):  # a cancellation landing at each point of the wake-up's way in
        await asyncio.sleep(0)
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=2)
    if not done:
        task.cancel()  # no hang if it fails: cancelled again, once the wake-up is consumed
    assert task in done, "the runner lost its cancellation and ran on"
    assert task.cancelled()


@pytest.mark.parametrize(
    ("step", "undo"),
    [("authorize", "void"), ("reserve", "release"), ("create_shipment", "cancel_shipment")],
)
async def test_a_step_done_whose_answers_were_lost_is_found_out_and_undone(
    step: str, undo: str
) -> None:
    """Every call of the step takes effect at the peer but its answer is lost (deadline):
    the saga gives up on it, and before compensating replays it with the same key, learns
    what was made, and undoes it too. Nothing is left authorized, reserved or shipped."""
    world = World()
    index = ["authorize", "reserve", "create_shipment"].index(step)
    bound = saga.STEPS[index].action.retry.max_attempts
    world.peers.lose_answers[step] = bound
    order_id = await world.place()
    await world.settle()
    order = world.repos.orders.rows[order_id]  # type: ignore[attr-defined]
    assert order.status is OrderStatus.REJECTED
    calls = world.peers.calls(step)
    assert len(calls) == bound + 1  # the bound, then the replay that learns the outcome
    assert len({c.key for c in calls}) == 1
    assert world.methods()[-(index + 1)] == undo  # undone first, then the earlier steps
    assert not world.peers.open_authorizations()
    assert not world.peers.open_reservations()
    assert not world.peers.open_shipments(confirmed=False)


async def test_a_replay_answered_with_a_refusal_has_nothing_to_undo() -> None:
    """The authorization's answers are lost, and its replay is answered: the processor is
    down (a reason, so payments says what it did: nothing). No void is called."""
    world = World()
    bound = saga.STEPS[0].action.retry.max_attempts
    world.peers.fail["authorize"] = [TimeoutError()] * bound + [unavailable(PROCESSOR_UNAVAILABLE)]
    order_id = await world.place()
    await world.settle()
    order = world.repos.orders.rows[order_id]  # type: ignore[attr-defined]
    assert order.rejection_reason is RejectionReason.PAYMENT_ERROR
    assert world.methods() == ["authorize"] * (bound + 1)
    assert world.repos.sagas.rows[order_id].payment_token == ""  # type: ignore[attr-defined]


async def test_a_replay_without_an_answer_is_tried_again_until_one_comes() -> None:
    world = World()
    bound = saga.STEPS[1].action.retry.max_attempts
    world.peers.lose_answers["reserve"] = bound
    world.peers.fail["reserve"] = [None] * bound + [unavailable()] * 5
    order_id = await world.place()
    await world.settle(rounds=200)
    assert world.repos.orders.rows[order_id].status is OrderStatus.REJECTED  # type: ignore[attr-defined]
    assert len(world.peers.calls("reserve")) == bound + 6
    assert not world.peers.open_reservations()
    assert not world.peers.open_authorizations()


async def test_a_step_running_when_the_saga_ran_out_of_time_is_found_out_and_undone() -> None:
    """The runner died in CREATE_SHIPMENT after shipping made the shipment; nobody took
    the saga back before its time limit. Compensating replays the shipment, then cancels."""
    world = World()
    order_id = await world.place()
    world.peers.fail["create_shipment"] = [None]
    world.peers.lose_answers["create_shipment"] = 1
    original = world.peers.create_shipment

    async def made_then_died(key: str, order: Order) -> str:
        try:
            return await original(key, order)
        except TimeoutError:
            raise Crash() from None

    world.peers.create_shipment = made_then_died  # type: ignore[method-assign]
    with pytest.raises(Crash):
        await world.runner.run_once()
    world.peers.create_shipment = original  # type: ignore[method-assign]
    world.clock.advance(saga.SAGA_TIME_LIMIT.total_seconds() + 1)
    await world.settle()
    order = world.repos.orders.rows[order_id]  # type: ignore[attr-defined]
    assert order.rejection_reason is RejectionReason.TIMED_OUT
    assert len(world.peers.shipments) == 1
    assert not world.peers.open_shipments(confirmed=False)
    assert not world.peers.open_reservations()
    assert not world.peers.open_authorizations()
