"""The whole stack through the `shop` command: up, what it prints, supervision, down."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator

import pytest

from shoptools.stack import runfile
from shoptools.stack.health import grpc_serving

from .harness import ROOT, Stack, isolated_topology, run_state, running_stack, shop


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with isolated_topology(catalog=1) as topology, running_stack(topology) as started:
        yield started


def test_up_prints_a_line_per_component_and_calls_that_work_as_printed(stack: Stack) -> None:
    for name in ("postgres", "nats", "catalog-1", "catalog-1-sidecar", "gateway", "web"):
        assert any(line.split()[:2] == ["ok", name] for line in stack.output.splitlines())
    calls = [
        line.strip()
        for line in stack.output.splitlines()
        if line.strip().startswith("curl ") or "grpcurl " in line or "shop token " in line
    ]
    assert len(calls) == 4, stack.output
    results = {
        call: subprocess.run(
            ["bash", "-c", call], cwd=ROOT, capture_output=True, text=True, check=False
        )
        for call in calls
    }
    for call, result in results.items():
        assert result.returncode == 0, f"{call}\n{result.stdout}{result.stderr}"
    curl, token, listing, get = (results[call].stdout for call in calls)
    assert json.loads(curl)["products"]
    assert re.fullmatch(r"[\w-]+\.[\w-]+\.[\w-]+\n", token)
    assert "shop.catalog.v1.CatalogService" in listing.split()
    assert json.loads(get)["product"]["sku"]


def test_status_reports_every_component_healthy_with_signals(stack: Stack) -> None:
    result = shop(stack.topology, "status", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["healthy"] is True
    by_name = {c["name"]: c for c in report["components"]}
    instances = {i.name for i in stack.topology.instances()}
    sidecars = {f"{name}-sidecar" for name in instances}
    infrastructure = {"postgres", "nats", "smtp-sink", "gateway", "web"}
    assert set(by_name) == {*infrastructure, *instances, *sidecars}
    catalog_1 = stack.topology.instances("catalog")[0]
    assert by_name["catalog-1"]["address"] == f"127.0.0.1:{catalog_1.app_port}"
    assert by_name["catalog-1"]["signals"]["calls"] >= 1  # at least the seed SKU lookup


def test_the_supervisor_restarts_a_killed_service(stack: Stack) -> None:
    topology = stack.topology
    before = run_state(topology).component("catalog-1")
    assert before.pid is not None

    os.kill(before.pid, signal.SIGKILL)

    deadline = time.monotonic() + 90
    while True:
        after = run_state(topology).component("catalog-1")
        if after.state == runfile.HEALTHY and after.pid not in (None, before.pid):
            break
        assert time.monotonic() < deadline, f"catalog-1 did not come back: {after}"
        time.sleep(0.1)
    assert after.restarts == before.restarts + 1
    assert asyncio.run(grpc_serving(topology.instances("catalog")[0].app_port))
    log = (topology.log_dir / "supervisor.log").read_text()
    assert f"catalog-1 (pid {before.pid}) killed by signal 9" in log


def test_up_again_as_asked_leaves_the_stack_alone_and_foreground_is_refused(stack: Stack) -> None:
    before = run_state(stack.topology).supervisor_pid
    base_port = ["--base-port", str(stack.topology.base_port)]

    again = shop(stack.topology, "up", *base_port, "--instances", "catalog=1")
    foreground = shop(stack.topology, "up", *base_port, "--foreground")

    assert again.returncode == 0, again.stdout + again.stderr
    assert "already running as asked" in again.stdout
    assert foreground.returncode == 1
    assert "shop down" in foreground.stderr
    assert run_state(stack.topology).supervisor_pid == before


# Last in the module: it leaves the module's stack running in another shape.
def test_up_with_other_options_restarts_the_stack_as_asked(stack: Stack) -> None:
    before = run_state(stack.topology)
    base_port = ["--base-port", str(stack.topology.base_port)]

    result = shop(stack.topology, "up", *base_port, "--instances", "catalog=2")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "restarting it as" in result.stdout
    assert "catalog=2" in result.stdout
    after = run_state(stack.topology)
    assert after.supervisor_pid != before.supervisor_pid
    assert after.services == {**before.services, "catalog": 2}
    assert after.component("catalog-2").state == runfile.HEALTHY
