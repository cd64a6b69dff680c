"""The consistency token of the customer's last change (PlaceOrder, CancelOrder), kept for
a short while in a cookie so the next pages read at least that state of the order."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

COOKIE = "shop_consistency"
# The order-history projection catches up within seconds; after that the token is moot.
MAX_AGE_S = 120
SEPARATOR = "~"


def remember_consistency_token(
    response: Response, order_id: str, token: str, *, secure: bool
) -> None:
    if not token:
        return
    response.set_cookie(
        COOKIE,
        f"{order_id}{SEPARATOR}{token}",
        max_age=MAX_AGE_S,
        httponly=True,
        samesite="lax",
        secure=secure,
        path="/shop",
    )


def consistency_token(request: Request, order_id: str | None = None) -> str:
    """The remembered token; with `order_id`, only if it is that order's."""
    order, _, token = request.cookies.get(COOKIE, "").partition(SEPARATOR)
    if not token or (order_id is not None and order != order_id):
        return ""
    return token
