"""The catalog's model: products, their prices, and the rules every stored product obeys.

Pure: no I/O, no gRPC, no SQL. The contract validates requests at the edge; these
invariants hold for every product however it arrives (API, seed, tests).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime

from chassis.domain import DomainError

SKU_PATTERN = re.compile(r"[A-Z0-9][A-Z0-9-]{2,31}")
CATEGORY_PATTERN = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")
CURRENCY_PATTERN = re.compile(r"[A-Z]{3}")
MAX_NAME_LENGTH = 200
MAX_DESCRIPTION_LENGTH = 5000
MAX_CATEGORIES = 10
MAX_WEIGHT_GRAMS = 100_000
MAX_IMAGE_URL_LENGTH = 2048


class InvalidProduct(DomainError):
    """A product would break an invariant; `field` names the offending attribute."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}", field=field)
        self.problem = problem


class ProductNotFound(DomainError):
    def __init__(self, sku: str) -> None:
        super().__init__(f"no product with SKU {sku}", metadata={"sku": sku})


@dataclass(frozen=True)
class Money:
    """An exact amount: ISO 4217 currency code and integer minor units (cents)."""

    currency: str
    amount_minor: int

    def __post_init__(self) -> None:
        if not CURRENCY_PATTERN.fullmatch(self.currency):
            raise InvalidProduct("price.currency_code", "must be an ISO 4217 code")
        if self.amount_minor < 0:
            raise InvalidProduct("price.amount_minor", "must not be negative")


@dataclass(frozen=True)
class ProductContent:
    """What an administrator sets on a product: everything except its version history."""

    sku: str
    name: str
    description: str
    price: Money
    categories: tuple[str, ...]
    weight_grams: int
    image_url: str

    def __post_init__(self) -> None:
        if not SKU_PATTERN.fullmatch(self.sku):
            raise InvalidProduct("sku", "must be 3-32 upper-case letters, digits or dashes")
        if not 1 <= len(self.name) <= MAX_NAME_LENGTH:
            raise InvalidProduct("name", f"must be 1 to {MAX_NAME_LENGTH} characters")
        if len(self.description) > MAX_DESCRIPTION_LENGTH:
            raise InvalidProduct("description", f"must be at most {MAX_DESCRIPTION_LENGTH}")
        if len(self.categories) > MAX_CATEGORIES:
            raise InvalidProduct("categories", f"must be at most {MAX_CATEGORIES}")
        if len(set(self.categories)) != len(self.categories):
            raise InvalidProduct("categories", "must be unique")
        if not all(CATEGORY_PATTERN.fullmatch(c) for c in self.categories):
            raise InvalidProduct("categories", "must be lower-case slugs like 'garden-tools'")
        if not 0 < self.weight_grams <= MAX_WEIGHT_GRAMS:
            raise InvalidProduct("weight_grams", f"must be 1 to {MAX_WEIGHT_GRAMS} grams")
        if not self.image_url.startswith("https://") or len(self.image_url) > MAX_IMAGE_URL_LENGTH:
            raise InvalidProduct("image_url", "must be an https URL")


@dataclass(frozen=True)
class Product:
    """The aggregate: a product's content at a version. Every change makes a new version."""

    content: ProductContent
    version: int
    updated_at: datetime

    @property
    def sku(self) -> str:
        return self.content.sku

    @property
    def price(self) -> Money:
        return self.content.price


@dataclass(frozen=True)
class Upserted:
    """The outcome of an upsert, with what the events need to know about the change."""

    product: Product
    created: bool
    previous_price: Money | None  # set only when an existing product's price changed


def upsert(existing: Product | None, content: ProductContent, now: datetime) -> Upserted:
    """Creates the product at version 1, or replaces an existing one's content at version+1.

    Every upsert is a change (a new version and a new event), even when the content is
    equal: the idempotency key, not content comparison, is what makes a retry harmless.
    """
    if existing is None:
        return Upserted(Product(content, version=1, updated_at=now), True, None)
    if existing.sku != content.sku:
        raise InvalidProduct("sku", "cannot change a product's SKU")
    product = replace(existing, content=content, version=existing.version + 1, updated_at=now)
    price_changed = existing.price != content.price
    return Upserted(product, False, existing.price if price_changed else None)
