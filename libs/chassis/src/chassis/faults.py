"""The fault taxonomy: which status a failure of something the service depends on gets.

A handler that fails because the database restarts, the pool is full or a peer is down has
no bug: the caller should retry later, and the mesh retries UNAVAILABLE for it. Only
what is left over is INTERNAL ("a bug, do not retry").

    lost/refused connection, failover, conflict that outlived its retries -> UNAVAILABLE
    no pooled connection free in time, a shed request (Overloaded)        -> RESOURCE_EXHAUSTED
    statement or lock timeout                                             -> DEADLINE_EXCEEDED
    a peer's transient failure the handler let through                    -> UNAVAILABLE
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc
import grpc.aio
import psycopg
from psycopg import errors as pg
from sqlalchemy import exc as sa

from chassis.errors import PeerError

# Conflicts Postgres says are safe to retry in a new transaction (chassis.uow retries them
# first; one that reaches the interceptor outlived those retries).
RETRYABLE_CONFLICTS: tuple[type[Exception], ...] = (pg.SerializationFailure, pg.DeadlockDetected)


class Overloaded(Exception):
    """Raised by a handler that sheds the request: the service has more work than it can
    finish in reasonable time. RESOURCE_EXHAUSTED, with when to come back."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class Fault:
    code: grpc.StatusCode
    message: str
    retry_delay_s: float | None = None  # sent as google.rpc.RetryInfo


def driver_error(error: BaseException) -> BaseException:
    """The database driver's error behind `error`: SQLAlchemy wraps it; a statement run on
    the driver (chassis.db.Query) raises it bare."""
    return error.orig if isinstance(error, sa.DBAPIError) and error.orig is not None else error


def classify(error: BaseException) -> Fault | None:
    """The fault `error` is, or None when it is a bug."""
    if isinstance(error, sa.TimeoutError):  # the pool's wait for a free connection
        return Fault(grpc.StatusCode.RESOURCE_EXHAUSTED, "the service is busy", 0.1)
    if isinstance(error, Overloaded):
        return Fault(grpc.StatusCode.RESOURCE_EXHAUSTED, str(error), error.retry_after_s)
    cause = driver_error(error)
    if isinstance(cause, RETRYABLE_CONFLICTS):
        return Fault(grpc.StatusCode.UNAVAILABLE, "a concurrent change conflicted; retry", 0.05)
    if isinstance(cause, pg.QueryCanceled | pg.LockNotAvailable):
        return Fault(grpc.StatusCode.DEADLINE_EXCEEDED, "the database did not answer in time")
    if isinstance(cause, psycopg.OperationalError | psycopg.InterfaceError | OSError) or (
        isinstance(error, sa.DBAPIError) and error.connection_invalidated
    ):
        return Fault(grpc.StatusCode.UNAVAILABLE, "the database is unavailable", 1.0)
    return _peer_fault(error)


def _peer_fault(error: BaseException) -> Fault | None:
    if isinstance(error, grpc.aio.AioRpcError):
        code: grpc.StatusCode = error.code()
    elif isinstance(error, PeerError):
        code = error.code
    else:
        return None
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return Fault(code, "a downstream call ran out of time")
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED):
        return Fault(grpc.StatusCode.UNAVAILABLE, "a service this call needs is unavailable", 1.0)
    return None  # a peer refused what we sent: our bug, unless the handler dealt with it
