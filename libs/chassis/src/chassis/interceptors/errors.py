"""The innermost interceptor: what a handler raised becomes the caller's status.

DomainError -> its code, with google.rpc.ErrorInfo{reason, domain, metadata} (and
BadRequest for an InvalidArgument naming a field). A downstream call that ran out of this
call's budget -> DEADLINE_EXCEEDED. Anything else is a bug: INTERNAL "internal error" to
the caller, the traceback only in the log.
"""

import logging

import grpc
import grpc.aio
from google.protobuf.message import Message
from google.rpc import error_details_pb2

from chassis import status
from chassis.errors import DomainError, InvalidArgument
from chassis.interceptors._base import Context, Handler, UnaryServerInterceptor
from shop.common.v1 import errors_pb2 as common_errors

log = logging.getLogger("chassis.errors")

# Reasons shared by every service (shop.common.v1.ErrorReason) are in the "shop.local"
# domain; a service's own reasons are in "<service>.shop.local" (proto/README.md).
_SHARED_REASONS = frozenset(
    value.name.removeprefix("ERROR_REASON_")
    for value in common_errors.ErrorReason.DESCRIPTOR.values
)


class ErrorInterceptor(UnaryServerInterceptor):
    def __init__(self, service: str) -> None:
        self._domain = f"{service}.shop.local"

    async def around(
        self, handler: Handler, request: Message, context: Context, method: str
    ) -> Message:
        try:
            return await handler(request, context)
        except grpc.aio.AbortError:
            raise
        except DomainError as error:
            await status.abort(context, error.code, error.message, self._details(error))
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "deadline exceeded")
            log.exception("unhandled error from a downstream call in %s", method)
            await context.abort(grpc.StatusCode.INTERNAL, "internal error")
        except Exception:
            log.exception("unhandled error in %s", method)
            await context.abort(grpc.StatusCode.INTERNAL, "internal error")

    def _details(self, error: DomainError) -> list[Message]:
        domain = "shop.local" if error.reason in _SHARED_REASONS else self._domain
        details: list[Message] = [
            error_details_pb2.ErrorInfo(reason=error.reason, domain=domain, metadata=error.metadata)
        ]
        if isinstance(error, InvalidArgument) and error.field:
            details.append(
                error_details_pb2.BadRequest(
                    field_violations=[
                        error_details_pb2.BadRequest.FieldViolation(
                            field=error.field, description=error.message
                        )
                    ]
                )
            )
        return details
