"""The innermost interceptor: what a handler raised becomes the caller's status.

- an exception the service's ErrorMap knows -> its code, with google.rpc.ErrorInfo (and a
  BadRequest naming the field, when the exception names one);
- a dependency fault (chassis.faults) -> UNAVAILABLE / RESOURCE_EXHAUSTED /
  DEADLINE_EXCEEDED with a RetryInfo hint, logged as a warning without a traceback;
- anything else is a bug: INTERNAL "internal error" to the caller, the traceback in the log.
"""

from __future__ import annotations

import logging

import grpc.aio
from google.protobuf import duration_pb2
from google.protobuf.message import Message
from google.rpc import error_details_pb2

from chassis import faults, status
from chassis.errors import ErrorMap
from chassis.interceptors._base import Context, Handler, UnaryServerInterceptor

log = logging.getLogger("chassis.errors")


class ErrorInterceptor(UnaryServerInterceptor):
    def __init__(self, errors: ErrorMap) -> None:
        self._errors = errors

    async def around(
        self, handler: Handler, request: Message, context: Context, method: str
    ) -> Message:
        try:
            return await handler(request, context)
        except grpc.aio.AbortError:
            raise
        except Exception as error:
            answer = self._errors.answer(error)
            if answer is not None:
                await status.abort(context, answer.code, answer.message, answer.details())
            fault = faults.classify(error)
            if fault is None:
                log.exception("unhandled error in %s", method)
                await context.abort(grpc.StatusCode.INTERNAL, "internal error")
            log.warning(
                "%s: %s (%s: %s)",
                method,
                fault.code.name,
                error.__class__.__name__,
                str(error).splitlines()[0] if str(error) else "",
            )
            details: list[Message] = []
            if fault.retry_delay_s is not None:
                delay = duration_pb2.Duration()
                delay.FromNanoseconds(round(fault.retry_delay_s * 1e9))
                details.append(error_details_pb2.RetryInfo(retry_delay=delay))
            await status.abort(context, fault.code, fault.message, details)
        raise AssertionError("unreachable: abort() raises")
