"""NATS, as the relay and the consumers use it: a connection that is waited for rather than
failed, and the backoff both use while the broker is away.

The URL says who the service is (`tls://<user>:<password>@host:port`: the broker's
permissions are per user) and SHOP_NATS_CA which CA signed the server's certificate.
Replies, fetched messages included, arrive under `_INBOX.<user>`: the only subjects the
stack lets a service subscribe to."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import ssl
from urllib.parse import urlsplit

import nats
import nats.errors
from nats.aio.client import Client

log = logging.getLogger("chassis.broker")
# nats-py reads through an asyncio stream, whose protocol asks to stay half-open at EOF;
# over TLS asyncio ignores that and warns, once per connection closed. Harmless noise.
logging.getLogger("asyncio").addFilter(lambda record: "eof_received()" not in str(record.msg))

BACKOFF_S = (0.1, 5.0)  # first delay, cap (full jitter, doubling)
# What talking to an unreachable or restarting NATS raises.
FAILURES: tuple[type[BaseException], ...] = (nats.errors.Error, asyncio.TimeoutError, OSError)


class Backoff:
    """Jittered exponential backoff (full jitter), capped at BACKOFF_S[1]."""

    def __init__(self) -> None:
        self._attempt = 0

    def next(self) -> float:
        first, cap = BACKOFF_S
        self._attempt += 1
        return random.uniform(0, min(cap, first * 2**self._attempt))

    def reset(self) -> None:
        self._attempt = 0


async def connect(url: str, name: str) -> Client:
    """A connection to NATS, once it can be had; it then reconnects by itself forever."""
    backoff = Backoff()
    user = urlsplit(url).username
    # ServiceSettings.nats_ca, read here so that every connection (relay, consumers) has it.
    ca = os.environ.get("SHOP_NATS_CA", "")
    while True:
        try:
            return await nats.connect(
                url,
                connect_timeout=2,
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.5,
                name=name,
                tls=ssl.create_default_context(cafile=ca) if ca else None,
                inbox_prefix=f"_INBOX.{user}" if user else "_INBOX",
            )
        except FAILURES as error:
            delay = backoff.next()
            log.warning("%s: cannot reach NATS (%r); retrying in %.2f s", name, error, delay)
            await asyncio.sleep(delay)
