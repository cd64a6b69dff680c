"""What each process of the stack is started with: a service's environment (the contract
with the chassis' ServiceSettings), an Envoy's command line, the mesh's files."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from shoptools.stack import nats, nats_auth
from shoptools.topology import Instance, Topology

# Set only when the person starting the stack has not set them.
OVERRIDABLE = {
    "SHOP_LOG_LEVEL": "INFO",
    "OTEL_TRACES_EXPORTER": "none",
    "OTEL_METRICS_EXPORTER": "none",
    "OTEL_LOGS_EXPORTER": "none",
}


def service_env(topology: Topology, instance: Instance, database_url: str) -> dict[str, str]:
    env = {
        "SHOP_SERVICE": instance.service,
        "SHOP_INSTANCE": instance.name,
        "SHOP_GRPC_PORT": str(instance.app_port),
        "SHOP_METRICS_PORT": str(instance.metrics_port),
        "SHOP_DATABASE_URL": database_url,
        # As the service itself, over TLS: what it may publish and consume is its own.
        "SHOP_NATS_URL": nats.service_url(topology, instance.service),
        "SHOP_NATS_CA": str(nats_auth.ca_file(topology)),
        # The stack's SMTP sink, unless the person starting it names another server.
        "SHOP_SMTP_URL": os.environ.get("SHOP_SMTP_URL") or smtp_url(topology),
        "SHOP_MESH_OUTBOUND": f"127.0.0.1:{instance.outbound_port}",
        "OTEL_SERVICE_NAME": instance.service,
        "PYTHONUNBUFFERED": "1",  # log lines reach the log file as they happen
    }
    return {**{k: v for k, v in OVERRIDABLE.items() if k not in os.environ}, **env}


def smtp_url(topology: Topology) -> str:
    """Where services send email in this stack: its SMTP sink."""
    return f"smtp://127.0.0.1:{topology.smtp_port}"


@dataclass(frozen=True)
class MeshSetup:
    """What the stack needs from the mesh, handed in by whoever puts the two together
    (shoptools.shop), so the stack knows nothing of how the mesh is rendered."""

    envoy: Path  # the Envoy binary every sidecar and the gateway run
    # Writes the PKI and every Envoy config of the topology; config paths by Envoy name
    # (an instance's name, or "gateway").
    write_configs: Callable[[], Mapping[str, Path]]
    # Writes the NATS server's certificate (from the mesh CA: after write_configs), users
    # and permissions from the policy's events section (nats_auth.write_config); its path.
    write_nats_config: Callable[[], Path] | None = None


def envoy_command(envoy: Path, config: Path, admin_port: int) -> list[str]:
    # Several Envoys on one host: no hot restart, and a distinct base id (shared-memory
    # namespace) each; the admin port is unique per Envoy.
    return [
        str(envoy),
        "-c",
        str(config),
        "--disable-hot-restart",
        "--concurrency",
        "1",
        "--base-id",
        str(admin_port),
        "-l",
        "warning",
    ]
