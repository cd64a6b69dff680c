"""Opaque page tokens: base64url JSON that says where the next page starts and which
request it belongs to, so a token is refused when replayed with other filters."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass

from chassis.domain import DomainError


class InvalidPageToken(DomainError):
    """The token is malformed or was issued for a different request."""

    def __init__(self, message: str) -> None:
        super().__init__(message, field="page_token")


@dataclass(frozen=True)
class ListPosition:
    after_sku: str


@dataclass(frozen=True)
class SearchPosition:
    offset: int


def encode_list(after_sku: str, *, category: str) -> str:
    return _encode({"k": "list", "f": _fingerprint(category), "after": after_sku})


def decode_list(token: str, *, category: str) -> ListPosition:
    """The start of the first page for an empty token, else where `token` left off."""
    if not token:
        return ListPosition(after_sku="")
    after = _decode(token, kind="list", fingerprint=_fingerprint(category)).get("after")
    if not isinstance(after, str) or not after:
        raise InvalidPageToken("malformed page token")
    return ListPosition(after_sku=after)


def encode_search(offset: int, *, query: str) -> str:
    return _encode({"k": "search", "f": _fingerprint(query), "offset": offset})


def decode_search(token: str, *, query: str) -> SearchPosition:
    if not token:
        return SearchPosition(offset=0)
    offset = _decode(token, kind="search", fingerprint=_fingerprint(query)).get("offset")
    if type(offset) is not int or offset < 0:
        raise InvalidPageToken("malformed page token")
    return SearchPosition(offset=offset)


def _fingerprint(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:16]


def _encode(payload: dict[str, object]) -> str:
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _decode(token: str, *, kind: str, fingerprint: str) -> dict[str, object]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        payload = json.loads(raw)
    except (binascii.Error, ValueError) as error:
        raise InvalidPageToken("malformed page token") from error
    if not isinstance(payload, dict) or payload.get("k") != kind:
        raise InvalidPageToken("malformed page token")
    if payload.get("f") != fingerprint:
        raise InvalidPageToken("page token was issued for a different request")
    return payload
