"""Typed errors both ways: what a service answers when a request fails, and what a caller
gets back when a peer's call fails.

Serving: a service maps each of its domain exceptions once to a gRPC code and one of its
contract's ErrorReason values (`ErrorMap`); the error interceptor answers with that code
and a google.rpc.ErrorInfo{reason, domain, metadata} (plus a BadRequest naming the field,
if the exception names one). Calling: `peer_error()` turns the status a peer answered into
a `PeerError` whose `reason` compares equal to the `Reason` constant of the callee's
contract, so a caller (the saga) can tell "out of stock" from "the service is down".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import grpc
import grpc.aio
from google.protobuf.descriptor import EnumDescriptor
from google.protobuf.message import Message
from google.rpc import error_details_pb2

from chassis import status
from chassis.domain import DomainError, IdempotencyKeyReused
from chassis.page_tokens import InvalidPageToken
from shop.common.v1 import errors_pb2 as common_errors

REASON_PREFIX = "ERROR_REASON_"
SHARED_DOMAIN = "shop.local"


class _EnumType(Protocol):
    """A generated enum (its EnumTypeWrapper), e.g. shop.catalog.v1.errors_pb2.ErrorReason."""

    DESCRIPTOR: EnumDescriptor


@dataclass(frozen=True)
class Reason:
    """One value of a contract's ErrorReason, as it travels in google.rpc.ErrorInfo."""

    domain: str  # "catalog.shop.local"; "shop.local" for shop.common.v1's shared reasons
    name: str  # the value's name without its prefix: "PRODUCT_NOT_FOUND"

    @classmethod
    def of(cls, enum: _EnumType, value: int) -> Reason:
        """`Reason.of(ErrorReason, ErrorReason.ERROR_REASON_PRODUCT_NOT_FOUND)`; refuses a
        number the enum does not define, so a map cannot drift from the contract."""
        descriptor = enum.DESCRIPTOR
        if value not in descriptor.values_by_number or value == 0:
            raise ValueError(f"{descriptor.full_name} defines no reason {value}")
        name = descriptor.values_by_number[value].name.removeprefix(REASON_PREFIX)
        return cls(_domain(descriptor), name)


def _domain(enum: EnumDescriptor) -> str:
    """shop.<context>.v1.ErrorReason -> "<context>.shop.local" (proto/README.md)."""
    context = enum.full_name.split(".")[1]
    return SHARED_DOMAIN if context == "common" else f"{context}.shop.local"


IDEMPOTENCY_KEY_REUSED = Reason.of(
    common_errors.ErrorReason, common_errors.ERROR_REASON_IDEMPOTENCY_KEY_REUSED
)
INVALID_PAGE_TOKEN = Reason.of(
    common_errors.ErrorReason, common_errors.ERROR_REASON_INVALID_PAGE_TOKEN
)


@dataclass(frozen=True)
class Answer:
    """What the caller gets for a refused request."""

    code: grpc.StatusCode
    reason: Reason
    message: str
    field: str | None = None
    metadata: Mapping[str, str] = dataclasses.field(default_factory=dict)
    extra: Sequence[Message] = ()
    """More google.rpc details the contract asks for (e.g. a PreconditionFailure)."""

    def details(self) -> list[Message]:
        info = error_details_pb2.ErrorInfo(
            reason=self.reason.name, domain=self.reason.domain, metadata=dict(self.metadata)
        )
        details: list[Message] = [info]
        if self.field:
            violation = error_details_pb2.BadRequest.FieldViolation(
                field=self.field, description=self.message
            )
            details.append(error_details_pb2.BadRequest(field_violations=[violation]))
        return [*details, *self.extra]


Details = Callable[[Any], Sequence[Message]]
"""More details for an answer, from the exception (e.g. a PreconditionFailure)."""
Mapped = tuple[grpc.StatusCode, Reason] | tuple[grpc.StatusCode, Reason, Details]


class ErrorMap:
    """A service's domain exceptions -> gRPC code and ErrorReason (and, where the contract
    asks for more, a function giving further details), declared once.

    Subclasses match their nearest mapped ancestor. The chassis's own outcomes (a reused
    idempotency key, a bad page token) are always mapped."""

    def __init__(self, entries: Mapping[type[Exception], Mapped]) -> None:
        self._entries: dict[type[Exception], Mapped] = {
            IdempotencyKeyReused: (grpc.StatusCode.ALREADY_EXISTS, IDEMPOTENCY_KEY_REUSED),
            InvalidPageToken: (grpc.StatusCode.INVALID_ARGUMENT, INVALID_PAGE_TOKEN),
            **entries,
        }

    def answer(self, error: Exception) -> Answer | None:
        """The answer for `error`, or None when it is not a mapped outcome (then a bug)."""
        for cls in type(error).__mro__:
            mapped = self._entries.get(cls)
            if mapped is not None:
                code, reason = mapped[0], mapped[1]
                extra = mapped[2](error) if len(mapped) == 3 else ()
                if isinstance(error, DomainError):
                    return Answer(code, reason, error.message, error.field, error.metadata, extra)
                return Answer(code, reason, str(error), extra=extra)
        return None


NO_ERRORS = ErrorMap({})


# --- calling ------------------------------------------------------------------------------
# Codes a caller may retry later (with backoff), as opposed to answers that will not change.
TRANSIENT_CODES = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.ABORTED,
    }
)


class PeerError(Exception):
    """A call to another service failed: its code, and its reason when the callee gave one.

    Match on the reason (`error.reason == INSUFFICIENT_STOCK`) for answers the contract
    names, and on `transient` to choose between retrying later and giving up now."""

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        *,
        reason: Reason | None = None,
        metadata: Mapping[str, str] | None = None,
        retry_delay_s: float | None = None,
    ) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message
        self.reason = reason
        self.metadata = dict(metadata or {})
        self.retry_delay_s = retry_delay_s

    @property
    def transient(self) -> bool:
        return self.code in TRANSIENT_CODES


def peer_error(error: grpc.aio.AioRpcError) -> PeerError:
    """The typed form of a failed call's status."""
    info = status.error_info(error)
    retry = status.detail(error, error_details_pb2.RetryInfo)
    return PeerError(
        error.code(),
        error.details() or "",
        reason=Reason(info.domain, info.reason) if info is not None and info.reason else None,
        metadata=dict(info.metadata) if info is not None else None,
        retry_delay_s=retry.retry_delay.ToTimedelta().total_seconds() if retry else None,
    )
