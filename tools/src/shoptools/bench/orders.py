"""`shop bench orders`: orders placed through the gateway and the mesh, end to end.

Load processes (shoptools.bench.load) POST /v1/orders through the gateway as one customer,
with an approving test card (tok_visa), one unit of one of a few SKUs each (the SKUs are
restocked through the admin API first, so no order is refused for want of stock). Closed
loop at --concurrency orders in flight by default; open loop at --rate orders/s.

While they run, the benchmark watches NATS as the stack's admin (see shoptools.bench.watch):
OrderConfirmed and OrderRejected timestamp the end of each order's saga (time-to-confirmed
= from sending PlaceOrder to its OrderConfirmed reaching NATS), and every event's envelope
time against its arrival gives the event delivery lag (outbox -> broker). It prints orders
confirmed per second, p50/p95/p99 of PlaceOrder and of time-to-confirmed, the event lag,
the CPU share of each kind of process and the CPU per confirmed order, and writes the same
as JSON (--json).

In the same run it measures the ceiling (shoptools.bench.ceiling): what the building
blocks of one order cost on this machine, the orders/s they allow, and the achieved /
ceiling ratio, which carries from one machine to another. --half-rate then runs again,
open loop at half the confirmed rate just measured, for the p99 time-to-confirmed at half
the maximum (issue 7's latency target is stated there).

The stack is the one running in --state-dir, or one the benchmark starts there (and stops
after) with the gateway's rate limits lifted, as `shop bench reads` does.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import sys
import time
import urllib.request
import uuid
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, TextIO

from nats.aio.client import Client

from shoptools.bench import ceiling, reads
from shoptools.bench.load import Spec
from shoptools.bench.measure import CpuMeter, percentile
from shoptools.bench.watch import Watcher
from shoptools.contracts.layout import find_root
from shoptools.mesh.jwt import mint_token
from shoptools.stack import nats as stack_nats
from shoptools.stack import runfile, status
from shoptools.topology import Topology

PAYMENT_TOKEN = "tok_visa"  # the payments test card that approves
CURRENCY = "EUR"
MAX_SKUS = 8  # orders spread over them: stock rows are locked per SKU
RESTOCK = 100_000  # units added to each SKU per run
CUSTOMER = "bench-customer"
ADDRESS = {
    "recipient": "Bench Customer",
    "lines": ["Hauptstr. 1"],
    "locality": "Berlin",
    "postalCode": "10115",
    "countryCode": "DE",
}
# Issue 7's targets, printed against what was measured.
TARGET_ORDERS_PER_S = 150.0
TARGET_P99_HALF_RATE_MS = 250.0
# Process kinds whose CPU is reported; the run file's kinds map onto them.
KINDS = ("services", "sidecars", "gateway", "postgres", "nats", "smtp", "load")
RUN_FILE_KINDS = {
    "service": "services",
    "sidecar": "sidecars",
    "gateway": "gateway",
    "postgres": "postgres",
    "nats": "nats",
    "smtp": "smtp",
}
HTTP_TIMEOUT_S = 30.0
BACKLOG_DRAIN_S = 600.0  # the most a saturated run's backlog is waited for (--half-rate)
# The stack's CPU with no orders (relays, consumers, health checks): measured for this long
# before the load, so the CPU per order can be told apart from what runs anyway.
IDLE_S = 3.0


@dataclass(frozen=True)
class Options:
    state_dir: Path
    base_port: int = reads.DEFAULT_BASE_PORT
    concurrency: int = 32
    workers: int = 2
    duration_s: float = 20.0
    warmup_s: float = 3.0
    rate: float = 0.0  # orders/s offered (open loop); 0: closed loop at `concurrency`
    half_rate: bool = False
    measure_ceiling: bool = True
    drain_s: float = 30.0
    json_path: Path | None = None
    keep_stack: bool = False


@dataclass
class Phase:
    """One measured run."""

    name: str  # "max", "rate" or "half rate"
    offered_per_s: float | None  # open loop: the rate asked for
    in_flight: int  # most orders in flight
    window_s: float
    placed: int  # PlaceOrder calls answered 200 in the window
    place_errors: int
    placed_per_s: float
    confirmed_per_s: float  # OrderConfirmed events seen during the window, per second
    confirmed: int  # of the orders placed in the window, how many ended CONFIRMED
    rejected: int
    unfinished: int  # neither, once the drain time was up
    place_ms: dict[str, float | None]  # p50, p95, p99; None without a sample
    to_confirmed_ms: dict[str, float | None]
    event_lag_ms: dict[str, float | None]
    events: int  # events seen in the window
    cpu_share: dict[str, float]  # of the CPU the stack and the load used, by kind
    cpu_us_per_order: dict[str, float]  # per confirmed order, by kind, and "total"
    machine_busy: float  # that CPU / (window x cores)
    consumer_lag_at_end: int  # messages not yet delivered or acked, every durable consumer
    cpu_us_per_order_by_service: dict[str, float]  # the "services" kind, service by service
    error_samples: list[str]  # a few distinct PlaceOrder error responses


# --- the command ----------------------------------------------------------------------------
def add_parser(kinds: Any) -> None:
    """`shop bench orders ...` (kinds: the `shop bench` subparsers)."""
    orders = kinds.add_parser(
        "orders",
        help="orders placed through the gateway until CONFIRMED: throughput, latencies, "
        "event lag, CPU per kind of process, against the measured ceiling",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    orders.add_argument(
        "--state-dir",
        type=Path,
        help="the stack to use, or where to start one (default: <checkout>/.state/bench)",
    )
    orders.add_argument(
        "--base-port", type=int, default=reads.DEFAULT_BASE_PORT, help="%(default)s"
    )
    orders.add_argument(
        "-c", "--concurrency", type=int, default=32, help="orders in flight (%(default)s)"
    )
    orders.add_argument(
        "--rate", type=float, default=0.0, help="orders/s offered (open loop) instead"
    )
    orders.add_argument(
        "--half-rate",
        action="store_true",
        help="then run at half the confirmed rate measured, for the p99 time-to-confirmed there",
    )
    orders.add_argument("--workers", type=int, default=2, help="load processes (%(default)s)")
    orders.add_argument("-d", "--duration", type=float, default=20.0, help="seconds measured")
    orders.add_argument("--warmup", type=float, default=3.0, help="seconds before measuring")
    orders.add_argument(
        "--drain",
        type=float,
        default=30.0,
        help="most seconds to wait after a run for its orders' sagas to end (%(default)s)",
    )
    orders.add_argument(
        "--no-ceiling", action="store_true", help="skip measuring the building blocks"
    )
    orders.add_argument("--json", type=Path, help="also write the results there")
    orders.add_argument(
        "--keep-stack", action="store_true", help="leave a stack it started running"
    )


def main(args: argparse.Namespace) -> int:
    options = Options(
        state_dir=(args.state_dir or find_root() / ".state" / "bench").resolve(),
        base_port=args.base_port,
        concurrency=max(1, args.concurrency),
        workers=max(1, min(args.workers, args.concurrency)),
        duration_s=args.duration,
        warmup_s=args.warmup,
        rate=max(0.0, args.rate),
        half_rate=args.half_rate,
        measure_ceiling=not args.no_ceiling,
        drain_s=args.drain,
        json_path=args.json,
        keep_stack=args.keep_stack,
    )
    return asyncio.run(bench_orders(options, sys.stdout))


async def bench_orders(options: Options, out: TextIO) -> int:
    topology, started = reads.ensure_stack(options.state_dir, options.base_port, out)
    if topology is None:
        return 1
    client: Client | None = None
    try:
        skus = _prepare(topology, out)
        blocks = await ceiling.measure(topology, out) if options.measure_ceiling else None
        client = await stack_nats.connect(topology, connect_timeout=5)
        watcher = Watcher()
        await watcher.start(client)
        idle = await _idle_cores(topology)
        token = mint_token(topology.pki_dir, CUSTOMER, "customer", datetime.timedelta(hours=2))
        bodies = order_bodies(skus)
        first = "rate" if options.rate else "max"
        # The half-rate run starts on a stack with no backlog: a saturated first run leaves
        # sagas behind, and finishing them would count against the half rate's latency.
        drain_s = max(options.drain_s, BACKLOG_DRAIN_S) if options.half_rate else options.drain_s
        phases = [
            await _phase(
                replace(options, drain_s=drain_s),
                topology,
                watcher,
                token,
                bodies,
                first,
                options.rate,
                out,
            )
        ]
        if options.half_rate and phases[0].confirmed_per_s > 0:
            half = round(phases[0].confirmed_per_s / 2, 1)
            phases.append(
                await _phase(options, topology, watcher, token, bodies, "half rate", half, out)
            )
    finally:
        if client is not None:
            await client.close()
        if started and not options.keep_stack:
            reads.stop_stack(options.state_dir)
            print(f"Stopped the benchmark's stack in {options.state_dir}.", file=out)
    document = report(options, phases, blocks, skus, idle)
    print(render(document), file=out)
    if options.json_path is not None:
        options.json_path.write_text(json.dumps(document, indent=2) + "\n")
        print(f"Results: {options.json_path}", file=out)
    return 0 if any(p.confirmed for p in phases) else 1


# --- before the load ------------------------------------------------------------------------
def _prepare(topology: Topology, out: TextIO) -> list[str]:
    """SKUs sold in CURRENCY, each restocked through the admin API (AdjustStock)."""
    gateway = f"http://127.0.0.1:{topology.gateway_port}"
    listing = _http(f"{gateway}/v1/products?page_size=100")
    skus = [
        p["sku"] for p in listing.get("products", []) if p["price"]["currency_code"] == CURRENCY
    ][:MAX_SKUS]
    if not skus:
        raise SystemExit(f"The catalog sells nothing in {CURRENCY}: nothing to order.")
    admin = mint_token(topology.pki_dir, "admin", "admin", datetime.timedelta(minutes=10))
    for sku in skus:
        body = {"idempotencyKey": str(uuid.uuid4()), "delta": RESTOCK, "reason": "bench orders"}
        _http(f"{gateway}/admin/v1/stock/{sku}:adjust", body, token=admin)
    print(
        f"Ordering {', '.join(skus)} (each restocked by {RESTOCK} units), card "
        f"{PAYMENT_TOKEN}, as customer {CUSTOMER}.",
        file=out,
        flush=True,
    )
    return skus


def _http(url: str, body: dict[str, Any] | None = None, *, token: str = "") -> dict[str, Any]:
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers)
    with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as reply:
        answer: dict[str, Any] = json.loads(reply.read())
    return answer


def order_bodies(skus: list[str]) -> tuple[str, ...]:
    """One PlaceOrder body per SKU, "{key}" standing for a fresh idempotency key."""
    return tuple(
        json.dumps(
            {
                "idempotencyKey": "{key}",
                "lines": [{"sku": sku, "quantity": 1}],
                "shippingAddress": ADDRESS,
                "shippingSpeed": "SHIPPING_SPEED_STANDARD",
                "currencyCode": CURRENCY,
                "paymentToken": PAYMENT_TOKEN,
            },
            separators=(",", ":"),
        )
        for sku in skus
    )


# --- a run ------------------------------------------------------------------------------------
async def _phase(  # noqa: PLR0913, PLR0917 - private, each one needed
    options: Options,
    topology: Topology,
    watcher: Watcher,
    token: str,
    bodies: tuple[str, ...],
    name: str,
    rate: float,
    out: TextIO,
) -> Phase:
    shares = _shares(options.concurrency, options.workers)
    specs = [
        Spec(
            transport="http",
            port=topology.gateway_port,
            connections=share,
            http_method="POST",
            http_paths=("/v1/orders",),
            http_bodies=bodies,
            http_headers=(f"Authorization: Bearer {token}",),
            rate=rate * share / options.concurrency,
            capture="order_id",
        )
        for share in shares
    ]
    offered = f"{rate:g}/s offered" if rate else f"{options.concurrency} in flight"
    label = f"  {name} ({offered})"
    print(
        f"{label.strip()}: {options.duration_s:g} s after {options.warmup_s:g} s warm-up",
        file=out,
        flush=True,
    )
    workers = [await reads.start_worker(spec) for spec in specs]
    try:
        await reads.until_ready(workers, label)
        await asyncio.sleep(options.warmup_s)
        meter = CpuMeter(
            {**_stack_pids(topology), "load": [os.getpid(), *(w.process.pid for w in workers)]},
            with_children=frozenset({"postgres"}),
        )
        by_service = CpuMeter(_service_pids(topology))
        by_service.start()
        meter.start()
        for worker in workers:
            worker.send("measure")
        start, began = time.time(), time.monotonic()
        placed_before = sum(w.done for w in workers)
        while (elapsed := time.monotonic() - began) < options.duration_s:
            await asyncio.sleep(min(0.5, options.duration_s - elapsed))
            elapsed = max(time.monotonic() - began, 1e-3)
            placed = (sum(w.done for w in workers) - placed_before) / elapsed
            confirmed = watcher.confirmed_between(start, time.time()) / elapsed
            reads.progress(
                out,
                f"{label} {elapsed:5.1f}/{options.duration_s:g} s  placed {placed:6.1f}/s  "
                f"confirmed {confirmed:6.1f}/s",
            )
        end = time.time()
        cpu, service_cpu = meter.stop(), by_service.stop()
        lag = await status.read_consumer_lag(topology)
        for worker in workers:
            worker.send("stop")
        await asyncio.gather(*(w.process.wait() for w in workers))
        await asyncio.gather(*(w.reading for w in workers))
    finally:
        for worker in workers:
            if worker.process.returncode is None:
                worker.process.kill()
                await worker.process.wait()
    results = [w.result for w in workers if w.result is not None]
    captured = [(order_id, sent) for r in results for order_id, sent in r["captured"]]
    await _drain(watcher, [order_id for order_id, _ in captured], options.drain_s, out)
    phase = summarize(
        name=name,
        offered=rate or None,
        in_flight=options.concurrency,
        window=(start, end),
        results=results,
        captured=captured,
        watcher=watcher,
        cpu=cpu,
        service_cpu=service_cpu,
        consumer_lag=sum(c["pending"] + c["ack_pending"] for c in lag),
    )
    reads.progress(
        out,
        f"{label} {phase.confirmed_per_s:6.1f} confirmed/s  p99 to confirmed "
        f"{_ms(phase.to_confirmed_ms['p99'])} ms",
        end=True,
    )
    return phase


def _shares(concurrency: int, workers: int) -> list[int]:
    return [concurrency // workers + (w < concurrency % workers) for w in range(workers)]


def _stack_pids(topology: Topology) -> dict[str, list[int]]:
    state = runfile.load(topology.run_file)
    assert state is not None, "the stack is not running"
    pids: dict[str, list[int]] = {kind: [] for kind in RUN_FILE_KINDS.values()}
    for component in state.components:
        kind = RUN_FILE_KINDS.get(component.kind)
        if kind and component.pid:
            pids[kind].append(component.pid)
    return pids


def _service_pids(topology: Topology) -> dict[str, list[int]]:
    """Each service's instances' pids, by service."""
    state = runfile.load(topology.run_file)
    assert state is not None, "the stack is not running"
    pids: dict[str, list[int]] = {}
    for component in state.components:
        if component.kind == "service" and component.pid and component.service:
            pids.setdefault(component.service, []).append(component.pid)
    return pids


async def _idle_cores(topology: Topology) -> dict[str, float]:
    """Cores each kind of process keeps busy while nothing is ordered."""
    meter = CpuMeter(_stack_pids(topology), with_children=frozenset({"postgres"}))
    meter.start()
    await asyncio.sleep(IDLE_S)
    return {kind: round(seconds / IDLE_S, 3) for kind, seconds in meter.stop().items()}


async def _drain(watcher: Watcher, order_ids: list[str], most_s: float, out: TextIO) -> None:
    """Until every order placed has an outcome, or `most_s` is up."""
    deadline = time.monotonic() + most_s
    while time.monotonic() < deadline:
        waiting = sum(1 for o in order_ids if not watcher.ended(o))
        if not waiting:
            return
        reads.progress(out, f"draining: {waiting} orders without an outcome yet")
        await asyncio.sleep(0.2)


# --- the figures (pure) -----------------------------------------------------------------------
def percentiles_ms(values_us: list[int]) -> dict[str, float | None]:
    """p50, p95 and p99 in ms; None when there is nothing to rank."""
    ordered = sorted(values_us)
    return {
        f"p{round(q * 100)}": round(percentile(ordered, q) / 1000, 2) if ordered else None
        for q in (0.5, 0.95, 0.99)
    }


def outcomes(
    captured: list[tuple[str, float]], confirmed: dict[str, float], rejected: dict[str, float]
) -> tuple[list[int], int, int, int]:
    """For the orders placed (id, when sent): each confirmed one's time-to-confirmed (µs),
    and how many were confirmed, rejected and neither."""
    to_confirmed = [
        round((confirmed[order_id] - sent) * 1e6)
        for order_id, sent in captured
        if order_id in confirmed
    ]
    rejected_count = sum(1 for order_id, _ in captured if order_id in rejected)
    unfinished = len(captured) - len(to_confirmed) - rejected_count
    return to_confirmed, len(to_confirmed), rejected_count, unfinished


def cpu_figures(
    cpu: dict[str, float], confirmed: int, window_s: float, cores: int
) -> tuple[dict[str, float], dict[str, float], float]:
    """Each kind's share of the CPU used, its CPU µs per confirmed order (and the total),
    and how busy the machine was."""
    used = sum(cpu.values())
    share = {kind: round(cpu.get(kind, 0.0) / used, 3) if used else 0.0 for kind in KINDS}
    per_order = {
        kind: round(cpu.get(kind, 0.0) / confirmed * 1e6) if confirmed else 0.0 for kind in KINDS
    }
    per_order["total"] = round(sum(per_order.values()))
    busy = round(used / (window_s * cores), 3) if window_s > 0 and cores else 0.0
    return share, per_order, busy


def summarize(  # noqa: PLR0913 - the figures a run produced
    *,
    name: str,
    offered: float | None,
    in_flight: int,
    window: tuple[float, float],
    results: list[dict[str, Any]],
    captured: list[tuple[str, float]],
    watcher: Watcher,
    cpu: dict[str, float],
    service_cpu: dict[str, float],
    consumer_lag: int,
) -> Phase:
    start, end = window
    window_s = end - start
    latencies = [us for r in results for us in r["latencies_us"]]
    placed = sum(r["calls"] - r["errors"] for r in results)
    to_confirmed, confirmed, rejected, unfinished = outcomes(
        captured, watcher.confirmed, watcher.rejected
    )
    lags = [round(lag * 1e6) for lag in watcher.lags_between(start, end)]
    confirmed_in_window = watcher.confirmed_between(start, end)
    share, per_order, busy = cpu_figures(cpu, confirmed_in_window, window_s, os.cpu_count() or 1)
    return Phase(
        name=name,
        offered_per_s=offered,
        in_flight=in_flight,
        window_s=round(window_s, 2),
        placed=placed,
        place_errors=sum(r["errors"] for r in results),
        placed_per_s=round(placed / window_s, 1),
        confirmed_per_s=round(confirmed_in_window / window_s, 1),
        confirmed=confirmed,
        rejected=rejected,
        unfinished=unfinished,
        place_ms=percentiles_ms(latencies),
        to_confirmed_ms=percentiles_ms(to_confirmed),
        event_lag_ms=percentiles_ms(lags),
        events=len(lags),
        cpu_share=share,
        cpu_us_per_order=per_order,
        machine_busy=busy,
        consumer_lag_at_end=consumer_lag,
        cpu_us_per_order_by_service={
            service: round(seconds / confirmed_in_window * 1e6) if confirmed_in_window else 0.0
            for service, seconds in sorted(service_cpu.items())
        },
        error_samples=sorted({e for r in results for e in r.get("error_samples", [])}),
    )


# --- the report -------------------------------------------------------------------------------
def report(
    options: Options,
    phases: list[Phase],
    blocks: ceiling.Blocks | None,
    skus: list[str],
    idle_cores: dict[str, float],
) -> dict[str, Any]:
    """Everything measured, as the JSON written and the text printed."""
    cores = os.cpu_count() or 1
    best = max((p.confirmed_per_s for p in phases), default=0.0)
    measured_ceiling: dict[str, Any] | None = None
    if blocks is not None:
        cost = ceiling.order_cost_us(blocks)
        limit = ceiling.ceiling_orders_per_s(cost["total"], cores)
        measured_ceiling = {
            "blocks_us": asdict(blocks),
            "per_order": {
                "calls": ceiling.CALLS,
                "hops_per_call": ceiling.HOPS_PER_CALL,
                "transactions": ceiling.TRANSACTIONS,
                "events": ceiling.EVENTS,
                "deliveries": ceiling.DELIVERIES,
            },
            "order_cost_us": {k: round(v) for k, v in cost.items()},
            "orders_per_s": round(limit, 1),
            "achieved_ratio": ceiling.ratio(best, limit),
        }
    half = next((p for p in phases if p.name == "half rate"), None)
    return {
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(options).items()},
        "machine": {"cpus": cores, "load_average": list(os.getloadavg())},
        "skus": skus,
        "idle_cores": idle_cores,
        "phases": [
            {**asdict(p), "cpu_us_per_order_above_idle": above_idle(p, idle_cores)} for p in phases
        ],
        "ceiling": measured_ceiling,
        "targets": {
            "confirmed_per_s": {"target": TARGET_ORDERS_PER_S, "measured": best},
            "p99_to_confirmed_at_half_rate_ms": {
                "target": TARGET_P99_HALF_RATE_MS,
                "measured": half.to_confirmed_ms["p99"] if half else None,
            },
        },
    }


def above_idle(phase: Phase, idle_cores: dict[str, float]) -> float | None:
    """CPU µs per confirmed order once what the stack spends idle is taken out."""
    if not phase.confirmed_per_s:
        return None
    busy_cores = phase.cpu_us_per_order["total"] * phase.confirmed_per_s / 1e6
    return round(max(0.0, busy_cores - sum(idle_cores.values())) / phase.confirmed_per_s * 1e6)


def render(document: dict[str, Any]) -> str:
    lines = [
        "",
        f"{'':<30}{'placed/s':>9}{'confirmed/s':>12}  ms p50 / p95 / p99:"
        f"{'PlaceOrder':>28}{'to CONFIRMED':>28}{'event lag':>28}",
    ]
    for p in document["phases"]:
        offered = (
            f"{p['offered_per_s']:g}/s offered"
            if p["offered_per_s"]
            else f"{p['in_flight']} in flight"
        )
        lines += [
            f"  {p['name'] + ' (' + offered + ')':<28}{p['placed_per_s']:>9.1f}"
            f"{p['confirmed_per_s']:>12.1f}{'':<21}{_trio(p['place_ms']):>28}"
            f"{_trio(p['to_confirmed_ms']):>28}{_trio(p['event_lag_ms']):>28}",
            f"    of the orders placed: {p['confirmed']} confirmed, {p['rejected']} rejected, "
            f"{p['unfinished']} unfinished; {p['place_errors']} PlaceOrder errors; "
            f"{p['events']} events; consumer lag at the end {p['consumer_lag_at_end']}",
        ]
    first = document["phases"][0] if document["phases"] else None
    if first:
        kinds = [k for k in KINDS if first["cpu_share"].get(k)]
        lines += [
            "",
            f"CPU ({first['name']} run; the machine {first['machine_busy']:.0%} busy of "
            f"{document['machine']['cpus']} cores):",
            "  share      " + "".join(f"{k:>10}" for k in kinds),
            "             " + "".join(f"{first['cpu_share'][k]:>10.0%}" for k in kinds),
            "  µs/order   "
            + "".join(f"{first['cpu_us_per_order'][k]:>10.0f}" for k in kinds)
            + f"   total {first['cpu_us_per_order']['total']:.0f} µs per confirmed order",
            "  services, µs/order: "
            + ", ".join(f"{k} {v:.0f}" for k, v in first["cpu_us_per_order_by_service"].items()),
            f"  idle, with no orders: {sum(document['idle_cores'].values()):.2f} cores ("
            + ", ".join(f"{k} {v:.2f}" for k, v in document["idle_cores"].items() if v)
            + "); per confirmed order above idle: "
            + (
                f"{first['cpu_us_per_order_above_idle']:.0f} µs"
                if first["cpu_us_per_order_above_idle"] is not None
                else "-"
            ),
        ]
        if first["error_samples"]:
            lines.append("PlaceOrder errors, e.g.: " + "; ".join(first["error_samples"][:3]))
    limit = document["ceiling"]
    if limit:
        b, cost, n = limit["blocks_us"], limit["order_cost_us"], limit["per_order"]
        lines += [
            "",
            f"Ceiling on this machine: grpc.aio call {b['grpc_call_us']:.0f} µs, Envoy hop "
            f"{b['envoy_hop_us']:.0f} µs, Postgres tx + outbox row {b['pg_transaction_us']:.0f} "
            f"µs, JetStream publish {b['jetstream_publish_us']:.0f} µs, delivery "
            f"{b['delivery_us']:.0f} µs;",
            f"  an order = {n['calls']} calls x (call + {n['hops_per_call']} hops) "
            f"{cost['calls']} + {n['transactions']} tx {cost['transactions']} + {n['events']} "
            f"events {cost['events']} + {n['deliveries']} deliveries {cost['deliveries']} = "
            f"{cost['total']} µs -> {limit['orders_per_s']:.0f} orders/s on "
            f"{document['machine']['cpus']} cores.",
            f"  Achieved / ceiling: {_ratio(limit['achieved_ratio'])}.",
        ]
    targets = document["targets"]
    rate, p99 = targets["confirmed_per_s"], targets["p99_to_confirmed_at_half_rate_ms"]
    lines += [
        "",
        f"Targets (issue 7): >= {rate['target']:.0f} orders/s confirmed: {rate['measured']:.1f}"
        f"{_met(rate['measured'] >= rate['target'])}; p99 time-to-confirmed at half rate "
        f"< {p99['target']:.0f} ms: "
        + (
            f"{p99['measured']:.0f} ms{_met(p99['measured'] < p99['target'])}"
            if p99["measured"] is not None
            else "not measured (see --half-rate)"
        ),
    ]
    return "\n".join(lines)


def _trio(figures: dict[str, float | None]) -> str:
    return " / ".join(_ms(figures[p]) for p in ("p50", "p95", "p99"))


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _ratio(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}" if value >= 0.1 else f"{value:.3f}"  # a small ratio keeps a digit


def _met(yes: bool) -> str:
    return " (met)" if yes else " (NOT met)"
