"""One JSON log line per call: method, code, duration, and (from chassis.logs) the
correlation id, trace id and caller."""

import logging
import time

import grpc
from google.protobuf.message import Message

from chassis.interceptors._base import Context, Handler, UnaryServerInterceptor, observe

log = logging.getLogger("chassis.access")

# Codes that mean the service failed, rather than the caller asking for something wrong.
_SERVER_FAULTS = frozenset(
    {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.DATA_LOSS}
)
# Sidecars probe health every few seconds; those lines only matter when debugging.
_QUIET_PREFIX = "/grpc.health.v1.Health/"


class AccessLogInterceptor(UnaryServerInterceptor):
    async def around(
        self, handler: Handler, request: Message, context: Context, method: str
    ) -> Message:
        started = time.perf_counter()

        def done(code: grpc.StatusCode) -> None:
            if code in _SERVER_FAULTS:
                level = logging.ERROR
            elif method.startswith(_QUIET_PREFIX):
                level = logging.DEBUG
            else:
                level = logging.INFO
            if not log.isEnabledFor(level):
                return
            # makeRecord + handle is what log.log() does, minus finding the caller's source
            # line by walking the stack: this line always comes from here.
            log.handle(
                log.makeRecord(
                    log.name,
                    level,
                    __file__,
                    0,
                    "%s %s",
                    (method, code.name),
                    None,
                    extra={
                        "method": method,
                        "code": code.name,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                    },
                )
            )

        return await observe(handler, request, context, done)
