"""`shop status`: each component's health (probed now), address, pid and restarts, and the
golden signals of each service instance from its Prometheus metrics."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import asdict, dataclass
from typing import Any, TextIO

from prometheus_client.parser import text_string_to_metric_families

from shoptools.stack import nats, runfile, smtp_sink
from shoptools.stack.health import grpc_health, http_get, http_ok
from shoptools.stack.postgres import Postgres
from shoptools.stack.processes import is_running, started_at
from shoptools.stack.runfile import Component
from shoptools.topology import Topology

NOT_RUNNING = 3  # like `systemctl status`
# Health checks (the mesh probes every instance) and reflection are not the service's work.
INFRASTRUCTURE_SERVICES = {"grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"}
# A drained instance whose service has no other instance in rotation still gets calls: when
# no instance of a service is healthy, Envoy routes to all of them (its panic threshold).
# The stack keeps that: a drain moves traffic to the other instances, it never turns a
# service off (`shop down`, or scaling, does).
STILL_ROUTED = "still gets calls: no other {service} instance is in rotation"


@dataclass
class Signals:
    """Since the instance started: traffic, errors, latency, saturation."""

    calls: int
    errors: int  # calls that ended with any code but OK
    calls_per_s: float  # average over the instance's lifetime
    p50_ms: float | None
    p99_ms: float | None
    in_flight: int
    db_connections: str  # in use / most the pool opens, e.g. "3/10"
    shed: int  # calls shed because no database connection was free in time
    outbox_pending: int  # committed events the relay has not published yet
    outbox_oldest_s: float  # how long the oldest of them has waited
    not_serving_because: list[str]  # what holds it out of rotation, when it is


def show(topology: Topology, *, as_json: bool, out: TextIO) -> int:
    report = collect(topology)
    if as_json:
        print(json.dumps(report, indent=2), file=out)
    else:
        print(render(report), file=out)
    if report["state"] == "not running":
        return NOT_RUNNING
    return 0 if report["healthy"] else 1


def collect(topology: Topology) -> dict[str, Any]:
    state = runfile.load(topology.run_file)
    if state is None:
        return {"state": "not running", "healthy": False, "components": [], "leftovers": []}
    if not is_running(state.supervisor_pid, state.supervisor_created):
        # Its processes may outlive it (a kill -9): say so, `shop down` stops them.
        leftovers = [
            c.name for c in state.components if c.pid and c.created and is_running(c.pid, c.created)
        ]
        return {"state": "not running", "healthy": False, "components": [], "leftovers": leftovers}
    components = []
    for c in state.components:
        if c.kind == "task":
            continue
        entry: dict[str, Any] = asdict(c)
        if c.kind != "service":
            entry["healthy"] = probe(topology, c)
        else:
            # NOT_SERVING while up: drained (`shop drain`), or its schema is not at head.
            entry["grpc_health"] = asyncio.run(grpc_health(int(c.address.rsplit(":", 1)[1])))
            entry["healthy"] = entry["grpc_health"] == "SERVING"
            if c.pid is not None:
                measured = signals(c)
                entry["signals"] = asdict(measured) if measured else None
        components.append(entry)
    _mark_drained_but_routed(components)
    return {
        "state": state.state,
        "healthy": state.state == runfile.STACK_READY and all(c["healthy"] for c in components),
        "supervisor_pid": state.supervisor_pid,
        "ready_s": state.ready_s,
        "state_dir": state.state_dir,
        "faults": state.faults,
        "components": components,
    }


def _mark_drained_but_routed(components: list[dict[str, Any]]) -> None:
    serving = {c["service"] for c in components if c.get("grpc_health") == "SERVING"}
    for c in components:
        drained = c["kind"] == "service" and c.get("grpc_health") == "NOT_SERVING"
        c["still_routed"] = drained and c["service"] not in serving
        if c["still_routed"]:
            c["detail"] = STILL_ROUTED.format(service=c["service"])


def probe(topology: Topology, component: Component) -> bool:
    if component.kind == "postgres":
        return Postgres(topology).pid() is not None
    if component.kind == "nats":
        return http_ok(nats.health_url(topology))
    if component.kind == "smtp":
        return smtp_sink.accepts_sync(topology.smtp_port)
    return http_ok(f"http://{component.metrics}/ready")  # an Envoy's admin endpoint


SINGLE_VALUED = frozenset(
    {
        "db_pool_connections_in_use",
        "db_pool_connections_max",
        "db_pool_wait_timeouts_total",
        "outbox_pending_events",
        "outbox_oldest_pending_age_seconds",
    }
)


def signals(component: Component) -> Signals | None:
    text = http_get(f"http://{component.metrics}/metrics")
    if text is None or component.pid is None:
        return None
    calls = errors = in_flight = 0
    blockers: list[str] = []
    buckets: dict[float, float] = {}
    single: dict[str, float] = {}  # one sample per instance: pool and outbox
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.labels.get("grpc_service") in INFRASTRUCTURE_SERVICES:
                continue
            if sample.name in SINGLE_VALUED:
                single[sample.name] = sample.value
            elif sample.name == "instance_not_serving" and sample.value:
                blockers.append(sample.labels["blocker"])
            elif sample.name == "grpc_server_handled_total":
                calls += int(sample.value)
                errors += int(sample.value) if sample.labels.get("grpc_code") != "OK" else 0
            elif sample.name == "grpc_server_handling_seconds_bucket":
                bound = float(sample.labels["le"])
                buckets[bound] = buckets.get(bound, 0.0) + sample.value
            elif sample.name == "grpc_server_in_flight_calls":
                in_flight += int(sample.value)
    started = started_at(component.pid)
    uptime = max(time.time() - started, 1e-3) if started else float("inf")
    return Signals(
        calls=calls,
        errors=errors,
        calls_per_s=round(calls / uptime, 2),
        p50_ms=quantile_ms(0.5, buckets),
        p99_ms=quantile_ms(0.99, buckets),
        in_flight=in_flight,
        db_connections=(
            f"{single.get('db_pool_connections_in_use', 0):.0f}"
            f"/{single.get('db_pool_connections_max', 0):.0f}"
        ),
        shed=int(single.get("db_pool_wait_timeouts_total", 0)),
        outbox_pending=int(single.get("outbox_pending_events", 0)),
        outbox_oldest_s=round(single.get("outbox_oldest_pending_age_seconds", 0.0), 1),
        not_serving_because=sorted(blockers),
    )


def quantile_ms(q: float, buckets: dict[float, float]) -> float | None:
    """Like Prometheus' histogram_quantile: linear within the bucket holding the rank."""
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] == 0:
        return None
    rank = q * buckets[bounds[-1]]
    lower_bound, lower_count = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if bound == float("inf"):
                return round(lower_bound * 1000, 2)  # beyond the last finite bucket
            share = (rank - lower_count) / (count - lower_count) if count > lower_count else 1
            return round((lower_bound + (bound - lower_bound) * share) * 1000, 2)
        lower_bound, lower_count = bound, count
    return None


def render(report: dict[str, Any]) -> str:
    if report["state"] == "not running":
        if report["leftovers"]:
            return (
                "The stack's supervisor is gone, but these still run: "
                f"{', '.join(report['leftovers'])}. `shop down` stops them."
            )
        return "The stack is not running."
    ready = f", healthy after {report['ready_s']:.2f} s" if report["ready_s"] else ""
    lines = [
        f"Stack {report['state']} (supervisor pid {report['supervisor_pid']}{ready})",
        "",
        f"{'COMPONENT':<26}{'HEALTH':<20}{'ADDRESS':<28}{'PID':<9}RESTARTS",
    ]
    if report["faults"]:
        lines.insert(1, f"Chaos: injecting faults {', '.join(report['faults'])}")
    for c in report["components"]:
        health = _health(c)
        lines.append(
            f"{c['name']:<26}{health:<20}{c['address']:<28}{c['pid'] or '-':<9}{c['restarts']}"
            + (f"  ({c['detail']})" if c["detail"] and not c["healthy"] else "")
        )
    services = [c for c in report["components"] if c.get("signals")]
    if services:
        lines += [
            "",
            "Golden signals since each instance started:",
            f"{'INSTANCE':<26}{'CALLS':>8}{'ERRORS':>8}{'AVG/S':>8}"
            f"{'P50 ms':>9}{'P99 ms':>9}{'IN FLIGHT':>11}{'DB POOL':>9}{'SHED':>6}"
            f"{'OUTBOX':>8}",
        ]
        for c in services:
            s = c["signals"]
            lines.append(
                f"{c['name']:<26}{s['calls']:>8}{s['errors']:>8}{s['calls_per_s']:>8}"
                f"{_ms(s['p50_ms']):>9}{_ms(s['p99_ms']):>9}{s['in_flight']:>11}"
                f"{s['db_connections']:>9}{s['shed']:>6}{_outbox(s):>8}"
            )
    return "\n".join(lines)


def _health(component: dict[str, Any]) -> str:
    if component["healthy"]:
        return "healthy"
    if component["state"] == runfile.HEALTHY and component.get("grpc_health") == "NOT_SERVING":
        # Up and answering, out of rotation: drained, or waiting for what it depends on.
        because = (component.get("signals") or {}).get("not_serving_because") or ["drained"]
        return "drained" if because == ["drained"] else f"waiting ({', '.join(because)})"
    # The supervisor's view (restarting, starting...) unless it still believes it healthy.
    return "FAILING" if component["state"] == runfile.HEALTHY else str(component["state"])


def _outbox(signals: dict[str, Any]) -> str:
    """Events waiting to be published, and for how long the oldest has waited."""
    pending = signals["outbox_pending"]
    return f"{pending} ({signals['outbox_oldest_s']:.0f}s)" if pending else "0"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"
