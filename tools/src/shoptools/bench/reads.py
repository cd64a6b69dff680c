"""`shop bench reads`: what a catalog read costs on each hop, against the floor.

It drives GetProduct and ListProducts through the gateway (REST), straight to the
instance's sidecar (gRPC, mutual TLS as the gateway) and straight to the app (gRPC), and
for each run reports requests/s, latency percentiles and the CPU time per call of every
kind of process: gateway, sidecar, app, Postgres and the load generator itself.

In the same run it measures the floor: a bare grpc.aio servicer (shoptools.bench.floor)
answering the same messages from memory, behind a sidecar and a gateway rendered from the
same policy. Every figure is also given as a ratio to the floor's, which is what carries
from one machine to another; the absolute numbers depend on the machine and whatever else
it is doing. Floor and stack runs alternate, so a neighbour's load hits both alike.

The stack is the one running in --state-dir, or one the benchmark starts there (and stops
after), with the gateway's rate limits lifted: the benchmark is one client at a rate no
real client may reach.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

import grpc
import yaml

from shop.catalog.v1 import catalog_service_pb2 as pb
from shop.catalog.v1 import catalog_service_pb2_grpc as pb_grpc
from shoptools.bench.load import Spec
from shoptools.bench.measure import KINDS, CpuMeter, percentile
from shoptools.contracts.layout import find_root
from shoptools.identity import TRUST_DOMAIN
from shoptools.mesh import pki
from shoptools.mesh.envoy import envoy_binary
from shoptools.mesh.gateway import render_gateway
from shoptools.mesh.policy import GATEWAY, load_policy
from shoptools.mesh.sidecar import render_sidecar
from shoptools.stack import runfile
from shoptools.stack.health import http_ok
from shoptools.stack.processes import is_running
from shoptools.topology import Topology

PATHS = ("gateway", "sidecar", "app")
METHODS = ("GetProduct", "ListProducts")
SERVICE = pb.DESCRIPTOR.services_by_name["CatalogService"].full_name
DEFAULT_BASE_PORT = 9080  # beside a developer's stack on 8080
READY_TIMEOUT_S = 30.0
UNLIMITED = 1_000_000_000  # tokens: Envoy takes up to 2^32 - 1
RESULT_LINE_LIMIT = 256 * 1024 * 1024  # a worker's result is one JSON line: every latency


@dataclass(frozen=True)
class Options:
    state_dir: Path
    base_port: int = DEFAULT_BASE_PORT
    concurrency: int = 16
    workers: int = 2
    duration_s: float = 5.0
    warmup_s: float = 1.0
    paths: tuple[str, ...] = PATHS
    methods: tuple[str, ...] = METHODS
    page_size: int = 20
    json_path: Path | None = None
    keep_stack: bool = False


@dataclass
class System:
    """One side of the comparison: the stack's catalog instance, or the floor."""

    name: str  # "shop" or "floor"
    app_port: int
    inbound_port: int
    gateway_port: int
    pids: dict[str, list[int]]  # process kind -> root pids
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)  # ours to stop


@dataclass
class Run:
    system: str
    path: str
    method: str
    calls: int
    errors: int
    requests_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    cpu_us_per_call: dict[str, float]  # by process kind; "total" too

    def key(self) -> tuple[str, str]:
        return (self.method, self.path)


# --- the command ----------------------------------------------------------------------------
def add_parser(commands: Any) -> Any:
    """`shop bench reads ...` (commands: the `shop` parser's subparsers); the `shop bench`
    subparsers, for the other benchmarks."""
    bench = commands.add_parser("bench", help="benchmarks of the running system")
    kinds = bench.add_subparsers(dest="bench", required=True)
    reads = kinds.add_parser(
        "reads",
        help="GetProduct and ListProducts through the gateway, the sidecar and the app, "
        "against a bare gRPC servicer",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    reads.add_argument(
        "--state-dir",
        type=Path,
        help="the stack to use, or where to start one (default: <checkout>/.state/bench)",
    )
    reads.add_argument("--base-port", type=int, default=DEFAULT_BASE_PORT, help="%(default)s")
    reads.add_argument("-c", "--concurrency", type=int, default=16, help="calls in flight")
    reads.add_argument(
        "--workers", type=int, default=2, help="load generator processes (default: %(default)s)"
    )
    reads.add_argument("-d", "--duration", type=float, default=5.0, help="seconds measured per run")
    reads.add_argument("--warmup", type=float, default=1.0, help="seconds before measuring")
    reads.add_argument("--path", action="append", choices=PATHS, help="only this path (repeatable)")
    reads.add_argument(
        "--method", action="append", choices=METHODS, help="only this method (repeatable)"
    )
    reads.add_argument("--page-size", type=int, default=20, help="ListProducts page size")
    reads.add_argument("--json", type=Path, help="where to write the results (default: print)")
    reads.add_argument("--keep-stack", action="store_true", help="leave a stack it started running")
    return kinds


def main(args: argparse.Namespace) -> int:
    options = Options(
        state_dir=(args.state_dir or find_root() / ".state" / "bench").resolve(),
        base_port=args.base_port,
        concurrency=max(1, args.concurrency),
        workers=max(1, min(args.workers, args.concurrency)),
        duration_s=args.duration,
        warmup_s=args.warmup,
        paths=tuple(args.path or PATHS),
        methods=tuple(args.method or METHODS),
        page_size=args.page_size,
        json_path=args.json,
        keep_stack=args.keep_stack,
    )
    return asyncio.run(bench_reads(options, sys.stdout))


async def bench_reads(options: Options, out: TextIO) -> int:
    topology, started = ensure_stack(options.state_dir, options.base_port, out)
    if topology is None:
        return 1
    floor: System | None = None
    try:
        shop = shop_system(topology)
        products = all_products(shop.app_port)
        if not products.products:
            print("The catalog is empty: nothing to read.", file=out)
            return 1
        floor = start_floor(topology, products, out)
        runs = await _run_all(options, topology, shop, floor, products, out)
    finally:
        if floor is not None:
            stop_system(floor)
        if started and not options.keep_stack:
            stop_stack(options.state_dir)
            print(f"Stopped the benchmark's stack in {options.state_dir}.", file=out)
    report = _report(options, runs)
    print(report["text"], file=out)
    document = {k: v for k, v in report.items() if k != "text"}
    if options.json_path is not None:
        options.json_path.write_text(json.dumps(document, indent=2) + "\n")
        print(f"Results: {options.json_path}", file=out)
    return 0


# --- the systems under test -----------------------------------------------------------------
def ensure_stack(state_dir: Path, base_port: int, out: TextIO) -> tuple[Topology | None, bool]:
    """The running stack in state_dir, or a new one on base_port with the gateway's rate
    limits lifted (started with `shop up`, as a person would); whether the benchmark
    started it."""
    state = runfile.load(state_dir / "stack.json")
    if state is None or not is_running(state.supervisor_pid, state.supervisor_created):
        state_dir.mkdir(parents=True, exist_ok=True)
        policy_file = bench_policy(find_root() / "mesh" / "policy.yaml", state_dir)
        up = [*_shop(state_dir, "up"), "--base-port", str(base_port)]
        if subprocess.run([*up, "--policy", str(policy_file)], stdout=out, check=False).returncode:
            return None, False
        started = True
        state = runfile.load(state_dir / "stack.json")
        assert state is not None
    else:
        started = False
        print(
            f"Using the stack running in {state_dir} (its gateway's rate limits "
            "apply: 429s show as errors).",
            file=out,
            flush=True,
        )
    topology = Topology(
        state_dir=state_dir, base_port=state.base_port, services=dict(state.services)
    )
    return topology, started


def stop_stack(state_dir: Path) -> None:
    """`shop down` for a stack the benchmark started."""
    subprocess.run(_shop(state_dir, "down"), capture_output=True, check=False)


def _shop(state_dir: Path, command: str) -> list[str]:
    """`shop COMMAND` for the benchmark's stack."""
    shop = Path(sys.executable).with_name("shop")
    return [str(shop), command, "--state-dir", str(state_dir)]


def bench_policy(policy_file: Path, state_dir: Path) -> Path:
    """The mesh policy with every gateway token bucket made bottomless (the benchmark is a
    single client far above any per-client quota); written beside the stack's state."""
    data = yaml.safe_load(policy_file.read_text())

    def lift(node: Any) -> None:
        if isinstance(node, dict):
            if "max_tokens" in node:
                node["max_tokens"] = node["tokens_per_fill"] = UNLIMITED
            for value in node.values():
                lift(value)

    lift(data["gateway"])
    path = state_dir / "bench-policy.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def shop_system(topology: Topology) -> System:
    state = runfile.load(topology.run_file)
    assert state is not None
    instance = topology.instances("catalog")[0]

    def pid(name: str) -> list[int]:
        found = state.component(name).pid
        return [found] if found else []

    return System(
        name="shop",
        app_port=instance.app_port,
        inbound_port=instance.inbound_port,
        gateway_port=topology.gateway_port,
        pids={
            "gateway": pid(GATEWAY),
            "sidecar": pid(f"{instance.name}-sidecar"),
            "app": pid(instance.name),
            "postgres": pid("postgres"),
        },
    )


def all_products(app_port: int) -> pb.ListProductsResponse:
    everything = pb.ListProductsResponse()
    with grpc.insecure_channel(f"127.0.0.1:{app_port}") as channel:
        stub = pb_grpc.CatalogServiceStub(channel)
        token = ""
        while True:
            page = stub.ListProducts(
                pb.ListProductsRequest(page_size=100, page_token=token), timeout=10
            )
            everything.products.extend(page.products)
            token = page.next_page_token
            if not token:
                return everything


def start_floor(topology: Topology, products: pb.ListProductsResponse, out: TextIO) -> System:
    """The bare servicer, a sidecar and a gateway of its own, on free ports; the same PKI
    and policy as the stack (the policy the benchmark would start a stack with)."""
    floor_topology = Topology(
        state_dir=topology.state_dir, services={"catalog": 1}
    ).with_free_ports()
    instance = floor_topology.instances("catalog")[0]
    work = topology.state_dir / "bench"
    (work / "logs").mkdir(parents=True, exist_ok=True)
    pki.ensure_pki(topology.pki_dir, ["catalog", GATEWAY])
    policy = load_policy(bench_policy(find_root() / "mesh" / "policy.yaml", work))
    products_file = work / "products.binpb"
    products_file.write_bytes(products.SerializeToString())
    configs = {
        "sidecar": render_sidecar(floor_topology, policy, instance),
        "gateway": render_gateway(floor_topology, policy),
    }
    floor = System(
        name="floor",
        app_port=instance.app_port,
        inbound_port=instance.inbound_port,
        gateway_port=floor_topology.gateway_port,
        pids={},
    )
    commands = {
        "app": [
            sys.executable,
            "-m",
            "shoptools.bench.floor",
            str(instance.app_port),
            str(products_file),
        ]
    }
    for kind, config in configs.items():
        path = work / f"floor-{kind}.json"
        path.write_text(json.dumps(config, indent=2))
        admin = instance.admin_port if kind == "sidecar" else floor_topology.gateway_admin_port
        # As the stack runs its Envoys: one worker thread, and a base id of its own each.
        commands[kind] = [
            str(envoy_binary()),
            "-c",
            str(path),
            "--disable-hot-restart",
            "--concurrency",
            "1",
            "--base-id",
            str(admin),
            "-l",
            "warning",
        ]
    try:
        for kind, command in commands.items():
            with (work / "logs" / f"floor-{kind}.log").open("wb") as log:
                process = subprocess.Popen(
                    command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
                )
            floor.processes.append(process)
            floor.pids[kind] = [process.pid]
        sku = products.products[0].sku
        url = f"http://127.0.0.1:{floor.gateway_port}/v1/products/{sku}"
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not http_ok(url):  # through the gateway and the sidecar to the bare servicer
            if time.monotonic() > deadline or any(p.poll() is not None for p in floor.processes):
                raise RuntimeError(f"the floor did not come up; logs in {work / 'logs'}")
            time.sleep(0.1)
    except BaseException:
        stop_system(floor)
        raise
    print(
        f"Floor: bare grpc.aio servicer on 127.0.0.1:{floor.app_port}, its sidecar and "
        f"gateway on {floor.inbound_port} and {floor.gateway_port}.",
        file=out,
    )
    return floor


def stop_system(system: System) -> None:
    for process in system.processes:
        process.terminate()
    for process in system.processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- runs -----------------------------------------------------------------------------------
async def _run_all(  # noqa: PLR0913, PLR0917 - private, each one needed
    options: Options,
    topology: Topology,
    shop: System,
    floor: System,
    products: pb.ListProductsResponse,
    out: TextIO,
) -> list[Run]:
    total = len(options.methods) * len(options.paths) * 2
    print(
        f"{total} runs of {options.duration_s:g} s (after {options.warmup_s:g} s warm-up), "
        f"{options.concurrency} calls in flight from {options.workers} load processes:",
        file=out,
        flush=True,
    )
    runs = []
    for method in options.methods:
        for path in options.paths:
            for system in (shop, floor):
                specs = call_specs(options, topology, system, path, method, products)
                run = await run_load(options, system, path, method, specs, out)
                runs.append(run)
    return runs


def call_specs(  # noqa: PLR0913, PLR0917 - private, each one needed
    options: Options,
    topology: Topology,
    system: System,
    path: str,
    method: str,
    products: pb.ListProductsResponse,
) -> list[Spec]:
    skus = [p.sku for p in products.products]
    if method == "GetProduct":
        requests = [pb.GetProductRequest(sku=sku).SerializeToString().hex() for sku in skus]
        http_paths = [f"/v1/products/{sku}" for sku in skus]
    else:
        requests = [pb.ListProductsRequest(page_size=options.page_size).SerializeToString().hex()]
        http_paths = [f"/v1/products?page_size={options.page_size}"]
    common: dict[str, Any] = {"grpc_method": f"/{SERVICE}/{method}"}
    if path == "gateway":
        common = {"transport": "http", "port": system.gateway_port, "http_paths": http_paths}
    elif path == "sidecar":
        common |= {
            "transport": "grpc-tls",
            "port": system.inbound_port,
            "grpc_requests": requests,
            "tls_ca": str(pki.ca_cert_path(topology.pki_dir)),
            "tls_cert": str(pki.cert_path(topology.pki_dir, GATEWAY)),
            "tls_key": str(pki.key_path(topology.pki_dir, GATEWAY)),
            "tls_server_name": f"catalog.{TRUST_DOMAIN}",
        }
    else:
        common |= {"transport": "grpc", "port": system.app_port, "grpc_requests": requests}
    shares = [
        options.concurrency // options.workers
        + (1 if w < options.concurrency % options.workers else 0)
        for w in range(options.workers)
    ]
    return [Spec(connections=share, **common) for share in shares]


async def start_worker(spec: Spec) -> Worker:
    """A load generator process (shoptools.bench.load) calling as `spec` says."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "shoptools.bench.load",
        spec.to_json(),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        limit=RESULT_LINE_LIMIT,
    )
    return Worker(process)


class Worker:
    """A load generator process, as its parent sees it: ready, calls done, its result."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.done = 0
        self.ready = asyncio.Event()
        self.result: dict[str, Any] | None = None
        self.reading = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for line in self.process.stdout:
            message = json.loads(line)
            if "ready" in message:
                self.ready.set()
            elif "done" in message:
                self.done = message["done"]
            else:
                self.result = message

    def send(self, word: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(f"{word}\n".encode())


async def run_load(  # noqa: PLR0913, PLR0917 - each one needed
    options: Options, system: System, path: str, method: str, specs: list[Spec], out: TextIO
) -> Run:
    label = f"  {method:<13} {path:<8} {system.name:<6}"
    workers = [await start_worker(spec) for spec in specs]
    try:
        await until_ready(workers, label)
        await asyncio.sleep(options.warmup_s)
        meter = CpuMeter(
            {**system.pids, "load": [w.process.pid for w in workers]},
            with_children=frozenset({"postgres"}),
        )
        meter.start()
        for worker in workers:
            worker.send("measure")
        began = time.monotonic()
        done_before = sum(w.done for w in workers)
        while (elapsed := time.monotonic() - began) < options.duration_s:
            await asyncio.sleep(min(0.25, options.duration_s - elapsed))
            rate = (sum(w.done for w in workers) - done_before) / max(elapsed, 1e-3)
            progress(out, f"{label} {elapsed:4.1f}/{options.duration_s:g} s {rate:8.0f} req/s")
        for worker in workers:
            worker.send("stop")
        cpu = meter.stop()
        await asyncio.gather(*(w.process.wait() for w in workers))
        await asyncio.gather(*(w.reading for w in workers))
    finally:
        for worker in workers:
            if worker.process.returncode is None:
                worker.process.kill()
                await worker.process.wait()
    run = _summarize(system.name, path, method, workers, cpu)
    progress(out, f"{label} {run.requests_per_s:8.0f} req/s  p99 {run.p99_ms:6.2f} ms", end=True)
    return run


async def until_ready(workers: list[Worker], label: str) -> None:
    """Until every worker made a first call, or one of them gave up."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not all(w.ready.is_set() for w in workers):
        if time.monotonic() > deadline or any(w.process.returncode is not None for w in workers):
            raise RuntimeError(f"{label.strip()}: the load generator could not make a first call")
        await asyncio.sleep(0.05)


def _summarize(
    system: str, path: str, method: str, workers: list[Worker], cpu: dict[str, float]
) -> Run:
    results = [w.result for w in workers if w.result is not None]
    latencies = sorted(us for r in results for us in r["latencies_us"])
    calls = sum(r["calls"] for r in results)
    per_call = {
        kind: round(cpu[kind] / calls * 1e6, 1) if calls and kind in cpu else 0.0 for kind in KINDS
    }
    per_call["total"] = round(sum(per_call.values()), 1)
    return Run(
        system=system,
        path=path,
        method=method,
        calls=calls,
        errors=sum(r["errors"] for r in results),
        requests_per_s=round(sum(r["calls"] / r["window_s"] for r in results), 1),
        p50_ms=percentile(latencies, 0.50) / 1000,
        p95_ms=percentile(latencies, 0.95) / 1000,
        p99_ms=percentile(latencies, 0.99) / 1000,
        cpu_us_per_call=per_call,
    )


def progress(out: TextIO, text: str, *, end: bool = False) -> None:
    """A line that updates in place on a terminal; elsewhere only the final one."""
    if out.isatty():
        out.write(f"\r\033[K{text}" + ("\n" if end else ""))
        out.flush()
    elif end:
        print(text, file=out, flush=True)


# --- the report -----------------------------------------------------------------------------
def _ratio(value: float, floor: float) -> float | None:
    return round(value / floor, 2) if floor > 0 and value > 0 else None


def _shown(value: float | None, width: int) -> str:
    return f"{value:>{width - 1}.2f}x" if value is not None else f"{'-':>{width}}"


def _report(options: Options, runs: list[Run]) -> dict[str, Any]:
    by_key: dict[tuple[str, str], dict[str, Run]] = {}
    for run in runs:
        by_key.setdefault(run.key(), {})[run.system] = run
    lines = [
        "",
        f"{'':<24}{'req/s':>8}{'p50 ms':>8}{'p95 ms':>8}{'p99 ms':>8}   CPU µs per call:"
        + "".join(f"{kind:>9}" for kind in (*KINDS, "total")),
    ]
    ratios: list[dict[str, Any]] = []
    for (method, path), pair in by_key.items():
        shop, floor = pair["shop"], pair["floor"]
        lines.append(f"{method} via {path}")
        for run in (shop, floor):
            lines.append(
                f"  {run.system:<22}{run.requests_per_s:>8.0f}{run.p50_ms:>8.2f}{run.p95_ms:>8.2f}"
                f"{run.p99_ms:>8.2f}{'':19}"
                + "".join(
                    f"{run.cpu_us_per_call[k]:>9.0f}" if run.cpu_us_per_call[k] else f"{'-':>9}"
                    for k in (*KINDS, "total")
                )
                + (f"   {run.errors} errors" if run.errors else "")
            )
        figures = {
            "requests_per_s": _ratio(shop.requests_per_s, floor.requests_per_s),
            "p50_ms": _ratio(shop.p50_ms, floor.p50_ms),
            "p95_ms": _ratio(shop.p95_ms, floor.p95_ms),
            "p99_ms": _ratio(shop.p99_ms, floor.p99_ms),
        }
        cpu = {
            k: _ratio(shop.cpu_us_per_call[k], floor.cpu_us_per_call[k]) for k in (*KINDS, "total")
        }
        ratios.append({"method": method, "path": path, **figures, "cpu_us_per_call": cpu})
        lines.append(
            f"  {'shop / floor':<22}"
            + "".join(_shown(value, 8) for value in figures.values())
            + f"{'':19}"
            + "".join(_shown(value, 9) for value in cpu.values())
        )
    lines += _targets(by_key)
    return {
        "text": "\n".join(lines),
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(options).items()},
        "machine": {"cpus": os.cpu_count(), "load_average": list(os.getloadavg())},
        "runs": [asdict(run) for run in runs],
        "ratios": ratios,
    }


def _targets(by_key: dict[tuple[str, str], dict[str, Run]]) -> list[str]:
    """The figures issue 8 sets targets for, stated plainly."""
    lines = [""]
    for path in ("app", "sidecar", "gateway"):
        pair = by_key.get(("GetProduct", path))
        if pair:
            shop, floor = pair["shop"].cpu_us_per_call["app"], pair["floor"].cpu_us_per_call["app"]
            multiple = shop / floor if floor else math.nan
            lines.append(
                f"App CPU per GetProduct (via {path}): {shop:.0f} µs, the floor's {floor:.0f} µs: "
                f"{multiple:.2f}x the floor."
            )
            break
    pair = by_key.get(("GetProduct", "gateway"))
    if pair:
        lines.append(
            f"GetProduct through the gateway: {pair['shop'].requests_per_s:.0f} req/s "
            f"(the floor: {pair['floor'].requests_per_s:.0f} req/s)."
        )
    return lines
