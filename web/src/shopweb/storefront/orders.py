"""After checkout: an order with its status updating live (through PENDING to CONFIRMED or
REJECTED with the reason in words), cancelling it while allowed, the order history, and the
emails the shop sent. Another customer's order is NOT_FOUND, shown as a 404 page."""

from __future__ import annotations

import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from shopweb.app import gateway, settings
from shopweb.gateway import FAILED_PRECONDITION, INVALID_ARGUMENT, ApiError
from shopweb.session import sign_in_redirect
from shopweb.storefront.consistency import consistency_token, remember_consistency_token
from shopweb.storefront.pages import (
    answers_api_errors,
    customer,
    is_uuid,
    not_found,
    page,
)
from shopweb.storefront.wording import UNSETTLED_STATUSES

HISTORY_PAGE_SIZE = 20
EMAILS_PAGE_SIZE = 50
# The order's own emails: the "received" one at once, then the outcome's.
SETTLED_EMAILS = 2
MAX_CANCEL_REASON = 500


def routes() -> list[BaseRoute]:
    return [
        Route("/orders", _history, name="storefront:orders"),
        Route("/orders/{order_id}", _order, name="storefront:order"),
        Route("/orders/{order_id}/live", _live, name="storefront:order-live"),
        Route(
            "/orders/{order_id}/cancel", _cancel, methods=["POST"], name="storefront:order-cancel"
        ),
    ]


def cancellable(order: dict[str, Any]) -> bool:
    """What CancelOrder would accept and change: a PENDING order without a queued cancel,
    or a CONFIRMED one not yet dispatched."""
    status = order.get("status")
    if status == "ORDER_STATUS_PENDING":
        return not order.get("cancel_requested", False)
    return (
        status == "ORDER_STATUS_CONFIRMED"
        and not order.get("tracking_number")
        and order.get("delivery_status") != "DELIVERY_STATUS_DISPATCHED"
    )


def settled(order: dict[str, Any], emails: list[dict[str, Any]]) -> bool:
    """Nothing more will change on its own: the page stops asking."""
    return (
        order.get("status") not in UNSETTLED_STATUSES
        and len(emails) >= SETTLED_EMAILS
        and all(email.get("status") != "NOTIFICATION_STATUS_PENDING" for email in emails)
    )


async def get_order(request: Request, order_id: str, token: str | None) -> dict[str, Any]:
    params = {"consistency_token": consistency_token(request, order_id)}
    try:
        answer = await gateway(request).get(f"/v1/orders/{order_id}", token=token, params=params)
    except ApiError as error:
        if error.code != INVALID_ARGUMENT or not params["consistency_token"]:
            raise
        # A token the API no longer reads (say, from before a deploy): the order without it.
        answer = await gateway(request).get(f"/v1/orders/{order_id}", token=token)
    order: dict[str, Any] = answer["order"]
    return order


async def emails(
    request: Request, token: str | None, order_id: str | None = None
) -> list[dict[str, Any]]:
    """The customer's emails, newest first; with `order_id`, only that order's."""
    answer = await gateway(request).get(
        "/v1/notifications",
        token=token,
        params={"page_size": EMAILS_PAGE_SIZE, "channel": "CHANNEL_EMAIL"},
    )
    found: list[dict[str, Any]] = answer.get("notifications", [])
    if order_id is not None:
        found = [email for email in found if email.get("order_id") == order_id]
    return found


async def _order_state(
    request: Request, template: str, status_code: int = 200, **context: Any
) -> Response:
    signed_in = customer(request)
    if signed_in is None:
        return sign_in_redirect(request)
    order_id = request.path_params["order_id"]
    if not is_uuid(order_id):
        return not_found(request, "order")
    order = await get_order(request, order_id, signed_in.token)
    sent = await emails(request, signed_in.token, order_id)
    return page(
        request,
        template,
        status_code=status_code,
        order=order,
        emails=sent,
        settled=settled(order, sent),
        cancellable=cancellable(order),
        **context,
    )


@answers_api_errors
async def _order(request: Request) -> Response:
    return await _order_state(
        request,
        "order.html",
        cancel_key=str(uuid.uuid4()),
        cancel_problem=request.query_params.get("cancel") == "refused",
    )


@answers_api_errors
async def _live(request: Request) -> Response:
    """The part of the order page that changes, for the page's script to swap in."""
    response = await _order_state(request, "order_live.html")
    response.headers["cache-control"] = "no-store"
    return response


@answers_api_errors
async def _cancel(request: Request) -> Response:
    signed_in = customer(request)
    if signed_in is None:
        return sign_in_redirect(request)
    order_id = request.path_params["order_id"]
    if not is_uuid(order_id):
        return not_found(request, "order")
    form = await request.form()
    key = str(form.get("idempotency_key", ""))
    body: dict[str, Any] = {"idempotency_key": key if is_uuid(key) else str(uuid.uuid4())}
    if reason := str(form.get("reason", "")).strip()[:MAX_CANCEL_REASON]:
        body["reason"] = reason
    try:
        answer = await gateway(request).post(
            f"/v1/orders/{order_id}:cancel", body, token=signed_in.token
        )
    except ApiError as error:
        if error.code != FAILED_PRECONDITION:
            raise
        return RedirectResponse(f"/shop/orders/{order_id}?cancel=refused", status_code=303)
    response = RedirectResponse(f"/shop/orders/{order_id}", status_code=303)
    remember_consistency_token(
        response,
        order_id,
        answer.get("consistency_token", ""),
        secure=settings(request).secure_cookies,
    )
    return response


@answers_api_errors
async def _history(request: Request) -> Response:
    signed_in = customer(request)
    if signed_in is None:
        return sign_in_redirect(request)
    page_token = request.query_params.get("page_token", "")
    params = {
        "page_size": HISTORY_PAGE_SIZE,
        "page_token": page_token,
        # Only the first page need show the customer's latest change.
        "consistency_token": "" if page_token else consistency_token(request),
    }
    try:
        answer = await gateway(request).get("/v1/orders", token=signed_in.token, params=params)
    except ApiError as error:
        if error.reason != "VIEW_NOT_CAUGHT_UP":
            raise
        return page(request, "orders.html", updating=True, orders=[], next_page_token="")
    return page(
        request,
        "orders.html",
        updating=False,
        orders=answer.get("orders", []),
        next_page_token=answer.get("next_page_token", ""),
        first_page=not page_token,
    )
