"""The rate table: zones, weight bands, the surcharge above the last band, currency
conversion, cheapest first, and the shape of the file (pure, no database)."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import pytest
from buf.validate import validate_pb2
from shipping_examples import T0, address

from shipping import rates
from shipping.domain import DestinationNotServed, Money, Pickup, ServiceLevel
from shipping.rates import InvalidRateTable
from shop.shipping.v1 import shipping_service_pb2

TABLE: dict[str, Any] = {
    "revision": 3,
    "base_currency": "EUR",
    "currencies": {
        "EUR": {"per_base": "1", "minor_digits": 2},
        "USD": {"per_base": "1.10", "minor_digits": 2},
        "JPY": {"per_base": "160.5", "minor_digits": 0},
    },
    "zones": {"home": ["DE"], "far": ["US", "AU"]},
    "service_levels": {
        "STANDARD": {
            "carrier": "DHL",
            "zones": {
                "home": {
                    "days": [1, 3],
                    "bands": [
                        {"up_to_grams": 1000, "price": 400},
                        {"up_to_grams": 5000, "price": 700},
                    ],
                    "per_extra_kg": 100,
                },
                "far": {
                    "days": [6, 12],
                    "bands": [{"up_to_grams": 5000, "price": 2000}],
                    "per_extra_kg": 300,
                },
            },
        },
        "EXPRESS": {
            "carrier": "UPS",
            "zones": {
                "home": {
                    "days": [1, 1],
                    "bands": [{"up_to_grams": 5000, "price": 1500}],
                    "per_extra_kg": 200,
                },
            },
        },
    },
}


@pytest.fixture
def table() -> rates.RateTable:
    return rates.parse(TABLE)


def test_a_parcel_costs_the_first_band_it_fits_in(table: rates.RateTable) -> None:
    def standard_home(weight: int) -> int:
        return table.quote("DE", weight, "EUR")[0].price.amount_minor

    assert standard_home(1) == 400
    assert standard_home(1000) == 400
    assert standard_home(1001) == 700
    assert standard_home(5000) == 700


def test_above_the_last_band_each_started_kilogram_costs_extra(table: rates.RateTable) -> None:
    [standard, express] = table.quote("DE", 5001, "EUR")

    assert standard.price == Money("EUR", 700 + 100)
    assert express.price == Money("EUR", 1500 + 200)
    assert table.quote("DE", 7000, "EUR")[0].price.amount_minor == 700 + 2 * 100
    assert table.quote("DE", 7001, "EUR")[0].price.amount_minor == 700 + 3 * 100


def test_options_are_every_level_serving_the_zone_cheapest_first(
    table: rates.RateTable,
) -> None:
    home = table.quote("DE", 500, "EUR")
    far = table.quote("US", 500, "EUR")

    assert [(o.service_level, o.min_days, o.max_days) for o in home] == [
        (ServiceLevel.STANDARD, 1, 3),
        (ServiceLevel.EXPRESS, 1, 1),
    ]
    assert [o.service_level for o in far] == [ServiceLevel.STANDARD]


def test_prices_are_converted_at_the_tables_rate_rounded_half_up_to_minor_units(
    table: rates.RateTable,
) -> None:
    # 4.00 EUR * 1.10 = 4.40 USD; 7.00 EUR * 160.5 = 1123.5 JPY -> 1124 (no minor unit)
    assert table.quote("DE", 500, "USD")[0].price == Money("USD", 440)
    assert table.quote("DE", 3000, "JPY")[0].price == Money("JPY", 1124)


def test_a_country_in_no_zone_is_not_served(table: rates.RateTable) -> None:
    with pytest.raises(DestinationNotServed) as raised:
        table.quote("BR", 500, "EUR")
    assert raised.value.metadata == {"country_code": "BR"}
    with pytest.raises(DestinationNotServed):
        table.check_served("BR")


def test_the_carrier_is_the_levels_and_only_where_the_level_serves(
    table: rates.RateTable,
) -> None:
    assert table.carrier_for("DE", ServiceLevel.EXPRESS) == "UPS"
    assert table.carrier_for("US", ServiceLevel.STANDARD) == "DHL"
    with pytest.raises(DestinationNotServed) as raised:
        table.carrier_for("US", ServiceLevel.EXPRESS)
    assert raised.value.metadata == {"country_code": "US", "service_level": "EXPRESS"}


def test_the_parcel_weighs_each_unit_times_its_quantity() -> None:
    weight = rates.parcel_weight_grams({"A-1": 250, "B-2": 1200}, {"A-1": 3, "B-2": 1})
    assert weight == 3 * 250 + 1200


def broken(path: str, value: object) -> dict[str, Any]:
    document = copy.deepcopy(TABLE)
    *parents, last = path.split(".")
    node: Any = document
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if value is None:
        del node[last]
    else:
        node[last] = value
    return document


@pytest.mark.parametrize(
    "document",
    [
        broken("zones.far", ["DE"]),  # a country in two zones
        broken(
            "service_levels.EXPRESS.zones.moon", TABLE["service_levels"]["EXPRESS"]["zones"]["home"]
        ),
        broken(
            "service_levels.STANDARD.zones.home.bands",
            [
                {"up_to_grams": 5000, "price": 700},
                {"up_to_grams": 1000, "price": 400},
            ],
        ),  # bands out of order
        broken(
            "service_levels.STANDARD.zones.home.bands",
            [
                {"up_to_grams": 1000, "price": 700},
                {"up_to_grams": 5000, "price": 400},
            ],
        ),  # heavier for less
        broken("service_levels.STANDARD.zones.home.days", [3, 1]),
        broken("service_levels.STANDARD.zones.home.bands", []),
        broken("service_levels.OVERNIGHT", TABLE["service_levels"]["EXPRESS"]),
        broken("base_currency", "CHF"),
        broken("currencies.USD.per_base", "a lot"),
        broken("revision", None),
    ],
)
def test_a_malformed_table_is_refused(document: dict[str, Any]) -> None:
    with pytest.raises(InvalidRateTable):
        rates.parse(document)


def quotable_currencies() -> list[str]:
    """The currencies QuoteShippingRequest accepts, as its contract's rules say."""
    field = shipping_service_pb2.QuoteShippingRequest.DESCRIPTOR.fields_by_name["currency_code"]
    rules = field.GetOptions().Extensions[validate_pb2.field]
    return list(getattr(rules.string, "in"))


def test_the_packaged_table_quotes_in_every_currency_the_contract_accepts() -> None:
    table = rates.load()

    assert len(quotable_currencies()) > 1
    for currency in quotable_currencies():
        assert table.quote("DE", 1500, currency)[0].price.currency == currency
    assert {level.level for level in table.levels} == set(ServiceLevel)


def test_a_pickup_is_the_levels_carrier_after_the_dispatch_delay(table: rates.RateTable) -> None:
    carriers = rates.Carriers(table, timedelta(minutes=10))

    pickup = carriers.pickup(address("DE"), ServiceLevel.EXPRESS, T0)

    assert pickup == Pickup("UPS", T0 + timedelta(minutes=10))
    with pytest.raises(DestinationNotServed):
        carriers.pickup(address("US"), ServiceLevel.EXPRESS, T0)
