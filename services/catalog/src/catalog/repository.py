"""Products in Postgres: rows to domain objects and back, keyset lists, full-text search."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Row, bindparam, func, literal_column, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from catalog.domain import Money, Product, ProductContent
from catalog.tables import products
from chassis.db import Query, fetch

_PRODUCT_COLUMNS = [c for c in products.c if c.name != "search"]
# GetProduct is the hottest call there is: compiled once, run on the driver.
_GET = Query(select(*_PRODUCT_COLUMNS).where(products.c.sku == bindparam("sku")))


class Products(Protocol):
    """The products, as the use cases need them (ProductRepository in Postgres; tests have
    an in-memory one)."""

    async def lock(self, sku: str) -> None: ...
    async def get(self, sku: str) -> Product | None: ...
    async def save(self, product: Product) -> None: ...
    async def list_page(self, *, after_sku: str, category: str, limit: int) -> list[Product]: ...
    async def search_page(self, *, query: str, offset: int, limit: int) -> list[Product]: ...


@dataclass(frozen=True)
class Repositories:
    """What a catalog unit of work gives its use case."""

    products: Products

    @classmethod
    def on(cls, conn: AsyncConnection) -> Repositories:
        return cls(ProductRepository(conn))


class ProductRepository:
    """Reads and writes products inside the caller's transaction."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def lock(self, sku: str) -> None:
        """Serializes writers of one SKU until the transaction ends. A row lock would not
        cover a product that does not exist yet, so this takes an advisory lock."""
        await self._conn.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
            {"key": f"products/{sku}"},
        )

    async def get(self, sku: str) -> Product | None:
        rows = await fetch(self._conn, _GET, {"sku": sku})
        return _product(rows[0]) if rows else None

    async def save(self, product: Product) -> None:
        content = product.content
        values = {
            "sku": content.sku,
            "name": content.name,
            "description": content.description,
            "price_currency": content.price.currency,
            "price_minor": content.price.amount_minor,
            "categories": list(content.categories),
            "weight_grams": content.weight_grams,
            "image_url": content.image_url,
            "version": product.version,
            "updated_at": product.updated_at,
        }
        statement = insert(products).values(values)
        await self._conn.execute(
            statement.on_conflict_do_update(
                index_elements=[products.c.sku],
                set_={name: statement.excluded[name] for name in values if name != "sku"},
            )
        )

    async def list_page(self, *, after_sku: str, category: str, limit: int) -> list[Product]:
        """Products ordered by SKU, starting after `after_sku` (keyset pagination)."""
        query = select(*_PRODUCT_COLUMNS).order_by(products.c.sku).limit(limit)
        if after_sku:
            query = query.where(products.c.sku > after_sku)
        if category:
            query = query.where(products.c.categories.contains([category]))
        return _products((await self._conn.execute(query)).all())

    async def search_page(self, *, query: str, offset: int, limit: int) -> list[Product]:
        """Products matching a web-search style query, best rank first, ties by SKU."""
        tsquery = func.websearch_to_tsquery(literal_column("'english'::regconfig"), query)
        rank = func.ts_rank_cd(products.c.search, tsquery)
        statement = (
            select(*_PRODUCT_COLUMNS)
            .where(products.c.search.bool_op("@@")(tsquery))
            .order_by(rank.desc(), products.c.sku)
            .offset(offset)
            .limit(limit)
        )
        return _products((await self._conn.execute(statement)).all())


def _products(rows: Sequence[Row[Any]]) -> list[Product]:
    return [_product(row) for row in rows]


def _product(row: Sequence[Any]) -> Product:
    """A product from a row of _PRODUCT_COLUMNS, in their order."""
    sku, name, description, currency, minor, categories, weight, image_url, version, at = row
    content = ProductContent(
        sku=sku,
        name=name,
        description=description,
        price=Money(currency, minor),
        categories=tuple(categories),
        weight_grams=weight,
        image_url=image_url,
    )
    return Product(content, version=version, updated_at=at)
