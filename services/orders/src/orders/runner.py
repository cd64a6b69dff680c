"""The saga runner: a worker that leases runnable sagas (FOR UPDATE SKIP LOCKED, so two
instances never run one saga at once) and drives each through the step table of saga.py,
persisting every step before its call (RUNNING, one more attempt, leased until the step's
deadline) and after it (its outcome, and what comes next).

- A crash mid-call leaves the step RUNNING with its lease: the same instance takes its
  sagas back at once when it starts again (`resume`), any instance once the lease (the
  step's deadline) has passed. The call is made again with the same derived key.
- A transient failure is retried later (the saga's next_run_at); the lease is let go
  meanwhile, so a retry may run on any instance.
- A cancel queued by CancelOrder is looked at before each step (saga.honour_cancel).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

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

BATCH = 32
CLAIM_LEASE = timedelta(seconds=30)  # until the first step's own lease replaces it


class SagaRunner:
    def __init__(  # noqa: PLR0913
        self,
        unit_of_work: UoW,
        peers: Peers,
        *,
        owner: str,
        poll_interval_s: float = 0.5,
        clock: Clock = utc_now,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._uow = unit_of_work
        self._peers = peers
        self._owner = owner
        self._poll_s = poll_interval_s
        self._clock = clock
        self._rand = rand
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """A saga became runnable (PlaceOrder): run a round now rather than at the poll."""
        self._wake.set()

    def worker(self) -> Worker:
        return Worker("saga-runner", self.run)

    async def run(self) -> None:
        await self.resume()
        while True:
            self._wake.clear()
            if await self.run_once():
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_s)

    async def resume(self) -> int:
        """Takes back, at once, the unfinished sagas this instance held before a restart."""
        async with self._uow() as uow:
            count = await uow.repos.sagas.resume_owned(self._owner, self._clock())
            await uow.commit()
        if count:
            log.info("resuming %d unfinished sagas", count)
        return count

    async def run_once(self) -> bool:
        """Leases the due sagas and drives each as far as it goes now; whether the batch
        was full (more may be due)."""
        lease = str(uuid.uuid4())
        now = self._clock()
        async with self._uow() as uow:
            ids = await uow.repos.sagas.claim(
                now, lease=lease, owner=self._owner, until=now + CLAIM_LEASE, limit=BATCH
            )
            await uow.commit()
        await asyncio.gather(*(self.drive(order_id, lease) for order_id in ids))
        return len(ids) == BATCH

    async def drive(self, order_id: str, lease: str) -> None:
        """Runs the saga's calls one after the other until it finishes, waits (a retry
        later), or is no longer this runner's."""
        while True:
            call = await self._before(order_id, lease)
            if call is None:
                return
            next_call, order, token = call
            key = saga.idempotency_key(order_id, next_call.step.action.kind, next_call.compensating)
            outcome: Order | saga.Failure
            step = next_call.action.kind.name
            started = asyncio.get_running_loop().time()
            try:
                async with asyncio.timeout(next_call.action.deadline.total_seconds()):
                    outcome = await next_call.action.call(self._peers, order, token, key)
            except Exception as error:
                outcome = saga.classify(next_call.step, error)
                log.info("%s %s: %s", order_id, step, outcome.error)
            elapsed = asyncio.get_running_loop().time() - started
            STEP_CALLS.labels(step, "failed" if isinstance(outcome, saga.Failure) else "ok").inc()
            STEP_DURATION.labels(step).observe(elapsed)
            if not await self._after(order_id, lease, next_call, outcome):
                return

    async def _before(self, order_id: str, lease: str) -> tuple[Next, Order, str] | None:
        now = self._clock()
        async with self._uow() as uow:
            current = await uow.repos.sagas.lock(order_id)
            if current is None or current.lease != lease or current.phase not in saga.UNFINISHED:
                return None
            order = await uow.repos.orders.lock(order_id)
            assert order is not None
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
        return call, order, current.payment_token

    async def _after(
        self, order_id: str, lease: str, call: Next, outcome: Order | saga.Failure
    ) -> bool:
        """Persists the call's outcome; whether to go on with the next call now."""
        now = self._clock()
        async with self._uow() as uow:
            current = await uow.repos.sagas.lock(order_id)
            if current is None or current.lease != lease:
                return False  # the lease passed to another runner meanwhile
            if isinstance(outcome, Order):
                updated = saga.succeeded(current, call, now)
                order = await uow.repos.orders.lock(order_id)
                assert order is not None
                if (outcome.payment_id, outcome.reservation_id, outcome.shipment_id) != (
                    order.payment_id,
                    order.reservation_id,
                    order.shipment_id,
                ):
                    await uow.repos.orders.save(
                        order.changed(
                            now,
                            payment_id=outcome.payment_id,
                            reservation_id=outcome.reservation_id,
                            shipment_id=outcome.shipment_id,
                        )
                    )
            else:
                updated = saga.failed(current, call, outcome, now, self._rand)
                if updated.phase is Phase.STUCK:
                    FAILED.labels(call.action.kind.name).inc()
                    log.error("saga %s is stuck: %s", order_id, updated.detail)
            go_on = updated.next_run_at <= now and updated.phase in saga.UNFINISHED
            if not go_on:
                updated = replace(updated, lease="")  # another round (any instance) retries
            await uow.repos.sagas.save(updated)
            await uow.commit()
        return go_on

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
