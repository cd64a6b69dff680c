"""The stack's events, as its NATS administrator: an event published again, and waiting
until every consumer has handled a message."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from shoptools.stack import nats as stack_nats

from .orders_client import Shop, poll


@dataclass(frozen=True)
class Republished:
    duplicate: bool  # what JetStream said of the same message with its own Nats-Msg-Id
    sequence: int  # where the same event, under a new message id, landed in the stream


def republish_last(shop: Shop, stream: str, subject: str, order_id: str) -> Republished:
    """The last event on `subject` (it must be the order's) published again: once as it
    was (JetStream's deduplication answers), once under a new Nats-Msg-Id, as a redrive or
    a redelivery after the duplicate window would bring it: every consumer gets it again."""

    async def run() -> Republished:
        client = await stack_nats.connect(shop.stack.topology)
        try:
            js = client.jetstream()
            last = await js.get_last_msg(stream, subject)
            data = last.data or b""
            assert order_id.encode() in data, f"the last {subject} is another order's"
            headers = dict(last.headers or {})
            again = await js.publish(subject, data, headers=headers)
            headers["Nats-Msg-Id"] = f"{headers['Nats-Msg-Id']}-redelivered"
            redelivered = await js.publish(subject, data, headers=headers)
            return Republished(bool(again.duplicate), int(redelivered.seq))
        finally:
            await client.close()

    return asyncio.run(run())


def last_sequence(shop: Shop, stream: str, subject: str) -> int:
    """Where the last message on `subject` is in `stream`."""

    async def run() -> int:
        client = await stack_nats.connect(shop.stack.topology)
        try:
            return int((await client.jetstream().get_last_msg(stream, subject)).seq or 0)
        finally:
            await client.close()

    return asyncio.run(run())


def _matches(subject: str, pattern: str) -> bool:
    words, wanted = subject.split("."), pattern.split(".")
    for index, token in enumerate(wanted):
        if token == ">":
            return len(words) > index
        if index >= len(words) or token not in ("*", words[index]):
            return False
    return len(words) == len(wanted)


def wait_consumed(shop: Shop, stream: str, subject: str, sequence: int) -> None:
    """Until every durable consumer of `stream` that reads `subject` has acknowledged the
    message at `sequence` (handled it, or dead-lettered it)."""

    async def consumers() -> list[str]:
        client = await stack_nats.connect(shop.stack.topology)
        try:
            infos = await client.jetstream().consumers_info(stream)
        finally:
            await client.close()
        behind = []
        for info in infos:
            filters = info.config.filter_subjects or [info.config.filter_subject or ">"]
            if not any(_matches(subject, f) for f in filters):
                continue
            acked = info.ack_floor.stream_seq if info.ack_floor else 0
            if (acked or 0) < sequence or info.num_ack_pending:
                behind.append(f"{info.name} acked to {acked}, {info.num_ack_pending} pending")
        return behind

    poll(
        lambda: asyncio.run(consumers()),
        lambda behind: not behind,
        f"every consumer of {subject} past #{sequence}",
    )
