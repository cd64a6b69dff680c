"""Dead letters: the events consumers could not handle, read from the local stack's
DEADLETTER stream as `shop dlq` reads it (shoptools.stack.deadletters), inspected one by
one, and redriven (published again on their subject) per subscription after a
confirmation. Needs the local stack: NATS is not behind the gateway."""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any
from urllib.parse import urlencode

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from nats.errors import Error as NatsError
from nats.js.errors import NotFoundError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from shop.common.v1 import event_pb2
from shoptools.stack import deadletters as stack_deadletters
from shoptools.stack import nats as stack_nats
from shoptools.stack import runfile
from shoptools.topology import Topology
from shopweb.app import render
from shopweb.app import settings as web_settings
from shopweb.console.guard import admin_only

NATS_TIMEOUT_S = 5.0
SHOWN_BYTES = 4096


class StackUnreachable(Exception):
    """NATS did not answer (`shop dlq` exits; the page says so)."""


def _topology(request: Request) -> Topology | None:
    settings = web_settings(request)
    if settings.stack_state_dir is None:
        return None
    return runfile.running_topology(settings.stack_state_dir)


def _listed(topology: Topology) -> list[dict[str, Any]]:
    """`shop dlq list --json`, run in a worker thread (it runs its own event loop)."""
    out = io.StringIO()
    try:
        stack_deadletters.show(topology, as_json=True, out=out)
    except SystemExit as exit_:  # how `shop dlq` says NATS did not answer
        raise StackUnreachable("the stack's NATS does not answer") from exit_
    letters: list[dict[str, Any]] = json.loads(out.getvalue())
    return letters


def _redriven(topology: Topology, subscription: str) -> int:
    """`shop dlq redrive --subscription S`, in a worker thread; how many it redrove (it
    prints a line for each)."""
    out = io.StringIO()
    try:
        stack_deadletters.redrive(topology, subscription=subscription, out=out)
    except SystemExit as exit_:
        raise StackUnreachable("the stack's NATS does not answer") from exit_
    return sum(1 for line in out.getvalue().splitlines() if line.startswith("redrove "))


@admin_only
async def index(request: Request) -> Response:
    topology = _topology(request)
    if topology is None:
        return render(request, "console/needs_stack.html", section="dead-letters")
    try:
        letters = await asyncio.to_thread(_listed, topology)
    except StackUnreachable as error:
        return render(
            request, "console/dead_letters.html", status_code=503, letters=[], error=str(error)
        )
    subscriptions: dict[str, int] = {}
    for letter in letters:
        subscriptions[letter["subscription"]] = subscriptions.get(letter["subscription"], 0) + 1
    return render(
        request,
        "console/dead_letters.html",
        letters=letters,
        subscriptions=subscriptions,
        redriven=request.query_params.get("redriven", ""),
        count=request.query_params.get("count", ""),
    )


@admin_only
async def inspect(request: Request) -> Response:
    topology = _topology(request)
    if topology is None:
        return render(request, "console/needs_stack.html", section="dead-letters")
    sequence = int(request.path_params["sequence"])
    try:
        letter = await _message(topology, sequence)
    except (OSError, TimeoutError, NatsError) as error:
        return render(
            request,
            "console/dead_letter.html",
            status_code=503,
            sequence=sequence,
            error=f"the stack's NATS does not answer: {error}",
        )
    if letter is None:
        return render(
            request,
            "console/dead_letter.html",
            status_code=404,
            sequence=sequence,
            error="No such dead letter: redriven, or never there.",
        )
    return render(request, "console/dead_letter.html", sequence=sequence, letter=letter)


async def _message(topology: Topology, sequence: int) -> dict[str, Any] | None:
    async with asyncio.timeout(NATS_TIMEOUT_S * 2):
        client = await stack_nats.connect(
            topology, connect_timeout=NATS_TIMEOUT_S, max_reconnect_attempts=0
        )
        try:
            message = await client.jetstream().get_msg(stack_deadletters.STREAM, sequence)
        except NotFoundError:
            return None
        finally:
            await client.close()
    headers = dict(message.headers or {})
    data = message.data or b""
    return {
        "headers": headers,
        "subscription": headers.get("Shop-Subscription", ""),
        "subject": headers.get("Shop-Original-Subject", ""),
        "reason": headers.get("Shop-Dead-Letter-Reason", ""),
        "time": str(message.time or ""),
        "size": len(data),
        "payload": describe_payload(data),
    }


def describe_payload(data: bytes) -> dict[str, str]:
    """What the message holds, readably: the event envelope as JSON when it is one (its
    `data` named by type only: that type need not be importable here), else its bytes."""
    envelope = event_pb2.EventEnvelope()
    try:
        envelope.ParseFromString(data)
    except DecodeError:
        envelope.Clear()
    if envelope.id and envelope.type:
        data_type = envelope.data.type_url
        envelope.ClearField("data")
        plain = json_format.MessageToDict(envelope, preserving_proto_field_name=True)
        plain["data"] = {"@type": data_type}
        return {"kind": "event envelope", "text": json.dumps(plain, indent=2)}
    more = f"\n… {len(data) - SHOWN_BYTES} more bytes" if len(data) > SHOWN_BYTES else ""
    return {"kind": "not an event envelope", "text": repr(data[:SHOWN_BYTES]) + more}


@admin_only
async def redrive(request: Request) -> Response:
    """GET: what redriving a subscription's letters does, and a button to confirm; POST
    (the confirmation): redrive them."""
    topology = _topology(request)
    if topology is None:
        return render(request, "console/needs_stack.html", section="dead-letters")
    if request.method == "GET":
        subscription = request.query_params.get("subscription", "")
    else:
        subscription = str((await request.form()).get("subscription", ""))
    if not subscription:
        return RedirectResponse("/console/dead-letters", status_code=303)
    try:
        if request.method == "POST":
            count = await asyncio.to_thread(_redriven, topology, subscription)
            # After a POST, a page to GET: reloading it must not redrive again.
            done = urlencode({"redriven": subscription, "count": count})
            return RedirectResponse(f"/console/dead-letters?{done}", status_code=303)
        letters = await asyncio.to_thread(_listed, topology)
    except StackUnreachable as error:
        return render(
            request, "console/dead_letters.html", status_code=503, letters=[], error=str(error)
        )
    mine = [letter for letter in letters if letter["subscription"] == subscription]
    return render(
        request, "console/dead_letters_confirm.html", subscription=subscription, letters=mine
    )
