"""`shop dlq`: the events consumers could not handle, and replaying them.

Consumers (chassis.consumer) park such an event on `deadletter.<service>.<subscription>`
in the DEADLETTER stream, with headers saying why, where it came from and how often it was
delivered. `redrive` publishes each one again on its original subject (a new message id, so
the broker does not drop it as a duplicate) and removes it from the stream: every consumer
of that subject receives it again, and their inboxes make that harmless for those that had
already handled it.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import TextIO, TypeVar

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from shoptools.stack import nats as stack_nats
from shoptools.topology import Topology

T = TypeVar("T")
STREAM = stack_nats.DEAD_LETTER_STREAM
# Headers the consumer adds; the rest are the original message's, restored on redrive.
DEAD_LETTER_HEADERS = frozenset(
    {
        "Nats-Msg-Id",
        "Shop-Dead-Letter-Reason",
        "Shop-Original-Subject",
        "Shop-Original-Stream",
        "Shop-Original-Sequence",
        "Shop-Subscription",
        "Shop-Deliveries",
    }
)


@dataclass(frozen=True)
class DeadLetter:
    sequence: int  # in the DEADLETTER stream
    subscription: str
    subject: str  # where it was published first
    event_type: str  # from the relay's header; empty for what was never a valid event
    reason: str
    deliveries: int
    time: str


def show(topology: Topology, *, as_json: bool, out: TextIO) -> int:
    letters = asyncio.run(_with_stream(topology, _list))
    if as_json:
        print(json.dumps([asdict(letter) for letter in letters], indent=2), file=out)
        return 0
    if not letters:
        print("No dead letters.", file=out)
        return 0
    print(f"{'SEQ':>5}  {'SUBSCRIPTION':<30} {'EVENT':<36} {'TRIES':>5}  REASON", file=out)
    for letter in letters:
        event = letter.event_type or letter.subject
        print(
            f"{letter.sequence:>5}  {letter.subscription:<30} {event:<36} "
            f"{letter.deliveries:>5}  {letter.reason}",
            file=out,
        )
    return 0


def redrive(topology: Topology, *, subscription: str | None, out: TextIO) -> int:
    async def replay(js: JetStreamContext) -> int:
        count = 0
        for letter in await _list(js):
            if subscription is not None and letter.subscription != subscription:
                continue
            message = await js.get_msg(STREAM, letter.sequence)
            headers = {
                key: value
                for key, value in (message.headers or {}).items()
                if key not in DEAD_LETTER_HEADERS
            }
            headers["Nats-Msg-Id"] = f"redrive-{uuid.uuid4()}"
            await js.publish(letter.subject, message.data or b"", headers=headers)
            await js.delete_msg(STREAM, letter.sequence)
            print(f"redrove {letter.sequence} to {letter.subject}", file=out)
            count += 1
        return count

    count = asyncio.run(_with_stream(topology, replay))
    print(f"{count} dead letter(s) redriven.", file=out)
    return 0


async def _list(js: JetStreamContext) -> list[DeadLetter]:
    info = await js.stream_info(STREAM)
    if not info.state.messages:
        return []  # an empty stream has no first message to start from
    letters = []
    for sequence in range(info.state.first_seq, info.state.last_seq + 1):
        try:
            message = await js.get_msg(STREAM, sequence)
        except NotFoundError:
            continue  # redriven (deleted) meanwhile
        headers = message.headers or {}
        letters.append(
            DeadLetter(
                sequence=sequence,
                subscription=headers.get("Shop-Subscription", ""),
                subject=headers.get("Shop-Original-Subject", ""),
                event_type=headers.get("Shop-Event-Type", ""),
                reason=headers.get("Shop-Dead-Letter-Reason", ""),
                deliveries=int(headers.get("Shop-Deliveries", "0")),
                time=str(message.time or ""),
            )
        )
    return letters


async def _with_stream(topology: Topology, use: Callable[[JetStreamContext], Awaitable[T]]) -> T:
    try:
        client = await stack_nats.connect(topology, connect_timeout=5, max_reconnect_attempts=0)
    except Exception as error:  # said plainly, whatever the client raised
        print(f"cannot reach the stack's NATS: {error}", file=sys.stderr)
        raise SystemExit(1) from error
    try:
        return await use(client.jetstream())
    finally:
        await client.close()
