"""NATS, as the relay and the consumers use it: a connection that is waited for rather than
failed, and the backoff both use while the broker is away."""

from __future__ import annotations

import asyncio
import logging
import random

import nats
import nats.errors
from nats.aio.client import Client

log = logging.getLogger("chassis.broker")

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
    while True:
        try:
            return await nats.connect(
                url,
                connect_timeout=2,
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.5,
                name=name,
            )
        except FAILURES as error:
            delay = backoff.next()
            log.warning("%s: cannot reach NATS (%r); retrying in %.2f s", name, error, delay)
            await asyncio.sleep(delay)
