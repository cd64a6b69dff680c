"""What runs where in the local stack: every process, its ports and its files.

One value describes the whole stack, derived from a base port and a state directory, so
the supervisor, the mesh renderer, the CLI and the tests agree on every address without
passing lists around. Tests use their own base port and state directory, so a test stack
never collides with a developer's running one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

TRUST_DOMAIN = "shop.local"
NAMESPACE = "shop"
DEFAULT_BASE_PORT = 8080  # the gateway listens here: http://127.0.0.1:8080


def spiffe_id(identity: str) -> str:
    """The SPIFFE-style identity carried in a workload's certificate."""
    return f"spiffe://{TRUST_DOMAIN}/ns/{NAMESPACE}/sa/{identity}"


@dataclass(frozen=True)
class Instance:
    """One process of a service, with its sidecar."""

    service: str
    index: int  # 1-based
    app_port: int  # the service's gRPC server, loopback plaintext, reached only by its sidecar
    metrics_port: int  # the service's Prometheus /metrics
    inbound_port: int  # sidecar: mutual TLS, access policy, forwards to app_port
    outbound_port: int  # sidecar: loopback plaintext; the app reaches every other service here
    admin_port: int  # sidecar's Envoy admin (/ready, /stats/prometheus)

    @property
    def name(self) -> str:
        return f"{self.service}-{self.index}"


@dataclass(frozen=True)
class Topology:
    state_dir: Path
    base_port: int = DEFAULT_BASE_PORT
    # Service name -> number of instances; order is start order.
    services: dict[str, int] = field(default_factory=lambda: {"catalog": 1})
    # Identities that get an outbound-only sidecar with no app behind it, to call the mesh
    # as that service (`shop up --client orders`).
    clients: tuple[str, ...] = ()

    # --- infrastructure -----------------------------------------------------------------
    @property
    def gateway_port(self) -> int:
        return self.base_port

    @property
    def gateway_admin_port(self) -> int:
        return self.base_port + 1

    @property
    def nats_port(self) -> int:
        return self.base_port + 2

    @property
    def nats_monitor_port(self) -> int:
        return self.base_port + 3

    @property
    def postgres_port(self) -> int:
        return self.base_port + 4

    # --- workloads ----------------------------------------------------------------------
    def instances(self, service: str | None = None) -> list[Instance]:
        """Every service instance (or one service's), in start order, ports assigned by
        position: app base+100+k, metrics +200, inbound +300, outbound +400, admin +500."""
        found = []
        slot = 0
        for name, count in self.services.items():
            for index in range(1, count + 1):
                if service in (None, name):
                    found.append(self._instance(name, index, slot))
                slot += 1
        return found

    def client_sidecars(self) -> list[Instance]:
        """Outbound-only sidecars for `clients`; their app and metrics ports are unused."""
        first = sum(self.services.values())
        return [self._instance(name, 1, first + k) for k, name in enumerate(self.clients)]

    def _instance(self, service: str, index: int, slot: int) -> Instance:
        base = self.base_port + slot
        return Instance(
            service=service,
            index=index,
            app_port=base + 100,
            metrics_port=base + 200,
            inbound_port=base + 300,
            outbound_port=base + 400,
            admin_port=base + 500,
        )

    # --- files --------------------------------------------------------------------------
    @property
    def pki_dir(self) -> Path:
        return self.state_dir / "pki"

    @property
    def postgres_dir(self) -> Path:
        return self.state_dir / "postgres"

    @property
    def nats_dir(self) -> Path:
        return self.state_dir / "nats"

    @property
    def envoy_dir(self) -> Path:
        return self.state_dir / "envoy"

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def run_file(self) -> Path:
        """The supervisor's record of what it started (pids, health), for status and down."""
        return self.state_dir / "stack.json"
