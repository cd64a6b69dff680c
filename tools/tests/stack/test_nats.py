"""JetStream: one stream per publishing context, created idempotently, kept across restarts;
the server started as the stack starts it (the rendered configuration: TLS, users)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from nats.js.api import StorageType

from shoptools.mesh.policy import load_policy
from shoptools.stack import nats, nats_auth
from shoptools.stack.health import http_ok_async
from shoptools.stack.processes import Child, ProcessSpec
from shoptools.topology import Topology

from .harness import ROOT, isolated_topology

REPO_POLICY = ROOT / "mesh" / "policy.yaml"


def server(topology: Topology, policy: Path = REPO_POLICY) -> Child:
    """The stack's NATS: its configuration written from `policy`, not yet started."""
    nats_auth.write_config(topology, load_policy(policy))
    log_file = topology.log_dir / "nats.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    return Child(ProcessSpec("nats", nats.server_command(topology), log_file, topology.state_dir))


async def start(server: Child, topology: Topology) -> None:
    await server.start()
    for _ in range(200):
        if await http_ok_async(nats.health_url(topology)):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("nats did not become healthy")


async def stream_infos(topology: Topology) -> dict[str, tuple[list[str], int]]:
    client = await nats.connect(topology)
    try:
        js = client.jetstream()
        infos = {}
        for info in await js.streams_info():
            assert info.config.name is not None
            assert info.config.storage == StorageType.FILE.value
            assert info.config.duplicate_window == nats.DUPLICATE_WINDOW_S
            infos[info.config.name] = (info.config.subjects or [], info.state.messages)
        return infos
    finally:
        await client.close()


async def publish(topology: Topology, subject: str, msg_id: str) -> bool:
    """True when the stream stored it, False when it was a duplicate."""
    client = await nats.connect(topology)
    try:
        ack = await client.jetstream().publish(subject, b"{}", headers={"Nats-Msg-Id": msg_id})
        return not ack.duplicate
    finally:
        await client.close()


def test_streams_exist_after_start_and_survive_a_restart() -> None:
    async def scenario(topology: Topology) -> None:
        nats_server = server(topology)
        try:
            await start(nats_server, topology)
            await nats.ensure_streams(topology)
            await nats.ensure_streams(topology)  # again: no error, no change
            assert await publish(topology, "orders.placed", "event-1")
            assert not await publish(topology, "orders.placed", "event-1")

            await nats_server.stop()
            await start(nats_server, topology)

            streams = await stream_infos(topology)
            assert {name: subjects for name, (subjects, _) in streams.items()} == {
                name: [subjects] for name, subjects in nats.STREAMS.items()
            }
            assert streams["ORDERS"][1] == 1  # the message is still there, once
        finally:
            await nats_server.stop()

    with isolated_topology() as topology:
        asyncio.run(scenario(topology))
