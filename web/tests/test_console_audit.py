"""The audit chain: browsing the log page by page with filters, and the verdict of a
verification said plainly."""

from __future__ import annotations

import base64

from test_console_fakes import FakeGateway, bad_request, console

from shopweb.console import audit

HEAD = bytes(range(32))
HEAD_B64 = base64.b64encode(HEAD).decode()


def test_an_intact_chain_says_so_with_the_head_to_keep() -> None:
    shown = audit.verdict(
        {
            "intact": True,
            "records_checked": "46",
            "head_sequence": "46",
            "head_hash": HEAD_B64,
            "first_broken_sequence": "0",
            "broken_because": "CHAIN_BREAK_UNSPECIFIED",
        }
    )
    assert shown["intact"] is True
    assert shown["headline"] == "Intact: 46 records checked."
    assert f"#46 {HEAD.hex()}" in shown["detail"]


def test_a_broken_chain_names_the_first_broken_record_and_how() -> None:
    shown = audit.verdict(
        {
            "intact": False,
            "records_checked": "11",
            "first_broken_sequence": "12",
            "head_sequence": "11",
            "head_hash": HEAD_B64,
            "broken_because": "CHAIN_BREAK_RECORD_ALTERED",
        }
    )
    assert shown["intact"] is False
    assert shown["headline"] == "BROKEN at #12: altered."
    assert "11 records verified before it" in shown["detail"]


def test_the_verify_page_runs_only_when_asked_and_shows_the_verdict() -> None:
    reply = {"intact": True, "records_checked": "3", "head_sequence": "3", "head_hash": HEAD_B64}
    fake = FakeGateway({("GET", "/admin/v1/audit/chain:verify"): (200, reply)})
    with console(fake) as client:
        form = client.get("/console/audit/verify")
        page = client.get(
            "/console/audit/verify", params={"run": "1", "from_sequence": "2", "to_sequence": ""}
        )
    assert dict(fake.requests[0].url.params) == {"from_sequence": "2"}
    assert len(fake.requests) == 1  # the form alone verifies nothing
    assert 'data-testid="verdict"' not in form.text
    verdict = 'data-testid="verdict">Intact: 3 records checked.</p>'
    assert f'class="verdict verdict-intact" role="status" {verdict}' in page.text


def test_a_range_the_api_refuses_is_said() -> None:
    refusal = bad_request(("", "to_sequence must not be before from_sequence"))
    fake = FakeGateway({("GET", "/admin/v1/audit/chain:verify"): refusal})
    with console(fake) as client:
        page = client.get(
            "/console/audit/verify", params={"run": "1", "from_sequence": "5", "to_sequence": "2"}
        )
    assert page.status_code == 400
    assert "to_sequence must not be before from_sequence" in page.text


def test_the_log_is_browsed_with_filters_and_pages() -> None:
    record = {
        "sequence": "7",
        "stream": "ORDERS",
        "stream_sequence": "3",
        "record_hash": HEAD_B64,
        "event": {
            "type": "shop.orders.v1.OrderPlaced",
            "subject": "orders/o-1",
            "source": "//orders.shop.local",
            "time": "2026-12-03T10:00:00Z",
            "correlation_id": "c-1",
        },
    }
    fake = FakeGateway(
        {
            ("GET", "/admin/v1/audit/events"): (
                200,
                {"records": [record], "next_page_token": "tok=2"},
            )
        }
    )
    with console(fake) as client:
        page = client.get(
            "/console/audit", params={"type": "shop.orders.v1.OrderPlaced", "subject": ""}
        )
    assert dict(fake.requests[0].url.params) == {
        "type": "shop.orders.v1.OrderPlaced",
        "page_size": "25",
    }
    assert '<a href="/console/orders/o-1">orders/o-1</a>' in page.text
    assert "page_token=tok%3D2" in page.text
    assert HEAD.hex()[:12] in page.text


def test_a_filter_the_api_refuses_is_shown_on_its_field() -> None:
    fake = FakeGateway(
        {("GET", "/admin/v1/audit/events"): bad_request(("type", "does not match regex"))}
    )
    with console(fake) as client:
        page = client.get("/console/audit", params={"type": "nope"})
    assert page.status_code == 400
    assert '<p id="type-error" class="field-error">does not match regex</p>' in page.text
