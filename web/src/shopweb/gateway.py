"""The gateway's REST API as the pages call it: JSON in and out, the signed-in person's
bearer token, and the gateway's error body (google.rpc.Status) as a typed error whose
field violations a form can show beside its fields."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

TIMEOUT_S = 10.0
# google.rpc.Code values the pages tell apart (ApiError.code)
INVALID_ARGUMENT = 3
NOT_FOUND = 5
PERMISSION_DENIED = 7
RESOURCE_EXHAUSTED = 8
FAILED_PRECONDITION = 9
UNAUTHENTICATED = 16


@dataclass
class ApiError(Exception):
    """A refusal from the API: HTTP status, gRPC code (google.rpc.Code), message, the
    ErrorInfo reason, and for INVALID_ARGUMENT each offending field (its path) with why."""

    status: int
    code: int
    message: str
    reason: str = ""
    fields: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}"


class Gateway:
    def __init__(self, base_url: str, transport: httpx.AsyncBaseTransport | None = None):
        self._client = httpx.AsyncClient(base_url=base_url, timeout=TIMEOUT_S, transport=transport)

    async def close(self) -> None:
        await self._client.aclose()

    async def get(
        self, path: str, token: str | None = None, params: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return await self._call("GET", path, token, params=params)

    async def post(
        self, path: str, body: dict[str, Any], token: str | None = None
    ) -> dict[str, Any]:
        return await self._call("POST", path, token, json=body)

    async def put(
        self, path: str, body: dict[str, Any], token: str | None = None
    ) -> dict[str, Any]:
        return await self._call("PUT", path, token, json=body)

    async def _call(
        self, method: str, path: str, token: str | None, **kwargs: Any
    ) -> dict[str, Any]:
        headers = {"accept": "application/json"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        response = await self._client.request(method, path, headers=headers, **kwargs)
        if response.is_success:
            body: dict[str, Any] = response.json()
            return body
        raise api_error(response)


def api_error(response: httpx.Response) -> ApiError:
    """The gateway's error body read into an ApiError; a body that is not JSON (an Envoy
    local reply) keeps its text as the message."""
    try:
        body = response.json()
    except ValueError:
        return ApiError(response.status_code, 2, response.text.strip() or "no answer")
    if not isinstance(body, dict):
        return ApiError(response.status_code, 2, str(body))
    error = ApiError(response.status_code, int(body.get("code", 2)), str(body.get("message", "")))
    for detail in body.get("details", []):
        kind = str(detail.get("@type", ""))
        if kind.endswith("google.rpc.ErrorInfo"):
            error.reason = str(detail.get("reason", ""))
        elif kind.endswith("google.rpc.BadRequest"):
            for violation in detail.get("field_violations", []):
                error.fields[str(violation.get("field", ""))] = str(
                    violation.get("description", "")
                )
    return error
