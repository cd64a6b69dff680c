"""The gateway's refusals read into ApiError: code, reason and each field's complaint."""

from __future__ import annotations

import httpx
import pytest

from shopweb.gateway import ApiError, Gateway

BAD_REQUEST = {
    "code": 3,
    "message": "invalid PlaceOrderRequest",
    "details": [
        {
            "@type": "type.googleapis.com/google.rpc.BadRequest",
            "field_violations": [
                {"field": "shipping_address.postal_code", "description": "must not be empty"}
            ],
        },
        {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "INVALID_REQUEST"},
    ],
}


def gateway(handler: httpx.MockTransport) -> Gateway:
    return Gateway("http://gateway", transport=handler)


@pytest.mark.anyio
async def test_a_refusal_carries_its_code_reason_and_fields() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(400, json=BAD_REQUEST)

    api = gateway(httpx.MockTransport(answer))
    with pytest.raises(ApiError) as refused:
        await api.post("/v1/orders", {"lines": []}, token="t0k")
    await api.close()
    assert (refused.value.status, refused.value.code) == (400, 3)
    assert refused.value.reason == "INVALID_REQUEST"
    assert refused.value.fields == {"shipping_address.postal_code": "must not be empty"}
    assert seen[0].headers["authorization"] == "Bearer t0k"


@pytest.mark.anyio
async def test_a_reply_that_is_not_json_keeps_its_text() -> None:
    api = gateway(httpx.MockTransport(lambda _: httpx.Response(503, text="upstream reset")))
    with pytest.raises(ApiError) as refused:
        await api.get("/v1/products")
    await api.close()
    assert (refused.value.status, refused.value.message) == (503, "upstream reset")


@pytest.mark.anyio
async def test_an_anonymous_call_sends_no_authorization() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"products": []})

    api = gateway(httpx.MockTransport(answer))
    assert await api.get("/v1/products", params={"page_size": 2}) == {"products": []}
    await api.close()
    assert "authorization" not in seen[0].headers
    assert seen[0].url.params["page_size"] == "2"
