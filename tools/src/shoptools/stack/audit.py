"""`shop audit verify` and `shop audit list`: the running stack's audit log, asked of its
audit service (instance audit-1, on its app port: loopback plaintext, as `shop status`
probes instances; the operator's machine is trusted like the sidecar in front of it).

`verify` recomputes the hash chain and names the first record that was altered or removed;
its head hash is what to write down somewhere else, so a later verify can prove the log up
to there was not rewritten (`--expect-head`)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import importlib
import json
import pkgutil
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

import grpc
from google.protobuf.json_format import MessageToDict

import shop
from shop.audit.v1 import audit_service_pb2 as pb
from shop.audit.v1.audit_service_pb2_grpc import AuditServiceStub
from shoptools.topology import Topology

if TYPE_CHECKING:  # the async stub type exists only in the type stubs
    from shop.audit.v1.audit_service_pb2_grpc import AuditServiceAsyncStub

T = TypeVar("T")
BROKEN = 1  # the chain does not verify, or not to the expected head
UNREACHABLE = 2
CALL_TIMEOUT_S = 60.0  # VerifyChain recomputes the whole range within one call
BECAUSE = {
    pb.CHAIN_BREAK_RECORD_ALTERED: "altered",
    pb.CHAIN_BREAK_LINK_BROKEN: "link broken (a record before it rewritten, or one inserted)",
    pb.CHAIN_BREAK_RECORD_MISSING: "removed",
}


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    """`shop audit verify|list` (commands: the `shop` parser's subparsers; common: the
    options every stack command takes)."""
    audit = commands.add_parser(
        "audit", parents=[common], help="the audit log: verify its hash chain, list events"
    )
    actions = audit.add_subparsers(dest="audit", required=True)
    check = actions.add_parser(
        "verify",
        parents=[common],
        help="recompute the hash chain; name the first record altered or removed",
    )
    check.add_argument("--from", dest="from_sequence", type=int, metavar="SEQ")
    check.add_argument("--to", dest="to_sequence", type=int, metavar="SEQ")
    check.add_argument(
        "--expect-head",
        metavar="HEX",
        help="the head hash written down earlier: fail unless the chain ends with it",
    )
    check.add_argument("--json", action="store_true", help="machine-readable")
    listing = actions.add_parser(
        "list", parents=[common], help="recorded events, oldest first, narrowed by filters"
    )
    listing.add_argument(
        "--aggregate", default="", metavar="COLLECTION/ID", help="e.g. orders/5f0c..."
    )
    listing.add_argument(
        "--type", default="", metavar="TYPE", help="e.g. shop.orders.v1.OrderPlaced"
    )
    listing.add_argument("--correlation-id", default="", metavar="ID")
    listing.add_argument("-n", "--limit", type=int, default=50, metavar="N")
    listing.add_argument("--json", action="store_true", help="machine-readable")


def main(topology: Topology, args: argparse.Namespace, out: TextIO) -> int:
    if args.audit == "verify":
        request = pb.VerifyChainRequest(
            from_sequence=args.from_sequence, to_sequence=args.to_sequence
        )
        return verify(topology, request, expect_head=args.expect_head, as_json=args.json, out=out)
    query = pb.ListEventsRequest(
        subject=args.aggregate, type=args.type, correlation_id=args.correlation_id
    )
    return list_events(topology, query, limit=max(1, args.limit), as_json=args.json, out=out)


def verify(
    topology: Topology,
    request: pb.VerifyChainRequest,
    *,
    expect_head: str | None,
    as_json: bool,
    out: TextIO,
) -> int:
    """Exit 0 when the chain is intact (and ends at `expect_head`, hex, if given)."""
    reply = _call(topology, out, lambda audit: audit.VerifyChain(request, timeout=CALL_TIMEOUT_S))
    if reply is None:
        return UNREACHABLE
    head = reply.head_hash.hex()
    anchored = expect_head is None or head == expect_head.lower()
    if as_json:
        print(json.dumps({**_plain(reply), "head_hash": head}, indent=2), file=out)
    elif reply.intact:
        print(f"intact: {reply.records_checked} records checked", file=out)
        print(f"head: #{reply.head_sequence} {head}", file=out)
        if not anchored:
            print(f"but the head is not the expected {expect_head}: rewritten", file=out)
    else:
        because = BECAUSE.get(reply.broken_because, "broken")
        print(f"BROKEN at #{reply.first_broken_sequence}: {because}", file=out)
        print(
            f"{reply.records_checked} records verified before it; "
            f"last good: #{reply.head_sequence} {head}",
            file=out,
        )
    return 0 if reply.intact and anchored else BROKEN


def list_events(
    topology: Topology, query: pb.ListEventsRequest, *, limit: int, as_json: bool, out: TextIO
) -> int:
    """The first `limit` records matching `query`'s filters, oldest first (following
    pages as needed)."""
    request = pb.ListEventsRequest()
    request.CopyFrom(query)

    async def pages(audit: AuditServiceAsyncStub) -> list[Any]:
        records: list[Any] = []
        while len(records) < limit:
            request.page_size = min(100, limit - len(records))
            reply = await audit.ListEvents(request, timeout=CALL_TIMEOUT_S)
            records += reply.records
            if not reply.next_page_token:
                break
            request.page_token = reply.next_page_token
        return records

    records = _call(topology, out, pages)
    if records is None:
        return UNREACHABLE
    if as_json:
        print(json.dumps([_plain(r) for r in records], indent=2), file=out)
        return 0
    if not records:
        print("No matching events.", file=out)
        return 0
    print(f"{'SEQ':>6}  {'TIME':<24} {'TYPE':<36} {'SUBJECT':<30} CORRELATION", file=out)
    for record in records:
        event = record.event
        time = event.time.ToDatetime().isoformat(timespec="milliseconds")
        print(
            f"{record.sequence:>6}  {time:<24} {event.type:<36} {event.subject:<30} "
            f"{event.correlation_id}",
            file=out,
        )
    return 0


def _call(
    topology: Topology, out: TextIO, call: Callable[[AuditServiceAsyncStub], Awaitable[T]]
) -> T | None:
    """`call` on audit-1; None (and why, on `out`) when there is no answer."""
    instances = topology.instances("audit")
    if not instances:
        print("This stack runs no audit service.", file=out)
        return None

    async def run() -> T:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{instances[0].app_port}") as channel:
            return await call(AuditServiceStub(channel))

    try:
        return asyncio.run(run())
    except grpc.aio.AioRpcError as error:
        print(f"{instances[0].name}: {error.code().name}: {error.details()}", file=out)
        return None


def _plain(message: Any) -> dict[str, Any]:
    _import_event_types()
    return MessageToDict(message, preserving_proto_field_name=True)


@functools.cache
def _import_event_types() -> None:
    """MessageToDict unpacks a record's event (an Any) only when the event's module is
    imported: import every context's events."""
    for context in pkgutil.iter_modules(shop.__path__):
        with contextlib.suppress(ModuleNotFoundError):
            importlib.import_module(f"shop.{context.name}.v1.events_pb2")
