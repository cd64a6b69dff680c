"""In-memory stand-ins for the use-case tests: the shipments repository
(chassis.testing.InMemoryUnitOfWork runs on it) and the catalog port."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from chassis.errors import PeerError
from shipping.domain import Shipment, ShipmentStatus, UnknownSku


class InMemoryShipments:
    def __init__(self, *shipments: Shipment) -> None:
        self.saved: dict[str, Shipment] = {s.shipment_id: s for s in shipments}
        self.order_locks: list[str] = []

    async def get(self, shipment_id: str) -> Shipment | None:
        return self.saved.get(shipment_id)

    async def lock(self, shipment_id: str) -> Shipment | None:
        return self.saved.get(shipment_id)

    async def lock_order(self, order_id: str) -> None:
        self.order_locks.append(order_id)  # one task at a time in memory: nothing to wait for

    async def live_for_order(self, order_id: str) -> Shipment | None:
        live = [s for s in self.saved.values() if s.order_id == order_id and s.live]
        return live[0] if live else None

    async def lock_due(self, now: datetime, *, limit: int) -> list[Shipment]:
        due = [
            s
            for s in self.saved.values()
            if s.status is ShipmentStatus.PENDING and s.dispatch_due_at <= now
        ]
        return sorted(due, key=lambda s: (s.dispatch_due_at, s.shipment_id))[:limit]

    async def add(self, shipment: Shipment) -> None:
        assert shipment.shipment_id not in self.saved
        self.saved[shipment.shipment_id] = shipment

    async def save(self, shipment: Shipment) -> None:
        assert shipment.shipment_id in self.saved
        self.saved[shipment.shipment_id] = shipment


class FakeWeights:
    """The catalog port: known weights, or a failure every call raises."""

    def __init__(self, weights: dict[str, int], *, failure: PeerError | None = None) -> None:
        self.weights = weights
        self.failure = failure
        self.asked: list[str] = []

    async def weights_grams(self, skus: Collection[str]) -> dict[str, int]:
        self.asked += skus
        if self.failure is not None:
            raise self.failure
        for sku in skus:
            if sku not in self.weights:
                raise UnknownSku(sku)
        return {sku: self.weights[sku] for sku in skus}
