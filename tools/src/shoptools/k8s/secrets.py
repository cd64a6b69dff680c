"""What a development cluster gets that no manifest may hold: the Secrets, and Linkerd's
trust anchor. Made by `scripts/k8s up` on the operator's machine and kept in its state
directory (`.state/k8s` by default), so a second `up` keeps every password and key, and
`shop token --state-dir .state/k8s` mints tokens the cluster's gateway accepts.

A production cluster brings its own: the same Secret names and keys, from its secret
store (k8s/README.md).
"""

from __future__ import annotations

import datetime
import json
import secrets
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from shoptools.k8s.workloads import JWT_SECRET, JWT_SIGNING_SECRET, NATS_SECRET, POSTGRES_SECRET
from shoptools.mesh.jwt import jwks, signing_key_path
from shoptools.mesh.pki import ca_certificate, write_private_file
from shoptools.stack import nats_auth

TRUST_ANCHOR_VALIDITY = datetime.timedelta(days=3650)
ISSUER_VALIDITY = datetime.timedelta(days=365)
# Linkerd's identity issuer must carry this name (its identity controller checks it).
ISSUER_NAME = "identity.linkerd.cluster.local"


def _passwords(state: Path, names: list[str]) -> dict[str, str]:
    path = state / "secrets.json"
    stored: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    missing = [n for n in names if n not in stored]
    if missing:
        stored |= {n: secrets.token_urlsafe(24) for n in missing}
        state.mkdir(parents=True, exist_ok=True)
        write_private_file(path, json.dumps(stored, indent=2, sort_keys=True).encode())
    return stored


def secret_objects(state: Path, databases: list[str], services: list[str]) -> list[Any]:
    """The Secrets the manifests refer to (workloads.SECRETS), created once per state dir."""
    db_keys = ["postgres", *databases]
    nats_users = [nats_auth.ADMIN, *services]
    passwords = _passwords(
        state, [f"postgres/{k}" for k in db_keys] + [f"nats/{u}" for u in nats_users]
    )

    def secret(name: str, data: dict[str, str]) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name},
            "type": "Opaque",
            "stringData": data,
        }

    return [
        secret(POSTGRES_SECRET, {k: passwords[f"postgres/{k}"] for k in db_keys}),
        secret(NATS_SECRET, {u: passwords[f"nats/{u}"] for u in nats_users}),
        secret(JWT_SECRET, {"jwks.json": jwks(state / "pki")}),
        # for the development sign-in only (k8s/components/dev-identity)
        secret(
            JWT_SIGNING_SECRET,
            {
                "jwt-signing.key": signing_key_path(state / "pki").read_text(),
                "jwks.json": jwks(state / "pki"),
            },
        ),
    ]


def ensure_trust_anchor(directory: Path) -> dict[str, Path]:
    """Linkerd's trust anchor (root CA) and identity issuer (an intermediate CA it signs),
    ECDSA P-256 like the local mesh CA (shoptools.mesh.pki); kept once made."""
    paths = {
        "trust-anchor": directory / "linkerd-ca.crt",
        "issuer-certificate": directory / "linkerd-issuer.crt",
        "issuer-key": directory / "linkerd-issuer.key",
    }
    if all(p.exists() for p in paths.values()):
        return paths
    directory.mkdir(parents=True, exist_ok=True)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "root.linkerd.cluster.local")])
    root = ca_certificate(
        root_name, root_key.public_key(), (root_name, root_key), 1, TRUST_ANCHOR_VALIDITY
    )
    issuer_key = ec.generate_private_key(ec.SECP256R1())
    issuer_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ISSUER_NAME)])
    issuer = ca_certificate(
        issuer_name, issuer_key.public_key(), (root_name, root_key), 0, ISSUER_VALIDITY
    )
    pem = serialization.Encoding.PEM
    paths["trust-anchor"].write_bytes(root.public_bytes(pem))
    paths["issuer-certificate"].write_bytes(issuer.public_bytes(pem))
    write_private_file(
        paths["issuer-key"],
        issuer_key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )
    # The root's key signs nothing more: a new issuer means a new trust anchor here.
    return paths
