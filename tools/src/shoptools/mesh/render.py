"""Write every Envoy config of a topology, and check configs with Envoy itself."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from shoptools.mesh.envoy import Config, envoy_binary
from shoptools.mesh.gateway import render_gateway
from shoptools.mesh.pki import ensure_pki
from shoptools.mesh.policy import GATEWAY, MeshPolicy
from shoptools.mesh.sidecar import Fault, render_sidecar
from shoptools.topology import Topology


def mesh_identities(topology: Topology) -> list[str]:
    """Every identity that needs a certificate: services, test clients, the gateway."""
    return [*topology.services, *topology.clients, GATEWAY]


def write_configs(
    topology: Topology, policy: MeshPolicy, faults: Mapping[str, Sequence[Fault]] | None = None
) -> dict[str, Path]:
    """Create the PKI if needed and write one config per Envoy (`<instance>.json`,
    `gateway.json`) under topology.envoy_dir; `faults` by instance name. Name -> path."""
    ensure_pki(topology.pki_dir, mesh_identities(topology))
    faults = faults or {}
    configs: dict[str, Config] = {
        i.name: render_sidecar(topology, policy, i, faults.get(i.name, ()))
        for i in [*topology.instances(), *topology.client_sidecars()]
    }
    configs[GATEWAY] = render_gateway(topology, policy)
    topology.envoy_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, config in configs.items():
        path = topology.envoy_dir / f"{name}.json"
        path.write_text(json.dumps(config, indent=2) + "\n")
        paths[name] = path
    return paths


def validate_config(path: Path) -> None:
    """Let Envoy check the config; raises with Envoy's explanation if it is refused."""
    result = subprocess.run(
        [str(envoy_binary()), "--mode", "validate", "-c", str(path), "--log-level", "warn"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise ValueError(f"envoy refused {path}:\n{result.stdout}{result.stderr}")
