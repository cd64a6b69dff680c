"""The catalog's use cases: one function each, one transaction each. Nothing about gRPC."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from catalog import domain, events, page_tokens
from catalog.domain import Product, ProductContent
from catalog.messages import content_to_proto, product_from_proto, product_to_proto
from catalog.page_tokens import InvalidPageToken
from catalog.repository import ProductRepository
from chassis.db import Database
from chassis.errors import InvalidArgument, NotFound
from chassis.idempotency import run_once
from chassis.outbox import add_event
from shop.catalog.v1.catalog_service_pb2 import UpsertProductRequest, UpsertProductResponse

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
UPSERT_METHOD = "/shop.catalog.v1.CatalogService/UpsertProduct"


@dataclass(frozen=True)
class Page:
    products: list[Product]
    next_page_token: str  # empty on the last page


@dataclass(frozen=True)
class UpsertResult:
    product: Product
    created: bool


async def get_product(db: Database, sku: str) -> Product:
    async with db.transaction() as conn:
        product = await ProductRepository(conn).get(sku)
    if product is None:
        raise NotFound(
            f"no product with SKU {sku}", reason="PRODUCT_NOT_FOUND", metadata={"sku": sku}
        )
    return product


async def list_products(db: Database, *, category: str, page_size: int, page_token: str) -> Page:
    """Products ordered by SKU, optionally only those in `category`."""
    try:
        position = page_tokens.decode_list(page_token, category=category)
    except InvalidPageToken as error:
        raise _invalid_page_token(error) from error
    size = _page_size(page_size)
    async with db.transaction() as conn:
        found = await ProductRepository(conn).list_page(
            after_sku=position.after_sku, category=category, limit=size + 1
        )
    page = found[:size]
    more = len(found) > size
    next_token = page_tokens.encode_list(page[-1].sku, category=category) if more else ""
    return Page(page, next_token)


async def search_products(db: Database, *, query: str, page_size: int, page_token: str) -> Page:
    """Products matching `query` (web-search syntax), best match first."""
    try:
        position = page_tokens.decode_search(page_token, query=query)
    except InvalidPageToken as error:
        raise _invalid_page_token(error) from error
    size = _page_size(page_size)
    async with db.transaction() as conn:
        found = await ProductRepository(conn).search_page(
            query=query, offset=position.offset, limit=size + 1
        )
    page = found[:size]
    more = len(found) > size
    next_token = page_tokens.encode_search(position.offset + size, query=query) if more else ""
    return Page(page, next_token)


async def upsert_product(
    db: Database, *, idempotency_key: str, content: ProductContent
) -> UpsertResult:
    """Creates or replaces a product and records its events, once per idempotency key.

    The request is hashed in its canonical form (without the ignored output-only fields),
    so a retry that differs only in those still counts as the same request.
    """
    request = UpsertProductRequest(
        idempotency_key=idempotency_key, product=content_to_proto(content)
    )
    async with db.transaction() as conn:

        async def work() -> UpsertProductResponse:
            products = ProductRepository(conn)
            await products.lock(content.sku)
            change = domain.upsert(await products.get(content.sku), content, datetime.now(UTC))
            await products.save(change.product)
            for event in events.events_for(change):
                await add_event(
                    conn,
                    subject=events.subject_for(event),
                    aggregate=events.aggregate(content.sku),
                    event=event,
                )
            return UpsertProductResponse(
                product=product_to_proto(change.product), created=change.created
            )

        response = await run_once(
            conn,
            key=idempotency_key,
            method=UPSERT_METHOD,
            request=request,
            response_type=UpsertProductResponse,
            work=work,
        )
    return UpsertResult(product_from_proto(response.product), response.created)


def _page_size(requested: int) -> int:
    return DEFAULT_PAGE_SIZE if requested <= 0 else min(requested, MAX_PAGE_SIZE)


def _invalid_page_token(error: InvalidPageToken) -> InvalidArgument:
    return InvalidArgument(str(error), reason="INVALID_PAGE_TOKEN", field="page_token")
