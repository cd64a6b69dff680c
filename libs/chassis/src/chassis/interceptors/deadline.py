"""Every call runs within a deadline: the caller's, or the service's default when it sent
none. The handler is cancelled when the budget runs out, and what is left of the budget
is what chassis.clients gives the calls the handler makes downstream."""

import asyncio
import time

import grpc
from google.protobuf.message import Message

from chassis import context as call_context
from chassis.interceptors._base import Context, Handler, UnaryServerInterceptor


class DeadlineInterceptor(UnaryServerInterceptor):
    def __init__(self, default_deadline_s: float) -> None:
        self._default = default_deadline_s

    async def around(
        self, handler: Handler, request: Message, context: Context, method: str
    ) -> Message:
        remaining: float | None = context.time_remaining()  # None: the caller set no deadline
        budget = self._default if remaining is None else remaining
        call_context.deadline.set(time.monotonic() + budget)
        try:
            async with asyncio.timeout(budget) as timeout:
                return await handler(request, context)
        except TimeoutError:
            if not timeout.expired():
                raise
        await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "deadline exceeded")
