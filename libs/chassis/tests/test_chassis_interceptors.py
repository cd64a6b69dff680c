"""The server interceptors, through a real in-process chassis server and gRPC calls."""

import asyncio
import io
import json
import logging
import time
import uuid
from collections.abc import Iterator

import grpc
import grpc.aio
import pytest
from chassis_support import GET_PRODUCT, Context, FakeCatalog, running, settings
from google.rpc import error_details_pb2
from opentelemetry import propagate
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client import REGISTRY

from chassis import context as call_context
from chassis import status, telemetry
from chassis.interceptors import tracing
from chassis.logs import JsonFormatter
from shop.catalog.v1 import catalog_service_pb2 as catalog
from shop.catalog.v1 import catalog_service_pb2_grpc as catalog_grpc
from shop.catalog.v1 import product_pb2
from shop.common.v1 import money_pb2


def valid_product() -> product_pb2.Product:
    return product_pb2.Product(
        sku="SKU-1",
        name="Teapot",
        price=money_pb2.Money(currency_code="EUR", amount_minor=1999),
        weight_grams=800,
        categories=["kitchen"],
        image_url="https://images.example.com/teapot.jpg",
    )


def get_product_error(
    servicer: FakeCatalog, metadata: tuple[tuple[str, str], ...] = ()
) -> grpc.aio.AioRpcError:
    async def call() -> grpc.aio.AioRpcError:
        async with running(servicer) as (_, channel):
            stub = catalog_grpc.CatalogServiceStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await stub.GetProduct(catalog.GetProductRequest(sku="SKU-1"), metadata=metadata)
            return raised.value

    return asyncio.run(call())


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """What the chassis logs during the test, as chassis.logs formats it."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter("catalog", "catalog-test"))
    chassis_logger = logging.getLogger("chassis")
    chassis_logger.addHandler(handler)
    chassis_logger.setLevel(logging.INFO)
    yield buffer
    chassis_logger.removeHandler(handler)


def parsed(buffer: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_a_request_breaking_its_contract_gets_field_violations_and_never_reaches_the_service() -> (
    None
):
    servicer = FakeCatalog()
    product = valid_product()
    product.weight_grams = 0
    product.categories[:] = ["kitchen", "Not A Slug"]
    request = catalog.UpsertProductRequest(idempotency_key="not-a-uuid", product=product)

    async def call() -> grpc.aio.AioRpcError:
        async with running(servicer) as (_, channel):
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await catalog_grpc.CatalogServiceStub(channel).UpsertProduct(request)
            return raised.value

    error = asyncio.run(call())

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    bad_request = status.detail(error, error_details_pb2.BadRequest)
    assert bad_request is not None
    violations = {v.field: v.description for v in bad_request.field_violations}
    assert set(violations) == {"idempotency_key", "product.weight_grams", "product.categories[1]"}
    assert "greater than 0" in violations["product.weight_grams"]
    details = error.details() or ""
    assert details.startswith("invalid request: ")
    assert f"product.weight_grams: {violations['product.weight_grams']}" in details
    assert servicer.upserts == []


def test_a_string_with_a_nul_character_is_invalid_in_every_contract() -> None:
    """PostgreSQL cannot store U+0000: the request is refused before the service, naming
    each such field, instead of failing as INTERNAL on the insert (found by Schemathesis)."""
    servicer = FakeCatalog()
    product = valid_product()
    product.name = "Tea\x00pot"
    product.categories[:] = ["kitchen", "garden"]
    request = catalog.UpsertProductRequest(idempotency_key=str(uuid.uuid4()), product=product)

    async def call() -> grpc.aio.AioRpcError:
        async with running(servicer) as (_, channel):
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await catalog_grpc.CatalogServiceStub(channel).UpsertProduct(request)
            return raised.value

    error = asyncio.run(call())

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    bad_request = status.detail(error, error_details_pb2.BadRequest)
    assert bad_request is not None
    assert [(v.field, v.description) for v in bad_request.field_violations] == [
        ("product.name", "must not contain the NUL character (U+0000)")
    ]
    assert servicer.upserts == []


def test_a_valid_request_reaches_the_service() -> None:
    servicer = FakeCatalog()
    request = catalog.UpsertProductRequest(
        idempotency_key=str(uuid.uuid4()), product=valid_product()
    )

    async def call() -> catalog.UpsertProductResponse:
        async with running(servicer) as (_, channel):
            response: catalog.UpsertProductResponse = await catalog_grpc.CatalogServiceStub(
                channel
            ).UpsertProduct(request)
            return response

    assert asyncio.run(call()).product.sku == "SKU-1"
    assert servicer.upserts == [request]


def test_the_callers_request_id_is_the_correlation_id_and_a_new_one_is_sent_back() -> None:
    seen: list[str] = []

    async def record(
        request: catalog.GetProductRequest, context: Context
    ) -> catalog.GetProductResponse:
        seen.append(call_context.correlation_id.get())
        return catalog.GetProductResponse()

    async def call(metadata: tuple[tuple[str, str], ...]) -> str | None:
        async with running(FakeCatalog(record)) as (_, channel):
            stub_call = catalog_grpc.CatalogServiceStub(channel).GetProduct(
                catalog.GetProductRequest(sku="SKU-1"), metadata=metadata
            )
            await stub_call
            sent_back = dict(await stub_call.initial_metadata() or ())
            return None if "x-request-id" not in sent_back else str(sent_back["x-request-id"])

    given = asyncio.run(call((("x-request-id", "op-42"),)))
    generated = asyncio.run(call(()))
    insane = asyncio.run(call((("x-request-id", "op 42 has spaces"),)))

    assert given is None  # the caller knows its own id: not echoed (no extra metadata round)
    assert generated is not None
    assert uuid.UUID(generated).version == 4
    assert insane is not None
    assert insane != "op 42 has spaces"
    assert seen == ["op-42", generated, insane]


def test_a_call_without_a_deadline_gets_the_default(log_lines: io.StringIO) -> None:
    default = 0.2
    budgets: list[float | None] = []
    finished: list[bool] = []

    async def too_slow(
        request: catalog.GetProductRequest, context: Context
    ) -> catalog.GetProductResponse:
        budgets.append(call_context.remaining_budget())
        await asyncio.sleep(50 * default)
        finished.append(True)
        return catalog.GetProductResponse()

    async def call() -> tuple[grpc.aio.AioRpcError, float]:
        async with running(FakeCatalog(too_slow), settings(default_deadline_s=default)) as (
            _,
            channel,
        ):
            started = time.monotonic()
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await catalog_grpc.CatalogServiceStub(channel).GetProduct(
                    catalog.GetProductRequest(sku="SKU-1")
                )
            return raised.value, time.monotonic() - started

    error, elapsed = asyncio.run(call())

    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert budgets[0] is not None
    assert 0 < budgets[0] <= default
    assert elapsed < 10 * default  # cut off near the default, long before the handler ends
    assert finished == []
    access = [line for line in parsed(log_lines) if line["logger"] == "chassis.access"]
    assert access[-1]["code"] == "DEADLINE_EXCEEDED"


def test_the_callers_deadline_is_the_budget() -> None:
    budgets: list[float | None] = []

    async def record(
        request: catalog.GetProductRequest, context: Context
    ) -> catalog.GetProductResponse:
        budgets.append(call_context.remaining_budget())
        return catalog.GetProductResponse()

    async def call() -> None:
        async with running(FakeCatalog(record), settings(default_deadline_s=60)) as (_, channel):
            await catalog_grpc.CatalogServiceStub(channel).GetProduct(
                catalog.GetProductRequest(sku="SKU-1"), timeout=2
            )

    asyncio.run(call())

    assert budgets[0] is not None
    assert 0 < budgets[0] <= 2 * 1.05  # gRPC reports its deadline a few ms generously


def handled(code: str) -> float:
    labels = {
        "service": "catalog",
        "instance": "catalog-test",
        "grpc_service": "shop.catalog.v1.CatalogService",
        "grpc_method": "GetProduct",
        "grpc_code": code,
    }
    return REGISTRY.get_sample_value("grpc_server_handled_total", labels) or 0.0


def test_metrics_count_calls_by_method_and_code_and_track_calls_in_flight() -> None:
    method_labels = {
        "service": "catalog",
        "instance": "catalog-test",
        "grpc_service": "shop.catalog.v1.CatalogService",
        "grpc_method": "GetProduct",
    }
    in_flight: list[float | None] = []

    async def by_sku(
        request: catalog.GetProductRequest, context: Context
    ) -> catalog.GetProductResponse:
        in_flight.append(REGISTRY.get_sample_value("grpc_server_in_flight_calls", method_labels))
        if request.sku == "MISSING":
            await context.abort(grpc.StatusCode.NOT_FOUND, "no such product")
        return catalog.GetProductResponse()

    before = {code: handled(code) for code in ("OK", "NOT_FOUND", "INVALID_ARGUMENT")}
    latency_before = REGISTRY.get_sample_value("grpc_server_handling_seconds_count", method_labels)

    async def calls() -> None:
        async with running(FakeCatalog(by_sku)) as (_, channel):
            stub = catalog_grpc.CatalogServiceStub(channel)
            await stub.GetProduct(catalog.GetProductRequest(sku="SKU-1"))
            await stub.GetProduct(catalog.GetProductRequest(sku="SKU-2"))
            for bad_sku in ("MISSING", "lower-case"):
                with pytest.raises(grpc.aio.AioRpcError):
                    await stub.GetProduct(catalog.GetProductRequest(sku=bad_sku))

    asyncio.run(calls())

    assert handled("OK") - before["OK"] == 2
    assert handled("NOT_FOUND") - before["NOT_FOUND"] == 1
    assert handled("INVALID_ARGUMENT") - before["INVALID_ARGUMENT"] == 1
    latency_after = REGISTRY.get_sample_value("grpc_server_handling_seconds_count", method_labels)
    assert (latency_after or 0) - (latency_before or 0) == 4
    assert in_flight == [1.0, 1.0, 1.0]  # the invalid request never reached the handler
    assert REGISTRY.get_sample_value("grpc_server_in_flight_calls", method_labels) == 0


def test_each_call_logs_one_json_line_with_its_context(log_lines: io.StringIO) -> None:
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    metadata = (
        ("x-request-id", "op-7"),
        ("traceparent", f"00-{trace_id}-00f067aa0ba902b7-01"),
        (
            "x-forwarded-client-cert",
            "By=spiffe://shop.local/ns/shop/sa/catalog;Hash=ab;"
            "URI=spiffe://shop.local/ns/shop/sa/orders",
        ),
    )

    async def call() -> None:
        async with running(FakeCatalog()) as (_, channel):
            await catalog_grpc.CatalogServiceStub(channel).GetProduct(
                catalog.GetProductRequest(sku="SKU-1"), metadata=metadata
            )

    asyncio.run(call())

    access = [line for line in parsed(log_lines) if line["logger"] == "chassis.access"]
    assert len(access) == 1
    line = access[0]
    assert line["method"] == GET_PRODUCT
    assert line["code"] == "OK"
    assert isinstance(line["duration_ms"], float)
    assert line["duration_ms"] >= 0
    assert (line["service"], line["instance"]) == ("catalog", "catalog-test")
    assert line["correlation_id"] == "op-7"
    assert line["trace_id"] == trace_id
    assert line["caller"] == "spiffe://shop.local/ns/shop/sa/orders"


def trace_context_seen(metadata: tuple[tuple[str, str], ...]) -> tuple[str, str]:
    """The trace id a handler's log lines carry, and the traceparent its downstream calls
    carry, for a call with `metadata`."""
    seen: list[tuple[str, str]] = []

    async def record(
        request: catalog.GetProductRequest, context: Context
    ) -> catalog.GetProductResponse:
        headers: dict[str, str] = {}
        propagate.inject(headers)
        seen.append((call_context.trace_id.get(), headers["traceparent"]))
        return catalog.GetProductResponse()

    async def call() -> None:
        async with running(FakeCatalog(record)) as (_, channel):
            await catalog_grpc.CatalogServiceStub(channel).GetProduct(
                catalog.GetProductRequest(sku="SKU-1"), metadata=metadata
            )

    asyncio.run(call())
    return seen[0]


def test_without_an_exporter_a_call_continues_the_callers_trace_and_sampling() -> None:
    assert not telemetry.exporting()
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"

    for flags in ("01", "00"):
        logged, downstream = trace_context_seen(
            (("traceparent", f"00-{trace_id}-00f067aa0ba902b7-{flags}"),)
        )
        version, sent_trace, span, sent_flags = downstream.split("-")
        assert logged == trace_id
        assert (version, sent_trace, sent_flags) == ("00", trace_id, flags)
        assert span != "00f067aa0ba902b7"  # the call's own span, child of the caller's


def test_without_an_exporter_a_call_without_a_trace_starts_a_sampled_one() -> None:
    logged, downstream = trace_context_seen((("traceparent", "not a traceparent"),))

    assert len(logged) == 32
    assert logged != "0" * 32
    assert downstream.split("-")[1:4:2] == [logged, "01"]


def test_with_an_exporter_each_call_records_a_server_span(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(telemetry, "_exporting", True)
    monkeypatch.setattr(tracing, "_tracer", provider.get_tracer("chassis"))
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"

    logged, downstream = trace_context_seen(
        (("traceparent", f"00-{trace_id}-00f067aa0ba902b7-01"),)
    )

    (span,) = exporter.get_finished_spans()
    assert span.name == GET_PRODUCT.lstrip("/")
    assert span.kind is SpanKind.SERVER
    assert span.attributes is not None
    assert span.attributes["rpc.method"] == "GetProduct"
    assert span.attributes["rpc.grpc.status_code"] == 0
    assert f"{span.context.trace_id:032x}" == logged == trace_id
    assert downstream.split("-")[2] == f"{span.context.span_id:016x}"
