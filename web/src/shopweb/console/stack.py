"""The stack at a glance: every component's health, each service instance's golden
signals charted over the last minutes, the order sagas and each consumer's lag, from the
sampler's reports. The panel is also served alone, for the page's script to refresh it."""

from __future__ import annotations

import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from shopweb.app import render
from shopweb.console import series
from shopweb.console.guard import admin_only
from shopweb.console.sampler import sampler_for
from shopweb.console.sparkline import sparkline

UNITS = {
    "rate": ("calls/s", "{:.2f}"),
    "errors": ("errors/s", "{:.2f}"),
    "p50_ms": ("ms p50", "{:.1f}"),
    "p99_ms": ("ms p99", "{:.1f}"),
    "in_flight": ("in flight", "{:.0f}"),
    "db_in_use": ("connections in use", "{:.0f}"),
    "outbox": ("events waiting", "{:.0f}"),
}


@admin_only
async def glance(request: Request) -> Response:
    return await _stack(request, "console/stack.html")


@admin_only
async def panel(request: Request) -> Response:
    return await _stack(request, "console/stack_panel.html")


async def _stack(request: Request, template: str) -> Response:
    sampler = sampler_for(request.app)
    if sampler is None:
        return render(request, "console/needs_stack.html", section="stack")
    if not sampler.samples:
        await sampler.sample()
    return render(request, template, view=view(list(sampler.samples), sampler.every_s))


def view(samples: list[series.Sample], every_s: float) -> dict[str, Any]:
    """What the page shows, from the samples (oldest first)."""
    report = samples[-1].report
    per_instance = series.instance_series(samples)
    minutes = max((samples[-1].at - samples[0].at) / 60, 0.0)
    return {
        "report": report,
        "taken": datetime.datetime.fromtimestamp(samples[-1].at, datetime.UTC).strftime(
            "%H:%M:%S UTC"
        ),
        "span": f"{minutes:.1f} min" if minutes >= 1 else f"{minutes * 60:.0f} s",
        "every_s": every_s,
        "components": [_component(c) for c in report.get("components", [])],
        "instances": [
            {"name": name, "cells": [_cell(name, s, values[s]) for s in series.SIGNALS]}
            for name, values in sorted(per_instance.items())
        ],
        "consumers": _consumers(report, series.consumer_series(samples)),
        "consumers_unavailable": report.get("consumers")
        if isinstance(report.get("consumers"), str)
        else "",
    }


def _cell(instance: str, signal: str, values: list[float | None]) -> dict[str, Any]:
    unit, shape = UNITS[signal]
    now = series.latest(values)
    shown = "-" if now is None else shape.format(now)
    top = max((v for v in values if v is not None), default=None)
    peak = "" if top is None else f", at most {shape.format(top)}"
    return {
        "now": shown,
        "chart": sparkline(values, f"{instance} {unit}: now {shown}{peak}"),
    }


def _component(component: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": component["name"],
        "kind": component["kind"],
        "healthy": component["healthy"],
        "health": health_word(component),
        "address": component.get("address", ""),
        "pid": component.get("pid") or "-",
        "restarts": component.get("restarts", 0),
        "detail": component.get("detail", ""),
    }


def health_word(component: dict[str, Any]) -> str:
    """As `shop status` says it: healthy, drained (up, out of rotation), or the
    supervisor's state of it."""
    if component["healthy"]:
        return "healthy"
    if component.get("grpc_health") == "NOT_SERVING":
        because = (component.get("signals") or {}).get("not_serving_because") or ["drained"]
        return "drained" if because == ["drained"] else f"waiting ({', '.join(because)})"
    return "failing" if component.get("state") == "healthy" else str(component.get("state"))


def _consumers(
    report: dict[str, Any], lag: dict[tuple[str, str], list[float | None]]
) -> list[dict[str, Any]]:
    consumers = report.get("consumers")
    if not isinstance(consumers, list):
        return []
    shown = []
    for consumer in consumers:
        key = (consumer["stream"], consumer["consumer"])
        total = consumer["pending"] + consumer["ack_pending"]
        shown.append(
            consumer
            | {
                "lag": total,
                "chart": sparkline(lag.get(key, [float(total)]), f"{key[1]} lag: now {total}"),
            }
        )
    return shown
