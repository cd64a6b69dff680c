"""The catalog's use cases: one function each, one unit of work each. Nothing about gRPC:
they take and return domain values."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from catalog import domain, events, page_tokens
from catalog.domain import Product, ProductContent, ProductNotFound
from catalog.repository import Repositories
from chassis.uow import UnitOfWork, retry_conflicts

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


@dataclass(frozen=True)
class Page:
    products: list[Product]
    next_page_token: str  # empty on the last page


@dataclass(frozen=True)
class UpsertResult:
    product: Product
    created: bool


async def get_product(uow: UnitOfWork[Repositories], sku: str) -> Product:
    async with uow.read():
        product = await uow.repos.products.get(sku)
    if product is None:
        raise ProductNotFound(sku)
    return product


async def list_products(
    uow: UnitOfWork[Repositories], *, category: str, page_size: int, page_token: str
) -> Page:
    """Products ordered by SKU, optionally only those in `category`."""
    position = page_tokens.decode_list(page_token, category=category)
    size = _page_size(page_size)
    async with uow.read():
        found = await uow.repos.products.list_page(
            after_sku=position.after_sku, category=category, limit=size + 1
        )
    page = found[:size]
    more = len(found) > size
    next_token = page_tokens.encode_list(page[-1].sku, category=category) if more else ""
    return Page(page, next_token)


async def search_products(
    uow: UnitOfWork[Repositories], *, query: str, page_size: int, page_token: str
) -> Page:
    """Products matching `query` (web-search syntax), best match first."""
    position = page_tokens.decode_search(page_token, query=query)
    size = _page_size(page_size)
    async with uow.read():
        found = await uow.repos.products.search_page(
            query=query, offset=position.offset, limit=size + 1
        )
    page = found[:size]
    more = len(found) > size
    next_token = page_tokens.encode_search(position.offset + size, query=query) if more else ""
    return Page(page, next_token)


@retry_conflicts
async def upsert_product(
    uow: UnitOfWork[Repositories], *, idempotency_key: str, content: ProductContent
) -> UpsertResult:
    """Creates or replaces a product and records its events, once per idempotency key.

    The request is the product's content (without the ignored output-only fields), so a
    retry that differs only in those still counts as the same request."""
    async with uow:
        earlier = await uow.claim(idempotency_key, content, UpsertResult)
        if earlier is not None:
            return earlier
        products = uow.repos.products
        await products.lock(content.sku)
        change = domain.upsert(await products.get(content.sku), content, datetime.now(UTC))
        await products.save(change.product)
        for event in events.events_for(change):
            uow.emit(event, content.sku)
        result = UpsertResult(change.product, change.created)
        await uow.commit(result)
    return result


def _page_size(requested: int) -> int:
    return DEFAULT_PAGE_SIZE if requested <= 0 else min(requested, MAX_PAGE_SIZE)
