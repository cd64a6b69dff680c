"""UpsertProduct against a real Postgres: versions, events, idempotency, concurrency."""

import asyncio
import uuid

import protovalidate
import pytest
from catalog_examples import UnitsOfWork, product

from catalog import service
from catalog.domain import Money, ProductNotFound
from chassis.db import Database
from chassis.domain import IdempotencyKeyReused
from chassis.testing import outbox_events
from shop.catalog.v1 import events_pb2

pytestmark = pytest.mark.anyio


def new_key() -> str:
    return str(uuid.uuid4())


async def test_create_then_update_increments_version_and_publishes_price_change(
    uow: UnitsOfWork,
    db: Database,
) -> None:
    created = await service.upsert_product(uow(), idempotency_key=new_key(), content=product())
    updated = await service.upsert_product(
        uow(), idempotency_key=new_key(), content=product(price=Money("EUR", 7900))
    )

    assert (created.created, created.product.version) == (True, 1)
    assert (updated.created, updated.product.version) == (False, 2)
    assert (await service.get_product(uow(), "KIT-KNIFE-1")) == updated.product

    events = await outbox_events(db)
    assert sorted(e.envelope.type for e in events) == [
        "shop.catalog.v1.PriceChanged",
        "shop.catalog.v1.ProductUpserted",
        "shop.catalog.v1.ProductUpserted",
    ]
    assert {e.envelope.subject for e in events} == {"products/KIT-KNIFE-1"}
    for event in events:  # what consumers check before anything else
        protovalidate.validate(event.envelope)
        protovalidate.validate(event.data)
    upserts = [e.data for e in events if isinstance(e.data, events_pb2.ProductUpserted)]
    assert sorted((u.product.version, u.created) for u in upserts) == [(1, True), (2, False)]
    assert {u.product.price.amount_minor for u in upserts} == {8900, 7900}
    [price_changed] = [e.data for e in events if isinstance(e.data, events_pb2.PriceChanged)]
    assert price_changed.sku == "KIT-KNIFE-1"
    assert price_changed.old_price.amount_minor == 8900
    assert price_changed.new_price.amount_minor == 7900
    assert price_changed.new_price.currency_code == "EUR"
    assert price_changed.version == 2


async def test_an_update_that_keeps_the_price_publishes_no_price_change(
    uow: UnitsOfWork, db: Database
) -> None:
    await service.upsert_product(uow(), idempotency_key=new_key(), content=product())
    await service.upsert_product(
        uow(), idempotency_key=new_key(), content=product(name="Chef's Knife 20 cm")
    )

    types = [e.envelope.type for e in await outbox_events(db)]
    assert types == ["shop.catalog.v1.ProductUpserted"] * 2


async def test_a_retry_with_the_same_key_returns_the_first_outcome_and_has_no_effect(
    uow: UnitsOfWork,
    db: Database,
) -> None:
    key = new_key()
    first = await service.upsert_product(uow(), idempotency_key=key, content=product())

    retry = await service.upsert_product(uow(), idempotency_key=key, content=product())

    assert retry == first
    assert (await service.get_product(uow(), "KIT-KNIFE-1")).version == 1
    assert len(await outbox_events(db)) == 1


async def test_reusing_a_key_for_a_different_request_is_refused(
    uow: UnitsOfWork, db: Database
) -> None:
    key = new_key()
    await service.upsert_product(uow(), idempotency_key=key, content=product())

    with pytest.raises(IdempotencyKeyReused) as error:
        await service.upsert_product(
            uow(), idempotency_key=key, content=product(price=Money("EUR", 1))
        )

    assert error.value.metadata == {"idempotency_key": key}
    assert (await service.get_product(uow(), "KIT-KNIFE-1")).price == Money("EUR", 8900)
    assert len(await outbox_events(db)) == 1


async def test_concurrent_upserts_of_a_new_sku_are_serialized(
    uow: UnitsOfWork, db: Database
) -> None:
    results = await asyncio.gather(
        *(
            service.upsert_product(uow(), idempotency_key=new_key(), content=product())
            for _ in range(4)
        )
    )

    assert sorted(r.product.version for r in results) == [1, 2, 3, 4]
    assert [r.created for r in results].count(True) == 1


async def test_an_unknown_sku_is_not_found(uow: UnitsOfWork, db: Database) -> None:
    with pytest.raises(ProductNotFound) as error:
        await service.get_product(uow(), "NO-SUCH-SKU")

    assert error.value.metadata == {"sku": "NO-SUCH-SKU"}
