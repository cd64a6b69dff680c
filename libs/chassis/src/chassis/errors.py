"""Domain errors: what a use case raises when a request cannot succeed, and which gRPC code
the caller gets for it.

The error interceptor turns them into a status with a google.rpc.ErrorInfo detail (reason =
the contract's ErrorReason value name without its prefix) and, for InvalidArgument naming a
field, a google.rpc.BadRequest detail. Anything that is not a DomainError is a bug, and the
caller gets INTERNAL.
"""

from typing import ClassVar

import grpc


class DomainError(Exception):
    code: ClassVar[grpc.StatusCode] = grpc.StatusCode.UNKNOWN

    def __init__(
        self, message: str, *, reason: str, metadata: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason
        self.metadata = dict(metadata or {})


class NotFound(DomainError):
    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(DomainError):
    code = grpc.StatusCode.ALREADY_EXISTS


class FailedPrecondition(DomainError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class InvalidArgument(DomainError):
    """A request the contract's rules accept but the domain does not, e.g. a bad page token."""

    code = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(
        self,
        message: str,
        *,
        reason: str,
        field: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message, reason=reason, metadata=metadata)
        self.field = field


class PermissionDenied(DomainError):
    code = grpc.StatusCode.PERMISSION_DENIED


class Unavailable(DomainError):
    code = grpc.StatusCode.UNAVAILABLE
