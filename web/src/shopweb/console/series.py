"""The stack's golden signals over the last minutes, from successive `shop status`
reports (shoptools.stack.status.collect): the counters the instances export are totals
since they started, so a rate is the difference between two samples over the time
between them; gauges (latency quantiles, calls in flight, pool, outbox, consumer lag)
are taken as sampled."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

# The signals charted per service instance, in the order of the table's columns.
SIGNALS = ("rate", "errors", "p50_ms", "p99_ms", "in_flight", "db_in_use", "outbox")


@dataclass(frozen=True)
class Sample:
    at: float  # time.time() when the report was taken
    report: dict[str, Any]


def instance_series(samples: Sequence[Sample]) -> dict[str, dict[str, list[float | None]]]:
    """For each service instance seen: each signal, one value per sample (None where the
    instance was not measured, or, for rates, restarted since the sample before)."""
    names: dict[str, None] = {}
    for sample in samples:
        for component in _measured(sample):
            names.setdefault(component["name"])
    found: dict[str, dict[str, list[float | None]]] = {
        name: {signal: [] for signal in SIGNALS} for name in names
    }
    previous: dict[str, dict[str, Any]] = {}
    previous_at = 0.0
    for sample in samples:
        now = {c["name"]: c for c in _measured(sample)}
        for name, series in found.items():
            values = _values(now.get(name), previous.get(name), sample.at - previous_at)
            for signal in SIGNALS:
                series[signal].append(values.get(signal))
        previous, previous_at = now, sample.at
    return found


def _measured(sample: Sample) -> list[dict[str, Any]]:
    return [c for c in sample.report.get("components", []) if c.get("signals")]


def _values(
    now: dict[str, Any] | None, before: dict[str, Any] | None, seconds: float
) -> dict[str, float | None]:
    if now is None:
        return {}
    measured = now["signals"]
    values: dict[str, float | None] = {
        "p50_ms": measured.get("p50_ms"),
        "p99_ms": measured.get("p99_ms"),
        "in_flight": float(measured.get("in_flight", 0)),
        "db_in_use": _in_use(str(measured.get("db_connections", "0/0"))),
        "outbox": float(measured.get("outbox_pending", 0)),
    }
    if before is not None and before.get("pid") == now.get("pid") and seconds > 0:
        calls = measured["calls"] - before["signals"]["calls"]
        errors = measured["errors"] - before["signals"]["errors"]
        if calls >= 0 and errors >= 0:  # counters only fall when the process restarted
            values["rate"] = round(calls / seconds, 2)
            values["errors"] = round(errors / seconds, 2)
    return values


def _in_use(pool: str) -> float:
    """Connections in use, from "3/10"."""
    try:
        return float(pool.split("/", 1)[0])
    except ValueError:
        return 0.0


def consumer_series(samples: Sequence[Sample]) -> dict[tuple[str, str], list[float | None]]:
    """Each durable consumer's lag (not delivered yet + not acknowledged), per sample."""
    keys: dict[tuple[str, str], None] = {}
    for sample in samples:
        for consumer in _consumers(sample):
            keys.setdefault((consumer["stream"], consumer["consumer"]))
    found: dict[tuple[str, str], list[float | None]] = {key: [] for key in keys}
    for sample in samples:
        lag = {
            (c["stream"], c["consumer"]): float(c["pending"] + c["ack_pending"])
            for c in _consumers(sample)
        }
        for key, series in found.items():
            series.append(lag.get(key))
    return found


def _consumers(sample: Sample) -> list[dict[str, Any]]:
    consumers = sample.report.get("consumers")
    return consumers if isinstance(consumers, list) else []


def latest(series: Sequence[float | None]) -> float | None:
    return next((value for value in reversed(series) if value is not None), None)
