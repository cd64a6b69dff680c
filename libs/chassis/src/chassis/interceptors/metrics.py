"""Golden signals per method: traffic and errors (calls by code), latency, saturation
(calls in flight). Served by prometheus_client on the instance's metrics port."""

import time

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


class MetricsInterceptor(UnaryServerInterceptor):
    def __init__(self, service: str, instance: str) -> None:
        self._service = service
        self._instance = instance

    async def around(
        self, handler: Handler, request: Message, context: Context, method: str
    ) -> Message:
        labels = (self._service, self._instance, *method_parts(method))
        in_flight = IN_FLIGHT.labels(*labels)
        in_flight.inc()
        started = time.perf_counter()

        def done(code: grpc.StatusCode) -> None:
            in_flight.dec()
            LATENCY.labels(*labels).observe(time.perf_counter() - started)
            HANDLED.labels(*labels, code.name).inc()

        return await observe(handler, request, context, done)
