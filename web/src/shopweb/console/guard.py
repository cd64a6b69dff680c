"""Every console page is for administrators: an anonymous visitor is sent to sign in, a
customer is refused with a 403 page. The claims only decide what to show; the gateway
still checks the token on every admin API call, and a token it refuses (expired, signed
by someone else) sends the visitor to sign in again."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps

from starlette.requests import Request
from starlette.responses import Response

from shopweb.app import render
from shopweb.gateway import ApiError
from shopweb.session import sign_in_redirect, visitor

Handler = Callable[[Request], Awaitable[Response]]
UNAUTHENTICATED = 401
FORBIDDEN = 403


def forbidden(request: Request) -> Response:
    return render(request, "console/forbidden.html", status_code=FORBIDDEN)


def admin_only(handler: Handler) -> Handler:
    @wraps(handler)
    async def guarded(request: Request) -> Response:
        who = visitor(request)
        if not who.signed_in:
            return sign_in_redirect(request)
        if not who.admin:
            return forbidden(request)
        try:
            return await handler(request)
        except ApiError as error:
            if error.status == UNAUTHENTICATED:
                return sign_in_redirect(request)
            if error.status == FORBIDDEN:
                return forbidden(request)
            raise

    return guarded


def token(request: Request) -> str:
    """The signed-in admin's token (admin_only made sure there is one)."""
    found = visitor(request).token
    assert found is not None
    return found
