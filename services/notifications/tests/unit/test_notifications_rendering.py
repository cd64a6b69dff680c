"""Every consumed event type renders its own message from its template: subject and plain
text naming what happened, with nothing left unfilled."""

from __future__ import annotations

import re

import pytest
from google.protobuf.message import Message
from notifications_examples import (
    EVERY_EVENT,
    ORDER_ID,
    ORDER_REF,
    event_id,
    order_cancellation_completed,
    order_cancelled,
)

from notifications import events, templates
from notifications.domain import Topic
from shop.orders.v1 import order_pb2


@pytest.mark.parametrize(
    ("event", "topic", "says"), EVERY_EVENT, ids=[type(e).__name__ for e, _, _ in EVERY_EVENT]
)
def test_each_event_type_renders_a_message_that_says_what_happened(
    event: Message, topic: Topic, says: list[str]
) -> None:
    cause = events.cause_of(event, event_id())

    message = templates.render(cause.template, cause.values)

    assert cause.topic is topic
    assert message.subject
    assert "\n" not in message.subject
    for words in says:
        assert words in message.subject + message.body
    assert not re.search(r"\$\w", message.subject + message.body)  # nothing left unfilled


def test_every_template_belongs_to_a_consumed_event_type_and_every_type_has_one() -> None:
    used = {events.cause_of(event, event_id()).template for event, _, _ in EVERY_EVENT}
    consumed = {
        kind
        for kinds in (
            events.ORDER_EVENTS,
            events.PAYMENT_EVENTS,
            events.SHIPPING_EVENTS,
            events.STOCK_EVENTS,
        )
        for kind in kinds
    }

    assert {type(event) for event, _, _ in EVERY_EVENT} == consumed
    assert used == set(templates.names())


def test_order_messages_name_the_order_as_the_customer_knows_it() -> None:
    cause = events.cause_of(EVERY_EVENT[0][0], event_id())
    message = templates.render(cause.template, cause.values)

    assert cause.order_id == ORDER_ID
    assert ORDER_REF in message.subject


def test_a_stock_alert_is_addressed_to_nobody_in_particular_and_an_order_remembers_its_skus() -> (
    None
):
    stock = events.cause_of(EVERY_EVENT[-1][0], event_id())
    placed = events.cause_of(EVERY_EVENT[0][0], event_id())

    assert (stock.customer_id, stock.order_id, stock.about_sku) == ("", "", "BK-BIRDS-EUROPE")
    assert placed.purchased_skus == ("BK-BIRDS-EUROPE",)


def test_amounts_are_shown_in_the_currency_s_own_minor_unit() -> None:
    from shop.common.v1.money_pb2 import Money  # noqa: PLC0415 - only here

    assert events.money(Money(currency_code="EUR", amount_minor=1205)) == "EUR 12.05"
    assert events.money(Money(currency_code="JPY", amount_minor=1200)) == "JPY 1200"


def test_a_template_naming_a_value_its_event_lacks_refuses_to_render() -> None:
    with pytest.raises(KeyError):
        templates.render("shipment_dispatched", {"order_ref": ORDER_REF})


def test_a_cancellation_completed_is_told_only_when_nothing_else_told_it() -> None:
    """After a cancel while placing (the authorization voided, or none made) the customer
    hears it from OrderCancellationCompleted; a confirmed order's cancellation was told by
    OrderCancelled, and its refund by PaymentRefunded."""
    assert events.worth_telling(order_cancellation_completed(order_pb2.PAYMENT_STATUS_VOIDED))
    assert events.worth_telling(order_cancellation_completed(order_pb2.PAYMENT_STATUS_UNSPECIFIED))
    assert not events.worth_telling(order_cancellation_completed(order_pb2.PAYMENT_STATUS_REFUNDED))
    assert events.worth_telling(order_cancelled())
