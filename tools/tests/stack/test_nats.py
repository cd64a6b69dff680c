"""JetStream: one stream per publishing context, created idempotently, kept across restarts."""

from __future__ import annotations

import asyncio

import nats as nats_client
from nats.js.api import StorageType

from shoptools.stack import nats
from shoptools.stack.health import http_ok_async
from shoptools.stack.processes import Child, ProcessSpec
from shoptools.topology import Topology

from .harness import isolated_topology


async def start(server: Child, topology: Topology) -> None:
    await server.start()
    for _ in range(200):
        if await http_ok_async(nats.health_url(topology)):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("nats did not become healthy")


async def stream_infos(topology: Topology) -> dict[str, tuple[list[str], int]]:
    client = await nats_client.connect(nats.client_url(topology))
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
    client = await nats_client.connect(nats.client_url(topology))
    try:
        ack = await client.jetstream().publish(subject, b"{}", headers={"Nats-Msg-Id": msg_id})
        return not ack.duplicate
    finally:
        await client.close()


def test_streams_exist_after_start_and_survive_a_restart() -> None:
    async def scenario(topology: Topology) -> None:
        topology.nats_dir.mkdir(parents=True)
        spec = ProcessSpec(
            "nats", nats.server_command(topology), topology.log_dir / "nats.log", topology.state_dir
        )
        server = Child(spec)
        try:
            await start(server, topology)
            await nats.ensure_streams(nats.client_url(topology))
            await nats.ensure_streams(nats.client_url(topology))  # again: no error, no change
            assert await publish(topology, "orders.placed", "event-1")
            assert not await publish(topology, "orders.placed", "event-1")

            await server.stop()
            await start(server, topology)

            streams = await stream_infos(topology)
            assert {name: subjects for name, (subjects, _) in streams.items()} == {
                name: [subjects] for name, subjects in nats.STREAMS.items()
            }
            assert streams["ORDERS"][1] == 1  # the message is still there, once
        finally:
            await server.stop()

    with isolated_topology() as topology:
        asyncio.run(scenario(topology))
