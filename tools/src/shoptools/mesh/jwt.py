"""The local token issuer: an RSA signing key, its JWKS for the gateway, and tokens.

Stands in for the identity provider at https://auth.shop.local: the gateway trusts the
keys in jwks.json, and developers and tests mint customer or admin tokens with them.
Files under `pki_dir`: jwt-signing.key (PEM, owner-only) and jwks.json.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from shoptools.mesh.pki import write_private_file

ISSUER = "https://auth.shop.local"
AUDIENCE = "shop-api"
ALGORITHM = "RS256"
Role = Literal["customer", "admin"]


def signing_key_path(pki_dir: Path) -> Path:
    return pki_dir / "jwt-signing.key"


def jwks_path(pki_dir: Path) -> Path:
    return pki_dir / "jwks.json"


def jwks(pki_dir: Path) -> str:
    """The JWKS (JSON text) holding the public signing key, creating the key on first use."""
    _ensure_signing_key(pki_dir)
    return jwks_path(pki_dir).read_text()


def mint_token(
    pki_dir: Path,
    subject: str,
    role: Role,
    ttl: datetime.timedelta = datetime.timedelta(hours=1),
    *,
    issuer: str = ISSUER,
) -> str:
    """A signed JWT for `subject` (a customer id, or an administrator's name)."""
    key, kid = _ensure_signing_key(pki_dir)
    now = datetime.datetime.now(datetime.UTC)
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": AUDIENCE,
        "sub": subject,
        "role": role,
        "iat": now,
        "exp": now + ttl,
    }
    return jwt.encode(claims, key, algorithm=ALGORITHM, headers={"kid": kid})


def _ensure_signing_key(pki_dir: Path) -> tuple[rsa.RSAPrivateKey, str]:
    key_file = signing_key_path(pki_dir)
    if key_file.is_file():
        loaded = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
        if not isinstance(loaded, rsa.RSAPrivateKey):
            raise ValueError(f"{key_file} is not an RSA private key")
        key = loaded
    else:
        pki_dir.mkdir(parents=True, exist_ok=True)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        write_private_file(key_file, pem)
    kid = _key_id(key.public_key())
    if not jwks_path(pki_dir).is_file() or kid not in jwks_path(pki_dir).read_text():
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
        jwk.update(kid=kid, use="sig", alg=ALGORITHM)
        jwks_path(pki_dir).write_text(json.dumps({"keys": [jwk]}, indent=2) + "\n")
    return key, kid


def _key_id(public_key: rsa.RSAPublicKey) -> str:
    """A stable id derived from the key itself, so the JWKS and tokens always agree."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()[:12]).decode().rstrip("=")
