"""Rich gRPC error details (google.rpc.Status in `grpc-status-details-bin`), both ways."""

from collections.abc import Sequence
from typing import Any, NoReturn, TypeVar

import grpc
import grpc.aio
from google.protobuf import any_pb2
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2

DETAILS_KEY = "grpc-status-details-bin"

_Detail = TypeVar("_Detail", bound=Message)


async def abort(
    context: grpc.aio.ServicerContext[Any, Any],
    code: grpc.StatusCode,
    message: str,
    details: Sequence[Message],
) -> NoReturn:
    """Ends the call with `code`, `message` and the details the caller can decode."""
    packed = []
    for detail in details:
        wrapped = any_pb2.Any()
        wrapped.Pack(detail)
        packed.append(wrapped)
    status = status_pb2.Status(code=code.value[0], message=message, details=packed)
    await context.abort(code, message, ((DETAILS_KEY, status.SerializeToString()),))


def detail(error: grpc.aio.AioRpcError, detail_type: type[_Detail]) -> _Detail | None:
    """The first detail of `detail_type` a failed call carried, if any."""
    for key, value in error.trailing_metadata() or ():
        if key == DETAILS_KEY and isinstance(value, bytes):
            for packed in status_pb2.Status.FromString(value).details:
                found = detail_type()
                if packed.Unpack(found):
                    return found
    return None


def error_info(error: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo | None:
    """Why a call failed (reason, domain, metadata), when the callee said so."""
    return detail(error, error_details_pb2.ErrorInfo)
