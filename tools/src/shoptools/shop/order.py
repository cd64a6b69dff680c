"""`shop order ID`: an order's saga timeline and the events it caused.

The order comes from GetOrder through the gateway with an administrator token (as support
would read it); the events from the audit service's log (audit-1's app port, as `shop audit`
reads it), which records every event of every stream. An order's events are found by the
aggregates it names (orders/<id>, payments/<payment id>, reservations/<reservation id>,
shipments/<shipment id>), then by the correlation ids of those events, which brings in
what consumers did on them (a notification sent on OrderConfirmed, say).

Steps carry one time, when they last changed (`update_time`). A step's start is taken as
the end of the step before it (the saga runs one step at a time) or, for the first, when
the order was placed. A forward step that was compensated has its compensation's time, so
its own end is unknown: the step after it shows an upper bound ("<=").
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import functools
import importlib
import json
import urllib.error
import urllib.request
from collections.abc import Iterable
from typing import Any, TextIO

import grpc
from google.protobuf import json_format
from google.protobuf.timestamp_pb2 import Timestamp

from shop.audit.v1 import audit_record_pb2
from shop.audit.v1 import audit_service_pb2 as audit_pb
from shop.audit.v1.audit_service_pb2_grpc import AuditServiceStub
from shop.common.v1 import event_pb2
from shop.orders.v1 import order_pb2
from shop.orders.v1 import orders_service_pb2 as orders_pb
from shoptools.mesh.jwt import mint_token
from shoptools.topology import Topology

NOT_FOUND = 1
UNREACHABLE = 2
CALL_TIMEOUT_S = 10.0
MAX_RECORDS = 500  # per query; an order causes a dozen or so
COMPENSATIONS = frozenset(
    {
        order_pb2.SAGA_STEP_KIND_RELEASE_RESERVATION,
        order_pb2.SAGA_STEP_KIND_VOID_AUTHORIZATION,
        order_pb2.SAGA_STEP_KIND_CANCEL_SHIPMENT,
    }
)
# What each rejection means, for the person reading the timeline.
REJECTIONS = {
    order_pb2.REJECTION_REASON_PAYMENT_DECLINED: "the payment provider declined the card",
    order_pb2.REJECTION_REASON_OUT_OF_STOCK: "inventory could not reserve every line",
    order_pb2.REJECTION_REASON_DESTINATION_NOT_SERVED: "shipping does not deliver there",
    order_pb2.REJECTION_REASON_PAYMENT_ERROR: "payments failed (not a decline)",
    order_pb2.REJECTION_REASON_TIMED_OUT: "the saga ran out of time",
    order_pb2.REJECTION_REASON_INTERNAL_ERROR: "a step failed for good",
}
# Where the aggregates an order names live in the audit log (their events' collections).
AGGREGATES = {
    "payment_id": "payments",
    "reservation_id": "reservations",
    "shipment_id": "shipments",
}


class OrderError(Exception):
    """GetOrder gave no order; the message says why, the exit code which kind."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    """`shop order ID` (commands: the `shop` parser's subparsers)."""
    order = commands.add_parser(
        "order",
        parents=[common],
        help="an order's saga timeline (steps, outcomes, timing, compensations) and the "
        "events it caused across streams",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    order.add_argument("order_id", metavar="ID", help="the order's id (a UUID)")
    order.add_argument("--json", action="store_true", help="machine-readable")


def main(topology: Topology, args: argparse.Namespace, out: TextIO) -> int:
    try:
        order = get_order(topology, args.order_id)
    except OrderError as error:
        print(str(error), file=out)
        return error.exit_code
    records, unavailable = asyncio.run(_events(topology, order))
    shown = timeline(order, records)
    if unavailable:
        shown["events_unavailable"] = unavailable
    print(json.dumps(shown, indent=2) if args.json else render(shown), file=out)
    return 0


# --- reading ------------------------------------------------------------------------------
def get_order(topology: Topology, order_id: str) -> order_pb2.Order:
    """GetOrder through the gateway, as an administrator (who sees every order)."""
    token = mint_token(topology.pki_dir, "admin", "admin", datetime.timedelta(minutes=1))
    request = urllib.request.Request(
        f"http://127.0.0.1:{topology.gateway_port}/v1/orders/{order_id}",
        headers={"authorization": f"Bearer {token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=CALL_TIMEOUT_S) as reply:
            body = json.loads(reply.read())
    except urllib.error.HTTPError as error:
        status = _error_message(error.read())
        if error.code == 404:
            raise OrderError(f"No order {order_id}.", NOT_FOUND) from None
        if error.code == 400:
            raise OrderError(f"{order_id!r} is not an order id: {status}", NOT_FOUND) from None
        raise OrderError(f"GetOrder failed (HTTP {error.code}): {status}", UNREACHABLE) from None
    except OSError as error:
        raise OrderError(
            f"The gateway on port {topology.gateway_port} does not answer ({error}); "
            "is the stack running?",
            UNREACHABLE,
        ) from None
    response = json_format.ParseDict(body, orders_pb.GetOrderResponse(), ignore_unknown_fields=True)
    return response.order


def _error_message(body: bytes) -> str:
    try:
        return str(json.loads(body).get("message", ""))
    except ValueError:
        return body.decode(errors="replace")[:200]


def aggregates(order: order_pb2.Order) -> list[str]:
    """The audit subjects of everything the order names: itself, its payment, its
    reservation, its shipment."""
    found = [f"orders/{order.order_id}"]
    for field, collection in AGGREGATES.items():
        value = getattr(order, field)
        if value:
            found.append(f"{collection}/{value}")
    return found


async def _events(
    topology: Topology, order: order_pb2.Order
) -> tuple[list[audit_record_pb2.AuditRecord], str]:
    """The audit records of the order's aggregates and of their correlation ids; and why
    there are none, when the audit service could not be asked."""
    instances = topology.instances("audit")
    if not instances:
        return [], "this stack runs no audit service"
    found: dict[int, audit_record_pb2.AuditRecord] = {}
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{instances[0].app_port}") as channel:
            audit = AuditServiceStub(channel)
            for subject in aggregates(order):
                for record in await _all(audit, audit_pb.ListEventsRequest(subject=subject)):
                    found[record.sequence] = record
            correlations = {r.event.correlation_id for r in found.values()}
            for correlation_id in sorted(correlations):
                query = audit_pb.ListEventsRequest(correlation_id=correlation_id)
                for record in await _all(audit, query):
                    found[record.sequence] = record
    except grpc.aio.AioRpcError as error:
        return [], f"{instances[0].name}: {error.code().name}: {error.details()}"
    return [found[sequence] for sequence in sorted(found)], ""


async def _all(audit: Any, request: audit_pb.ListEventsRequest) -> list[Any]:
    records: list[Any] = []
    while len(records) < MAX_RECORDS:
        request.page_size = 100
        reply = await audit.ListEvents(request, timeout=CALL_TIMEOUT_S)
        records += reply.records
        if not reply.next_page_token:
            break
        request.page_token = reply.next_page_token
    return records


@functools.cache
def nats_subject(event_type: str) -> str:
    """The NATS subject an event type is published on, from its contract
    ("shop.orders.v1.OrderPlaced" -> "orders.order.placed"); "" for an unknown type."""
    package, _, name = event_type.rpartition(".")
    try:
        message = getattr(importlib.import_module(f"{package}.events_pb2"), name)
    except (ImportError, AttributeError):
        return ""
    route: event_pb2.EventOptions = message.DESCRIPTOR.GetOptions().Extensions[event_pb2.event]
    return route.subject


# --- the timeline (pure) ------------------------------------------------------------------
def timeline(
    order: order_pb2.Order, records: Iterable[audit_record_pb2.AuditRecord]
) -> dict[str, Any]:
    """What `shop order` shows, as plain data (the --json output)."""
    placed = order.create_time
    return {
        "order_id": order.order_id,
        "customer_id": order.customer_id,
        "status": _name(order_pb2.OrderStatus, order.status, "ORDER_STATUS_"),
        "total": _money(order.total),
        "placed": _iso(placed),
        "last_change_ms": _after_ms(order.update_time, placed),
        "lines": [
            {"sku": line.sku, "name": line.name, "quantity": line.quantity} for line in order.lines
        ],
        "rejection": _rejection(order),
        "steps": steps(order),
        "events": [_event(record, placed) for record in records],
    }


def steps(order: order_pb2.Order) -> list[dict[str, Any]]:
    """Each saga step in the order it ran: outcome, start and duration in ms after the
    order was placed, attempts and retries, its last error."""
    shown: list[dict[str, Any]] = []
    previous_end = order.create_time  # the saga runs one step at a time
    for step in order.saga_steps:
        state = _name(order_pb2.SagaStepState, step.state, "SAGA_STEP_STATE_")
        timed = step.state in (
            order_pb2.SAGA_STEP_STATE_SUCCEEDED,
            order_pb2.SAGA_STEP_STATE_FAILED,
            order_pb2.SAGA_STEP_STATE_RUNNING,
        )
        start_ms = _after_ms(previous_end, order.create_time)
        entry: dict[str, Any] = {
            "step": _name(order_pb2.SagaStepKind, step.kind, "SAGA_STEP_KIND_"),
            "compensation": step.kind in COMPENSATIONS,
            "outcome": state,
            "attempts": step.attempts,
            "retries": max(0, step.attempts - 1),
            "last_error": step.last_error,
            "start_ms": start_ms if step.state != order_pb2.SAGA_STEP_STATE_PENDING else None,
            "duration_ms": None,
            "duration_at_most": False,  # the step before it has no known end
            "changed_ms": _after_ms(step.update_time, order.create_time)
            if step.HasField("update_time")
            else None,
        }
        if timed and step.state != order_pb2.SAGA_STEP_STATE_RUNNING:
            entry["duration_ms"] = _between_ms(previous_end, step.update_time)
            entry["duration_at_most"] = bool(shown) and shown[-1]["outcome"] == "COMPENSATED"
        if step.state == order_pb2.SAGA_STEP_STATE_COMPENSATED:
            entry["compensated_ms"] = entry.pop("changed_ms")
        if timed:
            previous_end = step.update_time
        shown.append(entry)
    return shown


def _rejection(order: order_pb2.Order) -> dict[str, str] | None:
    if order.status != order_pb2.ORDER_STATUS_REJECTED:
        return None
    return {
        "reason": _name(order_pb2.RejectionReason, order.rejection_reason, "REJECTION_REASON_"),
        "meaning": REJECTIONS.get(order.rejection_reason, "not given"),
        "detail": order.rejection_detail,
    }


def _event(record: audit_record_pb2.AuditRecord, placed: Timestamp) -> dict[str, Any]:
    event = record.event
    return {
        "after_ms": _after_ms(event.time, placed),
        "time": _iso(event.time),
        "stream": record.stream,
        "stream_sequence": record.stream_sequence,
        "nats_subject": nats_subject(event.type),
        "type": event.type,
        "aggregate": event.subject,
        "source": event.source.removeprefix("//").removesuffix(".shop.local"),
        "audit_sequence": record.sequence,
    }


def render(shown: dict[str, Any]) -> str:
    lines = [
        f"Order {shown['order_id']}  {shown['status']}  customer {shown['customer_id']}  "
        f"total {shown['total']}",
        f"Placed {shown['placed']}; last change at +{shown['last_change_ms']:.0f} ms.",
    ]
    lines += [f"  {line['quantity']} x {line['sku']}  {line['name']}" for line in shown["lines"]]
    rejection = shown["rejection"]
    if rejection:
        lines.append(
            f"Rejected: {rejection['reason']} ({rejection['meaning']}). {rejection['detail']}"
        )
    lines += ["", "Saga (times after the order was placed):"]
    if not shown["steps"]:
        lines.append("  no step has run yet")
    else:
        lines.append(
            f"  {'STEP':<28}{'OUTCOME':<13}{'START':>10}{'TOOK':>11}{'ATTEMPTS':>10}  NOTE"
        )
    for step in shown["steps"]:
        name = step["step"].lower().replace("_", " ")
        name = f"undo: {name}" if step["compensation"] else name
        took = "-" if step["duration_ms"] is None else f"{step['duration_ms']:.0f} ms"
        took = f"<={took}" if step["duration_at_most"] else took
        start = "-" if step["start_ms"] is None else f"+{step['start_ms']:.0f} ms"
        notes = [f"{step['retries']} retries"] if step["retries"] else []
        notes += [f"last error {step['last_error']}"] if step["last_error"] else []
        if "compensated_ms" in step:
            notes.append(f"undone at +{step['compensated_ms']:.0f} ms")
        lines.append(
            f"  {name:<28}{step['outcome'].lower():<13}{start:>10}{took:>11}"
            f"{step['attempts']:>10}  {'; '.join(notes)}".rstrip()
        )
    lines += ["", "Events it caused (the audit log):"]
    if shown.get("events_unavailable"):
        lines.append(f"  unavailable: {shown['events_unavailable']}")
    elif not shown["events"]:
        lines.append("  none recorded yet")
    else:
        lines.append(f"  {'AFTER':>9}  {'STREAM':<16}{'SUBJECT':<38}{'TYPE':<40}AGGREGATE")
    for event in shown["events"]:
        where = f"{event['stream']} #{event['stream_sequence']}"
        lines.append(
            f"  {event['after_ms']:>6.0f} ms  {where:<16}{event['nats_subject']:<38}"
            f"{event['type']:<40}{event['aggregate']}"
        )
    return "\n".join(lines)


# --- small conversions --------------------------------------------------------------------
def _name(enum: Any, value: int, prefix: str) -> str:
    return str(enum.Name(value)).removeprefix(prefix)


def _between_ms(start: Timestamp, end: Timestamp) -> float:
    nanos = (end.seconds - start.seconds) * 1_000_000_000 + (end.nanos - start.nanos)
    return round(nanos / 1e6, 1)


def _after_ms(moment: Timestamp, placed: Timestamp) -> float:
    return _between_ms(placed, moment)


def _iso(moment: Timestamp) -> str:
    return moment.ToDatetime(datetime.UTC).isoformat(timespec="milliseconds")


def _money(money: Any) -> str:
    digits = 0 if money.currency_code == "JPY" else 2  # the only currency offered without cents
    return f"{money.currency_code} {money.amount_minor / 10**digits:.{digits}f}"
