"""The process's OpenTelemetry tracer provider, configured by the standard OTEL_* variables.

Spans are always created, so trace ids reach logs, downstream calls and events; they are
exported only when OTEL_TRACES_EXPORTER names an exporter (none by default, so a laptop
needs no collector). Exporters are found by their OpenTelemetry entry point names
("console" ships with the SDK; "otlp" once opentelemetry-exporter-otlp is installed).
"""

import os
import random
import re
from contextvars import Token
from importlib.metadata import entry_points

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from chassis import context
from chassis.config import ServiceSettings

_exporting = False
# W3C trace context, version 00: trace id, parent span id, flags (all-zero ids are invalid).
_VALID_TRACEPARENT = re.compile(r"00-(?!0{32})([0-9a-f]{32})-(?!0{16})([0-9a-f]{16})-([0-9a-f]{2})")
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)


def exporting() -> bool:
    """Whether spans go anywhere: configure_tracing() installed an exporter. When not, the
    chassis skips recording spans (chassis.interceptors.tracing) and only carries the
    trace context along."""
    return _exporting


def configure_tracing(settings: ServiceSettings) -> TracerProvider:
    """Installs the global tracer provider; shut it down on exit to flush spans."""
    global _exporting  # noqa: PLW0603 - one process, one tracer provider
    provider = TracerProvider(
        resource=Resource.create(
            {"service.name": settings.service, "service.instance.id": settings.instance}
        )
    )
    _exporting = False
    for name in os.environ.get("OTEL_TRACES_EXPORTER", "none").split(","):
        if name.strip() not in ("", "none"):
            provider.add_span_processor(BatchSpanProcessor(_exporter(name.strip())))
            _exporting = True
    trace.set_tracer_provider(provider)
    return provider


def _exporter(name: str) -> SpanExporter:
    found = entry_points(group="opentelemetry_traces_exporter", name=name)
    if not found:
        raise ValueError(f"OTEL_TRACES_EXPORTER: no span exporter named {name!r} is installed")
    exporter: SpanExporter = next(iter(found)).load()()
    return exporter


def unrecorded_span(traceparent: object, tracestate: object) -> NonRecordingSpan:
    """The span of a call or an event delivery when nothing is exported (a recorded span
    would be thrown away): a non-recording one, which is all logs, downstream calls and
    events need. It continues the caller's trace (W3C `traceparent`/`tracestate`) and keeps
    its sampling decision, so a downstream service that exports records what the caller
    sampled; without one it starts a new, sampled trace, as the SDK's default
    parent-based sampler does. A few microseconds, where the SDK's span costs tens."""
    parent = _VALID_TRACEPARENT.fullmatch(traceparent) if isinstance(traceparent, str) else None
    if parent is None:
        trace_id, flags, state = random.getrandbits(128) or 1, _SAMPLED, None
    else:
        trace_id, flags = int(parent[1], 16), TraceFlags(int(parent[3], 16))
        # Rare; the propagator parses it exactly as the SDK path would.
        state = (
            trace.get_current_span(
                propagate.extract({"tracestate": tracestate, "traceparent": traceparent})
            )
            .get_span_context()
            .trace_state
            if isinstance(tracestate, str) and tracestate
            else None
        )
    return NonRecordingSpan(
        SpanContext(
            trace_id,
            random.getrandbits(64) or 1,
            is_remote=False,
            trace_flags=flags,
            trace_state=state,
        )
    )


def enter_unrecorded_span(traceparent: object, tracestate: object) -> Token[Context]:
    """Makes `unrecorded_span` the current span and its trace id the log lines'; pass the
    token it returns to `otel_context.detach` when the call or delivery ends."""
    span = unrecorded_span(traceparent, tracestate)
    context.trace_id.set(f"{span.get_span_context().trace_id:032x}")
    return otel_context.attach(trace.set_span_in_context(span))
