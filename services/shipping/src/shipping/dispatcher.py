"""The dispatch timer: a worker that hands every PENDING shipment whose pickup time has come
to its carrier (DISPATCHED, ShipmentDispatched). Every instance runs it; the row locks it
takes (SKIP LOCKED) make each shipment go out once."""

from __future__ import annotations

import logging
from collections.abc import Callable

from chassis.app import Worker, periodic
from chassis.uow import UnitOfWork
from shipping import service
from shipping.repository import Repositories
from shipping.service import Clock

log = logging.getLogger(__name__)


def dispatch_timer(
    unit_of_work: Callable[[], UnitOfWork[Repositories]],
    *,
    interval_s: float,
    clock: Clock = service.utc_now,
) -> Worker:
    async def one_batch() -> bool:
        return await dispatch_once(unit_of_work, clock=clock) == service.DISPATCH_BATCH

    return periodic("dispatch-timer", one_batch, interval_s)


async def dispatch_once(
    unit_of_work: Callable[[], UnitOfWork[Repositories]], *, clock: Clock = service.utc_now
) -> int:
    """One batch; how many shipments it dispatched."""
    dispatched = await service.dispatch_due_shipments(unit_of_work(), clock=clock)
    if dispatched:
        log.info("dispatched %d shipments", len(dispatched))
    return len(dispatched)
