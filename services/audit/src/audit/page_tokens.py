"""ListEvents page positions (the sequence the next page starts after), in opaque tokens
bound to the request's filters (chassis.page_tokens)."""

from __future__ import annotations

from audit.domain import EventQuery
from chassis import page_tokens
from chassis.page_tokens import InvalidPageToken


def encode(after_sequence: int, query: EventQuery) -> str:
    return page_tokens.encode({"after": after_sequence}, query)


def decode(token: str, query: EventQuery) -> int:
    """The sequence the page starts after: 0 for an empty token (the first page)."""
    payload = page_tokens.decode(token, query)
    if payload is None:
        return 0
    after = payload.get("after")
    if type(after) is not int or after < 0:
        raise InvalidPageToken("malformed page token")
    return after
