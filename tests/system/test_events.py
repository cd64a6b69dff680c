"""Events on the running stack: a change made through the gateway reaches its context's
JetStream stream through the service's outbox relay, once, carrying the caller's request
id as its correlation id."""

from __future__ import annotations

import asyncio

import httpx

from shop.catalog.v1 import events_pb2
from shop.common.v1.event_pb2 import EventEnvelope
from shoptools.stack import nats as stack_nats

from .harness import Stack, wait_until
from .test_gateway import bearer, new_product, token, unique_sku


async def catalog_events_about(stack: Stack, aggregate: str) -> list[tuple[str, EventEnvelope]]:
    """(Nats-Msg-Id, envelope) of every message in the CATALOG stream about `aggregate`."""
    client = await stack_nats.connect(stack.topology)  # as the stack's admin, over TLS
    try:
        js = client.jetstream()
        last = (await js.stream_info("CATALOG")).state.last_seq
        found = []
        for seq in range(1, last + 1):
            message = await js.get_msg("CATALOG", seq)
            envelope = EventEnvelope.FromString(message.data or b"")
            if envelope.subject == aggregate:
                found.append(((message.headers or {}).get("Nats-Msg-Id", ""), envelope))
        return found
    finally:
        await client.close()


def test_an_upsert_through_the_gateway_is_published_once_with_its_request_id(
    stack: Stack,
) -> None:
    sku = unique_sku()
    body = new_product(sku)
    headers = {**bearer(token(stack, "admin")), "x-request-id": f"events-{sku}"}
    with httpx.Client(base_url=stack.gateway, timeout=30) as api:
        first = api.post("/admin/v1/products", json=body, headers=headers)
        retry = api.post("/admin/v1/products", json=body, headers=headers)  # same key
    assert (first.status_code, retry.status_code) == (200, 200), first.text + retry.text

    aggregate = f"products/{sku}"
    wait_until(
        lambda: len(asyncio.run(catalog_events_about(stack, aggregate))) >= 1,
        f"ProductUpserted about {aggregate} in the CATALOG stream",
    )
    [(message_id, envelope)] = asyncio.run(catalog_events_about(stack, aggregate))

    assert message_id == envelope.id  # the broker deduplicates by the event id
    assert envelope.type == "shop.catalog.v1.ProductUpserted"
    assert envelope.correlation_id == f"events-{sku}"
    event = events_pb2.ProductUpserted()
    assert envelope.data.Unpack(event)
    assert (event.product.sku, event.created) == (sku, True)
