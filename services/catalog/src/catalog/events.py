"""What the catalog publishes: ProductUpserted on every change, PriceChanged when an existing
product's price changed. Both are about the product (`products/<sku>`); where they are
published is declared in the contract (events.proto)."""

from __future__ import annotations

from google.protobuf.message import Message

from catalog.domain import Upserted
from catalog.messages import money_to_proto, product_to_proto
from shop.catalog.v1 import events_pb2


def events_for(change: Upserted) -> list[Message]:
    product = change.product
    events: list[Message] = [
        events_pb2.ProductUpserted(product=product_to_proto(product), created=change.created)
    ]
    if change.previous_price is not None:
        events.append(
            events_pb2.PriceChanged(
                sku=product.sku,
                old_price=money_to_proto(change.previous_price),
                new_price=money_to_proto(product.price),
                version=product.version,
            )
        )
    return events
