"""The catalog's use cases in memory (chassis.testing.InMemoryUnitOfWork, fake products):
what they decide, commit and emit, without a database."""

from __future__ import annotations

import uuid

import pytest
from catalog_examples import product

from catalog import service
from catalog.domain import Money, Product, ProductNotFound
from catalog.repository import Repositories
from chassis.domain import IdempotencyKeyReused
from chassis.page_tokens import InvalidPageToken
from chassis.testing import InMemoryUnitOfWork
from shop.catalog.v1 import events_pb2

pytestmark = pytest.mark.anyio


class InMemoryProducts:
    def __init__(self) -> None:
        self.saved: dict[str, Product] = {}

    async def lock(self, sku: str) -> None:
        pass  # one task at a time in memory

    async def get(self, sku: str) -> Product | None:
        return self.saved.get(sku)

    async def save(self, product: Product) -> None:
        self.saved[product.sku] = product

    async def list_page(self, *, after_sku: str, category: str, limit: int) -> list[Product]:
        skus = sorted(s for s in self.saved if s > after_sku)
        found = [
            self.saved[s]
            for s in skus
            if not category or category in self.saved[s].content.categories
        ]
        return found[:limit]

    async def search_page(self, *, query: str, offset: int, limit: int) -> list[Product]:
        found = [p for p in self.saved.values() if query.lower() in p.content.name.lower()]
        return found[offset : offset + limit]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def uow() -> InMemoryUnitOfWork[Repositories]:
    return InMemoryUnitOfWork(Repositories(InMemoryProducts()))


def key() -> str:
    return str(uuid.uuid4())


async def test_an_upsert_commits_the_product_and_its_events(
    uow: InMemoryUnitOfWork[Repositories],
) -> None:
    created = await service.upsert_product(uow, idempotency_key=key(), content=product())
    changed = await service.upsert_product(
        uow, idempotency_key=key(), content=product(price=Money("EUR", 100))
    )

    assert (created.created, changed.product.version) == (True, 2)
    assert await service.get_product(uow, "KIT-KNIFE-1") == changed.product
    assert [(e.aggregate, type(e.event)) for e in uow.committed] == [
        ("products/KIT-KNIFE-1", events_pb2.ProductUpserted),
        ("products/KIT-KNIFE-1", events_pb2.ProductUpserted),
        ("products/KIT-KNIFE-1", events_pb2.PriceChanged),
    ]


async def test_a_retry_with_the_same_key_returns_the_first_outcome_and_emits_nothing(
    uow: InMemoryUnitOfWork[Repositories],
) -> None:
    same = key()
    first = await service.upsert_product(uow, idempotency_key=same, content=product())
    retry = await service.upsert_product(uow, idempotency_key=same, content=product())

    assert retry == first
    assert len(uow.committed) == 1
    assert uow.commits == 1  # the retry committed nothing


async def test_a_key_reused_for_another_product_is_refused(
    uow: InMemoryUnitOfWork[Repositories],
) -> None:
    same = key()
    await service.upsert_product(uow, idempotency_key=same, content=product())

    with pytest.raises(IdempotencyKeyReused):
        await service.upsert_product(uow, idempotency_key=same, content=product("OTHER-1"))


async def test_an_unknown_sku_is_not_found(uow: InMemoryUnitOfWork[Repositories]) -> None:
    with pytest.raises(ProductNotFound) as raised:
        await service.get_product(uow, "NOPE-1")
    assert raised.value.metadata == {"sku": "NOPE-1"}


async def test_a_page_token_is_checked_before_any_read(
    uow: InMemoryUnitOfWork[Repositories],
) -> None:
    with pytest.raises(InvalidPageToken):
        await service.list_products(uow, category="", page_size=1, page_token="not-a-token")
