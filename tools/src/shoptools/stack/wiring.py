"""What each process of the stack is started with: a service's environment (the contract
with the chassis' ServiceSettings), an Envoy's command line, the mesh's files."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from shoptools.mesh.envoy import envoy_binary
from shoptools.mesh.policy import load_policy
from shoptools.mesh.render import write_configs
from shoptools.stack import nats
from shoptools.stack.chaos import parse_faults
from shoptools.stack.topology import Instance, Topology

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
        "SHOP_NATS_URL": nats.client_url(topology),
        "SHOP_MESH_OUTBOUND": f"127.0.0.1:{instance.outbound_port}",
        "OTEL_SERVICE_NAME": instance.service,
        "PYTHONUNBUFFERED": "1",  # log lines reach the log file as they happen
    }
    return {**{k: v for k, v in OVERRIDABLE.items() if k not in os.environ}, **env}


def envoy_command(config: Path, admin_port: int) -> list[str]:
    # Several Envoys on one host: no hot restart, and a distinct base id (shared-memory
    # namespace) each; the admin port is unique per Envoy.
    return [
        str(envoy_binary()),
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


def write_mesh_files(
    topology: Topology, policy_file: Path, fault_specs: Sequence[str] = ()
) -> dict[str, Path]:
    """Certificates, the JWT signing key and every Envoy config (with the chaos faults of
    `fault_specs`); existing keys are kept. Config paths by Envoy name (instance name, or
    "gateway")."""
    faults = parse_faults(fault_specs, topology)
    return write_configs(topology, load_policy(policy_file), faults)
