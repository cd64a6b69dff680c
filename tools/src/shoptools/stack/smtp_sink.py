"""The local stack's SMTP sink: a real SMTP server (aiosmtpd) that accepts every message for
any recipient and keeps it as a file instead of delivering it, so tests and `shop mail`
can read what the services sent.

    python -m shoptools.stack.smtp_sink --port 8085 --maildir .state/mail

The mailbox is a directory with one RFC 5322 file per message in `new/`, named so that
names sort in arrival order; each is written to `tmp/` first and renamed, so a reader never
sees half a message. The sink adds `X-Sink-Mail-From` and `X-Sink-Rcpt-To` (the SMTP
envelope) and `X-Sink-Received` on top of the message as sent. It deduplicates nothing:
a message sent twice is there twice.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import signal
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.smtp import SMTP, Envelope, Session

HOST = "127.0.0.1"
ACCEPTED = "250 Message accepted for delivery"


@dataclass(frozen=True)
class SunkMail:
    """One message the sink accepted."""

    path: Path
    received: datetime
    mail_from: str  # the SMTP envelope's sender
    rcpt_to: tuple[str, ...]  # the SMTP envelope's recipients
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message.get("Subject", ""))

    @property
    def body(self) -> str:
        """The plain-text part (the whole body of a text/plain message)."""
        part = self.message.get_body(preferencelist=("plain",))
        return "" if part is None else str(part.get_content())


class Mailbox:
    """The sink's directory: the server writes it, tests and `shop mail` read it."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._sequence = itertools.count()

    def store(self, raw: bytes, *, mail_from: str, rcpt_to: list[str]) -> Path:
        (self.directory / "tmp").mkdir(parents=True, exist_ok=True)
        (self.directory / "new").mkdir(parents=True, exist_ok=True)
        received = datetime.now(UTC).isoformat()
        envelope = (
            f"X-Sink-Received: {received}\n"
            f"X-Sink-Mail-From: {mail_from}\n"
            f"X-Sink-Rcpt-To: {', '.join(rcpt_to)}\n"
        ).encode()
        # Nanoseconds, then a per-process counter: unique, and sorted in arrival order.
        name = f"{time.time_ns():020d}-{os.getpid()}-{next(self._sequence):06d}.eml"
        staged = self.directory / "tmp" / name
        staged.write_bytes(envelope + raw.replace(b"\r\n", b"\n"))  # files: local line ends
        final = self.directory / "new" / name
        staged.rename(final)  # atomic: readers see the whole message or none
        return final

    def messages(self, *, to: str = "", last: int = 0) -> list[SunkMail]:
        """Every message in arrival order; only those to `to` (an envelope recipient, any
        case) when given; only the `last` ones when given."""
        wanted = to.lower()
        found = [m for m in self._read() if not wanted or wanted in (r.lower() for r in m.rcpt_to)]
        return found[-last:] if last > 0 else found

    def _read(self) -> Iterator[SunkMail]:
        folder = self.directory / "new"
        if not folder.is_dir():
            return
        for path in sorted(folder.iterdir()):
            message = message_from_bytes(path.read_bytes(), policy=policy.default)
            assert isinstance(message, EmailMessage)  # policy.default makes EmailMessages
            recipients = str(message.get("X-Sink-Rcpt-To", ""))
            yield SunkMail(
                path=path,
                received=datetime.fromisoformat(str(message["X-Sink-Received"])),
                mail_from=str(message.get("X-Sink-Mail-From", "")),
                rcpt_to=tuple(r.strip() for r in recipients.split(",") if r.strip()),
                message=message,
            )


class _Keeper:
    """aiosmtpd's handler: every message goes into the mailbox."""

    def __init__(self, mailbox: Mailbox) -> None:
        self._mailbox = mailbox

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        await asyncio.to_thread(
            self._mailbox.store,
            envelope.original_content or b"",
            mail_from=str(envelope.mail_from or ""),
            rcpt_to=[str(r) for r in envelope.rcpt_tos],
        )
        return ACCEPTED


async def serve(port: int, maildir: Path, *, host: str = HOST) -> asyncio.Server:
    """A listening sink (until the returned server is closed)."""
    keeper = _Keeper(Mailbox(maildir))
    loop = asyncio.get_running_loop()

    def session() -> SMTP:
        return SMTP(keeper, hostname="smtp-sink.shop.local")

    return await loop.create_server(session, host=host, port=port, reuse_address=True)


async def accepts(port: int, *, host: str = HOST, timeout_s: float = 1.0) -> bool:
    """An SMTP server greets (220) on the port: the supervisor's health probe."""
    try:
        async with asyncio.timeout(timeout_s):
            reader, writer = await asyncio.open_connection(host, port)
            try:
                greeting = await reader.readline()
                writer.write(b"QUIT\r\n")
                await writer.drain()
            finally:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
    except (OSError, TimeoutError):
        return False
    return greeting.startswith(b"220")


def accepts_sync(port: int, *, host: str = HOST, timeout_s: float = 1.0) -> bool:
    """accepts() for callers without an event loop (`shop status`)."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as conn:
            conn.settimeout(timeout_s)
            greeting = conn.recv(512)
            conn.sendall(b"QUIT\r\n")
    except OSError:
        return False
    return greeting.startswith(b"220")


def render(mails: list[SunkMail]) -> str:
    """What `shop mail` prints: each message's envelope, headers and text."""
    blocks = []
    for mail in mails:
        headers = [
            f"Received:   {mail.received.isoformat(timespec='seconds')}",
            f"From:       {mail.message.get('From', mail.mail_from)}",
            f"To:         {', '.join(mail.rcpt_to)}",
            f"Subject:    {mail.subject}",
            f"Message-ID: {mail.message.get('Message-ID', '')}",
        ]
        blocks.append("\n".join(headers) + "\n\n" + mail.body.rstrip() + "\n")
    return ("\n" + "-" * 72 + "\n").join(blocks)


async def _main(port: int, maildir: Path) -> None:
    server = await serve(port, maildir)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    print(f"SMTP sink on {HOST}:{port}, mailbox {maildir}", flush=True)
    await stopping.wait()
    server.close()
    await server.wait_closed()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--maildir", type=Path, required=True)
    args = parser.parse_args(argv)
    asyncio.run(_main(args.port, args.maildir))


if __name__ == "__main__":
    main()
