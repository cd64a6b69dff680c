"""`shop audit verify|list` against a stand-in audit service on audit-1's app port: what
the operator reads, the exit codes, and that the filters and ranges reach the service."""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest

from shop.audit.v1 import audit_record_pb2
from shop.audit.v1 import audit_service_pb2 as pb
from shop.audit.v1.audit_service_pb2_grpc import (
    AuditServiceServicer,
    add_AuditServiceServicer_to_server,
)
from shop.common.v1.event_pb2 import EventEnvelope
from shoptools.shop.cli import main
from shoptools.stack import audit
from shoptools.topology import Topology

HEAD = bytes(range(32))


@dataclass
class StandInAudit(AuditServiceServicer):
    """Answers with `verification`; lists `records` at most two per page; keeps the
    requests."""

    verification: pb.VerifyChainResponse = field(default_factory=pb.VerifyChainResponse)
    records: list[audit_record_pb2.AuditRecord] = field(default_factory=list)
    requests: list[Any] = field(default_factory=list)

    def VerifyChain(self, request: pb.VerifyChainRequest, context: Any) -> pb.VerifyChainResponse:
        self.requests.append(request)
        return self.verification

    def ListEvents(self, request: pb.ListEventsRequest, context: Any) -> pb.ListEventsResponse:
        self.requests.append(request)
        start = int(request.page_token or 0)
        end = start + min(request.page_size or 20, 2)
        more = end < len(self.records)
        return pb.ListEventsResponse(
            records=self.records[start:end], next_page_token=str(end) if more else ""
        )


@dataclass
class Stack:
    topology: Topology
    audit: StandInAudit


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """A topology whose audit-1 app port is the stand-in's."""
    stand_in = StandInAudit()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    add_AuditServiceServicer_to_server(stand_in, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    topology = Topology(state_dir=tmp_path, base_port=port - 100, services={"audit": 1})
    assert topology.instances("audit")[0].app_port == port
    try:
        yield Stack(topology, stand_in)
    finally:
        server.stop(grace=None)


def run(stack: Stack, *argv: str) -> tuple[int, str]:
    out = io.StringIO()
    args = audit_parser().parse_args(["audit", *argv])
    return audit.main(stack.topology, args, out), out.getvalue()


def audit_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    audit.add_parser(parser.add_subparsers(dest="command"), argparse.ArgumentParser(add_help=False))
    return parser


def record(sequence: int, subject: str) -> audit_record_pb2.AuditRecord:
    envelope = EventEnvelope(
        id=f"00000000-0000-4000-8000-{sequence:012d}",
        type="shop.orders.v1.OrderPlaced",
        subject=subject,
        correlation_id=f"req-{sequence}",
    )
    return audit_record_pb2.AuditRecord(sequence=sequence, event=envelope)


def test_an_intact_chain_prints_its_head_to_write_down_and_exits_0(stack: Stack) -> None:
    stack.audit.verification = pb.VerifyChainResponse(
        intact=True, records_checked=12, head_sequence=12, head_hash=HEAD
    )

    code, out = run(stack, "verify", "--from", "3")

    assert code == 0
    assert out.splitlines() == ["intact: 12 records checked", f"head: #12 {HEAD.hex()}"]
    [request] = stack.audit.requests
    assert request.HasField("from_sequence")
    assert request.from_sequence == 3
    assert not request.HasField("to_sequence")


def test_a_broken_chain_names_the_record_and_exits_1(stack: Stack) -> None:
    stack.audit.verification = pb.VerifyChainResponse(
        intact=False,
        records_checked=6,
        first_broken_sequence=7,
        broken_because=pb.CHAIN_BREAK_RECORD_MISSING,
        head_sequence=6,
        head_hash=HEAD,
    )

    code, out = run(stack, "verify")

    assert code == audit.BROKEN
    assert out.splitlines()[0] == "BROKEN at #7: removed"


def test_an_intact_chain_that_does_not_end_at_the_written_down_head_fails(stack: Stack) -> None:
    stack.audit.verification = pb.VerifyChainResponse(
        intact=True, records_checked=3, head_sequence=3, head_hash=HEAD
    )

    assert run(stack, "verify", "--expect-head", HEAD.hex().upper())[0] == 0
    code, out = run(stack, "verify", "--expect-head", "00" * 32)

    assert code == audit.BROKEN
    assert "rewritten" in out


def test_list_follows_pages_up_to_the_limit_with_the_filters(stack: Stack) -> None:
    stack.audit.records = [record(n, "orders/A") for n in range(1, 6)]

    code, out = run(
        stack, "list", "--aggregate", "orders/A", "--type", "shop.orders.v1.OrderPlaced", "-n", "3"
    )

    assert code == 0
    rows = out.splitlines()[1:]
    assert [row.split()[0] for row in rows] == ["1", "2", "3"]
    assert all(r.subject == "orders/A" for r in stack.audit.requests)
    assert all(r.type == "shop.orders.v1.OrderPlaced" for r in stack.audit.requests)
    assert [r.page_size for r in stack.audit.requests] == [3, 1]


def test_a_stack_without_audit_says_so(tmp_path: Path) -> None:
    out = io.StringIO()
    topology = Topology(state_dir=tmp_path, services={"catalog": 1})

    code = audit.verify(topology, pb.VerifyChainRequest(), expect_head=None, as_json=False, out=out)

    assert code == audit.UNREACHABLE
    assert out.getvalue() == "This stack runs no audit service.\n"


def test_shop_audit_is_a_command_of_shop(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        "shoptools.stack.runfile.running_topology", lambda state_dir: stack.topology
    )
    stack.audit.verification = pb.VerifyChainResponse(intact=True, head_hash=HEAD)

    assert main(["audit", "verify", "--state-dir", str(stack.topology.state_dir)]) == 0


def test_json_shows_an_events_data_even_when_nothing_imported_its_type() -> None:
    """The records' events are Anys: MessageToDict needs each event's module imported, which
    a fresh `shop` process has not done (it failed with "Can not find message descriptor")."""
    script = """
import json
from google.protobuf import any_pb2
from shop.audit.v1 import audit_record_pb2
from shop.common.v1.event_pb2 import EventEnvelope
from shoptools.stack import audit

data = any_pb2.Any(type_url="type.googleapis.com/shop.orders.v1.OrderPlaced", value=b"")
record = audit_record_pb2.AuditRecord(event=EventEnvelope(data=data))
print(json.dumps(audit._plain(record)))
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["event"]["data"]["@type"].endswith("OrderPlaced")
