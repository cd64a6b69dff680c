"""What every storefront page shares: its layout's context (the cart's size, how money and
statuses read), sign-in for the pages that need it, and the API's refusals as pages."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Concatenate, ParamSpec

import httpx
from starlette.requests import Request
from starlette.responses import Response

from shopweb.app import render
from shopweb.gateway import (
    NOT_FOUND,
    PERMISSION_DENIED,
    RESOURCE_EXHAUSTED,
    UNAUTHENTICATED,
    ApiError,
)
from shopweb.session import Visitor, sign_in_redirect, visitor
from shopweb.storefront import wording
from shopweb.storefront.cart import read_cart
from shopweb.storefront.images import PictureCache
from shopweb.storefront.money import format_money, from_api

log = logging.getLogger(__name__)

P = ParamSpec("P")

# google.rpc.Code values the pages tell apart.


def is_uuid(text: str) -> bool:
    """Order ids and idempotency keys are UUIDs; anything else is not worth an API call."""
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def money(value: dict[str, Any] | None) -> str:
    return format_money(from_api(value))


def page(request: Request, template: str, status_code: int = 200, **context: Any) -> Response:
    return render(
        request,
        f"storefront/{template}",
        status_code=status_code,
        cart_units=read_cart(request).units,
        money=money,
        wording=wording,
        **context,
    )


def not_found(request: Request, what: str = "page") -> Response:
    return page(request, "not_found.html", status_code=404, what=what)


def customer(request: Request) -> Visitor | None:
    """The signed-in person, or None: the caller then answers sign_in_redirect()."""
    found = visitor(request)
    return found if found.signed_in else None


def pictures(request: Request) -> PictureCache:
    """One cache per app, made on first use."""
    state = request.app.state
    if not hasattr(state, "storefront_pictures"):
        state.storefront_pictures = PictureCache()
    found: PictureCache = state.storefront_pictures
    return found


def api_error_page(request: Request, error: ApiError) -> Response:
    if error.code == NOT_FOUND:
        path = request.url.path
        return not_found(request, "order" if "/orders/" in path else "product")
    if error.code == UNAUTHENTICATED:
        return sign_in_redirect(request)
    if error.code == PERMISSION_DENIED:
        return page(request, "error.html", status_code=403, problem="You may not see this page.")
    if error.code == RESOURCE_EXHAUSTED or error.status == 429:
        problem = "The shop is busy right now. Please try again in a moment."
        return page(request, "error.html", status_code=503, problem=problem)
    log.warning("the API refused %s %s: %s", request.method, request.url.path, error)
    problem = "The shop could not answer just now. Please try again in a moment."
    return page(request, "error.html", status_code=502, problem=problem)


def answers_api_errors(
    endpoint: Callable[Concatenate[Request, P], Awaitable[Response]],
) -> Callable[Concatenate[Request, P], Awaitable[Response]]:
    """An endpoint whose unexpected API refusals and unreachable gateway become pages
    (404, sign in, 'try again') instead of a server error."""

    async def wrapped(request: Request, /, *args: P.args, **kwargs: P.kwargs) -> Response:
        try:
            return await endpoint(request, *args, **kwargs)
        except ApiError as error:
            return api_error_page(request, error)
        except httpx.HTTPError as error:
            log.warning("the gateway is unreachable: %s", error)
            problem = "The shop is unreachable right now. Please try again in a moment."
            return page(request, "error.html", status_code=503, problem=problem)

    return wrapped
