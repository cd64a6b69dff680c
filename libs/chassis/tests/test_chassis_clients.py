"""Calls through chassis.clients carry the operation on: correlation id, trace context and
what is left of the deadline. A front server calls a downstream one, which records what
it received (the downstream's own default is huge, so any budget it sees came from the
front)."""

import asyncio
from dataclasses import dataclass

import grpc.aio
from chassis_support import Context, FakeCatalog, running, settings

from chassis import clients
from chassis.config import ServiceSettings
from shop.catalog.v1 import catalog_service_pb2 as catalog
from shop.catalog.v1 import catalog_service_pb2_grpc as catalog_grpc

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def within(budget: float, remaining: float | None) -> bool:
    """Whether a server saw at most `budget` seconds left (and some left). gRPC's server
    side reports its deadline a few milliseconds generously (it converts between clocks),
    hence the small relative margin."""
    return remaining is not None and 0 < remaining <= budget * 1.05


@dataclass
class Seen:
    time_remaining: float | None
    request_id: str | None
    traceparent: str | None


class Downstream:
    def __init__(self) -> None:
        self.seen: list[Seen] = []

    async def get_product(
        self, request: catalog.GetProductRequest, context: Context
    ) -> catalog.GetProductResponse:
        metadata = {k: v for k, v in context.invocation_metadata() or () if isinstance(v, str)}
        remaining: float | None = context.time_remaining()
        self.seen.append(Seen(remaining, metadata.get("x-request-id"), metadata.get("traceparent")))
        return catalog.GetProductResponse()


def front_calling(front_settings: ServiceSettings) -> FakeCatalog:
    """A service whose GetProduct asks the downstream service for the same product."""

    async def get_product(
        request: catalog.GetProductRequest, context: Context
    ) -> catalog.GetProductResponse:
        async with clients.channel(front_settings, "catalog") as channel:
            return await catalog_grpc.CatalogServiceStub(channel).GetProduct(request)

    return FakeCatalog(get_product)


def call_through_front(
    front_default_s: float, timeout: float | None, metadata: tuple[tuple[str, str], ...] = ()
) -> Seen:
    downstream = Downstream()

    async def scenario() -> None:
        async with running(
            FakeCatalog(downstream.get_product),
            settings(instance="catalog-downstream", default_deadline_s=3600),
        ) as (down, _):
            front_settings = settings(
                default_deadline_s=front_default_s, mesh_outbound=f"127.0.0.1:{down.port}"
            )
            async with running(front_calling(front_settings), front_settings) as (_, channel):
                await catalog_grpc.CatalogServiceStub(channel).GetProduct(
                    catalog.GetProductRequest(sku="SKU-1"), timeout=timeout, metadata=metadata
                )

    asyncio.run(scenario())
    assert len(downstream.seen) == 1
    return downstream.seen[0]


def test_the_callers_deadline_is_passed_downstream() -> None:
    seen = call_through_front(front_default_s=3600, timeout=2.0)

    assert within(2.0, seen.time_remaining)


def test_a_call_without_a_deadline_passes_the_default_budget_downstream() -> None:
    seen = call_through_front(front_default_s=3.0, timeout=None)

    assert within(3.0, seen.time_remaining)


def test_the_correlation_id_and_trace_context_are_passed_downstream() -> None:
    seen = call_through_front(
        front_default_s=5,
        timeout=None,
        metadata=(
            ("x-request-id", "op-99"),
            ("traceparent", f"00-{TRACE_ID}-00f067aa0ba902b7-01"),
        ),
    )

    assert seen.request_id == "op-99"
    assert seen.traceparent is not None
    assert seen.traceparent.split("-")[1] == TRACE_ID


def test_a_call_outside_any_call_gets_the_default_deadline() -> None:
    downstream = Downstream()

    async def scenario() -> None:
        async with running(
            FakeCatalog(downstream.get_product), settings(default_deadline_s=3600)
        ) as (down, _):
            own = settings(default_deadline_s=4.0, mesh_outbound=f"127.0.0.1:{down.port}")
            channel: grpc.aio.Channel
            async with clients.channel(own, "catalog") as channel:
                stub = catalog_grpc.CatalogServiceStub(channel)
                await stub.GetProduct(catalog.GetProductRequest(sku="SKU-1"))
                await stub.GetProduct(catalog.GetProductRequest(sku="SKU-1"), timeout=1.0)

    asyncio.run(scenario())

    default_budget, own_timeout = (seen.time_remaining for seen in downstream.seen)
    assert within(4.0, default_budget)
    assert within(1.0, own_timeout)


def test_a_downstream_call_running_out_of_time_is_deadline_exceeded_not_internal() -> None:
    async def never_answers(
        request: catalog.GetProductRequest, context: Context
    ) -> catalog.GetProductResponse:
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    async def scenario() -> grpc.StatusCode:
        async with running(FakeCatalog(never_answers), settings(default_deadline_s=3600)) as (
            down,
            _,
        ):
            front_settings = settings(mesh_outbound=f"127.0.0.1:{down.port}")

            async def impatient(
                request: catalog.GetProductRequest, context: Context
            ) -> catalog.GetProductResponse:
                async with clients.channel(front_settings, "catalog") as channel:
                    stub = catalog_grpc.CatalogServiceStub(channel)
                    return await stub.GetProduct(request, timeout=0.1)

            async with running(FakeCatalog(impatient), front_settings) as (_, channel):
                try:
                    await catalog_grpc.CatalogServiceStub(channel).GetProduct(
                        catalog.GetProductRequest(sku="SKU-1"), timeout=60
                    )
                except grpc.aio.AioRpcError as error:
                    return error.code()
        raise AssertionError("the call succeeded")

    assert asyncio.run(scenario()) == grpc.StatusCode.DEADLINE_EXCEEDED
