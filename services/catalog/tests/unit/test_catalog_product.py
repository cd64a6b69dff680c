"""The product aggregate's invariants and upsert rules (pure, no database)."""

from datetime import UTC, datetime
from typing import Any

import pytest
from catalog_examples import product

from catalog.domain import InvalidProduct, Money, upsert

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T1 = datetime(2026, 1, 2, tzinfo=UTC)


def test_first_upsert_creates_version_1_without_price_change() -> None:
    result = upsert(None, product(), T0)

    assert result.created
    assert result.product.version == 1
    assert result.product.updated_at == T0
    assert result.previous_price is None


def test_replacing_increments_version_and_reports_old_price_when_price_changed() -> None:
    first = upsert(None, product(), T0).product

    result = upsert(first, product(price=Money("EUR", 7900)), T1)

    assert not result.created
    assert result.product.version == 2
    assert result.product.updated_at == T1
    assert result.product.price == Money("EUR", 7900)
    assert result.previous_price == Money("EUR", 8900)


def test_replacing_with_the_same_price_reports_no_price_change() -> None:
    first = upsert(None, product(), T0).product

    result = upsert(first, product(name="Chef's Knife 20 cm"), T1)

    assert result.product.version == 2
    assert result.previous_price is None


def test_a_currency_change_is_a_price_change() -> None:
    first = upsert(None, product(), T0).product

    result = upsert(first, product(price=Money("CHF", 8900)), T1)

    assert result.previous_price == Money("EUR", 8900)


def test_the_sku_of_an_existing_product_cannot_change() -> None:
    first = upsert(None, product(), T0).product

    with pytest.raises(InvalidProduct) as error:
        upsert(first, product(sku="KIT-KNIFE-2"), T1)
    assert error.value.field == "sku"


def test_money_is_exact_and_never_negative() -> None:
    assert Money("EUR", 1) != Money("EUR", 2)
    with pytest.raises(InvalidProduct, match="amount_minor"):
        Money("EUR", -1)
    with pytest.raises(InvalidProduct, match="currency_code"):
        Money("eur", 100)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"sku": "kit-knife"}, "sku"),
        ({"sku": "AB"}, "sku"),
        ({"name": ""}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"description": "x" * 5001}, "description"),
        ({"categories": ("kitchen", "kitchen")}, "categories"),
        ({"categories": ("Kitchen",)}, "categories"),
        ({"categories": tuple(f"c{i}" for i in range(11))}, "categories"),
        ({"weight_grams": 0}, "weight_grams"),
        ({"weight_grams": 100_001}, "weight_grams"),
        ({"image_url": "http://images.example/knife.jpg"}, "image_url"),
    ],
)
def test_content_that_breaks_an_invariant_is_refused(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidProduct) as error:
        product(**changes)
    assert error.value.field == field


def test_valid_edge_values_are_accepted() -> None:
    edge = product(
        sku="ABC",
        name="x" * 200,
        description="",
        categories=(),
        weight_grams=100_000,
        price=Money("JPY", 0),
    )
    assert edge.sku == "ABC"
