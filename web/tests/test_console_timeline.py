"""An order's saga timeline: steps in the order they ran with timing, retries and
compensations; the events of the order's aggregates and of their correlation ids; the
correlation id and command that find the logs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from test_console_fakes import FakeGateway, console

from shopweb.console import timeline

ORDER_ID = "1ff7480c-557c-5a49-b284-67fbe5653345"
PAYMENT_ID = "47e31ed7-76e9-4f17-b0be-f66a30da4b21"
RESERVATION_ID = "6a8389e9-5ee3-490b-b305-128eac9da0c0"
PLACING = "04bc3698-9ef2-498a-b4bf-40727b3e206e"
AUTHORIZING = "2028e469-b9f1-47c0-849c-9111c5e7d68a"


def step(kind: str, state: str, at: str, attempts: int = 1, error: str = "") -> dict[str, Any]:
    return {
        "kind": f"SAGA_STEP_KIND_{kind}",
        "state": f"SAGA_STEP_STATE_{state}",
        "attempts": attempts,
        "last_error": error,
        "update_time": f"2026-12-03T10:00:00.{at}Z",
    }


# Out of stock after the payment was authorized: the authorization is voided.
ORDER: dict[str, Any] = {
    "order_id": ORDER_ID,
    "customer_id": "ada",
    "status": "ORDER_STATUS_REJECTED",
    "rejection_reason": "REJECTION_REASON_OUT_OF_STOCK",
    "rejection_detail": "BK-BIRDS-EUROPE: 0 available",
    "total": {"currency_code": "EUR", "amount_minor": "3439"},
    "lines": [{"sku": "BK-BIRDS-EUROPE", "name": "Birds", "quantity": 1}],
    "payment_id": PAYMENT_ID,
    "reservation_id": "",
    "saga_steps": [
        step("AUTHORIZE_PAYMENT", "COMPENSATED", "400", attempts=3, error="UNAVAILABLE: flaky"),
        step("RESERVE_STOCK", "FAILED", "300", error="FAILED_PRECONDITION: OUT_OF_STOCK"),
        step("VOID_AUTHORIZATION", "SUCCEEDED", "400"),
    ],
    "create_time": "2026-12-03T10:00:00.000Z",
    "update_time": "2026-12-03T10:00:00.450Z",
}


def record(sequence: int, kind: str, subject: str, at: str, correlation: str) -> dict[str, Any]:
    context = kind.split(".")[1]
    return {
        "sequence": str(sequence),
        "stream": context.upper(),
        "stream_sequence": str(sequence),
        "record_hash": "AAAA",
        "event": {
            "id": f"00000000-0000-4000-8000-{sequence:012d}",
            "source": f"//{context}.shop.local",
            "spec_version": "1.0",
            "type": kind,
            "subject": subject,
            "time": f"2026-12-03T10:00:00.{at}Z",
            "schema_version": 1,
            "correlation_id": correlation,
            "data": {"@type": f"type.googleapis.com/{kind}", "order_id": ORDER_ID},
        },
    }


PLACED = record(1, "shop.orders.v1.OrderPlaced", f"orders/{ORDER_ID}", "005", PLACING)
AUTHORIZED = record(
    2, "shop.payments.v1.PaymentAuthorized", f"payments/{PAYMENT_ID}", "150", AUTHORIZING
)
VOIDED = record(4, "shop.payments.v1.PaymentVoided", f"payments/{PAYMENT_ID}", "390", "void-1")
REJECTED = record(3, "shop.orders.v1.OrderRejected", f"orders/{ORDER_ID}", "420", "void-1")
MAILED = record(5, "shop.notifications.v1.NotificationSent", "notifications/n1", "430", "void-1")


def test_the_steps_come_in_the_order_they_ran_with_retries_and_compensation() -> None:
    shown = timeline.build(ORDER, [PLACED, AUTHORIZED], None)
    assert [s["title"] for s in shown["steps"]] == [
        "authorize payment",
        "reserve stock",
        "undo: void authorization",
    ]
    authorize, reserve, void = shown["steps"]
    assert (authorize["outcome"], authorize["retries"], authorize["compensated_ms"]) == (
        "COMPENSATED",
        2,
        400.0,
    )
    assert authorize["last_error"] == "UNAVAILABLE: flaky"
    assert reserve["duration_at_most"] is True  # the step before it ended when undone
    assert void["compensation"] is True
    assert shown["rejection"]["reason"] == "OUT_OF_STOCK"


def test_events_are_in_commit_order_and_each_step_gets_those_committed_while_it_ran() -> None:
    shown = timeline.build(ORDER, [REJECTED, AUTHORIZED, PLACED, VOIDED, PLACED], None)
    assert [e["type"].rsplit(".", 1)[1] for e in shown["events"]] == [
        "OrderPlaced",
        "PaymentAuthorized",
        "PaymentVoided",
        "OrderRejected",
    ]
    caused = [[shown["events"][i]["type"] for i in step] for step in shown["events_by_step"]]
    # The authorization was undone later, so the next step's end (300 ms) bounds it;
    # reserve stock (inventory) published nothing; the void (300 to 400 ms) its event.
    # OrderPlaced and OrderRejected are orders' own, no step's.
    assert caused == [
        ["shop.payments.v1.PaymentAuthorized"],
        [],
        ["shop.payments.v1.PaymentVoided"],
    ]


def test_the_placing_operation_comes_first_with_the_command_that_finds_its_logs() -> None:
    shown = timeline.build(ORDER, [REJECTED, AUTHORIZED, PLACED], Path("/tmp/my stack"))
    ids = [o["correlation_id"] for o in shown["operations"]]
    assert ids == [PLACING, AUTHORIZING, "void-1"]
    assert shown["operations"][0]["log_command"] == (
        f"shop logs --state-dir '/tmp/my stack' -n 100000 | grep -F {PLACING}"
    )
    assert shown["operations"][0]["caused"] == ["OrderPlaced"]


def test_without_a_stack_the_command_names_no_state_dir() -> None:
    assert timeline.log_command("abc", None) == "shop logs -n 100000 | grep -F abc"


def test_the_aggregates_are_the_order_and_what_it_names() -> None:
    assert timeline.aggregates(ORDER) == [f"orders/{ORDER_ID}", f"payments/{PAYMENT_ID}"]


def audit_events(request: httpx.Request) -> tuple[int, dict[str, Any]]:
    """The audit log's ListEvents: by subject, then by correlation id, in pages of one."""
    by = dict(request.url.params)
    found = {
        f"orders/{ORDER_ID}": [PLACED, REJECTED],
        f"payments/{PAYMENT_ID}": [AUTHORIZED, VOIDED],
    }.get(by.get("subject", ""), [])
    if by.get("correlation_id"):
        found = [
            r
            for r in (PLACED, AUTHORIZED, REJECTED, VOIDED, MAILED)
            if r["event"]["correlation_id"] == by["correlation_id"]
        ]
    start = int(by.get("page_token") or 0)
    more = start + 1 < len(found)
    return 200, {
        "records": found[start : start + 1],
        "next_page_token": str(start + 1) if more else "",
    }


def test_the_page_shows_every_step_in_order_and_the_events_across_streams() -> None:
    fake = FakeGateway(
        {
            ("GET", f"/v1/orders/{ORDER_ID}"): (200, {"order": ORDER}),
            ("GET", "/admin/v1/audit/events"): audit_events,
        }
    )
    with console(fake) as client:
        page = client.get(f"/console/orders/{ORDER_ID}")
    assert page.status_code == 200, page.text
    text = page.text
    positions = [
        text.index(f'data-step="{kind}"')
        for kind in ("AUTHORIZE_PAYMENT", "RESERVE_STOCK", "VOID_AUTHORIZATION")
    ]
    assert positions == sorted(positions)
    assert "2 retries" in text
    assert "undo: void authorization" in text
    assert "shop.notifications.v1.NotificationSent" in text  # found by correlation id
    assert f'data-testid="correlation-id">{PLACING}<' in text
    assert all(
        r.headers["authorization"] == fake.requests[0].headers["authorization"]
        for r in fake.requests
    )


def test_the_search_goes_to_the_timeline_and_refuses_what_is_no_order_id() -> None:
    with console(FakeGateway()) as client:
        found = client.get("/console/orders", params={"order_id": f" {ORDER_ID.upper()} "})
        refused = client.get("/console/orders", params={"order_id": "42"})
        missing = client.get(f"/console/orders/{ORDER_ID}")
    assert found.headers["location"] == f"/console/orders/{ORDER_ID}"
    assert refused.status_code == 400
    assert 'aria-invalid="true"' in refused.text
    assert missing.status_code == 404
    assert f"No order {ORDER_ID}." in missing.text


def test_without_the_audit_log_the_steps_still_show() -> None:
    fake = FakeGateway(
        {
            ("GET", f"/v1/orders/{ORDER_ID}"): (200, {"order": ORDER}),
            ("GET", "/admin/v1/audit/events"): (503, {"code": 14, "message": "no audit"}),
        }
    )
    with console(fake) as client:
        page = client.get(f"/console/orders/{ORDER_ID}")
    assert page.status_code == 200
    assert "Events unavailable: the audit log did not answer: no audit" in page.text
    assert 'data-step="RESERVE_STOCK"' in page.text


def test_a_pending_order_reloads_until_it_settles_and_a_settled_one_does_not() -> None:
    pending = ORDER | {"status": "ORDER_STATUS_PENDING", "saga_steps": []}
    fake = FakeGateway(
        {
            ("GET", f"/v1/orders/{ORDER_ID}"): (200, {"order": pending}),
            ("GET", "/admin/v1/audit/events"): (200, {"records": []}),
        }
    )
    with console(fake) as client:
        settling = client.get(f"/console/orders/{ORDER_ID}")
        fake.replies[("GET", f"/v1/orders/{ORDER_ID}")] = (200, {"order": ORDER})
        settled = client.get(f"/console/orders/{ORDER_ID}")
    assert "No step has run yet." in settling.text
    assert "data-reload-every-ms" in settling.text
    assert "data-reload-every-ms" not in settled.text
