"""`shop status`: each component's health (probed now), address, pid and restarts, the
golden signals of each service instance from its Prometheus metrics, the order sagas (from
the orders instances' metrics) and each durable consumer's lag (from JetStream)."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import asdict, dataclass
from typing import Any, TextIO

from nats.errors import Error as NatsError
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
# The saga counters of orders (orders.metrics), by what `shop status` calls them; the
# compensated and failed ones are labelled by step and summed here.
SAGA_COUNTERS = {
    "order_sagas_started_total": "started",
    "order_sagas_completed_total": "completed",
    "order_sagas_compensated_total": "compensated",
    "order_sagas_failed_total": "failed",
}
# A gauge of the sagas in each phase, read from the orders database: every instance
# reports the same figures, so they are not added up. Shown only when orders exports it.
SAGA_PHASE_GAUGES = frozenset({"orders_sagas", "order_sagas"})
NATS_TIMEOUT_S = 3.0


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
    saga_totals: dict[str, int]  # orders only: started, completed, compensated, failed
    saga_phases: dict[str, int]  # orders only, if exported: sagas in each phase now


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
        "sagas": sagas([c["signals"] for c in components if c.get("signals")]),
        "consumers": consumer_lag(topology),
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
    if component.kind == "web":  # the storefront and console (python -m shopweb)
        return http_ok(f"{component.address}/healthz")
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
    saga_totals: dict[str, int] = {}
    saga_phases: dict[str, int] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.labels.get("grpc_service") in INFRASTRUCTURE_SERVICES:
                continue
            if sample.name in SAGA_COUNTERS:
                name = SAGA_COUNTERS[sample.name]
                saga_totals[name] = saga_totals.get(name, 0) + int(sample.value)
            elif sample.name in SAGA_PHASE_GAUGES and "phase" in sample.labels:
                saga_phases[sample.labels["phase"]] = int(sample.value)
            elif sample.name in SINGLE_VALUED:
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
        saga_totals=saga_totals,
        saga_phases=saga_phases,
    )


def sagas(instances: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The instances' saga counters added up, and the phase gauge (database-wide: the
    first instance's); None when no instance runs sagas."""
    totals: dict[str, int] = {}
    phases: dict[str, int] = {}
    for signals_ in instances:
        for name, value in signals_.get("saga_totals", {}).items():
            totals[name] = totals.get(name, 0) + value
        phases = phases or dict(signals_.get("saga_phases", {}))
    if not totals and not phases:
        return None
    return {"totals": totals, "phases": phases}


def consumer_lag(topology: Topology) -> list[dict[str, Any]] | str:
    """Each durable consumer's backlog: messages it has not been delivered yet (pending)
    and delivered but not acknowledged (ack pending); why not, as a string, when NATS
    does not answer."""
    try:
        return asyncio.run(_consumer_lag_within(topology, NATS_TIMEOUT_S * 2))
    except (OSError, TimeoutError, NatsError) as error:
        return f"NATS does not answer: {error or type(error).__name__}"


async def _consumer_lag_within(topology: Topology, seconds: float) -> list[dict[str, Any]]:
    async with asyncio.timeout(seconds):
        return await read_consumer_lag(topology)


async def read_consumer_lag(topology: Topology) -> list[dict[str, Any]]:
    """consumer_lag, inside a running event loop."""
    client = await nats.connect(
        topology, connect_timeout=NATS_TIMEOUT_S, max_reconnect_attempts=0, allow_reconnect=False
    )
    try:
        js = client.jetstream(timeout=NATS_TIMEOUT_S)
        lag = []
        for stream in nats.STREAMS:
            if stream == nats.DEAD_LETTER_STREAM:
                continue  # read by `shop dlq`, not consumed
            for info in await js.consumers_info(stream):
                lag.append(
                    {
                        "stream": stream,
                        "consumer": info.name,
                        "pending": info.num_pending or 0,
                        "ack_pending": info.num_ack_pending or 0,
                        "redelivered": info.num_redelivered or 0,
                    }
                )
        return lag
    finally:
        await client.close()


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
    lines += _render_sagas(report.get("sagas"))
    lines += _render_consumers(report.get("consumers"))
    return "\n".join(lines)


def _render_sagas(sagas_: dict[str, Any] | None) -> list[str]:
    if not sagas_:
        return []
    totals = sagas_["totals"]
    lines = [
        "",
        f"Order sagas since the orders instances started: {totals.get('started', 0)} started, "
        f"{totals.get('completed', 0)} completed (CONFIRMED), "
        f"{totals.get('compensated', 0)} compensated (REJECTED), "
        f"{totals.get('failed', 0)} failed (STUCK).",
    ]
    if sagas_["phases"]:
        now = ", ".join(f"{phase} {count}" for phase, count in sorted(sagas_["phases"].items()))
        lines.append(f"Sagas by phase now: {now}.")
    return lines


def _render_consumers(consumers: list[dict[str, Any]] | str | None) -> list[str]:
    if consumers is None:
        return []
    if isinstance(consumers, str):
        return ["", f"Event consumers: {consumers}"]
    lines = [
        "",
        "Event consumers (JetStream durable consumers; lag: not delivered yet + not acked):",
        f"{'STREAM':<16}{'CONSUMER':<30}{'LAG':>7}{'PENDING':>9}{'ACK PENDING':>13}"
        f"{'REDELIVERED':>13}",
    ]
    for c in consumers:
        lines.append(
            f"{c['stream']:<16}{c['consumer']:<30}{c['pending'] + c['ack_pending']:>7}"
            f"{c['pending']:>9}{c['ack_pending']:>13}"
            f"{c['redelivered']:>13}"
        )
    return lines


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
