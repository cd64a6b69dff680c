"""The mesh's local certificate authority and one certificate per workload identity.

Files under `pki_dir`: ca.crt, ca.key, <identity>.crt, <identity>.key. Created once and
reused, so restarting the stack keeps every identity; private keys are readable by the
owner only.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from shoptools.identity import TRUST_DOMAIN, spiffe_id

CA_VALIDITY = datetime.timedelta(days=3650)
LEAF_VALIDITY = datetime.timedelta(days=365)
# A leaf closer than this to expiry is reissued rather than reused.
RENEW_BEFORE = datetime.timedelta(days=7)


def ca_cert_path(pki_dir: Path) -> Path:
    return pki_dir / "ca.crt"


def cert_path(pki_dir: Path, identity: str) -> Path:
    return pki_dir / f"{identity}.crt"


def key_path(pki_dir: Path, identity: str) -> Path:
    return pki_dir / f"{identity}.key"


def ensure_pki(pki_dir: Path, identities: Iterable[str]) -> None:
    """Create the CA and a certificate for each identity, keeping what is still valid."""
    pki_dir.mkdir(parents=True, exist_ok=True)
    ca_cert, ca_key = _ensure_ca(pki_dir)
    for identity in identities:
        if not _leaf_is_current(pki_dir, identity, ca_cert):
            _issue_leaf(pki_dir, identity, ca_cert, ca_key)


def ensure_server_cert(pki_dir: Path, identity: str, addresses: Sequence[str]) -> None:
    """A certificate for a server its clients reach by address rather than through the
    mesh (the stack's NATS): the identity's SANs plus one per address (an IP or a DNS
    name), so a client checks the hostname it dialed. Reissued when the addresses change."""
    pki_dir.mkdir(parents=True, exist_ok=True)
    ca_cert, ca_key = _ensure_ca(pki_dir)
    extra = [_general_name(address) for address in addresses]
    current = _leaf_is_current(pki_dir, identity, ca_cert)
    if not current or not set(extra) <= set(_sans(cert_path(pki_dir, identity))):
        _issue_leaf(pki_dir, identity, ca_cert, ca_key, extra)


def _general_name(address: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(address))
    except ValueError:
        return x509.DNSName(address)


def _sans(path: Path) -> list[x509.GeneralName]:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    return list(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)


def _ensure_ca(pki_dir: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    cert_file, key_file = ca_cert_path(pki_dir), pki_dir / "ca.key"
    if cert_file.is_file() and key_file.is_file():
        key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{key_file} is not an EC private key")
        return x509.load_pem_x509_certificate(cert_file.read_bytes()), key
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{TRUST_DOMAIN} mesh CA")])
    cert = ca_certificate(name, key.public_key(), (name, key), 0, CA_VALIDITY)
    _write_private(key_file, key)
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert, key


def _leaf_is_current(pki_dir: Path, identity: str, ca_cert: x509.Certificate) -> bool:
    cert_file, key_file = cert_path(pki_dir, identity), key_path(pki_dir, identity)
    if not (cert_file.is_file() and key_file.is_file()):
        return False
    cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    if cert.public_key() != key.public_key():
        return False  # a half-finished earlier issue
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        return False  # issued by an earlier CA
    return cert.not_valid_after_utc - RENEW_BEFORE > _now()


def _issue_leaf(
    pki_dir: Path,
    identity: str,
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    extra_sans: Sequence[x509.GeneralName] = (),
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, identity)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + LEAF_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.UniformResourceIdentifier(spiffe_id(identity)),
                    x509.DNSName(f"{identity}.{TRUST_DOMAIN}"),
                    *extra_sans,
                ]
            ),
            critical=False,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write_private(key_path(pki_dir, identity), key)
    cert_path(pki_dir, identity).write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _write_private(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    write_private_file(path, pem)


def write_private_file(path: Path, data: bytes) -> None:
    """Write `data` readable by the owner only, from the first byte on."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(tmp, 0o600)  # O_CREAT's mode is masked by umask and ignored for an existing file
    tmp.replace(path)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def ca_certificate(
    subject: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    signer: tuple[x509.Name, ec.EllipticCurvePrivateKey],
    path_length: int,
    validity: datetime.timedelta,
) -> x509.Certificate:
    """A CA certificate for `subject`'s key, signed by `signer` (its own name and key for a
    root): may sign certificates `path_length` levels below it, for `validity`."""
    issuer, signing_key = signer
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + validity)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .sign(signing_key, hashes.SHA256())
    )
