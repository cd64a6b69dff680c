"""The emails the shop sent the customer, and whether it may send them: new customers have
email off (notifications' defaults), so their emails are recorded but not sent until they
give an address here."""

from __future__ import annotations

import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from shopweb.app import gateway
from shopweb.gateway import INVALID_ARGUMENT, ApiError
from shopweb.session import sign_in_redirect
from shopweb.storefront.orders import emails
from shopweb.storefront.pages import (
    answers_api_errors,
    customer,
    is_uuid,
    page,
)

PREFERENCES = "/v1/notification-preferences"
# Output-only fields of Preferences that SetPreferences ignores.
OUTPUT_ONLY = ("version", "update_time")


def routes() -> list[BaseRoute]:
    return [
        Route("/emails", _emails, name="storefront:emails"),
        Route(
            "/emails/preferences",
            _save_preferences,
            methods=["POST"],
            name="storefront:email-preferences",
        ),
    ]


async def preferences(request: Request, token: str | None) -> dict[str, Any]:
    found: dict[str, Any] = (await gateway(request).get(PREFERENCES, token=token)).get(
        "preferences", {}
    )
    return found


def field_errors(violations: dict[str, str]) -> dict[str, str]:
    """`preferences.email` is the form's `email`; anything else is about the whole form."""
    errors: dict[str, str] = {}
    for path, description in violations.items():
        name = "email" if path.removeprefix("preferences.") == "email" else "general"
        errors[name] = description
    return errors


@answers_api_errors
async def _emails(
    request: Request,
    errors: dict[str, str] | None = None,
    typed: dict[str, Any] | None = None,
) -> Response:
    signed_in = customer(request)
    if signed_in is None:
        return sign_in_redirect(request)
    current = await preferences(request, signed_in.token)
    errors = errors or {}
    return page(
        request,
        "emails.html",
        status_code=400 if errors else 200,
        emails=await emails(request, signed_in.token),
        preferences=current | (typed or {}),
        errors=errors,
        saved=request.query_params.get("saved") == "1",
        preferences_key=str(uuid.uuid4()),
    )


@answers_api_errors
async def _save_preferences(request: Request) -> Response:
    signed_in = customer(request)
    if signed_in is None:
        return sign_in_redirect(request)
    form = await request.form()
    typed = {
        "email_enabled": form.get("email_enabled") == "on",
        "email": str(form.get("email", "")).strip(),
    }
    # Read, change the email part, write: SMS and muted topics stay as the customer set them.
    current = await preferences(request, signed_in.token)
    wanted = {k: v for k, v in current.items() if k not in OUTPUT_ONLY} | typed
    key = str(form.get("idempotency_key", ""))
    body = {"idempotency_key": key if is_uuid(key) else str(uuid.uuid4()), "preferences": wanted}
    try:
        await gateway(request).put(PREFERENCES, body, token=signed_in.token)
    except ApiError as error:
        if error.code != INVALID_ARGUMENT:
            raise
        return await _emails(request, errors=field_errors(error.fields), typed=typed)
    return RedirectResponse("/shop/emails?saved=1", status_code=303)
