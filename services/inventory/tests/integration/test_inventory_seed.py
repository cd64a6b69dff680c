"""The starter stock: valid, and applied idempotently however often and however
concurrently instances start; it never overwrites stock that exists."""

from __future__ import annotations

import asyncio
import dataclasses
import logging

import pytest
from inventory_examples import UnitsOfWork, new_key
from sqlalchemy import func, select

from chassis.db import Database
from chassis.testing import outbox_events
from chassis.uow import SqlUnitOfWork
from inventory import seed, service
from inventory.domain import SKU_PATTERN, Adjustment
from inventory.repository import Repositories
from inventory.tables import stock_adjustments

pytestmark = pytest.mark.anyio

SEED = seed.load()


async def adjustments_recorded(db: Database) -> int:
    async with db.transaction() as conn:
        count = await conn.scalar(select(func.count()).select_from(stock_adjustments))
    return count or 0


def test_the_seed_stocks_every_catalog_product_once() -> None:
    skus = [s.sku for s in SEED.stock]

    assert len(skus) == 36  # the catalog's seed products, by SKU
    assert len(set(skus)) == len(skus)
    assert all(SKU_PATTERN.fullmatch(sku) for sku in skus)
    for opening in SEED.stock:  # a fresh shop is not already running low
        assert opening.low_stock_threshold is not None
        assert opening.on_hand > opening.low_stock_threshold


def test_seed_keys_are_deterministic_per_sku_and_revision() -> None:
    assert seed.idempotency_key("A-1", 1) == seed.idempotency_key("A-1", 1)
    assert seed.idempotency_key("A-1", 1) != seed.idempotency_key("A-1", 2)
    assert seed.idempotency_key("A-1", 1) != seed.idempotency_key("A-2", 1)


async def test_applying_the_seed_twice_opens_each_sku_once(uow: UnitsOfWork, db: Database) -> None:
    await seed.apply(uow, SEED)
    await seed.apply(uow, SEED)

    for opening in SEED.stock:
        stocked = await service.get_stock(uow(), opening.sku)
        assert (stocked.on_hand, stocked.reserved, stocked.version) == (opening.on_hand, 0, 1)
        assert stocked.low_stock_threshold == opening.low_stock_threshold
    assert await adjustments_recorded(db) == len(SEED.stock)
    assert await outbox_events(db) == []  # opening stock is no event of the contract's


async def test_two_instances_seeding_at_once_open_each_sku_once(
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

    assert await adjustments_recorded(db) == len(SEED.stock)


async def test_an_entry_edited_without_a_new_revision_is_not_applied(
    uow: UnitsOfWork, caplog: pytest.LogCaptureFixture
) -> None:
    await seed.apply(uow, SEED)
    first = SEED.stock[0]
    edited = dataclasses.replace(first, low_stock_threshold=1)

    with caplog.at_level(logging.WARNING):
        await seed.apply(uow, seed.Seed(SEED.revision, [edited]))

    stocked = await service.get_stock(uow(), first.sku)
    assert stocked.low_stock_threshold == first.low_stock_threshold
    assert first.sku in caplog.text


async def test_a_new_revision_sets_thresholds_but_keeps_the_stock_that_moved(
    uow: UnitsOfWork,
) -> None:
    await seed.apply(uow, SEED)
    first = SEED.stock[0]
    await service.adjust_stock(
        uow(), idempotency_key=new_key(), adjustment=Adjustment(first.sku, -3, "sold in store")
    )

    await seed.apply(
        uow, seed.Seed(SEED.revision + 1, [dataclasses.replace(first, low_stock_threshold=1)])
    )

    stocked = await service.get_stock(uow(), first.sku)
    assert (stocked.on_hand, stocked.low_stock_threshold) == (first.on_hand - 3, 1)
