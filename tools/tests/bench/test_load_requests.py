"""The orders load generator's requests and what it reads from the answers."""

from __future__ import annotations

import json

from shoptools.bench.load import Counter, Spec, captured_field, http_request


def test_each_request_gets_a_fresh_key_and_a_correct_length() -> None:
    spec = Spec(
        transport="http",
        port=8080,
        connections=1,
        http_method="POST",
        http_paths=("/v1/orders",),
        http_bodies=(
            '{"idempotencyKey":"{key}","sku":"A"}',
            '{"idempotencyKey":"{key}","sku":"B"}',
        ),
        http_headers=("Authorization: Bearer t",),
    )

    first, second = http_request(spec, 0), http_request(spec, 1)
    head, body = first.split(b"\r\n\r\n", 1)

    assert head.startswith(b"POST /v1/orders HTTP/1.1\r\n")
    assert b"\r\nAuthorization: Bearer t" in head
    assert f"Content-Length: {len(body)}".encode() in head
    assert json.loads(body)["sku"] == "A"
    assert json.loads(second.split(b"\r\n\r\n", 1)[1])["sku"] == "B"
    keys = {json.loads(r.split(b"\r\n\r\n", 1)[1])["idempotencyKey"] for r in (first, second)}
    assert len(keys) == 2


def test_a_spec_survives_its_trip_to_the_load_process() -> None:
    spec = Spec(
        transport="http",
        port=1,
        connections=2,
        http_bodies=("{}",),
        http_headers=("A: b",),
        rate=3.5,
        capture="order_id",
    )

    assert Spec.from_json(spec.to_json()) == spec


def test_the_captured_field_is_read_from_a_compact_json_answer() -> None:
    body = b'{"order":{"order_id":"5f0c","status":"ORDER_STATUS_PENDING"}}'

    assert captured_field(body, b'"order_id":"') == "5f0c"
    assert captured_field(b'{"code":8}', b'"order_id":"') == ""


def test_the_counter_keeps_ids_of_answered_calls_and_samples_of_errors() -> None:
    counter = Counter("order_id")
    counter.measuring = True

    counter.record((True, b'{"order":{"order_id":"a"}}'), 1.0, 1.5, sent=100.0)
    counter.record((False, b'{"code":8,"message":"busy"}'), 1.0, 1.1, sent=100.1)

    assert counter.captured == [("a", 100.0)]
    assert counter.latencies_us == [500_000]
    assert counter.errors == 1
    assert counter.error_samples == {'{"code":8,"message":"busy"}'}
