"""Page tokens are opaque, round-trip, and are refused for another request."""

import base64

import pytest

from catalog import page_tokens
from chassis import page_tokens as chassis_tokens
from chassis.page_tokens import InvalidPageToken


def test_an_empty_token_starts_at_the_beginning() -> None:
    assert page_tokens.decode_list("", category="").after_sku == ""
    assert page_tokens.decode_search("", query="knife").offset == 0


def test_tokens_round_trip_for_the_same_request() -> None:
    list_token = page_tokens.encode_list("KIT-9", category="kitchen")
    search_token = page_tokens.encode_search(40, query="coffee grinder")

    assert page_tokens.decode_list(list_token, category="kitchen").after_sku == "KIT-9"
    assert page_tokens.decode_search(search_token, query="coffee grinder").offset == 40
    assert "=" not in search_token  # url-safe without padding


def test_a_token_from_another_query_or_category_is_refused() -> None:
    with pytest.raises(InvalidPageToken, match="different request"):
        page_tokens.decode_search(page_tokens.encode_search(20, query="knife"), query="tent")
    with pytest.raises(InvalidPageToken, match="different request"):
        page_tokens.decode_list(page_tokens.encode_list("A-1", category="books"), category="")


def test_a_list_token_is_not_a_search_token() -> None:
    with pytest.raises(InvalidPageToken):
        page_tokens.decode_search(page_tokens.encode_list("A-1", category=""), query="")


@pytest.mark.parametrize(
    "token",
    [
        "not base64 at all!",
        base64.urlsafe_b64encode(b"[1, 2]").decode(),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        chassis_tokens.encode({"offset": -5}, ("search", "q")),
        chassis_tokens.encode({"offset": "5"}, ("search", "q")),
    ],
)
def test_malformed_tokens_are_refused(token: str) -> None:
    with pytest.raises(InvalidPageToken):
        page_tokens.decode_search(token, query="q")
