"""Calls to other services: through the instance's sidecar, carrying the operation along.

channel(settings, "inventory") dials the sidecar's outbound listener (plaintext, loopback)
with `:authority` "inventory"; the sidecar routes by authority, adds mTLS, retries,
timeouts and circuit breaking. Every call made on the channel carries the current call's
`x-request-id` and W3C trace context, and a deadline: what is left of the current call's
budget (or the service default outside a call), or the caller's own timeout if shorter.
"""

from collections.abc import Awaitable, Callable
from typing import Any

import grpc.aio
from opentelemetry import propagate

from chassis import context
from chassis.config import ServiceSettings
from chassis.interceptors.correlation import REQUEST_ID


def channel(settings: ServiceSettings, service: str) -> grpc.aio.Channel:
    """A channel to `service` through the mesh; close it (or `async with`) when done."""
    return grpc.aio.insecure_channel(
        settings.mesh_outbound.format(service=service),
        options=[("grpc.default_authority", service)],
        interceptors=[PropagatingInterceptor(settings.default_deadline_s)],
    )


class PropagatingInterceptor(grpc.aio.UnaryUnaryClientInterceptor):
    def __init__(self, default_deadline_s: float) -> None:
        self._default = default_deadline_s

    async def intercept_unary_unary(
        self,
        continuation: Callable[
            [grpc.aio.ClientCallDetails, Any], Awaitable[grpc.aio.UnaryUnaryCall[Any, Any]]
        ],
        client_call_details: grpc.aio.ClientCallDetails,
        request: Any,
    ) -> grpc.aio.UnaryUnaryCall[Any, Any]:
        metadata = grpc.aio.Metadata(*(client_call_details.metadata or ()))
        correlation_id = context.correlation_id.get()
        if correlation_id and metadata.get(REQUEST_ID) is None:
            metadata[REQUEST_ID] = correlation_id
        trace_headers: dict[str, str] = {}
        propagate.inject(trace_headers)
        for key, value in trace_headers.items():
            metadata[key] = value
        budget = context.remaining_budget()
        timeout = self._default if budget is None else budget
        if client_call_details.timeout is not None:
            timeout = min(timeout, client_call_details.timeout)
        details = grpc.aio.ClientCallDetails(
            client_call_details.method,
            timeout,
            metadata,
            client_call_details.credentials,
            client_call_details.wait_for_ready,
        )
        return await continuation(details, request)
