"""The shape every chassis server interceptor shares: code around one unary call."""

from __future__ import annotations

import abc
import asyncio
import functools
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import grpc
import grpc.aio
from google.protobuf.message import Message

Context = grpc.aio.ServicerContext[Any, Any]
Handler = Callable[[Message, Context], Awaitable[Message]]
_Continuation = Callable[
    [grpc.HandlerCallDetails], Awaitable["grpc.RpcMethodHandler[Any, Any] | None"]
]


class UnaryServerInterceptor(grpc.aio.ServerInterceptor, abc.ABC):
    """Runs `around` each unary-unary call (every Shopmesh RPC and health Check).

    Streaming handlers (reflection, health Watch) pass through untouched. Handlers must be
    coroutines, as in every grpc.aio servicer.
    """

    # gRPC asks every interceptor for the handler on every call. The handler below us is
    # the same object call after call (the servicer's, or the next interceptor's cached
    # wrapper), so each method's wrapper is built once and reused: no allocations per call.
    _wrappers: dict[str, tuple[grpc.RpcMethodHandler[Any, Any], grpc.RpcMethodHandler[Any, Any]]]

    async def intercept_service(
        self, continuation: _Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        method = handler_call_details.method
        try:
            wrappers = self._wrappers
        except AttributeError:  # subclasses need not call an __init__ of ours
            wrappers = self._wrappers = {}
        cached = wrappers.get(method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        wrapped = self._wrap(handler, method)
        wrappers[method] = (handler, wrapped)
        return wrapped

    def _wrap(
        self, handler: grpc.RpcMethodHandler[Any, Any], method: str
    ) -> grpc.RpcMethodHandler[Any, Any]:
        inner: Handler = handler.unary_unary  # type: ignore[assignment]  # aio: a coroutine
        around = self.around

        async def behavior(request: Message, context: Context) -> Message:
            return await around(inner, request, context, method)

        return grpc.unary_unary_rpc_method_handler(
            behavior,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    @abc.abstractmethod
    async def around(
        self, handler: Handler, request: Message, context: Context, method: str
    ) -> Message:
        """Does this interceptor's part and calls `handler` (the rest of the chain)."""


class InterceptorChain(grpc.aio.ServerInterceptor):
    """Several interceptors as one. gRPC asks every interceptor for the handler on every
    call, through a coroutine per interceptor; the chain is asked once, and composes the
    stages' `around`s into one handler per method, once (partials: no frame of their own).
    The first stage is the outermost."""

    def __init__(self, stages: Sequence[UnaryServerInterceptor]) -> None:
        self._stages = list(stages)
        self._wrappers: dict[
            str, tuple[grpc.RpcMethodHandler[Any, Any], grpc.RpcMethodHandler[Any, Any]]
        ] = {}

    async def intercept_service(
        self, continuation: _Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        method = handler_call_details.method
        cached = self._wrappers.get(method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        call: Handler = handler.unary_unary  # type: ignore[assignment]  # aio: a coroutine
        for stage in reversed(self._stages):
            call = functools.partial(stage.around, call, method=method)
        wrapped = grpc.unary_unary_rpc_method_handler(
            call,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
        self._wrappers[method] = (handler, wrapped)
        return wrapped


async def observe(
    handler: Handler,
    request: Message,
    context: Context,
    on_done: Callable[[grpc.StatusCode], None],
) -> Message:
    """Runs the rest of the chain, then tells `on_done` the code the call ended with,
    however it ended (returned, aborted, raised or cancelled)."""
    error: BaseException | None = None
    try:
        return await handler(request, context)
    except BaseException as raised:
        error = raised
        raise
    finally:
        on_done(outcome(context, error))


def outcome(context: Context, error: BaseException | None) -> grpc.StatusCode:
    """The status code a call ended with, seen from an interceptor around it."""
    code: grpc.StatusCode | None = context.code()  # None until a handler sets or aborts
    if error is None:
        return code or grpc.StatusCode.OK
    if isinstance(error, grpc.aio.AbortError):
        return code or grpc.StatusCode.UNKNOWN
    if isinstance(error, asyncio.CancelledError):
        remaining: float | None = context.time_remaining()
        if remaining is not None and remaining <= 0:
            return grpc.StatusCode.DEADLINE_EXCEEDED
        return grpc.StatusCode.CANCELLED
    return grpc.StatusCode.UNKNOWN


def method_parts(method: str) -> tuple[str, str]:
    """Splits "/shop.catalog.v1.CatalogService/GetProduct" into the service's full name
    and the method name."""
    service, _, name = method.lstrip("/").partition("/")
    return service, name
