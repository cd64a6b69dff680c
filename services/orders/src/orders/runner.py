"""The saga runner: a worker that leases runnable sagas (FOR UPDATE SKIP LOCKED, so two
instances never run one saga at once) and drives each through the step table of saga.py,
persisting every step before its call (RUNNING, one more attempt, leased until the step's
deadline) and after it (its outcome, and what comes next).

- Each saga is driven by its own task as soon as it is due: PlaceOrder wakes the runner
  in-process, a saga that finishes frees its slot and wakes it too; the poll only finds
  retries that came due and sagas whose lease ran out. At most `max_in_flight` sagas are
  driven at once, and at most `db_slots` of them (fewer than the pool's connections, so
  the API is never starved) are in a transaction at once.
- No connection is held across a call: one transaction records a call's outcome and, if
  the saga goes on at once, the next step as RUNNING (or the saga's end), then commits;
  the call follows.
- A crash mid-call leaves the step RUNNING with its lease: the same instance takes its
  sagas back at once when it starts again (`resume`), any instance once the lease (the
  step's deadline) has passed. The call is made again with the same derived key.
- A transient failure is retried later (the saga's next_run_at); the lease is let go
  meanwhile, so a retry may run on any instance.
- A cancel queued by CancelOrder is looked at before each step (saga.honour_cancel).
- The database unavailable or its pool busy: a round is skipped; a saga whose transaction
  failed is driven again shortly, a few times, then left with its lease (taken up again
  once the step's deadline has passed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from chassis import faults
from chassis.app import Worker
from chassis.uow import UnitOfWork
from orders import domain, events, saga
from orders.domain import Order, OrderStatus, RejectionReason
from orders.metrics import (
    CANCELLED,
    COMPENSATED,
    COMPLETED,
    DURATION,
    FAILED,
    STEP_CALLS,
    STEP_DURATION,
)
from orders.peers import Peers
from orders.repository import Repositories
from orders.saga import Next, Phase, Saga
from orders.service import Clock, UoW, utc_now

log = logging.getLogger("orders.saga")

BATCH = 32  # sagas leased in one claim, at most
MAX_IN_FLIGHT = 32  # sagas driven at once by one instance
DB_SLOTS = 4  # of them, in a transaction at once
DRIVE_ATTEMPTS = 3  # drives of a saga after database faults, before it waits for its lease
DRIVE_RETRY_S = 0.1  # jittered, doubling
CLAIM_LEASE = timedelta(seconds=30)  # until the first step's own lease replaces it


@dataclass(frozen=True)
class Due:
    """The call to make now, and what it needs."""

    call: Next
    order: Order
    payment_token: str


@dataclass(frozen=True)
class Made:
    """A call made, and how it went."""

    call: Next
    outcome: Order | saga.Failure


class SagaRunner:
    def __init__(  # noqa: PLR0913
        self,
        unit_of_work: UoW,
        peers: Peers,
        *,
        owner: str,
        poll_interval_s: float = 0.5,
        max_in_flight: int = MAX_IN_FLIGHT,
        db_slots: int = DB_SLOTS,
        clock: Clock = utc_now,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._uow = unit_of_work
        self._peers = peers
        self._owner = owner
        self._poll_s = poll_interval_s
        self._max_in_flight = max_in_flight
        self._db_slots = asyncio.Semaphore(db_slots)
        self._clock = clock
        self._rand = rand
        self._wake = asyncio.Event()
        self._in_flight = 0

    def wake(self) -> None:
        """A saga became runnable (PlaceOrder, CancelOrder): claim it now, not at the poll."""
        self._wake.set()

    def worker(self) -> Worker:
        return Worker("saga-runner", self.run)

    async def run(self) -> None:
        """Claims due sagas whenever a slot is free and drives each in its own task. A bug
        in one ends them all (the worker restarts, and `resume` takes them back)."""
        await self.resume()
        async with asyncio.TaskGroup() as driving:
            while True:
                self._wake.clear()
                if await self._fill_slots(driving):
                    continue
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._poll_s):
                        await self._wake.wait()

    async def resume(self) -> int:
        """Takes back, at once, the unfinished sagas this instance held before a restart."""
        async with self._transaction() as uow:
            count = await uow.repos.sagas.resume_owned(self._owner, self._clock())
            await uow.commit()
        if count:
            log.info("resuming %d unfinished sagas", count)
        return count

    async def run_once(self) -> bool:
        """Leases the due sagas and drives each as far as it goes now; whether the batch
        was full (more may be due)."""
        lease, ids = await self._claim(BATCH)
        await asyncio.gather(*(self.drive(order_id, lease) for order_id in ids))
        return len(ids) == BATCH

    async def _fill_slots(self, driving: asyncio.TaskGroup) -> bool:
        """Leases as many due sagas as there are free slots and starts driving each;
        whether it filled them (more may be due). A database fault skips the round."""
        free = min(BATCH, self._max_in_flight - self._in_flight)
        if free <= 0:
            return False  # a saga that finishes wakes the loop
        try:
            lease, ids = await self._claim(free)
        except Exception as error:
            if faults.classify(error) is None:
                raise
            log.warning("saga runner: round skipped: %r", error)
            return False
        for order_id in ids:
            self._in_flight += 1
            driving.create_task(self._drive_in_slot(order_id, lease))
        return len(ids) == free

    async def _drive_in_slot(self, order_id: str, lease: str) -> None:
        """Drives the saga; after a database fault (the pool busy, say) drives it again
        shortly, as a resumed saga: a step whose outcome was not recorded is called again
        with its key. After DRIVE_ATTEMPTS it is left leased, taken up again once the
        step's deadline has passed."""
        try:
            for attempt in range(1, DRIVE_ATTEMPTS + 1):
                try:
                    await self.drive(order_id, lease)
                    return
                except Exception as error:
                    if faults.classify(error) is None:
                        raise
                    log.warning("saga %s: %r (drive %d)", order_id, error, attempt)
                if attempt < DRIVE_ATTEMPTS:
                    await asyncio.sleep(self._rand() * DRIVE_RETRY_S * 2**attempt)
        finally:
            self._in_flight -= 1
            self._wake.set()

    async def _claim(self, limit: int) -> tuple[str, list[str]]:
        lease = str(uuid.uuid4())
        now = self._clock()
        async with self._transaction() as uow:
            ids = await uow.repos.sagas.claim(
                now, lease=lease, owner=self._owner, until=now + CLAIM_LEASE, limit=limit
            )
            await uow.commit()
        return lease, ids

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[UnitOfWork[Repositories]]:
        """A unit of work, once one of the runner's database slots is free."""
        async with self._db_slots, self._uow() as uow:
            yield uow

    async def drive(self, order_id: str, lease: str) -> None:
        """Runs the saga's calls one after the other until it finishes, waits (a retry
        later), or is no longer this runner's."""
        made: Made | None = None
        while (due := await self._advance(order_id, lease, made)) is not None:
            made = await self._call(order_id, due)

    async def _call(self, order_id: str, due: Due) -> Made:
        call = due.call
        key = saga.idempotency_key(order_id, call.step.action.kind, call.compensating)
        outcome: Order | saga.Failure
        step = call.action.kind.name
        started = asyncio.get_running_loop().time()
        try:
            async with asyncio.timeout(call.action.deadline.total_seconds()):
                outcome = await call.action.call(self._peers, due.order, due.payment_token, key)
        except Exception as error:
            outcome = saga.classify(call.step, error)
            log.info("%s %s: %s", order_id, step, outcome.error)
        elapsed = asyncio.get_running_loop().time() - started
        STEP_CALLS.labels(step, "failed" if isinstance(outcome, saga.Failure) else "ok").inc()
        STEP_DURATION.labels(step).observe(elapsed)
        return Made(call, outcome)

    async def _advance(self, order_id: str, lease: str, made: Made | None) -> Due | None:
        """One transaction: the outcome of the call just made (if any), then, if the saga
        goes on at once, its next step RUNNING (or its end). The call to make next; None
        when the saga finished, waits to retry, or is no longer this runner's."""
        now = self._clock()
        async with self._transaction() as uow:
            current = await uow.repos.sagas.lock(order_id)
            if current is None or current.lease != lease or current.phase not in saga.UNFINISHED:
                return None  # the lease passed to another runner meanwhile
            order = await uow.repos.orders.lock(order_id)
            assert order is not None
            if made is not None:
                current, order = await self._record(uow, current, order, made, now)
                if current.next_run_at > now or current.phase not in saga.UNFINISHED:
                    # another round (any instance) retries
                    await uow.repos.sagas.save(replace(current, lease=""))
                    await uow.commit()
                    return None
            if saga.timed_out(current, now):
                current = saga.compensate(
                    current, RejectionReason.TIMED_OUT, "the saga ran out of time", now
                )
            current = saga.honour_cancel(current, now)
            call = saga.next_call(current)
            if call is None:
                await self._finish(uow, current, order)
                await uow.commit()
                return None
            await uow.repos.sagas.save(saga.before_call(current, call, now))
            await uow.commit()
        return Due(call, order, current.payment_token)

    async def _record(
        self,
        uow: UnitOfWork[Repositories],
        current: Saga,
        order: Order,
        made: Made,
        now: datetime,
    ) -> tuple[Saga, Order]:
        """The saga and the order after the call's outcome (the ids it obtained saved)."""
        call, outcome = made.call, made.outcome
        if isinstance(outcome, saga.Failure):
            updated = saga.failed(current, call, outcome, now, self._rand)
            if updated.phase is Phase.STUCK:
                FAILED.labels(call.action.kind.name).inc()
                log.error("saga %s is stuck: %s", current.order_id, updated.detail)
            return updated, order
        obtained = (outcome.payment_id, outcome.reservation_id, outcome.shipment_id)
        if obtained != (order.payment_id, order.reservation_id, order.shipment_id):
            order = order.changed(
                now,
                payment_id=outcome.payment_id,
                reservation_id=outcome.reservation_id,
                shipment_id=outcome.shipment_id,
            )
            await uow.repos.orders.save(order)
        return saga.succeeded(current, call, now), order

    async def _finish(self, uow: UnitOfWork[Repositories], current: Saga, order: Order) -> None:
        now = self._clock()
        elapsed = (now - current.started_at).total_seconds()
        if current.phase is Phase.FORWARD:
            done = order.changed(now, status=OrderStatus.CONFIRMED)
            await uow.repos.orders.save(done)
            await uow.repos.sagas.save(replace(current, phase=Phase.CONFIRMED, lease=""))
            uow.emit(events.confirmed(done), done.order_id)
            COMPLETED.inc()
            DURATION.labels("confirmed").observe(elapsed)
            if current.cancel_requested:  # queued too late to compensate: cancel it now
                cancelling = domain.cancel(
                    done, reason=current.cancel_reason, dispatched=False, now=now
                )
                await uow.repos.orders.save(cancelling)
                uow.emit(events.cancelled(cancelling), done.order_id)
        elif current.cancelling:
            done = domain.cancelled_by_saga(order, current.cancel_reason, now)
            await uow.repos.orders.save(done)
            await uow.repos.sagas.save(replace(current, phase=Phase.CANCELLED, lease=""))
            uow.emit(events.cancellation_completed(done), done.order_id)
            CANCELLED.inc()
            DURATION.labels("cancelled").observe(elapsed)
        else:
            reason = current.rejection or RejectionReason.INTERNAL_ERROR
            done = order.changed(
                now,
                status=OrderStatus.REJECTED,
                rejection_reason=reason,
                rejection_detail=customer_detail(reason, current.detail),
            )
            finished = replace(current, phase=Phase.REJECTED, lease="")
            await uow.repos.orders.save(done)
            await uow.repos.sagas.save(finished)
            uow.emit(events.rejected(done, finished), done.order_id)
            step = current.failed_step.name if current.failed_step else "TIMEOUT"
            COMPENSATED.labels(step).inc()
            DURATION.labels("rejected").observe(elapsed)


CUSTOMER_WORDS = {
    RejectionReason.PAYMENT_DECLINED: "Your card was declined. Nothing was charged.",
    RejectionReason.OUT_OF_STOCK: "Some items are out of stock. Nothing was charged.",
    RejectionReason.DESTINATION_NOT_SERVED: (
        "We cannot deliver to this address at this speed. Nothing was charged."
    ),
    RejectionReason.PAYMENT_ERROR: (
        "The payment could not be completed. Nothing was charged; please try again."
    ),
    RejectionReason.TIMED_OUT: "The order took too long to place. Nothing was charged.",
    RejectionReason.INTERNAL_ERROR: "The order could not be placed. Nothing was charged.",
}


def customer_detail(reason: RejectionReason, detail: str) -> str:
    """What the customer reads, then the technical detail for support."""
    return f"{CUSTOMER_WORDS[reason]} ({detail})" if detail else CUSTOMER_WORDS[reason]
