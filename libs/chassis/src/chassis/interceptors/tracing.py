"""A server span per call, continuing the caller's W3C trace context (`traceparent`).

A small interceptor of our own rather than opentelemetry-instrumentation-grpc's: that one
proxies the servicer context, records every abort as an exception, and hides the trace id
from the access log that runs outside it.

When no exporter is configured, a recorded span would be thrown away: the call then gets
a non-recording one that continues the caller's trace (chassis.telemetry.unrecorded_span).
"""

import grpc
from google.protobuf.message import Message
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from chassis import context as call_context
from chassis import telemetry
from chassis.interceptors._base import (
    Context,
    Handler,
    UnaryServerInterceptor,
    method_parts,
    observe,
)

# Server span status is Error only for these (OpenTelemetry gRPC semantic conventions).
_SERVER_ERRORS = frozenset(
    {
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DATA_LOSS,
    }
)

_tracer = trace.get_tracer("chassis")
_TRACEPARENT = "traceparent"
_TRACESTATE = "tracestate"


class TracingInterceptor(UnaryServerInterceptor):
    async def around(
        self, handler: Handler, request: Message, context: Context, method: str
    ) -> Message:
        if not telemetry.exporting():
            return await self._unrecorded(handler, request, context)
        carrier = {k: v for k, v in context.invocation_metadata() or () if isinstance(v, str)}
        service, name = method_parts(method)
        with _tracer.start_as_current_span(
            method.lstrip("/"),
            context=propagate.extract(carrier),
            kind=SpanKind.SERVER,
            attributes={
                "rpc.system": "grpc",
                "rpc.service": service,
                "rpc.method": name,
            },
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            span_context = span.get_span_context()
            if span_context.is_valid:
                call_context.trace_id.set(trace.format_trace_id(span_context.trace_id))

            def done(code: grpc.StatusCode) -> None:
                span.set_attribute("rpc.grpc.status_code", code.value[0])
                if code in _SERVER_ERRORS:
                    span.set_status(Status(StatusCode.ERROR, code.name))

            return await observe(handler, request, context, done)

    async def _unrecorded(self, handler: Handler, request: Message, context: Context) -> Message:
        traceparent: object = None
        tracestate: object = None
        for key, value in context.invocation_metadata() or ():
            if key == _TRACEPARENT:
                traceparent = value
            elif key == _TRACESTATE:
                tracestate = value
        token = telemetry.enter_unrecorded_span(traceparent, tracestate)
        try:
            return await handler(request, context)
        finally:
            otel_context.detach(token)
