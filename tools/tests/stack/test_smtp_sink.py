"""The stack's SMTP sink: a real SMTP server whose mailbox keeps every message it accepts,
in arrival order, readable by tests and by `shop mail`; and the health probe the
supervisor starts it with."""

from __future__ import annotations

import asyncio
import smtplib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from shoptools.shop.cli import main
from shoptools.stack import smtp_sink
from shoptools.stack.smtp_sink import Mailbox
from shoptools.topology import Topology

from .harness import ROOT

STARTUP_S = 30.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def topology(tmp_path: Path) -> Topology:
    return Topology(state_dir=tmp_path / "state", base_port=free_port() - 5)


@pytest.fixture
def sink(topology: Topology) -> Iterator[Topology]:
    """`python -m shoptools.stack.smtp_sink` as the supervisor runs it, on the topology's
    SMTP port and mailbox; stopped however the test ends."""
    command = [sys.executable, "-m", "shoptools.stack.smtp_sink"]
    command += ["--port", str(topology.smtp_port), "--maildir", str(topology.mail_dir)]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + STARTUP_S
        while not smtp_sink.accepts_sync(topology.smtp_port):
            assert process.poll() is None, "the sink exited"
            assert time.monotonic() < deadline, "the sink did not greet"
            time.sleep(0.05)
        yield topology
    finally:
        process.terminate()
        process.wait(timeout=30)


def send(port: int, *, to: str, subject: str, body: str) -> None:
    message = EmailMessage()
    message["From"] = "Shopmesh <notifications@shop.local>"
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = f"<{subject.replace(' ', '-')}@test>"
    message.set_content(body)
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        smtp.send_message(message)


def test_the_sink_keeps_every_message_with_its_envelope_in_arrival_order(
    sink: Topology,
) -> None:
    send(sink.smtp_port, to="ada@example.com", subject="first", body="Hello Ada")
    send(sink.smtp_port, to="bob@example.com", subject="second", body="Hello Bob")
    send(sink.smtp_port, to="ada@example.com", subject="first", body="Hello Ada")  # again

    mails = Mailbox(sink.mail_dir).messages()

    assert [(m.rcpt_to, m.subject) for m in mails] == [
        (("ada@example.com",), "first"),
        (("bob@example.com",), "second"),
        (("ada@example.com",), "first"),  # a sink deduplicates nothing
    ]
    assert mails[1].body == "Hello Bob\n"
    assert mails[1].mail_from == "notifications@shop.local"
    assert mails[1].message["Message-ID"] == "<second@test>"
    assert list((sink.mail_dir / "tmp").iterdir()) == []  # nothing half-written left


def test_the_mailbox_filters_by_recipient_and_keeps_the_last_n(sink: Topology) -> None:
    for n in range(3):
        send(sink.smtp_port, to="ada@example.com", subject=f"ada {n}", body="x")
        send(sink.smtp_port, to="bob@example.com", subject=f"bob {n}", body="x")

    mailbox = Mailbox(sink.mail_dir)

    assert [m.subject for m in mailbox.messages(to="ADA@example.com", last=2)] == [
        "ada 1",
        "ada 2",
    ]
    assert [m.subject for m in mailbox.messages(last=1)] == ["bob 2"]


def test_shop_mail_prints_the_messages_to_an_address(
    sink: Topology, capsys: pytest.CaptureFixture[str]
) -> None:
    send(sink.smtp_port, to="ada@example.com", subject="Your order A1 is on its way", body="DHL")
    send(sink.smtp_port, to="bob@example.com", subject="Not for Ada", body="no")

    status = main(["mail", "--state-dir", str(sink.state_dir), "--to", "ada@example.com"])

    printed = capsys.readouterr().out
    assert status == 0
    assert "Subject:    Your order A1 is on its way" in printed
    assert "To:         ada@example.com" in printed
    assert "DHL" in printed
    assert "Not for Ada" not in printed


def test_shop_mail_says_so_when_there_is_none(
    topology: Topology, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["mail", "--state-dir", str(topology.state_dir), "--to", "nobody@example.com"])

    assert status == 0
    assert capsys.readouterr().out.startswith("No mail to nobody@example.com in ")


def test_the_health_probe_needs_an_smtp_greeting(sink: Topology) -> None:
    assert asyncio.run(smtp_sink.accepts(sink.smtp_port))
    with socket.socket() as silent:  # listening, but never greets
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        assert not asyncio.run(smtp_sink.accepts(silent.getsockname()[1], timeout_s=0.2))
        assert not smtp_sink.accepts_sync(silent.getsockname()[1], timeout_s=0.2)
    assert not asyncio.run(smtp_sink.accepts(free_port()))
