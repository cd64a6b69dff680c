"""The cluster's NATS, run here: three real nats-servers from the rendered nats.conf (the
pods' DNS names and ports swapped for loopback ports), the streams from the rendered
stream configurations, replicated on all three, surviving the loss of one node; the
services' users with the local stack's permissions."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import nats
import nats.errors
import pytest
from nats.js.api import StreamConfig

from shoptools.identity import NAMESPACE
from shoptools.k8s.workloads import (
    NATS_CLUSTER_PORT,
    NATS_MONITOR_PORT,
    NATS_PORT,
    nats_config,
    stream_configs,
)
from shoptools.mesh.policy import load_policy
from shoptools.stack import nats_auth

from .conftest import ROOT

NODES = 3
NATS_SERVER = Path(sys.executable).with_name("nats-server")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Cluster:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.ports = [
            {"client": _free_port(), "cluster": _free_port(), "monitor": _free_port()}
            for _ in range(NODES)
        ]
        policy = load_policy(ROOT / "mesh" / "policy.yaml")
        self.users = [nats_auth.ADMIN, *sorted(policy.contracts)]
        self.passwords = {user: f"pw-{user}" for user in self.users}
        self.processes: list[subprocess.Popen[bytes] | None] = [None] * NODES
        self.config = nats_config(policy, NAMESPACE)

    def node_config(self, index: int) -> str:
        text = self.config
        for peer in range(NODES):
            text = text.replace(
                f"nats-{peer}.nats-headless.{NAMESPACE}.svc.cluster.local:{NATS_CLUSTER_PORT}",
                f"127.0.0.1:{self.ports[peer]['cluster']}",
            )
        ports = self.ports[index]
        node = self.directory / f"nats-{index}"
        return (
            text.replace(f"0.0.0.0:{NATS_PORT}", f"127.0.0.1:{ports['client']}")
            .replace(f"0.0.0.0:{NATS_MONITOR_PORT}", f"127.0.0.1:{ports['monitor']}")
            .replace(f"0.0.0.0:{NATS_CLUSTER_PORT}", f"127.0.0.1:{ports['cluster']}")
            .replace("/data/jetstream", str(node / "jetstream"))
            .replace("/var/run/nats", str(node))
        )

    def start(self, index: int) -> None:
        node = self.directory / f"nats-{index}"
        node.mkdir(exist_ok=True)
        (node / "nats.conf").write_text(self.node_config(index))
        env = {
            "PATH": os.environ["PATH"],
            "POD_NAME": f"nats-{index}",
            **{f"NATS_PASSWORD_{u.upper()}": p for u, p in self.passwords.items()},
        }
        log = (node / "log").open("wb")
        self.processes[index] = subprocess.Popen(
            [str(NATS_SERVER), "-c", str(node / "nats.conf")], env=env, stdout=log, stderr=log
        )

    def stop(self, index: int) -> None:
        process = self.processes[index]
        if process is not None and process.poll() is None:
            process.terminate()
            process.wait(10)
        self.processes[index] = None

    def wait_healthy(self, nodes: range | list[int], timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        for index in nodes:
            url = f"http://127.0.0.1:{self.ports[index]['monitor']}/healthz?js-enabled-only=true"
            while True:
                try:
                    with urllib.request.urlopen(url, timeout=2) as reply:
                        if reply.status == 200:
                            break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    log = (self.directory / f"nats-{index}" / "log").read_text()[-2000:]
                    raise AssertionError(f"nats-{index} is not healthy:\n{log}")
                time.sleep(0.1)

    def url(self, user: str, index: int = 0) -> str:
        return f"nats://{user}:{self.passwords[user]}@127.0.0.1:{self.ports[index]['client']}"


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    running = Cluster(tmp_path)
    try:
        for index in range(NODES):
            running.start(index)
        running.wait_healthy(range(NODES))
        yield running
    finally:
        for index in range(NODES):
            running.stop(index)


async def _create_streams(cluster: Cluster) -> dict[str, int]:
    """What the streams Job does (nats stream add --config), with nats-py; each stream's
    replica count as the cluster reports it."""
    admin = await nats.connect(cluster.url(nats_auth.ADMIN), connect_timeout=5)
    try:
        js = admin.jetstream(timeout=10)
        replicas = {}
        for name, text in stream_configs().items():
            config = StreamConfig.from_response(json.loads(text))
            await _retry(functools.partial(js.add_stream, config))  # once a leader is elected
            stream = name.removesuffix(".json")
            info = await js.stream_info(stream)
            assert info.config.num_replicas == NODES
            assert info.cluster is not None
            replicas[stream] = 1 + len(info.cluster.replicas or [])
        return replicas
    finally:
        await admin.close()


async def _retry(call: Callable[[], Awaitable[object]], attempts: int = 50) -> None:
    for attempt in range(attempts):
        try:
            await call()
            return
        except (TimeoutError, nats.errors.Error):
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(0.2)


async def _publish(cluster: Cluster, user: str, subject: str, node: int) -> bool:
    """Whether `user` gets a JetStream ack for an event on `subject` via `node`."""
    client = await nats.connect(
        cluster.url(user, node), connect_timeout=5, inbox_prefix=f"_INBOX.{user}".encode()
    )
    try:
        js = client.jetstream(timeout=5)
        try:
            await js.publish(subject, b"{}", headers={"Nats-Msg-Id": f"{user}-{time.time()}"})
        except (TimeoutError, nats.errors.Error):
            return False
        return True
    finally:
        await client.close()


def test_streams_are_replicated_on_every_node_and_survive_losing_one(cluster: Cluster) -> None:
    replicas = asyncio.run(_create_streams(cluster))
    assert replicas == dict.fromkeys(replicas, NODES)
    assert "CATALOG" in replicas
    assert "DEADLETTER" in replicas
    # Catalog publishes its events as itself, with the local stack's permissions ...
    assert asyncio.run(_publish(cluster, "catalog", "catalog.product.upserted", node=1))
    # ... and nothing else.
    assert not asyncio.run(_publish(cluster, "catalog", "orders.order.placed", node=1))
    # One node down (a rollout, a lost node): the other two still hold a quorum.
    cluster.stop(2)
    assert asyncio.run(_publish(cluster, "catalog", "catalog.product.upserted", node=0))
