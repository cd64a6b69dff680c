"""Opaque ListEvents page tokens: base64url JSON with the sequence the next page starts
after and a fingerprint of the filters, so a token replayed with other filters is refused."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json

from audit.domain import EventQuery
from chassis import records
from chassis.domain import DomainError


class InvalidPageToken(DomainError):
    """The token is malformed or was issued for a different request."""

    def __init__(self, message: str) -> None:
        super().__init__(message, field="page_token")


def encode(after_sequence: int, query: EventQuery) -> str:
    payload = {"after": after_sequence, "f": _fingerprint(query)}
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode(token: str, query: EventQuery) -> int:
    """The sequence the page starts after: 0 for an empty token (the first page)."""
    if not token:
        return 0
    try:
        payload = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError) as error:
        raise InvalidPageToken("malformed page token") from error
    if not isinstance(payload, dict):
        raise InvalidPageToken("malformed page token")
    after = payload.get("after")
    if type(after) is not int or after < 0:
        raise InvalidPageToken("malformed page token")
    if payload.get("f") != _fingerprint(query):
        raise InvalidPageToken("page token was issued for a different request")
    return after


def _fingerprint(query: EventQuery) -> str:
    return hashlib.sha256(records.dump(query)).hexdigest()[:16]
