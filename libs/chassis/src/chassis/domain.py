"""What a service's domain raises when a request cannot succeed: plain exceptions, no gRPC.

A service subclasses DomainError for each outcome its contract names (ProductNotFound,
InsufficientStock, ...) and maps each class once to a status code and an ErrorReason
(chassis.errors.ErrorMap); the error interceptor does the rest.
"""

from __future__ import annotations


class DomainError(Exception):
    """A request the domain refuses. `field` names the offending request field, if one
    is to blame; `metadata` is machine-readable context for the caller ({"sku": ...})."""

    def __init__(
        self, message: str, *, field: str | None = None, metadata: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.metadata = dict(metadata or {})


class IdempotencyKeyReused(DomainError):
    """The idempotency key was used before with a different request."""
