"""Correlation id and caller identity: who is asking, and on behalf of which operation.

The correlation id is the caller's `x-request-id` (the gateway sets it at the edge), or a
new UUID when there is none or it is not a sane header value. It is carried on by
chassis.clients (outgoing calls) and chassis.outbox (events), so one id follows a business
operation through every service. A new id is sent back to the caller in the initial
metadata; a caller's own id is not echoed: it knows it already, and sending initial
metadata early costs a round through gRPC's completion queue on every call.
"""

import functools
import re
import uuid

from google.protobuf.message import Message

from chassis import context as call_context
from chassis.interceptors._base import Context, Handler, UnaryServerInterceptor

REQUEST_ID = "x-request-id"
CLIENT_CERT = "x-forwarded-client-cert"
# What an event envelope's correlation_id accepts: printable ASCII, at most 128 characters.
_SANE_ID = re.compile(r"[\x21-\x7e]{1,128}")


class CorrelationInterceptor(UnaryServerInterceptor):
    async def around(
        self, handler: Handler, request: Message, context: Context, method: str
    ) -> Message:
        given: object = None
        client_cert: object = None
        for key, value in context.invocation_metadata() or ():
            if key == REQUEST_ID:
                given = value
            elif key == CLIENT_CERT:
                client_cert = value
        call_context.caller.set(caller_id(client_cert) if isinstance(client_cert, str) else "")
        if isinstance(given, str) and _SANE_ID.fullmatch(given):
            call_context.correlation_id.set(given)
        else:
            correlation_id = str(uuid.uuid4())
            call_context.correlation_id.set(correlation_id)
            await context.send_initial_metadata(((REQUEST_ID, correlation_id),))
        return await handler(request, context)


@functools.lru_cache(maxsize=1024)  # a sidecar sends the same few callers' headers again and again
def caller_id(client_cert: str) -> str:
    """The URI SAN (SPIFFE id) of the client certificate Envoy describes in
    `x-forwarded-client-cert` ("By=...;Hash=...;URI=spiffe://..."). With SANITIZE_SET the
    header holds exactly the direct caller."""
    first_hop = client_cert.split(",", 1)[0]
    for pair in first_hop.split(";"):
        key, _, value = pair.partition("=")
        if key.strip().lower() == "uri":
            return value.strip().strip('"')
    return ""
