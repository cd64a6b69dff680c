"""What the chassis knows about the current call, readable anywhere below the interceptors.

gRPC runs every call in its own asyncio task, so these context variables are per call:
the server interceptors set them, and logs, outgoing calls (chassis.clients) and events
(chassis.outbox) read them.
"""

import time
from contextvars import ContextVar

correlation_id: ContextVar[str] = ContextVar("correlation_id", default="")
"""The business operation's id (`x-request-id`), shared by every call and event it causes."""

caller: ContextVar[str] = ContextVar("caller", default="")
"""The calling workload's SPIFFE id, from the sidecar's `x-forwarded-client-cert`."""

trace_id: ContextVar[str] = ContextVar("trace_id", default="")
"""The call's OpenTelemetry trace id (32 hex digits), for log lines."""

deadline: ContextVar[float | None] = ContextVar("deadline", default=None)
"""When the current call's budget runs out, on the time.monotonic() clock."""


def remaining_budget() -> float | None:
    """Seconds left of the current call's deadline; None outside a call."""
    ends = deadline.get()
    return None if ends is None else max(ends - time.monotonic(), 0.0)


_service = ""


def set_service(name: str) -> None:
    """Names the service this process is; serve() does it (events carry it as their source)."""
    global _service  # noqa: PLW0603 - one process is one service
    _service = name


def service() -> str:
    if not _service:
        raise RuntimeError("the service name is not set: call chassis.context.set_service()")
    return _service
