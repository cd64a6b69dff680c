"""The order search and an order's saga timeline: GetOrder as an admin, then the audit
log's records of every aggregate the order names and of their correlation ids (what
consumers did on its events), as `shop order` finds them, through the admin API."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from shopweb.app import gateway, render
from shopweb.app import settings as web_settings
from shopweb.console import timeline
from shopweb.console.guard import admin_only, token
from shopweb.gateway import ApiError, Gateway

ORDER_ID = re.compile(r"^[0-9a-fA-F-]{36}$")
PAGE_SIZE = 100
NOT_FOUND = 404


@admin_only
async def search(request: Request) -> Response:
    order_id = request.query_params.get("order_id", "").strip()
    if not order_id:
        return render(request, "console/orders.html")
    if not ORDER_ID.match(order_id):
        return render(
            request,
            "console/orders.html",
            status_code=400,
            order_id=order_id,
            error="An order id is a UUID, like 6eb490b2-af5d-5ef6-a897-689d9f292d1c.",
        )
    return RedirectResponse(f"/console/orders/{quote(order_id.lower())}", status_code=303)


@admin_only
async def show(request: Request) -> Response:
    order_id = request.path_params["order_id"]
    api = gateway(request)
    try:
        reply = await api.get(f"/v1/orders/{quote(order_id)}", token(request))
    except ApiError as error:
        if error.status not in (400, NOT_FOUND):
            raise
        return render(
            request,
            "console/orders.html",
            status_code=NOT_FOUND,
            order_id=order_id,
            error=f"No order {order_id}.",
        )
    order: dict[str, Any] = reply["order"]
    records, unavailable = await _records(api, token(request), order)
    settings = web_settings(request)
    shown = timeline.build(order, records, settings.stack_state_dir)
    return render(
        request, "console/order.html", order=order, shown=shown, events_unavailable=unavailable
    )


async def _records(
    api: Gateway, bearer: str, order: dict[str, Any]
) -> tuple[list[dict[str, Any]], str]:
    """The order's audit records, and why there are none when audit did not answer."""
    found: list[dict[str, Any]] = []
    try:
        for subject in timeline.aggregates(order):
            found += await _all(api, bearer, {"subject": subject})
        for correlation_id in timeline.correlation_ids(found):
            found += await _all(api, bearer, {"correlation_id": correlation_id})
    except ApiError as error:
        return [], f"the audit log did not answer: {error.message or error.status}"
    return found, ""


async def _all(api: Gateway, bearer: str, query: dict[str, str]) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    params: dict[str, Any] = {**query, "page_size": PAGE_SIZE}
    while len(records) < timeline.MAX_RECORDS:
        reply = await api.get("/admin/v1/audit/events", bearer, params=params)
        records += reply.get("records", [])
        if not reply.get("next_page_token"):
            break
        params["page_token"] = reply["next_page_token"]
    return records
