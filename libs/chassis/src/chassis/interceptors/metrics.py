"""Golden signals per method: traffic and errors (calls by code), latency, saturation
(calls in flight). Served by prometheus_client on the instance's metrics port."""

import time
from typing import Any

import grpc
from google.protobuf.message import Message
from prometheus_client import Counter, Gauge, Histogram

from chassis.interceptors._base import (
    Context,
    Handler,
    UnaryServerInterceptor,
    method_parts,
    observe,
)

# The label names of go-grpc-prometheus, so the usual dashboards and alerts apply.
_LABELS = ("service", "instance", "grpc_service", "grpc_method")

HANDLED = Counter(
    "grpc_server_handled", "Calls completed on the server, by status code.", (*_LABELS, "grpc_code")
)
LATENCY = Histogram(
    "grpc_server_handling_seconds",
    "Time from receiving a call to its status.",
    _LABELS,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
IN_FLIGHT = Gauge("grpc_server_in_flight_calls", "Calls being handled right now.", _LABELS)


class _Series:
    """One method's series, looked up once: labels() takes a lock and builds a key."""

    def __init__(self, labels: tuple[str, ...]) -> None:
        self.labels = labels
        self.in_flight = IN_FLIGHT.labels(*labels)
        self.latency = LATENCY.labels(*labels)
        self._handled: dict[grpc.StatusCode, Any] = {}

    def handled(self, code: grpc.StatusCode) -> Any:
        counter = self._handled.get(code)
        if counter is None:
            counter = self._handled[code] = HANDLED.labels(*self.labels, code.name)
        return counter


class MetricsInterceptor(UnaryServerInterceptor):
    def __init__(self, service: str, instance: str) -> None:
        self._service = service
        self._instance = instance
        self._series: dict[str, _Series] = {}

    async def around(
        self, handler: Handler, request: Message, context: Context, method: str
    ) -> Message:
        series = self._series.get(method)
        if series is None:
            series = self._series[method] = _Series(
                (self._service, self._instance, *method_parts(method))
            )
        series.in_flight.inc()
        started = time.perf_counter()

        def done(code: grpc.StatusCode) -> None:
            series.in_flight.dec()
            series.latency.observe(time.perf_counter() - started)
            series.handled(code).inc()

        return await observe(handler, request, context, done)
