"""In-memory fakes: orders' repositories, and payments, inventory and shipping as the saga
sees them (programmable answers, a record of every call and its idempotency key, and the
effects each key had, so a test can see that nothing happened twice or stayed open)."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import grpc

from chassis.errors import PeerError, Reason
from orders.domain import (
    Address,
    CartLine,
    CatalogPrice,
    Money,
    Order,
    OrderStatus,
    PlaceOrder,
    RejectionReason,
    ShippingSpeed,
)
from orders.history import DeliveryFact, Entry, OrderFact, PaymentFact
from orders.peers import Peers, Refused, ShipmentState
from orders.repository import Position, Repositories
from orders.saga import Phase, Saga

ADDRESS = Address("Alice", ("1 Main St",), "Berlin", "", "10115", "DE")
EUR = "EUR"


def command(customer: str = "alice", token: str = "tok_visa", **changes: object) -> PlaceOrder:
    base = PlaceOrder(
        customer_id=customer,
        lines=(CartLine("SKU-1", 2),),
        address=ADDRESS,
        speed=ShippingSpeed.STANDARD,
        currency=EUR,
        payment_token=token,
        expected_total=None,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


# --- repositories ------------------------------------------------------------------------


@dataclass
class MemoryOrders:
    rows: dict[str, Order] = field(default_factory=dict)

    async def add(self, order: Order) -> None:
        self.rows[order.order_id] = order

    async def get(self, order_id: str) -> Order | None:
        return self.rows.get(order_id)

    async def lock(self, order_id: str) -> Order | None:
        return self.rows.get(order_id)

    async def save(self, order: Order) -> None:
        self.rows[order.order_id] = order

    async def page(
        self,
        customer_id: str | None,
        *,
        status: OrderStatus | None,
        after: Position | None,
        limit: int,
    ) -> list[Order]:
        found = sorted(self.rows.values(), key=lambda o: (o.created_at, o.order_id), reverse=True)
        found = [o for o in found if customer_id in (None, o.customer_id)]
        found = [o for o in found if status in (None, o.status)]
        if after is not None:
            found = [
                o for o in found if (o.created_at, o.order_id) < (after.created_at, after.order_id)
            ]
        return found[:limit]


@dataclass
class MemorySagas:
    rows: dict[str, Saga] = field(default_factory=dict)

    async def add(self, saga: Saga) -> None:
        self.rows[saga.order_id] = saga

    async def get(self, order_id: str) -> Saga | None:
        return self.rows.get(order_id)

    async def lock(self, order_id: str) -> Saga | None:
        return self.rows.get(order_id)

    async def save(self, saga: Saga) -> None:
        self.rows[saga.order_id] = saga

    async def claim(
        self, now: datetime, *, lease: str, owner: str, until: datetime, limit: int
    ) -> list[str]:
        due = [
            s
            for s in self.rows.values()
            if s.phase in (Phase.FORWARD, Phase.COMPENSATING) and s.next_run_at <= now
        ][:limit]
        for s in due:
            self.rows[s.order_id] = replace(s, lease=lease, owner=owner, next_run_at=until)
        return [s.order_id for s in due]

    async def resume_owned(self, owner: str, now: datetime) -> int:
        mine = [
            s
            for s in self.rows.values()
            if s.owner == owner and s.phase in (Phase.FORWARD, Phase.COMPENSATING)
        ]
        for s in mine:
            self.rows[s.order_id] = replace(s, next_run_at=now, lease="")
        return len(mine)

    async def count_by_phase(self) -> dict[Phase, int]:
        return {phase: sum(s.phase is phase for s in self.rows.values()) for phase in Phase}

    async def count_unfinished(self) -> int:
        return sum(s.phase in (Phase.FORWARD, Phase.COMPENSATING) for s in self.rows.values())


@dataclass
class MemoryPrices:
    rows: dict[str, CatalogPrice] = field(default_factory=dict)

    async def get_many(self, skus: Collection[str]) -> dict[str, CatalogPrice]:
        return {sku: self.rows[sku] for sku in skus if sku in self.rows}

    async def upsert(self, price: CatalogPrice) -> None:
        known = self.rows.get(price.sku)
        if known is None or known.version < price.version:
            self.rows[price.sku] = price

    async def change_price(self, sku: str, price: Money, version: int) -> None:
        known = self.rows.get(sku)
        if known is not None and known.version < version:
            self.rows[sku] = replace(known, price=price, version=version)


@dataclass
class MemoryHistory:
    """Records what is applied; the projection's reads are tested on Postgres only
    (its order-insensitivity is in the SQL)."""

    applied: list[OrderFact | PaymentFact | DeliveryFact] = field(default_factory=list)

    async def apply_order(self, fact: OrderFact) -> None:
        self.applied.append(fact)

    async def apply_payment(self, fact: PaymentFact) -> None:
        self.applied.append(fact)

    async def apply_delivery(self, fact: DeliveryFact) -> None:
        self.applied.append(fact)

    async def page(
        self,
        customer_id: str | None,
        *,
        status: OrderStatus | None,
        after: Position | None,
        limit: int,
    ) -> list[Entry]:
        raise NotImplementedError("the order history is read on Postgres (integration tests)")

    async def version_of(self, order_id: str, customer_id: str | None) -> int:
        raise NotImplementedError("the order history is read on Postgres (integration tests)")


def memory_repositories() -> Repositories:
    prices = MemoryPrices({"SKU-1": CatalogPrice("SKU-1", "Mug", Money(EUR, 1250), 1)})
    return Repositories(MemoryOrders(), MemorySagas(), prices, MemoryHistory())


# --- peers -------------------------------------------------------------------------------


def unavailable(reason: Reason | None = None) -> PeerError:
    return PeerError(grpc.StatusCode.UNAVAILABLE, "down", reason=reason)


def refused(code: grpc.StatusCode, reason: Reason) -> PeerError:
    return PeerError(code, reason.name, reason=reason)


@dataclass(frozen=True)
class Received:
    method: str
    key: str


@dataclass
class FakePeers:
    """Payments, inventory and shipping in one: `fail[method]` is a list of what the next
    calls raise (an exception, or None to succeed); effects are kept per key."""

    fail: dict[str, list[BaseException | None]] = field(default_factory=dict)
    # method -> how many of its next calls take effect, then lose their answer (a deadline)
    lose_answers: dict[str, int] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    authorizations: dict[str, str] = field(default_factory=dict)  # key -> payment id
    voided: set[str] = field(default_factory=set)
    captured: set[str] = field(default_factory=set)
    reservations: dict[str, str] = field(default_factory=dict)  # key -> reservation id
    released: set[str] = field(default_factory=set)
    confirmed: set[str] = field(default_factory=set)
    shipments: dict[str, str] = field(default_factory=dict)
    cancelled_shipments: set[str] = field(default_factory=set)
    declined: bool = False
    quotes: dict[ShippingSpeed, Money] = field(
        default_factory=lambda: {ShippingSpeed.STANDARD: Money(EUR, 500)}
    )
    dispatched: bool = False

    def peers(self) -> Peers:
        return Peers(self, self, self)

    def _called(self, method: str, key: str) -> None:
        self.received.append(Received(method, key))
        plan = self.fail.get(method)
        if plan:
            outcome = plan.pop(0)
            if outcome is not None:
                raise outcome

    def _answered(self, method: str) -> None:
        if self.lose_answers.get(method, 0) > 0:
            self.lose_answers[method] -= 1
            raise TimeoutError(f"{method}: done, but the answer was lost")

    def calls(self, method: str) -> list[Received]:
        return [r for r in self.received if r.method == method]

    # payments
    async def authorize(self, key: str, order: Order, payment_token: str) -> str:
        self._called("authorize", key)
        if self.declined:
            raise Refused(RejectionReason.PAYMENT_DECLINED, "card declined")
        made = self.authorizations.setdefault(key, str(uuid.uuid4()))
        self._answered("authorize")
        return made

    async def capture(self, key: str, payment_id: str, amount: Money) -> None:
        self._called("capture", key)
        self.captured.add(payment_id)

    async def void(self, key: str, payment_id: str, reason: str) -> None:
        self._called("void", key)
        self.voided.add(payment_id)

    # inventory
    async def reserve(self, key: str, order: Order) -> str:
        self._called("reserve", key)
        made = self.reservations.setdefault(key, str(uuid.uuid4()))
        self._answered("reserve")
        return made

    async def confirm(self, key: str, reservation_id: str) -> None:
        self._called("confirm", key)
        self.confirmed.add(reservation_id)

    async def release(self, key: str, reservation_id: str, reason: str) -> None:
        self._called("release", key)
        self.released.add(reservation_id)

    # shipping
    async def quote(
        self, address: Address, lines: Sequence[CartLine], currency: str
    ) -> dict[ShippingSpeed, Money]:
        self._called("quote", "")
        return dict(self.quotes)

    async def create_shipment(self, key: str, order: Order) -> str:
        self._called("create_shipment", key)
        made = self.shipments.setdefault(key, str(uuid.uuid4()))
        self._answered("create_shipment")
        return made

    async def cancel_shipment(self, key: str, shipment_id: str, reason: str) -> None:
        self._called("cancel_shipment", key)
        self.cancelled_shipments.add(shipment_id)

    async def shipment(self, shipment_id: str) -> ShipmentState:
        return ShipmentState(self.dispatched)

    # what is left open
    def open_authorizations(self) -> set[str]:
        return set(self.authorizations.values()) - self.voided - self.captured

    def open_reservations(self) -> set[str]:
        return set(self.reservations.values()) - self.released - self.confirmed

    def open_shipments(self, confirmed: bool) -> set[str]:
        return set() if confirmed else set(self.shipments.values()) - self.cancelled_shipments


class Crash(BaseException):
    """The process dies here (not an Exception: nothing in orders catches it)."""
