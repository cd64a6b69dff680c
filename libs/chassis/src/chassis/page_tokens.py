"""Opaque page tokens: base64url JSON saying where the next page starts, bound to the
request's filters by a fingerprint, so a token replayed with other filters is refused
(INVALID_ARGUMENT, INVALID_PAGE_TOKEN, naming `page_token`)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping

from chassis import records
from chassis.domain import DomainError


class InvalidPageToken(DomainError):
    """The token is malformed or was issued for a different request."""

    def __init__(self, message: str) -> None:
        super().__init__(message, field="page_token")


def encode(position: Mapping[str, object], filters: object) -> str:
    """A token for the page after `position`, for requests with these `filters` (any value
    chassis.records can store: a string, a tuple, a dataclass)."""
    raw = json.dumps({**position, "f": _fingerprint(filters)}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode(token: str, filters: object) -> dict[str, object] | None:
    """The position a token holds (None for an empty token: the first page). The caller
    checks the position's own fields and raises InvalidPageToken if they are not sane."""
    if not token:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError) as error:
        raise InvalidPageToken("malformed page token") from error
    if not isinstance(payload, dict):
        raise InvalidPageToken("malformed page token")
    if payload.pop("f", None) != _fingerprint(filters):
        raise InvalidPageToken("page token was issued for a different request")
    return payload


def _fingerprint(filters: object) -> str:
    return hashlib.sha256(records.dump(filters)).hexdigest()[:16]
