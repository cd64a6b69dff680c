"""Catalog keeps every consumer's pact with it (pacts/*-catalog.json): each event a consumer
names is produced by catalog's real use case on Postgres and read back from its outbox, as
the relay would publish it; each call runs through its real servicer in its in-process
instance (`channel`), on the same database. And a change buf lets through but a consumer
cannot live with fails here, naming the consumer and the field."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import grpc.aio
import pytest
from catalog_examples import UnitsOfWork, product
from google.protobuf.message import Message

from catalog import events, service
from catalog.domain import Money, Upserted
from chassis.db import Database
from chassis.testing import pact
from shop.catalog.v1.events_pb2 import PriceChanged, ProductUpserted

pytestmark = pytest.mark.anyio

KNIFE = "KIT-KNIFE-1"


@dataclass(frozen=True)
class Catalog:
    """The provider's side of the pacts: its states and the events it produces."""

    uow: UnitsOfWork
    db: Database
    channel: grpc.aio.Channel

    async def upsert(self, price_minor: int) -> None:
        await service.upsert_product(
            self.uow(),
            idempotency_key=str(uuid.uuid4()),
            content=product(KNIFE, price=Money("EUR", price_minor)),
        )

    async def created(self, _: pact.Params) -> None:
        await self.upsert(8900)

    async def repriced(self, _: pact.Params) -> None:
        await self.upsert(8900)
        await self.upsert(7900)

    async def nothing(self, _: pact.Params) -> None:
        """The state `reset` leaves: no product at all."""

    async def verify(self) -> None:
        await pact.verify_provider(
            "catalog",
            states={
                "product KIT-KNIFE-1 is created at EUR 89.00": self.created,
                "product KIT-KNIFE-1 is repriced from EUR 89.00 to EUR 79.00": self.repriced,
                "product KIT-KNIFE-1 weighs 240 g": self.created,  # the example's weight
                "there is no product NO-SUCH-SKU": self.nothing,
            },
            events={
                "a product was created": lambda: pact.newest_event(self.db, ProductUpserted),
                "a product's price changed": lambda: pact.newest_event(self.db, PriceChanged),
            },
            channel=self.channel,
            reset=lambda: pact.emptied(self.db),
        )


async def test_catalog_keeps_its_consumers_pacts(
    uow: UnitsOfWork, db: Database, channel: grpc.aio.Channel
) -> None:
    await Catalog(uow, db, channel).verify()


def without_product_versions(
    events_for: Callable[[Upserted], Iterable[Message]],
) -> Callable[[Upserted], list[Message]]:
    """Catalog's events as a careless change would make them: ProductUpserted no longer
    carries the product's version. The wire format is unchanged, so buf accepts it."""

    def careless(change: Upserted) -> list[Message]:
        produced = list(events_for(change))
        for event in produced:
            if isinstance(event, ProductUpserted):
                event.product.ClearField("version")
        return produced

    return careless


async def test_a_field_a_consumer_reads_cannot_be_dropped(
    uow: UnitsOfWork, db: Database, channel: grpc.aio.Channel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(events, "events_for", without_product_versions(events.events_for))

    with pytest.raises(AssertionError) as broken:
        await Catalog(uow, db, channel).verify()

    report = str(broken.value)
    assert "Verifying a pact between orders and catalog" in report
    assert "$.data.product -> Actual map is missing the following keys: version" in report
