"""The expiry sweeper: a worker that expires every PENDING reservation
past its expire_time, so a saga that stopped between Try and Confirm/Cancel cannot hold
stock from other customers for longer than the reservation's ttl (plus one interval)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from chassis.app import Worker, periodic
from chassis.uow import UnitOfWork
from inventory import service
from inventory.repository import Repositories
from inventory.service import Clock

log = logging.getLogger(__name__)


def expiry_sweeper(
    unit_of_work: Callable[[], UnitOfWork[Repositories]],
    *,
    interval_s: float,
    clock: Clock = service.utc_now,
) -> Worker:
    """The worker: a full batch is followed by the next at once; a database fault skips a
    round (chassis.app.periodic)."""

    async def one_batch() -> bool:
        return await sweep_once(unit_of_work, clock=clock) == service.EXPIRY_BATCH

    return periodic("reservation-expiry", one_batch, interval_s)


async def sweep_once(
    unit_of_work: Callable[[], UnitOfWork[Repositories]], *, clock: Clock = service.utc_now
) -> int:
    """One batch; how many reservations it expired."""
    expired = await service.expire_due_reservations(unit_of_work(), clock=clock)
    if expired:
        log.info("expired %d overdue reservations", expired)
    return expired
