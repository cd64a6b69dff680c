"""Helpers shared by the integration tests: the test database, example products, and the
outbox as decoded events."""

from __future__ import annotations

from dataclasses import dataclass, replace

import psycopg
from google.protobuf.message import Message
from sqlalchemy import text

from catalog.domain import Money, ProductContent
from chassis.db import Database
from shop.catalog.v1 import events_pb2
from shop.common.v1.event_pb2 import EventEnvelope

TEST_DATABASE = "catalog_test"

EVENT_TYPES: dict[str, type[Message]] = {
    "shop.catalog.v1.ProductUpserted": events_pb2.ProductUpserted,
    "shop.catalog.v1.PriceChanged": events_pb2.PriceChanged,
}


def product(sku: str = "KIT-KNIFE-1", **changes: object) -> ProductContent:
    base = ProductContent(
        sku=sku,
        name="Chef's Knife",
        description="Forged steel, holds an edge.",
        price=Money("EUR", 8900),
        categories=("kitchen",),
        weight_grams=240,
        image_url="https://images.example/knife.jpg",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True)
class OutboxEvent:
    envelope: EventEnvelope
    data: Message


async def outbox_events(db: Database, *, subject: str = "") -> list[OutboxEvent]:
    """The events in the outbox (about `subject`, when given), decoded from the envelopes."""
    query = "SELECT envelope FROM outbox WHERE :subject IN ('', aggregate) ORDER BY created_at"
    async with db.transaction() as conn:
        rows = (await conn.execute(text(query), {"subject": subject})).all()
    decoded = []
    for (raw,) in rows:
        envelope = EventEnvelope.FromString(raw)
        data = EVENT_TYPES[envelope.type]()
        assert envelope.data.Unpack(data)
        decoded.append(OutboxEvent(envelope, data))
    return decoded


def truncate_tables(socket_dir: str) -> None:
    with psycopg.connect(
        dbname=TEST_DATABASE, user="postgres", host=socket_dir, autocommit=True
    ) as conn:
        conn.execute("TRUNCATE products, outbox, idempotency_keys")


def create_database(socket_dir: str, name: str) -> str:
    """A new, empty database (dropped first if a previous run left it); returns its URL."""
    with psycopg.connect(
        dbname="postgres", user="postgres", host=socket_dir, autocommit=True
    ) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
    return f"postgresql+psycopg://postgres@/{name}?host={socket_dir}"
