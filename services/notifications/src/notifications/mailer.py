"""Email over SMTP: the adapter delivery talks to (a Mailer), built on the standard
library's smtplib, run in a worker thread so the event loop never blocks on the network.

A message's Message-ID is derived from its notification, so when a crash between the server
accepting it and the notification being marked SENT makes it go out again, the receiving
side can tell it is the same message.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from typing import Protocol
from urllib.parse import unquote, urlsplit

from notifications.domain import Notification

MESSAGE_ID_DOMAIN = "notifications.shop.local"
PERMANENT_FROM = 500  # SMTP reply codes from here on: do not try again


class MailerUnavailable(Exception):
    """The SMTP server could not be reached or broke off: nothing was accepted, nothing
    is wrong with the message; try again once it is back."""


class MailRefused(Exception):
    """The SMTP server answered, and refused the message."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"{code} {reason}")
        self.code = code
        self.reason = reason

    @property
    def permanent(self) -> bool:
        return self.code >= PERMANENT_FROM


class Mailer(Protocol):
    async def send(self, message: EmailMessage) -> None:
        """Returns once the server accepted the message; raises MailerUnavailable or
        MailRefused."""
        ...


def message_id(notification: Notification) -> str:
    return f"<{notification.notification_id}@{MESSAGE_ID_DOMAIN}>"


def email_for(notification: Notification, *, sender: str) -> EmailMessage:
    """The notification as a plain-text email to the address it was recorded with."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = notification.recipient
    message["Subject"] = notification.subject
    message["Date"] = formatdate(notification.created_at.timestamp(), usegmt=True)
    message["Message-ID"] = message_id(notification)
    message["X-Shop-Notification-Id"] = notification.notification_id
    message["X-Shop-Cause-Event-Id"] = notification.cause_event_id
    message.set_content(notification.body)
    return message


@dataclass(frozen=True)
class SmtpServer:
    """Where SMTP_URL points: smtp://, smtp+starttls:// or smtps://, with optional login."""

    host: str
    port: int
    security: str  # "plain", "starttls" or "tls"
    username: str = ""
    password: str = ""

    @classmethod
    def parse(cls, url: str) -> SmtpServer:
        parts = urlsplit(url)
        security = {"smtp": "plain", "smtp+starttls": "starttls", "smtps": "tls"}.get(parts.scheme)
        if security is None or not parts.hostname:
            raise ValueError(f"not an SMTP URL: {url!r}")
        default_port = 465 if security == "tls" else 25
        return cls(
            host=parts.hostname,
            port=parts.port or default_port,
            security=security,
            username=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
        )


class SmtpMailer:
    """One SMTP conversation per message: connections are not kept, so an SMTP server that
    restarts in between costs nothing (the volume of notifications makes reuse moot)."""

    def __init__(self, server: SmtpServer, *, timeout_s: float) -> None:
        self._server = server
        self._timeout_s = timeout_s

    async def send(self, message: EmailMessage) -> None:
        await asyncio.to_thread(self._send, message)

    def _send(self, message: EmailMessage) -> None:
        server = self._server
        try:
            with self._connect() as smtp:
                if server.security == "starttls":
                    smtp.starttls(context=ssl.create_default_context())
                if server.username:
                    smtp.login(server.username, server.password)
                smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as refused:
            code, reason = next(iter(refused.recipients.values()))
            raise MailRefused(code, _text(reason)) from refused
        except smtplib.SMTPResponseException as refused:
            if refused.smtp_code in (421, 451):  # the server is going away / overloaded
                raise MailerUnavailable(
                    f"{refused.smtp_code} {_text(refused.smtp_error)}"
                ) from refused
            raise MailRefused(refused.smtp_code, _text(refused.smtp_error)) from refused
        except (smtplib.SMTPException, OSError) as broken:  # refused, reset, timed out, TLS
            raise MailerUnavailable(f"{server.host}:{server.port}: {broken!r}") from broken

    def _connect(self) -> smtplib.SMTP:
        server = self._server
        if server.security == "tls":
            return smtplib.SMTP_SSL(
                server.host,
                server.port,
                timeout=self._timeout_s,
                context=ssl.create_default_context(),
            )
        return smtplib.SMTP(server.host, server.port, timeout=self._timeout_s)


def _text(reason: bytes | str) -> str:
    return reason.decode(errors="replace") if isinstance(reason, bytes) else reason
