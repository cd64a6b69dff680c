"""The contracts reject bad input by themselves: protovalidate, reading only the rules in
proto/, refuses representative bad requests with a field path and accepts good ones."""

from __future__ import annotations

import uuid

import protovalidate
import pytest
from google.protobuf.message import Message

from shop.common.v1 import address_pb2, money_pb2
from shop.inventory.v1 import inventory_service_pb2, reservation_pb2
from shop.orders.v1 import order_pb2, orders_service_pb2
from shop.payments.v1 import payments_service_pb2


def violations(message: Message) -> set[tuple[str, str]]:
    """(field path, rule id) of every violation, e.g. ("lines[0].quantity", "int32.gt_lte")."""
    found = set()
    for violation in protovalidate.collect_violations(message):
        path = ""  # empty for a message-level rule
        elements = violation.proto.field.elements if violation.proto.field else []
        for element in elements:
            path += ("." if path else "") + element.field_name
            if element.subscript is not None:
                path += f"[{element.subscript.value}]"
        found.add((path, violation.proto.rule_id))
    return found


def key() -> str:
    return str(uuid.uuid4())


def money(minor: int = 1999, currency: str = "EUR") -> money_pb2.Money:
    return money_pb2.Money(currency_code=currency, amount_minor=minor)


def place_order(**overrides: object) -> orders_service_pb2.PlaceOrderRequest:
    request = orders_service_pb2.PlaceOrderRequest(
        idempotency_key=key(),
        lines=[orders_service_pb2.PlaceOrderLine(sku="MUG-BLUE", quantity=2)],
        shipping_address=address_pb2.Address(
            recipient="Ada Lovelace",
            lines=["12 St James's Square"],
            locality="London",
            postal_code="SW1Y 4JH",
            country_code="GB",
        ),
        shipping_speed=order_pb2.SHIPPING_SPEED_STANDARD,
        currency_code="EUR",
        payment_token="tok_visa",
    )
    for name, value in overrides.items():
        field = getattr(request, name)
        if isinstance(value, list):
            del field[:]
            field.extend(value)
        elif isinstance(value, Message):
            field.CopyFrom(value)
        else:
            setattr(request, name, value)
    return request


def reserve_stock(quantity: int) -> inventory_service_pb2.ReserveStockRequest:
    return inventory_service_pb2.ReserveStockRequest(
        idempotency_key=key(),
        order_id=key(),
        lines=[reservation_pb2.ReservationLine(sku="MUG-BLUE", quantity=quantity)],
    )


def authorize(amount: money_pb2.Money) -> payments_service_pb2.AuthorizePaymentRequest:
    return payments_service_pb2.AuthorizePaymentRequest(
        idempotency_key=key(),
        order_id=key(),
        customer_id="cust-42",
        amount=amount,
        payment_token="tok_visa",
    )


@pytest.mark.parametrize(
    "request_message",
    [
        place_order(),
        place_order(expected_total=money(4598)),
        reserve_stock(quantity=3),
        authorize(money(1, "JPY")),
        orders_service_pb2.GetOrderRequest(order_id=key()),
        orders_service_pb2.ListOrdersRequest(),
    ],
    ids=lambda m: type(m).__name__,
)
def test_good_requests_pass(request_message: Message) -> None:
    assert violations(request_message) == set()


@pytest.mark.parametrize(
    ("request_message", "expected"),
    [
        (reserve_stock(quantity=-1), ("lines[0].quantity", "int32.gt_lte")),
        (reserve_stock(quantity=0), ("lines[0].quantity", "int32.gt_lte")),
        (place_order(lines=[]), ("lines", "repeated.min_items")),
        (
            place_order(
                lines=[
                    orders_service_pb2.PlaceOrderLine(sku="MUG-BLUE", quantity=1),
                    orders_service_pb2.PlaceOrderLine(sku="MUG-BLUE", quantity=1),
                ]
            ),
            ("lines", "lines.unique_sku"),
        ),
        (place_order(idempotency_key="not-a-uuid"), ("idempotency_key", "string.uuid")),
        (place_order(idempotency_key=""), ("idempotency_key", "required")),
        (orders_service_pb2.GetOrderRequest(order_id="42"), ("order_id", "string.uuid")),
        (authorize(money(100, "XYZ")), ("amount.currency_code", "string.in")),
        (place_order(currency_code="EURO"), ("currency_code", "string.in")),
        (authorize(money(-5)), ("amount.amount_minor", "int64.gte_lte")),
        (authorize(money(0)), ("amount", "amount.positive")),
        (place_order(shipping_speed=0), ("shipping_speed", "enum.not_in")),
        (place_order(shipping_speed=99), ("shipping_speed", "enum.defined_only")),
        (
            place_order(shipping_address=address_pb2.Address(recipient="Ada")),
            ("shipping_address.lines", "repeated.min_items"),
        ),
        (
            place_order(expected_total=money(100, "USD")),
            ("", "expected_total.currency"),
        ),
    ],
    ids=lambda case: case[1] if isinstance(case, tuple) else "",
)
def test_bad_requests_are_rejected_with_the_field(
    request_message: Message, expected: tuple[str, str]
) -> None:
    assert expected in violations(request_message)
