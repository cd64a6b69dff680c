"""The catalog's tables, as SQLAlchemy Core. Migrations create them; this mirrors them."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Computed,
    DateTime,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
)
from sqlalchemy.dialects.postgresql import ARRAY, TSVECTOR

metadata = MetaData()

# Name matches weigh more than description matches in ts_rank_cd.
SEARCH_DOCUMENT = (
    "setweight(to_tsvector('english', name), 'A') || "
    "setweight(to_tsvector('english', description), 'B')"
)

products = Table(
    "products",
    metadata,
    Column("sku", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("price_currency", Text, nullable=False),
    Column("price_minor", BigInteger, nullable=False),
    Column("categories", ARRAY(Text), nullable=False),
    Column("weight_grams", Integer, nullable=False),
    Column("image_url", Text, nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("search", TSVECTOR, Computed(SEARCH_DOCUMENT, persisted=True)),
    CheckConstraint("price_minor >= 0", name="products_price_minor_not_negative"),
    CheckConstraint("version > 0", name="products_version_positive"),
    Index("products_search_idx", "search", postgresql_using="gin"),
    Index("products_categories_idx", "categories", postgresql_using="gin"),
)
