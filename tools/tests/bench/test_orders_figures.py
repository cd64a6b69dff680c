"""The arithmetic of `shop bench orders`: the ceiling formula, outcomes, percentiles, CPU
shares, and the report's targets."""

from __future__ import annotations

from pathlib import Path

import pytest

from shoptools.bench import ceiling, orders
from shoptools.bench.watch import Watcher

# Issue 7's figures for a 2-core machine; its text leaves the delivery cost out, and about
# 89 µs is what makes its own sum come to its "about 350 orders/s".
ISSUE_BLOCKS = ceiling.Blocks(
    grpc_call_us=180,
    envoy_hop_us=90,
    envoy_hop_p50_ms=0.3,
    pg_transaction_us=300,
    jetstream_publish_us=30,
    delivery_us=89,
)


def test_the_issues_building_blocks_give_its_ceiling() -> None:
    cost = ceiling.order_cost_us(ISSUE_BLOCKS)

    assert cost["calls"] == 5 * (180 + 2 * 90)
    assert cost["transactions"] == 8 * 300
    assert cost["events"] == 6 * 30
    assert cost["deliveries"] == 15 * 89
    assert cost["total"] == sum(v for k, v in cost.items() if k != "total")
    assert ceiling.ceiling_orders_per_s(cost["total"], cores=2) == pytest.approx(350, abs=1)


def test_the_ceiling_scales_with_cores_and_the_ratio_is_achieved_over_it() -> None:
    cost = ceiling.order_cost_us(ISSUE_BLOCKS)["total"]

    assert ceiling.ceiling_orders_per_s(cost, cores=4) == 2 * ceiling.ceiling_orders_per_s(
        cost, cores=2
    )
    assert ceiling.ratio(150, 300) == 0.5
    assert ceiling.ratio(150, 0) is None
    assert ceiling.ceiling_orders_per_s(0, cores=2) == 0


def test_outcomes_time_each_confirmed_order_from_when_it_was_sent() -> None:
    captured = [("a", 100.0), ("b", 100.5), ("c", 101.0), ("d", 101.0)]
    confirmed = {"a": 100.2, "c": 101.05, "x": 99.0}  # x: placed before the window
    rejected = {"b": 101.0}

    to_confirmed_us, n_confirmed, n_rejected, unfinished = orders.outcomes(
        captured, confirmed, rejected
    )

    assert sorted(to_confirmed_us) == [50_000, 200_000]
    assert (n_confirmed, n_rejected, unfinished) == (2, 1, 1)


def test_percentiles_are_nearest_rank_in_ms_and_none_without_samples() -> None:
    values_us = [i * 1000 for i in range(1, 101)]  # 1 ms .. 100 ms

    assert orders.percentiles_ms(values_us) == {"p50": 50.0, "p95": 95.0, "p99": 99.0}
    assert orders.percentiles_ms([]) == {"p50": None, "p95": None, "p99": None}


def test_cpu_figures_share_the_cpu_used_and_divide_it_per_confirmed_order() -> None:
    cpu = {"services": 3.0, "postgres": 1.0, "load": 0.0}

    share, per_order, busy = orders.cpu_figures(cpu, confirmed=100, window_s=2.0, cores=2)

    assert share["services"] == 0.75
    assert share["postgres"] == 0.25
    assert share["nats"] == 0.0
    assert per_order["services"] == 30_000  # 3 s over 100 orders
    assert per_order["total"] == 40_000
    assert busy == 1.0  # 4 CPU seconds in 2 s on 2 cores


def test_the_watcher_counts_confirmations_inside_a_window() -> None:
    watcher = Watcher(confirmed={"a": 10.0, "b": 11.0, "c": 12.0}, lags=[(10.5, 0.01)])

    assert watcher.confirmed_between(10.0, 12.0) == 2
    assert watcher.lags_between(10.0, 11.0) == [0.01]
    assert watcher.ended("c")
    assert not watcher.ended("z")


def _phase(name: str, confirmed_per_s: float, p99: float | None) -> orders.Phase:
    return orders.Phase(
        name=name,
        offered_per_s=None if name == "max" else confirmed_per_s,
        in_flight=32,
        window_s=20.0,
        placed=100,
        place_errors=0,
        placed_per_s=confirmed_per_s,
        confirmed_per_s=confirmed_per_s,
        confirmed=100,
        rejected=0,
        unfinished=0,
        place_ms={"p50": 5.0, "p95": 9.0, "p99": 12.0},
        to_confirmed_ms={"p50": 80.0, "p95": 150.0, "p99": p99},
        event_lag_ms={"p50": 2.0, "p95": 4.0, "p99": 6.0},
        events=600,
        cpu_share=dict.fromkeys(orders.KINDS, 1 / len(orders.KINDS)),
        cpu_us_per_order=dict.fromkeys((*orders.KINDS, "total"), 1000.0),
        machine_busy=0.9,
        consumer_lag_at_end=0,
        cpu_us_per_order_by_service={"orders": 3000.0},
        error_samples=[],
    )


def test_the_report_states_the_targets_and_the_ratio_to_the_ceiling() -> None:
    options = orders.Options(state_dir=Path("/nowhere"), half_rate=True)
    phases = [_phase("max", 175.0, 400.0), _phase("half rate", 87.5, 120.0)]

    document = orders.report(options, phases, ISSUE_BLOCKS, ["BK-BIRDS-EUROPE"], {"nats": 0.1})
    text = orders.render(document)

    assert document["targets"]["confirmed_per_s"]["measured"] == 175.0
    assert document["targets"]["p99_to_confirmed_at_half_rate_ms"]["measured"] == 120.0
    assert document["ceiling"]["achieved_ratio"] == pytest.approx(175 / 350, abs=0.01)
    assert ">= 150 orders/s confirmed: 175.0 (met)" in text
    assert "< 250 ms: 120 ms (met)" in text
    assert "Achieved / ceiling: 0.50" in text


def test_without_a_half_rate_run_the_latency_target_is_not_claimed() -> None:
    options = orders.Options(state_dir=Path("/nowhere"))

    document = orders.report(options, [_phase("max", 90.0, 400.0)], None, [], {})
    text = orders.render(document)

    assert document["ceiling"] is None
    assert "90.0 (NOT met)" in text
    assert "not measured" in text


def test_cpu_above_idle_takes_out_what_the_stack_spends_with_no_orders() -> None:
    phase = _phase("max", 100.0, None)  # 1000 µs in all per order: 0.1 cores at 100/s

    assert orders.above_idle(phase, {"services": 0.05}) == 500  # (0.1 - 0.05) / 100 per s
    assert orders.above_idle(phase, {"services": 2.0}) == 0
    assert orders.above_idle(_phase("max", 0.0, None), {}) is None
