"""Who may do what on the stack's NATS: the server's configuration, rendered from the mesh
policy's `events` section.

- One user per service (its name), with a password generated once into the state
  directory (`secrets/nats.json`, 0600), and permissions that are allow lists:
  publish its own context's events (`<service>.>`, when its contract declares events);
  for each durable consumer the policy gives it, exactly the JetStream API subjects the
  chassis uses to run it (create, fetch, ack and nak) and its dead letters
  (`deadletter.<service>.>`); subscribe only to its own inbox (`_INBOX.<service>.>`,
  where replies and fetched messages arrive: chassis.broker connects with that prefix),
  so it cannot read another connection's deliveries or replies.
- An `admin` user for the stack's own tools (streams, `shop dlq`, tests): no limits.
- TLS from the mesh CA: the server's certificate (identity "nats", with a SAN for the
  address clients dial) is verified by every client; a plaintext client is refused, and
  so is one without credentials. Clients present no certificate: the credentials say who
  they are (a service process does not hold its mesh key; its sidecar does).

What the server cannot check: a consumer's filter subjects. It sees the stream and the
consumer's name in the API subject, not the filter in the request body, so a service's
consumer may read its whole stream; the subjects the policy lists are the consumer's
declared filter, checked against the contracts.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shoptools.mesh.pki import (
    ca_cert_path,
    cert_path,
    ensure_server_cert,
    key_path,
    write_private_file,
)
from shoptools.mesh.policy import MeshPolicy
from shoptools.topology import Topology

ADMIN = "admin"  # the stack's own tools
SERVER_IDENTITY = "nats"  # its certificate's identity in the mesh PKI
HOST = "127.0.0.1"  # where it listens, and the address its certificate names
DEAD_LETTER_PREFIX = "deadletter"  # deadletter.<service>.<subscription> (chassis.consumer)
INBOX_PREFIX = "_INBOX"  # a user's replies arrive under _INBOX.<user> (chassis.broker)
TLS_TIMEOUT_S = 5.0  # the handshake, on a busy machine with many connections starting


def stream_name(context: str) -> str:
    """Each context publishes into its own stream: ORDERS on orders.>, ..."""
    return context.upper()


def inbox_prefix(user: str) -> str:
    return f"{INBOX_PREFIX}.{user}"


@dataclass(frozen=True)
class Permissions:
    publish: tuple[str, ...]
    subscribe: tuple[str, ...]


def permissions(policy: MeshPolicy, service: str) -> Permissions:
    """What `service`'s credentials allow, from the contracts and the events policy."""
    publish = [f"{service}.>"] if policy.publishes_events(service) else []
    subscriptions = policy.subscriptions(service)
    if subscriptions:
        publish.append(f"{DEAD_LETTER_PREFIX}.{service}.>")
    for subscription in subscriptions:
        consumer = f"{stream_name(subscription.context)}.{subscription.name}"
        publish += [
            f"$JS.API.CONSUMER.CREATE.{consumer}",  # js.add_consumer (filter_subjects)
            f"$JS.API.CONSUMER.MSG.NEXT.{consumer}",  # fetch
            f"$JS.ACK.{consumer}.>",  # ack, nak (the delivered message's reply subject)
        ]
    return Permissions(publish=tuple(publish), subscribe=(f"{inbox_prefix(service)}.>",))


def users(policy: MeshPolicy) -> list[str]:
    """Every user of the server: each service of the contracts (running or not), admin."""
    return [*sorted(policy.contracts), ADMIN]


def config_path(topology: Topology) -> Path:
    return topology.nats_dir / "nats.conf"


def secrets_path(topology: Topology) -> Path:
    return topology.state_dir / "secrets" / "nats.json"


def passwords(topology: Topology, names: list[str]) -> dict[str, str]:
    """Each user's password, created once and kept (readable by the owner only)."""
    path = secrets_path(topology)
    stored: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    missing = [name for name in names if name not in stored]
    if missing:
        stored |= {name: secrets.token_urlsafe(24) for name in missing}
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_private_file(path, json.dumps(stored, indent=2).encode())
    return stored


def render_config(
    topology: Topology, policy: MeshPolicy, passwords: dict[str, str]
) -> dict[str, Any]:
    """The nats-server configuration (its format reads JSON)."""
    pki = topology.pki_dir
    return {
        "listen": f"{HOST}:{topology.nats_port}",
        "http": f"{HOST}:{topology.nats_monitor_port}",  # health and monitoring, loopback
        # A publish is acknowledged only once it is on disk: the relay marks an event
        # published on that ack, so an ack that a power cut could undo would lose it.
        "jetstream": {"store_dir": str(topology.nats_dir), "sync_interval": "always"},
        "tls": {
            "cert_file": str(cert_path(pki, SERVER_IDENTITY)),
            "key_file": str(key_path(pki, SERVER_IDENTITY)),
            "ca_file": str(ca_cert_path(pki)),
            "timeout": TLS_TIMEOUT_S,
        },
        "authorization": {
            "users": [
                {"user": ADMIN, "password": passwords[ADMIN]},
                *(
                    _user(policy, service, passwords[service])
                    for service in sorted(policy.contracts)
                ),
            ]
        },
    }


def _user(policy: MeshPolicy, service: str, password: str) -> dict[str, Any]:
    allowed = permissions(policy, service)
    return {
        "user": service,
        "password": password,
        "permissions": {
            "publish": {"allow": list(allowed.publish)},
            "subscribe": {"allow": list(allowed.subscribe)},
        },
    }


def write_config(topology: Topology, policy: MeshPolicy) -> Path:
    """The server's certificate, every user's password and the configuration file (0600:
    it holds the passwords); idempotent. Its path."""
    ensure_server_cert(topology.pki_dir, SERVER_IDENTITY, [HOST])
    config = render_config(topology, policy, passwords(topology, users(policy)))
    path = config_path(topology)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_private_file(path, (json.dumps(config, indent=2) + "\n").encode())
    return path


def user_url(topology: Topology, user: str) -> str:
    """How `user` reaches the server: over TLS, with its credentials."""
    password = passwords(topology, [user])[user]
    return f"tls://{user}:{password}@{HOST}:{topology.nats_port}"


def ca_file(topology: Topology) -> Path:
    """What a client verifies the server's certificate with (SHOP_NATS_CA)."""
    return ca_cert_path(topology.pki_dir)
