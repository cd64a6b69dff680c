"""Who may do what on the stack's NATS: the permissions rendered from the policy's events
section, then a real nats-server started with that configuration, and clients that connect
as the chassis does (TLS verified with the stack's CA, the service's own credentials, its
own inbox prefix)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import ssl
import stat
import subprocess
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import nats
import nats.errors
import pytest
from cryptography import x509
from nats.aio.client import Client
from nats.js.api import AckPolicy, ConsumerConfig

from shoptools.mesh.pki import cert_path
from shoptools.mesh.policy import MeshPolicy, load_policy
from shoptools.stack import nats as stack_nats
from shoptools.stack import nats_auth
from shoptools.stack.nats_auth import Permissions, permissions
from shoptools.topology import Topology

from .harness import isolated_topology
from .test_nats import REPO_POLICY

CANCELLED = "payments-order-cancelled"  # payments' consumer on ORDERS, in the policy


@pytest.fixture(scope="module")
def policy() -> MeshPolicy:
    return load_policy(REPO_POLICY)


# --- the policy, rendered --------------------------------------------------------------
def test_a_service_publishes_its_own_events_and_reads_only_its_inbox(policy: MeshPolicy) -> None:
    assert permissions(policy, "catalog") == Permissions(
        publish=("catalog.>",), subscribe=("_INBOX.catalog.>",)
    )


def test_a_consumer_gets_exactly_the_api_subjects_of_its_own_durables(
    policy: MeshPolicy,
) -> None:
    assert permissions(policy, "payments") == Permissions(
        publish=(
            "payments.>",
            "deadletter.payments.>",
            f"$JS.API.CONSUMER.CREATE.ORDERS.{CANCELLED}",
            f"$JS.API.CONSUMER.MSG.NEXT.ORDERS.{CANCELLED}",
            f"$JS.ACK.ORDERS.{CANCELLED}.>",
        ),
        subscribe=("_INBOX.payments.>",),
    )
    audit = permissions(policy, "audit")
    assert not [s for s in audit.publish if s.startswith("audit.")]  # it publishes nothing
    created = {s.removeprefix("$JS.API.CONSUMER.CREATE.") for s in audit.publish if "CREATE" in s}
    assert created == {
        "CATALOG.audit-catalog",
        "INVENTORY.audit-inventory",
        "NOTIFICATIONS.audit-notifications",
        "ORDERS.audit-orders",
        "PAYMENTS.audit-payments",
        "SHIPPING.audit-shipping",
    }


def test_no_service_gets_a_wildcard_beyond_its_own(policy: MeshPolicy) -> None:
    for service in policy.contracts:
        allowed = permissions(policy, service)
        for subject in allowed.publish:
            tokens = subject.split(".")
            assert "*" not in tokens, subject  # never "any consumer" or "any stream"
            assert service in subject or subject.startswith("$JS."), subject
            if subject.startswith("$JS."):
                assert tokens[-1] == ">" or tokens[-1].startswith(f"{service}-"), subject
        assert allowed.subscribe == (f"_INBOX.{service}.>",)


def test_the_configuration_and_the_passwords_are_private_and_kept(policy: MeshPolicy) -> None:
    with isolated_topology() as topology:
        path = nats_auth.write_config(topology, policy)
        first = json.loads(path.read_text())
        nats_auth.write_config(topology, policy)

        assert json.loads(path.read_text()) == first  # the same passwords again
        for private in (path, nats_auth.secrets_path(topology)):
            assert stat.S_IMODE(private.stat().st_mode) == 0o600
        users = {u["user"]: u for u in first["authorization"]["users"]}
        assert set(users) == {*policy.contracts, "admin"}
        assert "permissions" not in users["admin"]
        assert all(len(u["password"]) >= 32 for u in users.values())
        assert first["listen"] == f"127.0.0.1:{topology.nats_port}"
        assert first["jetstream"]["sync_interval"] == "always"  # acked = on disk
        cert = x509.load_pem_x509_certificate(cert_path(topology.pki_dir, "nats").read_bytes())
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]


# --- a real server with that configuration ---------------------------------------------
@pytest.fixture(scope="module")
def topology(policy: MeshPolicy) -> Iterator[Topology]:
    """A running NATS with the stack's configuration and streams (and nothing else)."""
    with isolated_topology() as topology:
        nats_auth.write_config(topology, policy)
        with subprocess.Popen(
            stack_nats.server_command(topology), stderr=subprocess.DEVNULL
        ) as nats_server:
            try:
                wait_healthy(topology)
                asyncio.run(stack_nats.ensure_streams(topology))
                yield topology
            finally:
                nats_server.terminate()


def wait_healthy(topology: Topology) -> None:
    for _ in range(200):
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(stack_nats.health_url(topology), timeout=1),
        ):
            return
        time.sleep(0.05)
    raise AssertionError("nats did not become healthy")


class Violations:
    """What the server said a connection may not do (nats-py reports it asynchronously)."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    async def record(self, error: Exception) -> None:  # an error_cb
        self.errors.append(str(error))

    async def seen(self, fragment: str) -> bool:
        for _ in range(40):
            if any(fragment in error for error in self.errors):
                return True
            await asyncio.sleep(0.05)
        return False


@asynccontextmanager
async def connected_as(
    topology: Topology, user: str, violations: Violations | None = None
) -> AsyncIterator[Client]:
    """As chassis.broker connects: the user's URL, the stack's CA, its inbox prefix."""
    client = await nats.connect(
        stack_nats.service_url(topology, user),
        tls=stack_nats.tls_context(topology),
        inbox_prefix=nats_auth.inbox_prefix(user),
        error_cb=(violations or Violations()).record,
        max_reconnect_attempts=0,
    )
    try:
        yield client
    finally:
        await client.close()


async def messages_in(topology: Topology, stream: str) -> int:
    client = await stack_nats.connect(topology)
    try:
        return (await client.jetstream().stream_info(stream)).state.messages
    finally:
        await client.close()


def test_a_service_publishes_its_own_events_and_is_refused_another_contexts(
    topology: Topology,
) -> None:
    async def scenario() -> None:
        violations = Violations()
        async with connected_as(topology, "catalog", violations) as catalog:
            js = catalog.jetstream(timeout=1.0)
            ack = await js.publish("catalog.product.upserted", b"{}", headers={"Nats-Msg-Id": "1"})
            assert ack.stream == "CATALOG"

            orders_before = await messages_in(topology, "ORDERS")
            with pytest.raises(nats.errors.TimeoutError):  # the server drops it: no ack
                await js.publish("orders.order.placed", b"{}", headers={"Nats-Msg-Id": "2"})
            assert await violations.seen(
                'permissions violation for publish to "orders.order.placed"'
            )
            assert await messages_in(topology, "ORDERS") == orders_before
            with pytest.raises(nats.errors.TimeoutError):  # nor a dead letter of another's
                await js.publish("deadletter.payments.x", b"{}")

    asyncio.run(scenario())


def test_a_service_runs_its_declared_consumer_and_reads_nothing_else(
    topology: Topology,
) -> None:
    async def scenario() -> None:
        admin = await stack_nats.connect(topology)
        await admin.jetstream().publish("orders.order.cancelled", b"cancelled")
        await admin.jetstream().publish("orders.order.placed", b"placed")
        await admin.close()

        violations = Violations()
        async with connected_as(topology, "payments", violations) as payments:
            js = payments.jetstream(timeout=1.0)
            # What chassis.consumer does: create the durable, bind, fetch, nak, ack.
            await js.add_consumer(
                "ORDERS",
                ConsumerConfig(
                    durable_name=CANCELLED,
                    name=CANCELLED,
                    filter_subjects=["orders.order.cancelled"],
                    ack_policy=AckPolicy.EXPLICIT,
                ),
            )
            pull = await js.pull_subscribe_bind(durable=CANCELLED, stream="ORDERS")
            [first] = await pull.fetch(1, timeout=2)
            assert first.data == b"cancelled"
            await first.nak(delay=0.1)
            [again] = await pull.fetch(1, timeout=2)
            assert again.metadata.num_delivered == 2
            await js.publish(f"deadletter.payments.{CANCELLED}", again.data)  # its dead letter
            await again.ack_sync()
            assert violations.errors == []

            refused = [
                # another durable name on the same stream, or its own on another stream
                js.add_consumer("ORDERS", durable_name="payments-all", name="payments-all"),
                js.add_consumer("CATALOG", durable_name=CANCELLED, name=CANCELLED),
                # another service's consumer
                js.add_consumer("ORDERS", durable_name="audit-orders", name="audit-orders"),
            ]
            for attempt in refused:
                with pytest.raises(nats.errors.TimeoutError):
                    await attempt
            for subject in (
                "$JS.API.CONSUMER.CREATE.ORDERS.payments-all",
                f"$JS.API.CONSUMER.CREATE.CATALOG.{CANCELLED}",
                "$JS.API.CONSUMER.CREATE.ORDERS.audit-orders",
            ):
                assert await violations.seen(subject.lower()), violations.errors
            # Reading the stream's subjects directly, or anyone's replies and deliveries.
            for subject in ("orders.>", "_INBOX.>", "_INBOX.audit.>"):
                await payments.subscribe(subject)
                assert await violations.seen(f'subscription to "{subject.lower()}"'), subject

    asyncio.run(scenario())


def test_a_client_without_credentials_or_tls_is_refused(topology: Topology) -> None:
    async def connect(url: str, tls: ssl.SSLContext | None) -> None:
        client = await nats.connect(
            url, tls=tls, max_reconnect_attempts=0, allow_reconnect=False, connect_timeout=2
        )
        await client.close()

    async def scenario() -> None:
        ca = stack_nats.tls_context(topology)
        address = f"127.0.0.1:{topology.nats_port}"
        with pytest.raises(nats.errors.Error, match=r"[Aa]uthorization"):
            await connect(f"tls://{address}", ca)  # no credentials
        with pytest.raises(nats.errors.Error, match=r"[Aa]uthorization"):
            await connect(f"tls://catalog:guessed@{address}", ca)
        # Credentials, but a server the client cannot verify (it does not trust the CA).
        password = stack_nats.service_url(topology, "catalog").split(":")[2].split("@")[0]
        with pytest.raises((ssl.SSLError, nats.errors.Error)):
            await connect(f"tls://catalog:{password}@{address}", ssl.create_default_context())

    asyncio.run(scenario())

    # Plaintext: the server insists on TLS before it reads a CONNECT.
    with socket.create_connection(("127.0.0.1", topology.nats_port), timeout=5) as plain:
        info = plain.makefile("rb").readline()
        assert b'"tls_required":true' in info
        plain.sendall(b'CONNECT {"verbose":true}\r\nPING\r\n')
        reply = b""
        while chunk := plain.recv(4096):
            reply += chunk
        assert b"+OK" not in reply
        assert b"PONG" not in reply
