"""The starter catalog: valid, and applied idempotently however often and however
concurrently instances start."""

import asyncio
import dataclasses
import logging

import pytest
from catalog_examples import UnitsOfWork

from catalog import seed, service
from catalog.domain import Money
from catalog.repository import Repositories
from chassis.db import Database
from chassis.testing import outbox_events
from chassis.uow import SqlUnitOfWork

pytestmark = pytest.mark.anyio

SEED = seed.load()


def test_the_seed_file_is_a_realistic_catalog() -> None:
    skus = [c.sku for c in SEED.products]
    categories = {category for c in SEED.products for category in c.categories}

    assert len(skus) >= 30
    assert len(set(skus)) == len(skus)
    assert len(categories) >= 5
    assert {c.price.currency for c in SEED.products} == {"EUR"}


def test_seed_keys_are_deterministic_per_sku_and_revision() -> None:
    assert seed.idempotency_key("A-1", 1) == seed.idempotency_key("A-1", 1)
    assert seed.idempotency_key("A-1", 1) != seed.idempotency_key("A-1", 2)
    assert seed.idempotency_key("A-1", 1) != seed.idempotency_key("A-2", 1)


async def test_applying_the_seed_twice_creates_each_product_once(
    uow: UnitsOfWork, db: Database
) -> None:
    await seed.apply(uow, SEED)
    await seed.apply(uow, SEED)

    listed = await service.list_products(uow(), category="", page_size=100, page_token="")
    assert len(listed.products) == len(SEED.products)
    assert {p.version for p in listed.products} == {1}
    events = await outbox_events(db)
    assert len(events) == len(SEED.products)
    assert {e.envelope.type for e in events} == {"shop.catalog.v1.ProductUpserted"}


async def test_two_instances_seeding_at_once_create_each_product_once(
    uow: UnitsOfWork, db: Database, clean_database: str
) -> None:
    other_instance = Database(clean_database)
    try:
        await asyncio.gather(
            seed.apply(uow, SEED),
            seed.apply(lambda: SqlUnitOfWork(other_instance, Repositories.on), SEED),
        )
    finally:
        await other_instance.dispose()

    assert len(await outbox_events(db)) == len(SEED.products)


async def test_an_entry_edited_without_a_new_revision_is_not_applied(
    uow: UnitsOfWork, caplog: pytest.LogCaptureFixture
) -> None:
    await seed.apply(uow, SEED)
    first = SEED.products[0]
    edited = dataclasses.replace(first, price=Money("EUR", first.price.amount_minor + 100))

    with caplog.at_level(logging.WARNING):
        await seed.apply(uow, seed.Seed(SEED.revision, [edited]))

    assert (await service.get_product(uow(), first.sku)).price == first.price
    assert first.sku in caplog.text


async def test_a_new_revision_re_applies_the_seed(uow: UnitsOfWork, db: Database) -> None:
    await seed.apply(uow, SEED)
    first = SEED.products[0]

    await seed.apply(uow, seed.Seed(SEED.revision + 1, [first]))

    assert (await service.get_product(uow(), first.sku)).version == 2
