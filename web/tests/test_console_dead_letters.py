"""Dead letters in the console: listed as `shop dlq list` lists them, a payload shown
readably, and a redrive only after a confirmation, as `shop dlq redrive` does it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TextIO

import pytest
from test_console_fakes import console

from shop.common.v1 import event_pb2
from shoptools.stack import deadletters as stack_deadletters
from shoptools.topology import Topology
from shopweb.console.deadletters import describe_payload

LETTERS = [
    {
        "sequence": 3,
        "subscription": "payments-order-cancelled",
        "subject": "orders.order.cancelled",
        "event_type": "",
        "reason": "not an EventEnvelope: corrupt",
        "deliveries": 1,
        "time": "t",
    },
    {
        "sequence": 4,
        "subscription": "audit-orders",
        "subject": "orders.order.cancelled",
        "event_type": "",
        "reason": "not an EventEnvelope: corrupt",
        "deliveries": 1,
        "time": "t",
    },
]


@pytest.fixture
def stack_dlq(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """`shop dlq`'s functions over LETTERS; the subscriptions redriven, in order."""
    redriven: list[str] = []

    def show(topology: Topology, *, as_json: bool, out: TextIO) -> int:
        assert as_json
        print(json.dumps(LETTERS), file=out)
        return 0

    def redrive(topology: Topology, *, subscription: str | None, out: TextIO) -> int:
        redriven.append(str(subscription))
        print("redrove 3 to orders.order.cancelled\n1 dead letter(s) redriven.", file=out)
        return 0

    monkeypatch.setattr(stack_deadletters, "show", show)
    monkeypatch.setattr(stack_deadletters, "redrive", redrive)
    return redriven


def test_the_letters_are_listed_by_subscription(stack_dlq: list[str], tmp_path: Path) -> None:
    with console(stack_state_dir=tmp_path) as client:
        page = client.get("/console/dead-letters")
    assert page.status_code == 200
    assert '<a href="/console/dead-letters/3">3</a>' in page.text
    assert "/console/dead-letters/redrive?subscription=payments-order-cancelled" in page.text


def test_a_redrive_asks_first_and_happens_only_on_the_confirming_post(
    stack_dlq: list[str], tmp_path: Path
) -> None:
    with console(stack_state_dir=tmp_path) as client:
        asked = client.get(
            "/console/dead-letters/redrive", params={"subscription": "payments-order-cancelled"}
        )
        assert stack_dlq == []
        done = client.post(
            "/console/dead-letters/redrive", data={"subscription": "payments-order-cancelled"}
        )
    assert "Yes, redrive 1 letter" in asked.text
    assert '<form method="post" action="/console/dead-letters/redrive">' in asked.text
    assert stack_dlq == ["payments-order-cancelled"]
    assert done.status_code == 303  # reloading what follows must not redrive again
    assert done.headers["location"] == (
        "/console/dead-letters?redriven=payments-order-cancelled&count=1"
    )
    with console(stack_state_dir=tmp_path) as client:
        listed = client.get(done.headers["location"])
    assert (
        'data-testid="redriven">Redrove 1 letter of payments-order-cancelled: '
        "published again on its original subject.</p>"
    ) in listed.text


def test_when_nats_does_not_answer_the_page_says_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def unreachable(topology: Topology, *, as_json: bool, out: TextIO) -> int:
        raise SystemExit(1)

    monkeypatch.setattr(stack_deadletters, "show", unreachable)
    with console(stack_state_dir=tmp_path) as client:
        page = client.get("/console/dead-letters")
    assert page.status_code == 503
    assert "the stack&#39;s NATS does not answer" in page.text


def test_without_a_local_stack_the_page_says_it_needs_one() -> None:
    with console() as client:
        page = client.get("/console/dead-letters")
        letter = client.get("/console/dead-letters/3")
    assert "This view needs the local stack" in page.text
    assert "This view needs the local stack" in letter.text


def test_an_event_envelope_is_shown_as_json_without_unpacking_its_data() -> None:
    envelope = event_pb2.EventEnvelope(
        id="e-1", type="shop.orders.v1.OrderCancelled", subject="orders/o-1"
    )
    envelope.data.type_url = "type.googleapis.com/shop.orders.v1.OrderCancelled"
    envelope.data.value = b"\x0a\x03o-1"
    shown = describe_payload(envelope.SerializeToString())
    assert shown["kind"] == "event envelope"
    plain = json.loads(shown["text"])
    assert plain["subject"] == "orders/o-1"
    assert plain["data"] == {"@type": "type.googleapis.com/shop.orders.v1.OrderCancelled"}


def test_what_is_no_envelope_is_shown_as_bytes_cut_short() -> None:
    shown = describe_payload(b"\xff not an event envelope" * 500)
    assert shown["kind"] == "not an event envelope"
    assert shown["text"].startswith("b'\\xff not an event envelope")
    assert shown["text"].endswith("more bytes")
