"""Example products and types shared by the catalog's unit and integration tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from catalog.domain import Money, ProductContent
from catalog.repository import Repositories
from chassis.uow import SqlUnitOfWork

UnitsOfWork = Callable[[], SqlUnitOfWork[Repositories]]


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
