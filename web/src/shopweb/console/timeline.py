"""An order's saga timeline as the console shows it: what `shop order` computes
(shoptools.shop.order.timeline, from the order and its audit records), read from the
gateway's JSON, with each step's events (those committed while it ran), the correlation
ids of the order's operations and the command that finds their logs."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from google.protobuf import json_format

from shop.audit.v1 import audit_record_pb2
from shop.orders.v1 import order_pb2
from shoptools.shop import order as shop_order

# The audit search pages through at most this many records per query (as `shop order`).
MAX_RECORDS = shop_order.MAX_RECORDS
# The service each step calls: the events a step causes are that service's.
STEP_SERVICES = {
    "AUTHORIZE_PAYMENT": "payments",
    "CAPTURE_PAYMENT": "payments",
    "VOID_AUTHORIZATION": "payments",
    "RESERVE_STOCK": "inventory",
    "CONFIRM_RESERVATION": "inventory",
    "RELEASE_RESERVATION": "inventory",
    "CREATE_SHIPMENT": "shipping",
    "CANCEL_SHIPMENT": "shipping",
}


def order_from_json(order: dict[str, Any]) -> order_pb2.Order:
    return json_format.ParseDict(order, order_pb2.Order(), ignore_unknown_fields=True)


def record_from_json(record: dict[str, Any]) -> audit_record_pb2.AuditRecord:
    """An audit record without its event's payload: the timeline needs only the envelope,
    and the payload (an Any) would need every event type imported to parse."""
    event = {key: value for key, value in record.get("event", {}).items() if key != "data"}
    return json_format.ParseDict(
        {**record, "event": event}, audit_record_pb2.AuditRecord(), ignore_unknown_fields=True
    )


def aggregates(order: dict[str, Any]) -> list[str]:
    """The audit subjects of the order and of the payment, reservation and shipment it names."""
    return shop_order.aggregates(order_from_json(order))


def correlation_ids(records: list[dict[str, Any]]) -> list[str]:
    """The distinct correlation ids of the records, in audit order: the first is the
    operation that placed the order, later ones a cancellation's or a redrive's."""
    found: dict[str, None] = {}
    for record in sorted(records, key=lambda r: int(r.get("sequence", 0))):
        correlation_id = str(record.get("event", {}).get("correlation_id", ""))
        if correlation_id:
            found.setdefault(correlation_id)
    return list(found)


def build(
    order: dict[str, Any], records: list[dict[str, Any]], state_dir: Path | None
) -> dict[str, Any]:
    """`shop order`'s timeline, its events in the order they were committed, with where
    each step's and each operation's logs are."""
    unique = {int(record["sequence"]): record for record in records if "sequence" in record}
    ordered = [unique[sequence] for sequence in sorted(unique)]
    shown = shop_order.timeline(order_from_json(order), [record_from_json(r) for r in ordered])
    correlation_by_sequence = {
        int(r["sequence"]): str(r.get("event", {}).get("correlation_id", "")) for r in ordered
    }
    for event in shown["events"]:
        event["correlation_id"] = correlation_by_sequence.get(event["audit_sequence"], "")
    shown["events"].sort(key=lambda event: event["after_ms"])
    shown["events_by_step"] = events_by_step(shown["steps"], shown["events"])
    for step, caused in zip(shown["steps"], shown["events_by_step"], strict=True):
        step["title"] = step_title(step)
        ids = dict.fromkeys(shown["events"][i]["correlation_id"] for i in caused)
        step["operations"] = [operation(c, state_dir) for c in ids if c]
    shown["operations"] = [
        operation(correlation_id, state_dir, kinds(shown["events"], correlation_id))
        for correlation_id in correlation_ids(ordered)
    ]
    return shown


def kinds(events: list[dict[str, Any]], correlation_id: str) -> list[str]:
    """The short names of the event types one operation caused."""
    found = [e["type"].rsplit(".", 1)[-1] for e in events if e["correlation_id"] == correlation_id]
    return list(dict.fromkeys(found))


def operation(
    correlation_id: str, state_dir: Path | None, caused: list[str] | None = None
) -> dict[str, Any]:
    return {
        "correlation_id": correlation_id,
        "log_command": log_command(correlation_id, state_dir),
        "caused": caused or [],
    }


def step_title(step: dict[str, Any]) -> str:
    name = str(step["step"]).lower().replace("_", " ")
    return f"undo: {name}" if step["compensation"] else name


def events_by_step(steps: list[dict[str, Any]], events: list[dict[str, Any]]) -> list[list[int]]:
    """For each step, the positions in `events` of those it caused: published by the
    service the step calls, and committed while the step ran (after the step before it
    ended, at or before its own end; a step undone later has no end of its own, so the
    next known end bounds it). A pending or running step gets none."""
    ends = [_end(step) for step in steps]
    placed: list[list[int]] = []
    for position, step in enumerate(steps):
        start = step["start_ms"]
        end = next((e for e in ends[position:] if e is not None), None)
        if start is None or end is None or (ends[position] is None and not _undone(step)):
            placed.append([])
            continue
        placed.append(
            [
                i
                for i, event in enumerate(events)
                if start < event["after_ms"] <= end
                and event["source"] == STEP_SERVICES.get(step["step"])
            ]
        )
    return placed


def _end(step: dict[str, Any]) -> float | None:
    if step["start_ms"] is None or step["duration_ms"] is None:
        return None
    return float(step["start_ms"] + step["duration_ms"])


def _undone(step: dict[str, Any]) -> bool:
    return bool(step["outcome"] == "COMPENSATED")


def log_command(correlation_id: str, state_dir: Path | None) -> str:
    """The shell command that finds an operation's log lines in every component's log."""
    where = f" --state-dir {shlex.quote(str(state_dir))}" if state_dir else ""
    return f"shop logs{where} -n 100000 | grep -F {shlex.quote(correlation_id)}"
