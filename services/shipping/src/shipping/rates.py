"""The rate table: which service levels deliver where, how long they take, and what a
parcel costs by weight. Data, not code: rate_table.json (shape in the README), loaded once
per instance; `SHOP_SHIPPING_RATE_TABLE` names another file.

Pricing is pure: destination country -> zone; per service level that serves the zone, the
first weight band the parcel fits in, plus a surcharge per started kilogram above the last
band; converted from the table's base currency at the table's fixed rates, rounded half up
to the currency's minor unit.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from shipping.domain import Address, DestinationNotServed, Money, Pickup, ServiceLevel

RATE_TABLE_FILE = Path(__file__).with_name("rate_table.json")


class InvalidRateTable(ValueError):
    """The rate table file breaks its documented shape; the instance does not start."""


@dataclass(frozen=True)
class WeightBand:
    up_to_grams: int
    price_minor: int  # in the table's base currency


@dataclass(frozen=True)
class ZoneRate:
    """What one service level charges for one zone, and how long it takes."""

    min_days: int
    max_days: int
    bands: tuple[WeightBand, ...]  # ascending by weight
    per_extra_kg_minor: int  # each started kilogram above the last band

    def __post_init__(self) -> None:
        if not 0 < self.min_days <= self.max_days:
            raise InvalidRateTable("days must be [min, max] with 0 < min <= max")
        if not self.bands:
            raise InvalidRateTable("a zone rate needs at least one weight band")
        weights = [band.up_to_grams for band in self.bands]
        if weights != sorted(set(weights)) or weights[0] <= 0:
            raise InvalidRateTable("weight bands must be positive and strictly ascending")
        prices = [band.price_minor for band in self.bands]
        if prices != sorted(prices) or prices[0] < 0:
            raise InvalidRateTable("a heavier band must not cost less than a lighter one")
        if self.per_extra_kg_minor < 0:
            raise InvalidRateTable("per_extra_kg must not be negative")

    def price_minor(self, weight_grams: int) -> int:
        for band in self.bands:
            if weight_grams <= band.up_to_grams:
                return band.price_minor
        heaviest = self.bands[-1]
        extra_kg = math.ceil((weight_grams - heaviest.up_to_grams) / 1000)
        return heaviest.price_minor + extra_kg * self.per_extra_kg_minor


@dataclass(frozen=True)
class LevelRates:
    level: ServiceLevel
    carrier: str  # who carries parcels at this level ("DHL")
    zones: Mapping[str, ZoneRate]  # the zones it serves


@dataclass(frozen=True)
class Currency:
    code: str
    per_base: Decimal  # units of this currency per unit of the base currency
    minor_digits: int  # 2 for cents, 0 for yen


@dataclass(frozen=True)
class ShippingOption:
    service_level: ServiceLevel
    price: Money
    min_days: int
    max_days: int


@dataclass(frozen=True)
class RateTable:
    revision: int
    base: Currency
    currencies: Mapping[str, Currency]
    zone_of_country: Mapping[str, str]
    levels: tuple[LevelRates, ...]  # in the order ties are listed

    def __post_init__(self) -> None:
        zones = set(self.zone_of_country.values())
        for rates in self.levels:
            if unknown := set(rates.zones) - zones:
                raise InvalidRateTable(f"{rates.level.value} prices unknown zones {unknown}")
        if self.base.code not in self.currencies:
            raise InvalidRateTable("the base currency must be among the currencies")

    def serving(self, country_code: str) -> list[tuple[LevelRates, ZoneRate]]:
        """The service levels that deliver to the country, with their rate for its zone."""
        zone = self.zone_of_country.get(country_code)
        if zone is None:
            return []
        return [(rates, rates.zones[zone]) for rates in self.levels if zone in rates.zones]

    def carrier_for(self, country_code: str, level: ServiceLevel) -> str:
        """Who carries a parcel to the country at `level`; DestinationNotServed if nobody."""
        for rates, _ in self.serving(country_code):
            if rates.level is level:
                return rates.carrier
        raise DestinationNotServed(country_code, level)

    def check_served(self, country_code: str) -> None:
        """DestinationNotServed unless some service level delivers to the country."""
        if not self.serving(country_code):
            raise DestinationNotServed(country_code)

    def quote(self, country_code: str, weight_grams: int, currency: str) -> list[ShippingOption]:
        """One option per service level serving the country, cheapest first."""
        target = self.currencies.get(currency)
        if target is None:
            raise InvalidRateTable(f"the rate table has no exchange rate for {currency}")
        options = [
            ShippingOption(
                service_level=rates.level,
                price=Money(currency, self._convert(zone.price_minor(weight_grams), target)),
                min_days=zone.min_days,
                max_days=zone.max_days,
            )
            for rates, zone in self.serving(country_code)
        ]
        if not options:
            raise DestinationNotServed(country_code)
        return sorted(options, key=lambda option: option.price.amount_minor)  # stable: ties

    def _convert(self, base_minor: int, target: Currency) -> int:
        scale = Decimal(10) ** (target.minor_digits - self.base.minor_digits)
        exact = Decimal(base_minor) * target.per_base / self.base.per_base * scale
        return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


@dataclass(frozen=True)
class Carriers:
    """Who carries a new shipment and when they pick it up: the rate table's carrier for
    the destination at the service level, `dispatch_delay` after the shipment's creation."""

    rates: RateTable
    dispatch_delay: timedelta

    def pickup(self, address: Address, level: ServiceLevel, now: datetime) -> Pickup:
        """DestinationNotServed if the level does not reach the address."""
        carrier = self.rates.carrier_for(address.country_code, level)
        return Pickup(carrier, now + self.dispatch_delay)


def parcel_weight_grams(weights: Mapping[str, int], quantities: Mapping[str, int]) -> int:
    """The parcel's weight: each SKU's unit weight times its quantity."""
    return sum(weights[sku] * quantity for sku, quantity in quantities.items())


def parse(document: Mapping[str, Any]) -> RateTable:
    """A rate table from its JSON document (README: "The rate table")."""
    try:
        currencies = {
            code: Currency(code, Decimal(str(entry["per_base"])), int(entry["minor_digits"]))
            for code, entry in document["currencies"].items()
        }
        zone_of_country: dict[str, str] = {}
        for zone, countries in document["zones"].items():
            for country in countries:
                if country in zone_of_country:
                    raise InvalidRateTable(f"{country} is in two zones")
                zone_of_country[country] = zone
        levels = tuple(
            LevelRates(
                level=ServiceLevel(name),
                carrier=str(entry["carrier"]),
                zones={zone: _zone_rate(rate) for zone, rate in entry["zones"].items()},
            )
            for name, entry in document["service_levels"].items()
        )
        base = currencies[document["base_currency"]]
        return RateTable(int(document["revision"]), base, currencies, zone_of_country, levels)
    except (KeyError, TypeError, ValueError, ArithmeticError) as error:
        if isinstance(error, InvalidRateTable):
            raise
        raise InvalidRateTable(f"malformed rate table: {error!r}") from error


def _zone_rate(entry: Mapping[str, Any]) -> ZoneRate:
    min_days, max_days = entry["days"]
    return ZoneRate(
        min_days=int(min_days),
        max_days=int(max_days),
        bands=tuple(
            WeightBand(int(band["up_to_grams"]), int(band["price"])) for band in entry["bands"]
        ),
        per_extra_kg_minor=int(entry["per_extra_kg"]),
    )


def load(path: Path = RATE_TABLE_FILE) -> RateTable:
    return parse(json.loads(path.read_text()))
