"""Stock adjustment: a SKU's stock level now, and AdjustStock (goods received, counted,
damaged) as a form, with the API's refusals shown on the fields they concern."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from shopweb.app import gateway
from shopweb.console import forms
from shopweb.console.guard import admin_only, token
from shopweb.gateway import ApiError, Gateway

INPUTS = ("sku", "delta", "reason")
# Refusals that are about one input though the API names no field (FAILED_PRECONDITION).
REASON_INPUTS = {"ADJUSTMENT_BELOW_RESERVED": "delta"}
REFUSALS = (400, 404, 409)


@admin_only
async def show(request: Request) -> Response:
    sku = request.query_params.get("sku", "").strip().upper()
    level = await _level(gateway(request), sku) if sku else None
    return _page(request, {"sku": sku}, forms.FormErrors(), level=level)


@admin_only
async def adjust(request: Request) -> Response:
    form = await request.form()
    values = {name: forms.text(form, name) for name in INPUTS}
    values["sku"] = values["sku"].upper()
    errors = forms.FormErrors()
    if not values["sku"]:
        errors.by_field["sku"] = "which SKU?"
    delta = forms.whole_number(form, "delta", errors)
    if errors:
        return _page(request, values, errors, status_code=400)
    body = {
        "idempotency_key": forms.text(form, "idempotency_key") or str(uuid.uuid4()),
        "delta": delta,
        "reason": values["reason"],
    }
    try:
        reply = await gateway(request).post(
            f"/admin/v1/stock/{quote(values['sku'], safe='')}:adjust", body, token(request)
        )
    except ApiError as error:
        if error.status not in REFUSALS:
            raise
        return _page(request, values, refusal(error), status_code=error.status)
    level: dict[str, Any] = reply.get("stock_level", {})
    sku = level.get("sku", values["sku"])
    done = f"Adjusted {sku} by {delta:+d}: {level.get('on_hand', 0)} on hand."
    return _page(request, {"sku": values["sku"]}, errors, level=level, done=done)


def refusal(error: ApiError) -> forms.FormErrors:
    """The API's refusal on the form: field violations on their inputs, a precondition
    on the input it is about, anything else above the form."""
    if error.fields:
        return forms.place(error.fields, INPUTS)
    placed = forms.FormErrors()
    if error.reason in REASON_INPUTS:
        placed.by_field[REASON_INPUTS[error.reason]] = error.message
    else:
        placed.general.append(error.message or f"refused ({error.status})")
    return placed


async def _level(api: Gateway, sku: str) -> dict[str, Any] | None:
    try:
        reply = await api.get(f"/v1/stock/{quote(sku, safe='')}")
    except ApiError as error:
        if error.status in REFUSALS:
            return None
        raise
    level: dict[str, Any] = reply.get("stock_level", {})
    return level


def _page(
    request: Request,
    values: dict[str, str],
    errors: forms.FormErrors,
    status_code: int = 200,
    **shown: Any,
) -> Response:
    """The page; `shown`: the stock `level` now, and what was `done`."""
    return forms.page(request, "console/stock.html", values, errors, status_code, **shown)
