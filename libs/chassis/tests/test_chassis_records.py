"""chassis.records: domain values stored as canonical JSON come back as the same values."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from chassis import records


class Speed(enum.Enum):
    STANDARD = "standard"
    EXPRESS = "express"


@dataclass(frozen=True)
class Money:
    currency: str
    amount_minor: int


@dataclass(frozen=True)
class Line:
    sku: str
    quantity: int
    price: Money


@dataclass(frozen=True)
class Quote:
    id: uuid.UUID
    lines: tuple[Line, ...]
    speed: Speed
    note: str | None
    valid_until: datetime
    tags: list[str]
    by_warehouse: dict[str, int]


QUOTE = Quote(
    id=uuid.UUID("5b7c6f0e-2d1a-4c39-9a52-3f0e8a4d6c11"),
    lines=(Line("MUG-1", 2, Money("EUR", 1290)), Line("TEA-9", 1, Money("EUR", 450))),
    speed=Speed.EXPRESS,
    note=None,
    valid_until=datetime(2026, 12, 3, 8, 0, tzinfo=UTC),
    tags=["gift"],
    by_warehouse={"ber": 2},
)


def test_a_value_round_trips_with_its_types() -> None:
    assert records.load(Quote, records.dump(QUOTE)) == QUOTE


def test_the_same_value_always_gives_the_same_bytes() -> None:
    again = Quote(**{**QUOTE.__dict__, "by_warehouse": {"ber": 2}})
    assert records.dump(again) == records.dump(QUOTE)
    assert records.fingerprint(again) == records.fingerprint(QUOTE)


def test_a_fingerprint_tells_requests_and_their_types_apart() -> None:
    assert records.fingerprint(Money("EUR", 1)) != records.fingerprint(Money("EUR", 2))
    assert records.fingerprint(Money("EUR", 1)) != records.fingerprint(("EUR", 1))


def test_what_cannot_be_stored_faithfully_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        records.dump(datetime(2026, 1, 1))
    with pytest.raises(TypeError, match="set"):
        records.dump({1, 2})
