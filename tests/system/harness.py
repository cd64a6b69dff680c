"""Real stacks for the system tests, started and stopped with the real `shop` command.

Each stack gets a private state directory and a free block of ports, so it never meets a
developer's running stack. Whatever happens, `running_stack` ends with `shop down` and a
pg_ctl stop. Conditions are polled with generous time limits: a loaded machine is slower,
never wrong.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc
import httpx
from prometheus_client.parser import text_string_to_metric_families

from shop.catalog.v1 import catalog_service_pb2_grpc as catalog_grpc
from shoptools.stack.postgres import Postgres
from shoptools.topology import Instance, Topology, one_of_each

ROOT = Path(__file__).resolve().parents[2]  # the checkout: `shop` finds mesh/policy.yaml there
WAIT_S = 60.0
POLL_S = 0.02


def shop(topology: Topology, *args: str) -> subprocess.CompletedProcess[str]:
    """`shop ARGS --state-dir <the stack's>`, from the checkout, as a developer runs it."""
    return subprocess.run(
        [sys.executable, "-m", "shoptools.shop", *args, "--state-dir", str(topology.state_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def wait_until(condition: Callable[[], bool], what: str, timeout_s: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not within {timeout_s:.0f} s: {what}")
        time.sleep(POLL_S)


@dataclass
class Stack:
    topology: Topology
    output: str  # what `shop up` printed

    @property
    def gateway(self) -> str:
        return f"http://127.0.0.1:{self.topology.gateway_port}"

    def instance(self, name: str) -> Instance:
        return next(i for i in self.topology.instances() if i.name == name)

    def client(self, identity: str) -> Instance:
        return next(c for c in self.topology.client_sidecars() if c.service == identity)

    def caller(self, identity: str) -> Instance:
        """Where to call the mesh as `identity`: its client sidecar (`shop up --client`),
        or else its first instance's sidecar."""
        clients = [c for c in self.topology.client_sidecars() if c.service == identity]
        return clients[0] if clients else self.topology.instances(identity)[0]

    def shop(self, *args: str) -> subprocess.CompletedProcess[str]:
        return shop(self.topology, *args)

    def catalog(self, caller: str) -> tuple[grpc.Channel, catalog_grpc.CatalogServiceStub]:
        """Dial the catalog like a service: plaintext to the caller's sidecar, authority
        "catalog"."""
        channel = grpc.insecure_channel(
            f"127.0.0.1:{self.caller(caller).outbound_port}",
            options=[("grpc.default_authority", "catalog")],
        )
        return channel, catalog_grpc.CatalogServiceStub(channel)

    def envoy_stats(self, envoy: Instance) -> dict[str, int]:
        """Counters and gauges of a sidecar's Envoy, by name."""
        lines = _get(envoy.admin_port, "/stats").splitlines()
        return {
            name: int(value)
            for name, _, value in (line.partition(": ") for line in lines)
            if value.isdigit()
        }

    def upstream_health(self, envoy: Instance, service: str) -> dict[str, str]:
        """What a sidecar's Envoy thinks of each instance of `service`: health flags by
        instance name ("healthy", "/failed_active_hc", ...)."""
        by_port = {f"127.0.0.1:{i.inbound_port}": i.name for i in self.topology.instances(service)}
        flags = {}
        for line in _get(envoy.admin_port, "/clusters").splitlines():
            cluster, address, key, *value = line.split("::")
            if cluster == service and key == "health_flags":
                flags[by_port[address]] = value[0]
        return flags

    def routes_as_checked(self, envoy: Instance, service: str, flags: dict[str, str]) -> None:
        """Wait until `envoy` sees `service`'s instances with these health flags, then one
        more round of health checks: the worker threads route by the result of the last."""
        wait_until(
            lambda: self.upstream_health(envoy, service) == flags,
            f"{envoy.name}-sidecar sees {service} as {flags}",
        )
        checked = f"cluster.{service}.health_check.attempt"
        before = self.envoy_stats(envoy)[checked]
        rounds = len(self.topology.instances(service))
        wait_until(
            lambda: self.envoy_stats(envoy)[checked] >= before + rounds,
            f"another round of health checks from {envoy.name}-sidecar",
        )

    def handled(self, instance: str, method: str) -> int:
        """Calls of a catalog `method` an instance has completed, from its own metrics."""
        text = _get(self.instance(instance).metrics_port, "/metrics")
        return sum(
            int(sample.value)
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == "grpc_server_handled_total" and sample.labels["grpc_method"] == method
        )

    def log(self, component: str) -> str:
        return (self.topology.log_dir / f"{component}.log").read_text(errors="replace")

    def log_messages(self, instance: str) -> list[str]:
        """The messages of a service instance's JSON log lines."""
        lines = self.log(instance).splitlines()
        return [str(json.loads(line)["message"]) for line in lines if line.startswith("{")]


def _get(port: int, path: str) -> str:
    return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=10).text


@contextlib.contextmanager
def running_stack(
    *,
    services: dict[str, int],
    clients: Sequence[str] = (),
    faults: Sequence[str] = (),
    policy: Path | None = None,
) -> Iterator[Stack]:
    """`shop up` with these options; `shop down`, pg_ctl stop and the state removed after."""
    # Not pytest's tmp_path: the PostgreSQL socket lives in the state directory, and a Unix
    # socket path must stay short.
    state_dir = Path(tempfile.mkdtemp(prefix="shop-system-"))
    # `shop up` runs every service, one instance each unless told otherwise: the same
    # shape here gives the same ports.
    topology = Topology(
        state_dir=state_dir,
        services={k: n for k, n in {**one_of_each(), **services}.items() if n},
        clients=tuple(clients),
    ).with_free_ports()
    args = ["up", "--base-port", str(topology.base_port)]
    args += [f"--instances={name}={count}" for name, count in services.items()]
    args += [f"--client={identity}" for identity in clients]
    args += [f"--fault={spec}" for spec in faults]
    args += [f"--policy={policy}"] if policy else []
    try:
        up = shop(topology, *args)
        assert up.returncode == 0, up.stdout + up.stderr
        yield Stack(topology, up.stdout)
    finally:
        shop(topology, "down")
        Postgres(topology).stop()
        shutil.rmtree(state_dir, ignore_errors=True)
