"""The dispatch timer: a worker (chassis.app.Worker) that hands every PENDING shipment whose
pickup time has come to its carrier (DISPATCHED, ShipmentDispatched). Every instance runs
it; the row locks it takes (SKIP LOCKED) make each shipment go out once."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from chassis import faults
from chassis.uow import UnitOfWork
from shipping import service
from shipping.repository import Repositories
from shipping.service import Clock

log = logging.getLogger(__name__)


async def dispatch_due_shipments(
    unit_of_work: Callable[[], UnitOfWork[Repositories]],
    *,
    interval_s: float,
    clock: Clock = service.utc_now,
) -> None:
    """Runs until cancelled. A database fault skips one round: the instance's health
    already follows its database, and a dead worker would take it out of rotation for
    longer than the outage. Anything else is a bug: the worker dies and the chassis
    restarts it."""
    while True:
        try:
            while await dispatch_once(unit_of_work, clock=clock) == service.DISPATCH_BATCH:
                pass  # a full batch: more may be due
        except Exception as error:
            if faults.classify(error) is None:
                raise
            log.warning("dispatch round skipped: %s", error.__class__.__name__)
        await asyncio.sleep(interval_s)


async def dispatch_once(
    unit_of_work: Callable[[], UnitOfWork[Repositories]], *, clock: Clock = service.utc_now
) -> int:
    """One batch; how many shipments it dispatched."""
    dispatched = await service.dispatch_due_shipments(unit_of_work(), clock=clock)
    if dispatched:
        log.info("dispatched %d shipments", len(dispatched))
    return len(dispatched)
