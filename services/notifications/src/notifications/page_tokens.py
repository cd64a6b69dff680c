"""Opaque page tokens for ListNotifications: base64url JSON that says after which
notification the next page starts and which filter it belongs to, so a token is refused
when replayed with another channel."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime

from chassis.domain import DomainError
from notifications.repository import Position


class InvalidPageToken(DomainError):
    """The token is malformed or was issued for a different request."""

    def __init__(self, message: str) -> None:
        super().__init__(message, field="page_token")


def encode(position: Position, *, channel: str) -> str:
    payload = {
        "c": channel,
        "t": position.created_at.isoformat(),
        "id": position.notification_id,
    }
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode(token: str, *, channel: str) -> Position | None:
    """None (the first page) for an empty token, else where `token` left off."""
    if not token:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        created_at = datetime.fromisoformat(payload["t"])
        notification_id = payload["id"]
        issued_for = payload["c"]
    except (binascii.Error, ValueError, TypeError, KeyError) as error:
        raise InvalidPageToken("malformed page token") from error
    if not isinstance(notification_id, str) or created_at.tzinfo is None:
        raise InvalidPageToken("malformed page token")
    if issued_for != channel:
        raise InvalidPageToken("page token was issued for a different request")
    return Position(created_at, notification_id)
