"""The order saga as data: a table of steps (action, compensation, deadline, retry policy,
what a refusal means), its persisted state, and the pure decisions that interpret them.
The runner (runner.py) does the I/O: it persists each step before and after its call.

    authorize payment -> reserve stock -> create shipment -> confirm reservation
      -> capture payment -> CONFIRMED
    a failure: compensate the SUCCEEDED steps in reverse -> REJECTED(reason)
    a cancel queued by CancelOrder (`request_cancel`), seen before the next step: compensate
      the SUCCEEDED steps in reverse -> CANCELLED; unless a step without compensation
      (the confirmed reservation) already succeeded: then finish -> CONFIRMED, and the
      order is cancelled as a confirmed one

Every call carries an idempotency key derived from (saga id, step, action|compensation),
so a step called again (a retry, a resumed saga) has no second effect at the peer.
"""

from __future__ import annotations

import enum
import random
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from chassis.errors import Reason
from orders.domain import Order, RejectionReason
from orders.peers import (
    ALREADY_DISPATCHED,
    DESTINATION_NOT_SERVED,
    INSUFFICIENT_STOCK,
    PAYMENT_ALREADY_CAPTURED,
    PAYMENT_NOT_AUTHORIZED,
    RESERVATION_EXPIRED,
    RESERVATION_NOT_FOUND,
    RESERVATION_RELEASED,
    SHIPMENT_NOT_FOUND,
    STOCK_LEVEL_NOT_FOUND,
    Peers,
    Refused,
)

KEY_NAMESPACE = uuid.UUID("5d0f3c1e-2b7a-4f69-8e1d-7c3b9a4e6f20")  # fixed forever
SAGA_TIME_LIMIT = timedelta(minutes=2)  # forward progress after this: compensate, TIMED_OUT


class StepKind(enum.IntEnum):  # numbers as in shop.orders.v1.SagaStepKind
    AUTHORIZE_PAYMENT = 1
    RESERVE_STOCK = 2
    CREATE_SHIPMENT = 3
    CONFIRM_RESERVATION = 4
    CAPTURE_PAYMENT = 5
    RELEASE_RESERVATION = 6
    VOID_AUTHORIZATION = 7
    CANCEL_SHIPMENT = 8


class StepState(enum.IntEnum):  # shop.orders.v1.SagaStepState
    PENDING = 1
    RUNNING = 2
    SUCCEEDED = 3
    FAILED = 4
    COMPENSATED = 5


class Phase(enum.StrEnum):
    FORWARD = "FORWARD"  # running the actions
    COMPENSATING = "COMPENSATING"  # undoing the succeeded ones, in reverse
    CONFIRMED = "CONFIRMED"  # done: every action succeeded
    REJECTED = "REJECTED"  # done: compensated
    CANCELLED = "CANCELLED"  # done: compensated at the customer's request
    STUCK = "STUCK"  # a compensation was refused for good: an operator must look


UNFINISHED = (Phase.FORWARD, Phase.COMPENSATING)


@dataclass(frozen=True)
class RetryPolicy:
    """Transient failures (PeerError.transient, a missed deadline) are retried with full
    jitter backoff; after `max_attempts` calls a forward step fails (compensations never
    give up: they back off to `max_delay_s` and keep trying)."""

    max_attempts: int = 4
    first_delay_s: float = 0.2
    max_delay_s: float = 5.0

    def delay_s(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        cap: float = min(self.max_delay_s, self.first_delay_s * 2.0 ** (attempt - 1))
        return rand() * cap


Call = Callable[[Peers, Order, str, str], Awaitable[Order]]
"""(peers, order, payment token, idempotency key) -> the order with what the step made."""


@dataclass(frozen=True)
class Action:
    kind: StepKind
    call: Call
    deadline: timedelta  # one call's budget; a saga stuck longer is picked up again
    retry: RetryPolicy = RetryPolicy()


@dataclass(frozen=True)
class Step:
    action: Action
    compensation: Action | None
    refusals: Mapping[Reason, RejectionReason]
    """Peer reasons that are business refusals of the action (compensate at once)."""
    gave_up: RejectionReason
    """Why the order is rejected when the action fails otherwise (retries exhausted)."""
    already_undone: frozenset[Reason] = frozenset()
    """Reasons a compensation may get that mean its work is already done."""


# --- the calls ---------------------------------------------------------------------------


async def authorize(peers: Peers, order: Order, token: str, key: str) -> Order:
    return replace(order, payment_id=await peers.payments.authorize(key, order, token))


async def void(peers: Peers, order: Order, token: str, key: str) -> Order:
    await peers.payments.void(key, order.payment_id, "order rejected")
    return order


async def reserve(peers: Peers, order: Order, token: str, key: str) -> Order:
    return replace(order, reservation_id=await peers.inventory.reserve(key, order))


async def release(peers: Peers, order: Order, token: str, key: str) -> Order:
    await peers.inventory.release(key, order.reservation_id, "order rejected")
    return order


async def create_shipment(peers: Peers, order: Order, token: str, key: str) -> Order:
    return replace(order, shipment_id=await peers.shipping.create_shipment(key, order))


async def cancel_shipment(peers: Peers, order: Order, token: str, key: str) -> Order:
    await peers.shipping.cancel_shipment(key, order.shipment_id, "order rejected")
    return order


async def confirm(peers: Peers, order: Order, token: str, key: str) -> Order:
    await peers.inventory.confirm(key, order.reservation_id)
    return order


async def capture(peers: Peers, order: Order, token: str, key: str) -> Order:
    await peers.payments.capture(key, order.payment_id, order.total)
    return order


FAST = timedelta(seconds=8)
PAYMENT = timedelta(seconds=15)  # the mesh gives AuthorizePayment/CapturePayment 10 s
R = RejectionReason

STEPS: tuple[Step, ...] = (
    Step(
        Action(StepKind.AUTHORIZE_PAYMENT, authorize, PAYMENT),
        Action(StepKind.VOID_AUTHORIZATION, void, PAYMENT),
        refusals={},  # a decline is an answer (Refused), not an error
        gave_up=R.PAYMENT_ERROR,
        already_undone=frozenset({PAYMENT_NOT_AUTHORIZED}),
    ),
    Step(
        Action(StepKind.RESERVE_STOCK, reserve, FAST),
        Action(StepKind.RELEASE_RESERVATION, release, FAST),
        refusals={INSUFFICIENT_STOCK: R.OUT_OF_STOCK, STOCK_LEVEL_NOT_FOUND: R.OUT_OF_STOCK},
        gave_up=R.INTERNAL_ERROR,
        already_undone=frozenset(
            {RESERVATION_RELEASED, RESERVATION_EXPIRED, RESERVATION_NOT_FOUND}
        ),
    ),
    Step(
        Action(StepKind.CREATE_SHIPMENT, create_shipment, FAST),
        Action(StepKind.CANCEL_SHIPMENT, cancel_shipment, FAST),
        refusals={DESTINATION_NOT_SERVED: R.DESTINATION_NOT_SERVED},
        gave_up=R.INTERNAL_ERROR,
        already_undone=frozenset({SHIPMENT_NOT_FOUND}),
    ),
    Step(
        Action(StepKind.CONFIRM_RESERVATION, confirm, FAST),
        None,
        refusals={RESERVATION_EXPIRED: R.TIMED_OUT},
        gave_up=R.INTERNAL_ERROR,
    ),
    Step(
        Action(StepKind.CAPTURE_PAYMENT, capture, PAYMENT),
        None,
        refusals={},
        gave_up=R.PAYMENT_ERROR,
        already_undone=frozenset({PAYMENT_ALREADY_CAPTURED}),
    ),
)
# A shipment dispatched before its cancel is not undone by orders (ALREADY_DISPATCHED): the
# saga is STUCK and an operator looks; with the dispatch delay far beyond the saga's time
# limit it does not happen in practice.
_ = ALREADY_DISPATCHED


# --- the saga's state --------------------------------------------------------------------


@dataclass(frozen=True)
class StepRecord:
    kind: StepKind
    state: StepState
    attempts: int
    last_error: str
    updated_at: datetime
    # Given up on without an answer (a deadline, a lost connection): the peer may have
    # done it. Compensating first replays the action with its key to find out.
    outcome_unknown: bool = False


@dataclass(frozen=True)
class Saga:
    order_id: str
    phase: Phase
    steps: tuple[StepRecord, ...]  # in the order they were first called
    started_at: datetime
    next_run_at: datetime
    payment_token: str = ""  # needed until the authorization; cleared then
    rejection: RejectionReason | None = None
    detail: str = ""
    failed_step: StepKind | None = None
    lease: str = ""
    owner: str = ""
    cancel_requested: bool = False  # CancelOrder while PENDING: honoured before the next step
    cancel_reason: str = ""

    @property
    def cancelling(self) -> bool:
        """Compensating because the customer cancelled (not because a step failed)."""
        return self.phase is Phase.COMPENSATING and self.cancel_requested and self.rejection is None

    def record(self, kind: StepKind) -> StepRecord | None:
        return next((r for r in self.steps if r.kind == kind), None)

    def with_record(self, record: StepRecord) -> Saga:
        if self.record(record.kind) is None:
            return replace(self, steps=(*self.steps, record))
        steps = tuple(record if r.kind == record.kind else r for r in self.steps)
        return replace(self, steps=steps)


def started(order_id: str, payment_token: str, now: datetime) -> Saga:
    return Saga(order_id, Phase.FORWARD, (), now, now, payment_token=payment_token)


def idempotency_key(order_id: str, kind: StepKind, compensating: bool) -> str:
    """Derived, so every call of one step (retries, resumptions) carries the same key."""
    side = "compensation" if compensating else "action"
    return str(uuid.uuid5(KEY_NAMESPACE, f"{order_id}/{kind.name}/{side}"))


@dataclass(frozen=True)
class Next:
    """The call to make next."""

    step: Step
    action: Action
    compensating: bool

    @property
    def key_for(self) -> Callable[[str], str]:
        return lambda order_id: idempotency_key(order_id, self.action.kind, self.compensating)


def next_call(saga: Saga) -> Next | None:
    """What the saga calls next; None when its phase is over (all done or all undone)."""
    if saga.phase is Phase.FORWARD:
        for step in STEPS:
            record = saga.record(step.action.kind)
            if record is None or record.state in (StepState.PENDING, StepState.RUNNING):
                return Next(step, step.action, compensating=False)
        return None
    if saga.phase is Phase.COMPENSATING:
        for step in reversed(STEPS):
            record = saga.record(step.action.kind)
            if step.compensation is None or record is None:
                continue
            if record.state is StepState.FAILED and record.outcome_unknown:
                # Replayed with its key, the peer answers with what it did the first
                # time, or does it now; either way it is then undone like the others.
                return Next(step, step.action, compensating=False)
            if record.state is StepState.SUCCEEDED:
                return Next(step, step.compensation, compensating=True)
        return None
    return None


def before_call(saga: Saga, call: Next, now: datetime) -> Saga:
    """Persisted before the call: RUNNING, one more attempt, and leased for its deadline
    (if this runner dies, another picks the saga up once the deadline has passed)."""
    record = saga.record(call.action.kind)
    attempts = (record.attempts if record else 0) + 1
    error = record.last_error if record else ""
    running = StepRecord(call.action.kind, StepState.RUNNING, attempts, error, now)
    return replace(saga.with_record(running), next_run_at=now + call.action.deadline)


def succeeded(saga: Saga, call: Next, now: datetime) -> Saga:
    record = saga.record(call.action.kind)
    assert record is not None
    saga = saga.with_record(replace(record, state=StepState.SUCCEEDED, updated_at=now))
    if call.compensating:
        undone = saga.record(call.step.action.kind)
        assert undone is not None
        saga = saga.with_record(replace(undone, state=StepState.COMPENSATED, updated_at=now))
    if call.action.kind is StepKind.AUTHORIZE_PAYMENT:
        saga = replace(saga, payment_token="")
    return replace(saga, next_run_at=now)


@dataclass(frozen=True)
class Failure:
    """How a call failed, as the saga sees it."""

    error: str  # "<code>: <reason>" for the timeline
    transient: bool
    refusal: RejectionReason | None = None  # a business refusal
    reason: Reason | None = None
    detail: str = ""
    unknown: bool = False  # no answer from the peer: it may have done it


def failed(
    saga: Saga, call: Next, failure: Failure, now: datetime, rand: Callable[[], float]
) -> Saga:
    """After a failed call: retry later, fail the step and compensate, or (for a
    compensation refused for good) stop STUCK."""
    record = saga.record(call.action.kind)
    assert record is not None
    record = replace(record, last_error=failure.error, updated_at=now)
    retry = call.action.retry
    if saga.phase is Phase.COMPENSATING and not call.compensating:
        return _replayed(saga, record, failure, now, rand)
    if call.compensating:
        if failure.reason is not None and failure.reason in call.step.already_undone:
            return succeeded(saga.with_record(record), call, now)
        if failure.transient:
            delay = min(retry.max_delay_s, retry.delay_s(record.attempts, rand))
            return replace(saga.with_record(record), next_run_at=now + timedelta(seconds=delay))
        return replace(
            saga.with_record(replace(record, state=StepState.FAILED)),
            phase=Phase.STUCK,
            failed_step=call.action.kind,
            detail=f"{call.action.kind.name} refused: {failure.error}",
        )
    if failure.transient and failure.refusal is None and record.attempts < retry.max_attempts:
        delay = retry.delay_s(record.attempts, rand)
        return replace(saga.with_record(record), next_run_at=now + timedelta(seconds=delay))
    reason = failure.refusal or call.step.gave_up
    detail = failure.detail or f"{call.action.kind.name} failed: {failure.error}"
    if failure.transient and failure.refusal is None:
        detail = f"{call.action.kind.name} failed {record.attempts} times: {failure.error}"
    gave_up = replace(record, state=StepState.FAILED, outcome_unknown=failure.unknown)
    return compensate(saga.with_record(gave_up), reason, detail, now)


def _replayed(
    saga: Saga, record: StepRecord, failure: Failure, now: datetime, rand: Callable[[], float]
) -> Saga:
    """An action replayed to learn its outcome failed again: with no answer, try again
    later (never give up: giving up could leave it done and not undone); with an answer,
    the peer did not do it, and there is nothing to undo."""
    record = replace(record, state=StepState.FAILED, outcome_unknown=failure.unknown)
    saga = saga.with_record(record)
    if not failure.unknown:
        token = "" if record.kind is StepKind.AUTHORIZE_PAYMENT else saga.payment_token
        return replace(saga, payment_token=token, next_run_at=now)
    retry = RetryPolicy()
    delay = min(retry.max_delay_s, retry.delay_s(record.attempts, rand))
    return replace(saga, next_run_at=now + timedelta(seconds=delay))


def compensate(saga: Saga, reason: RejectionReason, detail: str, now: datetime) -> Saga:
    """Turns the saga to undoing its steps. A step still RUNNING (the saga ran out of time
    during or after a call nobody answered) may have been done: its outcome is unknown."""
    failing = next((r.kind for r in saga.steps if r.state is StepState.FAILED), None)
    running = [r for r in saga.steps if r.state is StepState.RUNNING]
    for record in running:
        saga = saga.with_record(replace(record, state=StepState.FAILED, outcome_unknown=True))
    if failing is None and running:  # timed out between steps
        failing = running[-1].kind
    unresolved_authorization = any(
        r.kind is StepKind.AUTHORIZE_PAYMENT and r.outcome_unknown for r in saga.steps
    )
    return replace(
        saga,
        phase=Phase.COMPENSATING,
        rejection=reason,
        detail=detail,
        failed_step=failing,
        # the replay of an authorization must send what the first call sent
        payment_token=saga.payment_token if unresolved_authorization else "",
        next_run_at=now,
    )


def request_cancel(saga: Saga, reason: str, now: datetime) -> Saga:
    """CancelOrder of a PENDING order: the request is recorded for the runner to honour
    before its next step (`honour_cancel`); asking again changes nothing. A saga waiting
    for its next step is made due at once; one in a call (leased) or waiting to retry a
    call keeps its time: the call finishes first."""
    if saga.cancel_requested:
        return saga
    queued = replace(saga, cancel_requested=True, cancel_reason=reason)
    if saga.phase is Phase.FORWARD and not saga.lease and cancel_takes_effect(queued):
        queued = replace(queued, next_run_at=min(saga.next_run_at, now))
    return queued


def cancel_takes_effect(saga: Saga) -> bool:
    """Whether a queued cancel is honoured by compensating now: the saga is FORWARD between
    two steps (none in a call or waiting to retry one), a step is still to run, and every
    step done so far can be undone. Once the reservation is confirmed (no compensation)
    the saga finishes and the order is cancelled as a confirmed one."""
    if saga.phase is not Phase.FORWARD or not saga.cancel_requested:
        return False
    upcoming = next_call(saga)
    if upcoming is None:
        return False
    record = saga.record(upcoming.action.kind)
    if record is not None and record.state is StepState.RUNNING:
        return False
    return all(
        step.compensation is not None
        for step in STEPS
        if (done := saga.record(step.action.kind)) and done.state is StepState.SUCCEEDED
    )


def honour_cancel(saga: Saga, now: datetime) -> Saga:
    """Before the next step: a queued cancel that can take effect turns the saga to
    compensating, with no rejection (it ends CANCELLED, not REJECTED)."""
    if not cancel_takes_effect(saga):
        return saga
    return replace(
        saga,
        phase=Phase.COMPENSATING,
        detail="cancelled by the customer",
        payment_token="",
        next_run_at=now,
    )


def timed_out(saga: Saga, now: datetime) -> bool:
    return saga.phase is Phase.FORWARD and now - saga.started_at > SAGA_TIME_LIMIT


def classify(step: Step, error: Exception) -> Failure:
    """A peer's failure as the saga sees it (PeerError, Refused, or a missed deadline)."""
    from chassis.errors import PeerError  # noqa: PLC0415 - keeps the table above readable

    if isinstance(error, Refused):
        return Failure(f"REFUSED: {error.reason.name}", False, error.reason, None, error.detail)
    if isinstance(error, TimeoutError):
        return Failure("DEADLINE_EXCEEDED: step deadline", True, unknown=True)
    if isinstance(error, PeerError):
        label = f"{error.code.name}: {error.reason.name if error.reason else error.message}"
        refusal = step.refusals.get(error.reason) if error.reason else None
        detail = f"{error.reason.name}: {error.message}" if refusal and error.reason else ""
        transient = error.transient and refusal is None
        # A peer that answered with a reason says what it did; one that did not answer
        # (UNAVAILABLE from the mesh, a deadline) may have done it.
        unknown = transient and error.reason is None
        return Failure(label, transient, refusal, error.reason, detail, unknown)
    raise error
