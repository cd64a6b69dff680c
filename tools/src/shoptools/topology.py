"""What runs where in the local stack: every process, its ports and its files.

One value describes the whole stack, derived from a base port and a state directory, so
the supervisor, the mesh renderer, the CLI and the tests agree on every address without
passing lists around; the mesh and the stack both read it. Tests use their own base port
and state directory, so a test stack never collides with a developer's running one.
"""

from __future__ import annotations

import random
import socket
from dataclasses import dataclass, field, replace
from pathlib import Path

from shoptools.services import deployable_services

DEFAULT_BASE_PORT = 8080  # the gateway listens here: http://127.0.0.1:8080


def one_of_each() -> dict[str, int]:
    """The default: every deployable service of the checkout, one instance each."""
    return dict.fromkeys(deployable_services(), 1)


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
    # Service name -> number of instances; the order assigns the ports.
    services: dict[str, int] = field(default_factory=one_of_each)
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

    @property
    def smtp_port(self) -> int:
        """The SMTP sink (shoptools.stack.smtp_sink), where the services send email."""
        return self.base_port + 5

    @property
    def web_port(self) -> int:
        """The web process (shopweb: storefront, console, development sign-in), plain HTTP
        behind the gateway, which routes the pages' paths to it."""
        return self.base_port + 6

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

    def ports(self) -> list[tuple[int, str]]:
        """Every port the stack listens on, with what listens there."""
        ports = [
            (self.gateway_port, "gateway"),
            (self.gateway_admin_port, "gateway admin"),
            (self.nats_port, "nats"),
            (self.nats_monitor_port, "nats monitoring"),
            (self.postgres_port, "postgres"),
            (self.smtp_port, "smtp sink"),
            (self.web_port, "web"),
        ]
        for i in [*self.instances(), *self.client_sidecars()]:
            ports += [
                (i.app_port, f"{i.name} app"),
                (i.metrics_port, f"{i.name} metrics"),
                (i.inbound_port, f"{i.name} sidecar inbound"),
                (i.outbound_port, f"{i.name} sidecar outbound"),
                (i.admin_port, f"{i.name} sidecar admin"),
            ]
        return ports

    def with_free_ports(self) -> Topology:
        """This topology on a base port whose every port is free right now, for a stack
        beside another one (tests). Below the ephemeral range (32768 and up), so outgoing
        connections cannot take one of its ports meanwhile."""
        for _ in range(100):
            moved = replace(self, base_port=random.randrange(20000, 32000, 10))
            if all(port_is_free(port) for port, _ in moved.ports()):
                return moved
        raise RuntimeError("no free block of ports between 20000 and 32000")

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
    def mail_dir(self) -> Path:
        """The SMTP sink's mailbox: one file per message (`shop mail` reads it)."""
        return self.state_dir / "mail"

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


def port_is_free(port: int) -> bool:
    """Whether a server could listen on 127.0.0.1:port now. Like the servers themselves
    (SO_REUSEADDR), a port in TIME_WAIT from a previous run counts as free."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
