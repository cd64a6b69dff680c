"""What the orders benchmark learns from NATS while it runs, without asking any service:
when each order's saga ended, and how long events take to get out.

It subscribes as the stack's admin to every context's subjects (core NATS: JetStream
stores each published event and also delivers it to plain subscribers, so watching adds no
consumer and no acknowledgements to the system under test). Each event envelope's `time`
is set when the event is written to its service's outbox, in the same transaction as the
change it reports; the moment it reaches this subscriber is the moment it was published,
so the difference is the event delivery lag the outbox relays add (outbox -> broker ->
subscriber). OrderConfirmed and OrderRejected timestamp the end of each order's saga,
which is why the benchmark does not poll GetOrder: polling would add load to orders and
round every figure up to the polling interval.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from nats.aio.client import Client
from nats.aio.msg import Msg

from shop.common.v1.event_pb2 import EventEnvelope
from shoptools.stack import nats as stack_nats

CONFIRMED = "orders.order.confirmed"
REJECTED = "orders.order.rejected"


@dataclass
class Watcher:
    """Order outcomes by order id (Unix time they were seen) and each event's lag."""

    confirmed: dict[str, float] = field(default_factory=dict)
    rejected: dict[str, float] = field(default_factory=dict)
    # (when seen, seconds from outbox to here), every event of every context
    lags: list[tuple[float, float]] = field(default_factory=list)

    async def start(self, client: Client) -> None:
        for stream, subjects in stack_nats.STREAMS.items():
            if stream != stack_nats.DEAD_LETTER_STREAM:
                await client.subscribe(subjects, cb=self._seen)
        await client.flush()

    async def _seen(self, message: Msg) -> None:
        now = time.time()
        envelope = EventEnvelope.FromString(message.data)
        written = envelope.time.seconds + envelope.time.nanos / 1e9
        self.lags.append((now, now - written))
        if message.subject == CONFIRMED:
            self.confirmed.setdefault(_order_id(envelope), now)
        elif message.subject == REJECTED:
            self.rejected.setdefault(_order_id(envelope), now)

    def ended(self, order_id: str) -> bool:
        return order_id in self.confirmed or order_id in self.rejected

    def confirmed_between(self, start: float, end: float) -> int:
        return sum(1 for seen in self.confirmed.values() if start <= seen < end)

    def lags_between(self, start: float, end: float) -> list[float]:
        return [lag for seen, lag in self.lags if start <= seen < end]


def _order_id(envelope: EventEnvelope) -> str:
    return envelope.subject.removeprefix("orders/")  # the aggregate: orders/<order id>
