"""`shop order`'s timeline, from an order and audit records as GetOrder and the audit
service give them: step timing, retries, compensations, the rejection in words, the events."""

from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp

from shop.audit.v1.audit_record_pb2 import AuditRecord
from shop.common.v1.event_pb2 import EventEnvelope
from shop.common.v1.money_pb2 import Money
from shop.orders.v1 import order_pb2 as pb
from shoptools.shop import order as order_cli

PLACED_S = 1_800_000_000
ORDER_ID = "849ffe0b-ff62-581b-aafb-d4f799403df6"


def at(ms: int) -> Timestamp:
    """`ms` after the order was placed."""
    return Timestamp(seconds=PLACED_S + ms // 1000, nanos=(ms % 1000) * 1_000_000)


def step(
    kind: pb.SagaStepKind.ValueType,
    state: pb.SagaStepState.ValueType,
    changed_ms: int,
    attempts: int = 1,
    error: str = "",
) -> pb.SagaStep:
    return pb.SagaStep(
        kind=kind, state=state, attempts=attempts, last_error=error, update_time=at(changed_ms)
    )


def order(status: pb.OrderStatus.ValueType, steps: list[pb.SagaStep], **fields: object) -> pb.Order:
    return pb.Order(
        order_id=ORDER_ID,
        customer_id="alice",
        status=status,
        lines=[pb.OrderLine(sku="BK-BIRDS-EUROPE", name="Birds", quantity=2)],
        total=Money(currency_code="EUR", amount_minor=3439),
        saga_steps=steps,
        create_time=at(0),
        update_time=at(700),
        **fields,  # type: ignore[arg-type]
    )


def record(sequence: int, stream: str, event_type: str, subject: str, ms: int) -> AuditRecord:
    return AuditRecord(
        sequence=sequence,
        stream=stream,
        stream_sequence=sequence * 10,
        event=EventEnvelope(
            type=event_type, subject=subject, time=at(ms), source="//orders.shop.local"
        ),
    )


def test_a_confirmed_orders_steps_take_from_the_end_of_the_step_before() -> None:
    confirmed = order(
        pb.ORDER_STATUS_CONFIRMED,
        [
            step(pb.SAGA_STEP_KIND_AUTHORIZE_PAYMENT, pb.SAGA_STEP_STATE_SUCCEEDED, 190),
            step(
                pb.SAGA_STEP_KIND_RESERVE_STOCK,
                pb.SAGA_STEP_STATE_SUCCEEDED,
                700,
                attempts=3,
                error="UNAVAILABLE: upstream connect error",
            ),
        ],
    )

    shown = order_cli.timeline(confirmed, [])

    authorize, reserve = shown["steps"]
    assert (authorize["start_ms"], authorize["duration_ms"]) == (0, 190)
    assert (reserve["start_ms"], reserve["duration_ms"]) == (190, 510)
    assert (reserve["attempts"], reserve["retries"]) == (3, 2)
    assert shown["status"] == "CONFIRMED"
    assert shown["rejection"] is None
    assert shown["total"] == "EUR 34.39"
    text = order_cli.render(shown)
    assert "reserve stock" in text
    assert "2 retries; last error UNAVAILABLE: upstream connect error" in text


def test_a_rejection_shows_its_reason_in_words_and_the_compensations() -> None:
    rejected = order(
        pb.ORDER_STATUS_REJECTED,
        [
            # Its time is the void's: when it was undone, not when it ended.
            step(pb.SAGA_STEP_KIND_AUTHORIZE_PAYMENT, pb.SAGA_STEP_STATE_COMPENSATED, 230),
            step(
                pb.SAGA_STEP_KIND_RESERVE_STOCK,
                pb.SAGA_STEP_STATE_FAILED,
                166,
                error="FAILED_PRECONDITION: INSUFFICIENT_STOCK",
            ),
            step(pb.SAGA_STEP_KIND_VOID_AUTHORIZATION, pb.SAGA_STEP_STATE_SUCCEEDED, 230),
        ],
        rejection_reason=pb.REJECTION_REASON_OUT_OF_STOCK,
        rejection_detail="Some items are out of stock. Nothing was charged.",
    )

    shown = order_cli.timeline(rejected, [])

    authorize, reserve, void = shown["steps"]
    assert authorize["outcome"] == "COMPENSATED"
    assert authorize["duration_ms"] is None
    assert authorize["compensated_ms"] == 230
    assert reserve["duration_at_most"]  # includes the authorization's unknown end
    assert reserve["duration_ms"] == 166
    assert void["compensation"]
    assert (void["start_ms"], void["duration_ms"]) == (166, 64)
    assert shown["rejection"] == {
        "reason": "OUT_OF_STOCK",
        "meaning": "inventory could not reserve every line",
        "detail": "Some items are out of stock. Nothing was charged.",
    }
    text = order_cli.render(shown)
    assert "Rejected: OUT_OF_STOCK (inventory could not reserve every line)" in text
    assert "undo: void authorization" in text
    assert "<=166 ms" in text
    assert "undone at +230 ms" in text


def test_a_step_not_run_yet_has_no_timing() -> None:
    pending = order(
        pb.ORDER_STATUS_PENDING,
        [
            step(pb.SAGA_STEP_KIND_AUTHORIZE_PAYMENT, pb.SAGA_STEP_STATE_RUNNING, 40, attempts=2),
            pb.SagaStep(kind=pb.SAGA_STEP_KIND_RESERVE_STOCK, state=pb.SAGA_STEP_STATE_PENDING),
        ],
    )

    running, waiting = order_cli.steps(pending)

    assert running["start_ms"] == 0
    assert running["duration_ms"] is None  # still going
    assert waiting["start_ms"] is None
    assert waiting["duration_ms"] is None


def test_events_carry_their_stream_subject_and_time_after_the_order() -> None:
    events = [
        record(37, "ORDERS", "shop.orders.v1.OrderPlaced", f"orders/{ORDER_ID}", 9),
        record(38, "PAYMENTS", "shop.payments.v1.PaymentAuthorized", "payments/p1", 167),
    ]

    shown = order_cli.timeline(order(pb.ORDER_STATUS_PENDING, []), events)

    placed, authorized = shown["events"]
    assert placed["nats_subject"] == "orders.order.placed"
    assert authorized["nats_subject"] == "payments.payment.authorized"
    assert (authorized["stream"], authorized["stream_sequence"]) == ("PAYMENTS", 380)
    assert authorized["after_ms"] == 167
    assert placed["source"] == "orders"
    text = order_cli.render(shown)
    assert "no step has run yet" in text
    assert "PAYMENTS #380" in text


def test_the_aggregates_searched_are_those_the_order_names() -> None:
    placed = order(pb.ORDER_STATUS_PENDING, [], payment_id="p1", shipment_id="s1")

    assert order_cli.aggregates(placed) == [
        f"orders/{ORDER_ID}",
        "payments/p1",
        "shipments/s1",
    ]


def test_an_unknown_event_type_has_no_subject() -> None:
    assert order_cli.nats_subject("shop.nowhere.v1.Nothing") == ""
