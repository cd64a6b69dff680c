"""The stock level aggregate: its invariants, adjustments, opening stock, and when a change
counts as running low (pure, no database)."""

from __future__ import annotations

from datetime import datetime

import pytest
from inventory_examples import T0, level

from inventory.domain import (
    Adjustment,
    AdjustmentBelowReserved,
    InvariantViolated,
    OpeningStock,
    StockLevel,
    adjust,
    open_stock,
    ran_low,
)


def test_available_is_on_hand_minus_reserved() -> None:
    assert level(on_hand=10, reserved=3).available == 7


@pytest.mark.parametrize(
    ("on_hand", "reserved", "threshold", "version"),
    [(5, 6, None, 1), (5, -1, None, 1), (-1, 0, None, 1), (5, 0, -1, 1), (5, 0, None, 0)],
)
def test_a_level_that_breaks_an_invariant_cannot_exist(
    on_hand: int, reserved: int, threshold: int | None, version: int
) -> None:
    with pytest.raises(InvariantViolated):
        level(on_hand=on_hand, reserved=reserved, threshold=threshold, version=version)


def test_the_first_positive_adjustment_creates_the_level_at_version_1() -> None:
    result = adjust(None, Adjustment("KIT-KNIFE-1", 12, "goods receipt 4711"), T0)

    assert result.level == level(on_hand=12, version=1)
    assert not result.ran_low


def test_removing_stock_of_an_unknown_sku_is_below_reserved() -> None:
    with pytest.raises(AdjustmentBelowReserved) as refused:
        adjust(None, Adjustment("KIT-KNIFE-1", -1, "stocktake correction"), T0)

    assert refused.value.metadata == {"sku": "KIT-KNIFE-1", "on_hand": "0", "reserved": "0"}


def test_an_adjustment_changes_on_hand_and_the_version() -> None:
    result = adjust(
        level(on_hand=10, reserved=4, version=3), Adjustment("KIT-KNIFE-1", -6, "x"), T0
    )

    assert (result.level.on_hand, result.level.reserved, result.level.version) == (4, 4, 4)


def test_an_adjustment_may_not_take_on_hand_below_the_reserved_units() -> None:
    with pytest.raises(AdjustmentBelowReserved):
        adjust(level(on_hand=10, reserved=4), Adjustment("KIT-KNIFE-1", -7, "damaged"), T0)


@pytest.mark.parametrize(
    ("sku", "delta", "reason"),
    [
        ("bad", 1, "x"),
        ("KIT-KNIFE-1", 0, "x"),
        ("KIT-KNIFE-1", 1, ""),
        ("KIT-KNIFE-1", 1, "x" * 501),
    ],
)
def test_an_adjustment_that_breaks_an_invariant_cannot_exist(
    sku: str, delta: int, reason: str
) -> None:
    with pytest.raises(InvariantViolated):
        Adjustment(sku, delta, reason)


@pytest.mark.parametrize(
    ("before", "after", "crossed"),
    [
        (6, 5, True),  # drops onto the threshold
        (6, 0, True),  # drops through it
        (5, 4, False),  # already at or below it: not a new crossing
        (9, 6, False),  # still above it
        (4, 6, False),  # rises
    ],
)
def test_running_low_is_a_crossing_down_to_the_threshold(
    before: int, after: int, crossed: bool
) -> None:
    assert ran_low(level(on_hand=before, threshold=5), level(on_hand=after, threshold=5)) is crossed


def test_without_a_threshold_nothing_runs_low() -> None:
    assert not ran_low(level(on_hand=9), level(on_hand=0))


def test_opening_stock_creates_a_new_sku_with_its_threshold() -> None:
    opened = open_stock(None, OpeningStock("KIT-KNIFE-1", 20, 3), T0)

    assert opened == level(on_hand=20, threshold=3, version=1)


def test_opening_stock_keeps_the_on_hand_of_an_existing_sku_and_takes_the_threshold() -> None:
    existing = level(on_hand=7, reserved=2, threshold=3, version=5)

    same_threshold = open_stock(existing, OpeningStock("KIT-KNIFE-1", 20, 3), T0)
    new_threshold = open_stock(existing, OpeningStock("KIT-KNIFE-1", 20, 1), T0)

    assert same_threshold is existing
    assert (new_threshold.on_hand, new_threshold.reserved) == (7, 2)
    assert (new_threshold.low_stock_threshold, new_threshold.version) == (1, 6)


def test_a_level_changed_at_a_moment_without_time_zone_cannot_exist() -> None:
    with pytest.raises(InvariantViolated):
        StockLevel("KIT-KNIFE-1", 1, 0, None, 1, updated_at=datetime(2026, 1, 1))
