"""The audit chain: browse the log (ListEvents, filtered and paged) and verify it
(VerifyChain), with the verdict said plainly, as `shop audit verify` says it."""

from __future__ import annotations

import base64
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from shop.audit.v1 import audit_service_pb2 as audit_pb
from shoptools.stack import audit as stack_audit
from shopweb.app import gateway, render
from shopweb.console import forms
from shopweb.console.guard import admin_only, token
from shopweb.gateway import INVALID_ARGUMENT, ApiError

FILTERS = ("subject", "type", "correlation_id")
RANGE = ("from_sequence", "to_sequence")
PAGE_SIZE = 25


@admin_only
async def browse(request: Request) -> Response:
    query = {name: request.query_params.get(name, "").strip() for name in FILTERS}
    params: dict[str, Any] = {name: value for name, value in query.items() if value}
    params["page_size"] = PAGE_SIZE
    page_token = request.query_params.get("page_token", "")
    if page_token:
        params["page_token"] = page_token
    try:
        reply = await gateway(request).get("/admin/v1/audit/events", token(request), params=params)
    except ApiError as error:
        if error.code != INVALID_ARGUMENT:
            raise
        return render(
            request,
            "console/audit.html",
            status_code=400,
            query=query,
            records=[],
            errors=forms.place(error.fields, FILTERS),
        )
    return render(
        request,
        "console/audit.html",
        query=query,
        records=[row(record) for record in reply.get("records", [])],
        next_page_token=reply.get("next_page_token", ""),
        first_page=not page_token,
        errors=forms.FormErrors(),
    )


def row(record: dict[str, Any]) -> dict[str, Any]:
    event = record.get("event", {})
    return {
        "sequence": record.get("sequence", ""),
        "stream": record.get("stream", ""),
        "stream_sequence": record.get("stream_sequence", ""),
        "type": event.get("type", ""),
        "subject": event.get("subject", ""),
        "source": str(event.get("source", "")).removeprefix("//").removesuffix(".shop.local"),
        "time": event.get("time", ""),
        "correlation_id": event.get("correlation_id", ""),
        "record_hash": hex_of(record.get("record_hash", "")),
    }


@admin_only
async def verify(request: Request) -> Response:
    bounds = {name: request.query_params.get(name, "").strip() for name in RANGE}
    if "run" not in request.query_params:
        return render(request, "console/verify.html", bounds=bounds, errors=forms.FormErrors())
    params = {name: value for name, value in bounds.items() if value}
    try:
        reply = await gateway(request).get("/admin/v1/audit/chain:verify", token(request), params)
    except ApiError as error:
        if error.code != INVALID_ARGUMENT:
            raise
        return render(
            request,
            "console/verify.html",
            status_code=400,
            bounds=bounds,
            errors=forms.place(error.fields, RANGE),
        )
    return render(
        request,
        "console/verify.html",
        bounds=bounds,
        verdict=verdict(reply),
        errors=forms.FormErrors(),
    )


def verdict(reply: dict[str, Any]) -> dict[str, Any]:
    """VerifyChain's answer in words: intact or where and how it is broken, and the head
    hash (hex, as `shop audit verify` prints it) to write down elsewhere."""
    intact = bool(reply.get("intact", False))
    checked = int(reply.get("records_checked", 0))
    head = f"#{reply.get('head_sequence', '0')} {hex_of(reply.get('head_hash', ''))}"
    if intact:
        return {
            "intact": True,
            "headline": f"Intact: {checked} records checked.",
            "detail": f"Head {head}. Keep it somewhere else: a later verify that ends at the "
            "same head proves the log up to there was not rewritten.",
        }
    because = reply.get("broken_because", "CHAIN_BREAK_UNSPECIFIED")
    meaning = stack_audit.BECAUSE.get(audit_pb.ChainBreak.Value(because), "broken")
    return {
        "intact": False,
        "headline": f"BROKEN at #{reply.get('first_broken_sequence', '?')}: {meaning}.",
        "detail": f"{checked} records verified before it; the last good one is {head}.",
    }


def hex_of(encoded: str) -> str:
    """A bytes field (base64 in the JSON) as hex."""
    return base64.b64decode(encoded).hex() if encoded else ""
