"""The stack view's charts: sparklines drawn as SVG on the server, and the series they
draw, from successive `shop status` reports."""

from __future__ import annotations

from typing import Any

from shopweb.console import series, sparkline
from shopweb.console.series import Sample


def test_points_scale_to_the_largest_value_from_a_zero_floor() -> None:
    (run,) = sparkline.points([0.0, 5.0, 10.0], width=22, height=12)
    assert run == "2.0,10.0 11.0,6.0 20.0,2.0"


def test_a_gap_breaks_the_line() -> None:
    assert len(sparkline.points([1.0, None, 2.0, 3.0])) == 2
    assert sparkline.points([None, None]) == []


def test_a_flat_zero_series_lies_on_the_floor() -> None:
    (run,) = sparkline.points([0.0, 0.0], width=22, height=12)
    assert run == "2.0,10.0 20.0,10.0"


def test_the_svg_says_what_it_shows_and_escapes_it() -> None:
    svg = str(sparkline.sparkline([1.0, 2.0], "a<b> calls/s"))
    assert svg.startswith('<svg class="spark" role="img" aria-label="a&lt;b&gt; calls/s"')
    assert "<title>a&lt;b&gt; calls/s</title>" in svg
    assert "<polyline points=" in svg


def report(calls: int, errors: int, pid: int = 10, lag: int = 0) -> dict[str, Any]:
    signals = {
        "calls": calls,
        "errors": errors,
        "p50_ms": 2.0,
        "p99_ms": 9.5,
        "in_flight": 1,
        "db_connections": "3/10",
        "outbox_pending": 4,
    }
    return {
        "components": [
            {"name": "catalog-1", "kind": "service", "pid": pid, "signals": signals},
            {"name": "nats", "kind": "nats", "pid": 2},
        ],
        "consumers": [
            {"stream": "ORDERS", "consumer": "audit-orders", "pending": lag, "ack_pending": 1}
        ],
    }


def test_rates_are_differences_over_the_time_between_samples() -> None:
    samples = [
        Sample(100.0, report(10, 0)),
        Sample(105.0, report(60, 5)),
        Sample(110.0, report(60, 5)),
    ]
    catalog = series.instance_series(samples)["catalog-1"]
    assert catalog["rate"] == [None, 10.0, 0.0]
    assert catalog["errors"] == [None, 1.0, 0.0]
    assert catalog["p99_ms"] == [9.5, 9.5, 9.5]
    assert catalog["db_in_use"] == [3.0, 3.0, 3.0]
    assert catalog["outbox"] == [4.0, 4.0, 4.0]


def test_a_restarted_instance_has_no_rate_across_its_restart() -> None:
    samples = [Sample(0.0, report(500, 0, pid=10)), Sample(5.0, report(20, 0, pid=11))]
    assert series.instance_series(samples)["catalog-1"]["rate"] == [None, None]


def test_an_instance_missing_from_a_sample_has_a_gap_there() -> None:
    gone: dict[str, Any] = {"components": [], "consumers": "NATS does not answer"}
    samples = [Sample(0.0, report(1, 0)), Sample(5.0, gone), Sample(10.0, report(11, 0))]
    catalog = series.instance_series(samples)["catalog-1"]
    assert catalog["in_flight"] == [1.0, None, 1.0]
    assert catalog["rate"] == [None, None, None]  # no sample just before the last
    assert series.consumer_series(samples) == {("ORDERS", "audit-orders"): [1.0, None, 1.0]}


def test_the_latest_value_skips_gaps() -> None:
    assert series.latest([1.0, 2.0, None]) == 2.0
    assert series.latest([None]) is None
