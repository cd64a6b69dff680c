"""ListNotifications page positions (after which notification the next page starts), in
opaque tokens bound to the channel filter (chassis.page_tokens)."""

from __future__ import annotations

from datetime import datetime

from chassis import page_tokens
from chassis.page_tokens import InvalidPageToken
from notifications.repository import Position


def encode(position: Position, *, channel: str) -> str:
    return page_tokens.encode(
        {"t": position.created_at.isoformat(), "id": position.notification_id}, channel
    )


def decode(token: str, *, channel: str) -> Position | None:
    """None (the first page) for an empty token, else where `token` left off."""
    payload = page_tokens.decode(token, channel)
    if payload is None:
        return None
    try:
        created_at = datetime.fromisoformat(str(payload["t"]))
        notification_id = payload["id"]
    except (ValueError, KeyError) as error:
        raise InvalidPageToken("malformed page token") from error
    if not isinstance(notification_id, str) or created_at.tzinfo is None:
        raise InvalidPageToken("malformed page token")
    return Position(created_at, notification_id)
