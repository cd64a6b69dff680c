"""PlaceOrder's admission control. Placing an order is cheap and its saga is not: without a
bound, a burst of orders beyond what the sagas can finish is accepted at once and then
waits, every order later than the last, for as long as the backlog takes (tens of seconds
in the closed-loop benchmark). So PlaceOrder refuses new orders, RESOURCE_EXHAUSTED with a
retry hint (HTTP 429 at the gateway, the RetryInfo in its JSON body), while the unfinished
sagas number `limit` or more; orders already placed are unaffected (a retry of one is
answered: service.place_order asks only once the key proved new), and their sagas drain
the backlog.
"""

from __future__ import annotations

from chassis.faults import Overloaded
from orders.service import UoW

MAX_UNFINISHED_SAGAS = 200  # about 20 s of work at the 10 orders/s one instance confirms
RETRY_AFTER_S = 1.0
REFRESH_INTERVAL_S = 0.5  # the count is at most this old (every orders instance counts)


class Admission:
    def __init__(self, unit_of_work: UoW, limit: int = MAX_UNFINISHED_SAGAS) -> None:
        self._uow = unit_of_work
        self._limit = limit
        self.unfinished = 0

    async def refresh(self) -> bool:
        """Counts the unfinished sagas (a periodic worker of the chassis)."""
        async with self._uow() as uow:
            self.unfinished = await uow.repos.sagas.count_unfinished()
        return False

    def admit(self) -> None:
        """Raises Overloaded while the backlog is at its limit."""
        if self.unfinished >= self._limit:
            raise Overloaded(
                f"{self.unfinished} orders are still being placed; try again shortly",
                RETRY_AFTER_S,
            )
