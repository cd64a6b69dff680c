"""Local tokens: minted with the signing key, verifiable with the published JWKS alone."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import jwt as pyjwt
import pytest

from shoptools.mesh.jwt import AUDIENCE, ISSUER, jwks, mint_token, signing_key_path


def verify(token: str, pki_dir: Path) -> dict[str, object]:
    keys = pyjwt.PyJWKSet.from_dict(json.loads(jwks(pki_dir)))
    key = keys[pyjwt.get_unverified_header(token)["kid"]]
    claims: dict[str, object] = pyjwt.decode(
        token, key=key, algorithms=["RS256"], audience=AUDIENCE, issuer=ISSUER
    )
    return claims


def test_a_token_verifies_against_the_jwks_with_its_claims(tmp_path: Path) -> None:
    token = mint_token(tmp_path, "customer-7", "customer", datetime.timedelta(minutes=5))

    claims = verify(token, tmp_path)

    assert claims["sub"] == "customer-7"
    assert claims["role"] == "customer"
    assert claims["iss"] == ISSUER
    assert claims["aud"] == AUDIENCE
    assert isinstance(claims["exp"], int)
    assert isinstance(claims["iat"], int)
    assert claims["exp"] - claims["iat"] == 300


def test_the_signing_key_is_created_once_and_kept_private(tmp_path: Path) -> None:
    first = mint_token(tmp_path, "ada", "admin")
    key_before = signing_key_path(tmp_path).read_bytes()

    second = mint_token(tmp_path, "ada", "admin")

    assert signing_key_path(tmp_path).read_bytes() == key_before
    assert signing_key_path(tmp_path).stat().st_mode & 0o777 == 0o600
    assert verify(first, tmp_path)["role"] == verify(second, tmp_path)["role"] == "admin"


def test_an_expired_token_does_not_verify(tmp_path: Path) -> None:
    token = mint_token(tmp_path, "ada", "admin", datetime.timedelta(seconds=-1))
    with pytest.raises(pyjwt.ExpiredSignatureError):
        verify(token, tmp_path)
