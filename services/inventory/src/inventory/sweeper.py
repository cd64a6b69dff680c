"""The expiry sweeper: a worker (chassis.app.Worker) that expires every PENDING reservation
past its expire_time, so a saga that stopped between Try and Confirm/Cancel cannot hold
stock from other customers for longer than the reservation's ttl (plus one interval)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from chassis import faults
from chassis.uow import UnitOfWork
from inventory import service
from inventory.repository import Repositories
from inventory.service import Clock

log = logging.getLogger(__name__)


async def sweep_expired_reservations(
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
            while await sweep_once(unit_of_work, clock=clock) == service.EXPIRY_BATCH:
                pass  # a full batch: more may be due
        except Exception as error:
            if faults.classify(error) is None:
                raise
            log.warning("expiry sweep skipped: %s", error.__class__.__name__)
        await asyncio.sleep(interval_s)


async def sweep_once(
    unit_of_work: Callable[[], UnitOfWork[Repositories]], *, clock: Clock = service.utc_now
) -> int:
    """One batch; how many reservations it expired."""
    expired = await service.expire_due_reservations(unit_of_work(), clock=clock)
    if expired:
        log.info("expired %d overdue reservations", expired)
    return expired
