"""Conversions between the contract's messages and the domain, shared by the gRPC API,
the seed and the events."""

from __future__ import annotations

from datetime import UTC, datetime

from catalog.domain import Money, Product, ProductContent
from shop.catalog.v1 import product_pb2
from shop.common.v1 import money_pb2

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def money_to_proto(money: Money) -> money_pb2.Money:
    return money_pb2.Money(currency_code=money.currency, amount_minor=money.amount_minor)


def content_to_proto(content: ProductContent) -> product_pb2.Product:
    return product_pb2.Product(
        sku=content.sku,
        name=content.name,
        description=content.description,
        price=money_to_proto(content.price),
        categories=content.categories,
        weight_grams=content.weight_grams,
        image_url=content.image_url,
    )


def product_to_proto(product: Product) -> product_pb2.Product:
    message = content_to_proto(product.content)
    message.version = product.version
    # Every GetProduct answers through here, and Timestamp.FromDatetime (pure Python) cost
    # more than the rest of the message: the fields are computed directly.
    since_epoch = product.updated_at - _EPOCH
    message.update_time.seconds = since_epoch.days * 86_400 + since_epoch.seconds
    message.update_time.nanos = since_epoch.microseconds * 1000
    return message


def content_from_proto(message: product_pb2.Product) -> ProductContent:
    """The settable part of a product message; `version` and `update_time` are ignored.
    Raises InvalidProduct."""
    return ProductContent(
        sku=message.sku,
        name=message.name,
        description=message.description,
        price=Money(message.price.currency_code, message.price.amount_minor),
        categories=tuple(message.categories),
        weight_grams=message.weight_grams,
        image_url=message.image_url,
    )
