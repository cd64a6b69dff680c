"""The process's OpenTelemetry tracer provider, configured by the standard OTEL_* variables.

Spans are always created, so trace ids reach logs, downstream calls and events; they are
exported only when OTEL_TRACES_EXPORTER names an exporter (none by default, so a laptop
needs no collector). Exporters are found by their OpenTelemetry entry point names
("console" ships with the SDK; "otlp" once opentelemetry-exporter-otlp is installed).
"""

import os
from importlib.metadata import entry_points

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from chassis.config import ServiceSettings

_exporting = False


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
