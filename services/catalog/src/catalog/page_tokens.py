"""The catalog's page positions, in opaque tokens bound to the request (chassis.page_tokens):
a list token to its category, a search token to its query."""

from __future__ import annotations

from dataclasses import dataclass

from chassis import page_tokens
from chassis.page_tokens import InvalidPageToken


@dataclass(frozen=True)
class ListPosition:
    after_sku: str


@dataclass(frozen=True)
class SearchPosition:
    offset: int


def encode_list(after_sku: str, *, category: str) -> str:
    return page_tokens.encode({"after": after_sku}, ("list", category))


def decode_list(token: str, *, category: str) -> ListPosition:
    """The start of the first page for an empty token, else where `token` left off."""
    payload = page_tokens.decode(token, ("list", category))
    if payload is None:
        return ListPosition(after_sku="")
    after = payload.get("after")
    if not isinstance(after, str) or not after:
        raise InvalidPageToken("malformed page token")
    return ListPosition(after_sku=after)


def encode_search(offset: int, *, query: str) -> str:
    return page_tokens.encode({"offset": offset}, ("search", query))


def decode_search(token: str, *, query: str) -> SearchPosition:
    payload = page_tokens.decode(token, ("search", query))
    if payload is None:
        return SearchPosition(offset=0)
    offset = payload.get("offset")
    if type(offset) is not int or offset < 0:
        raise InvalidPageToken("malformed page token")
    return SearchPosition(offset=offset)
