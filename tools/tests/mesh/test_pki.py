"""The local CA and workload certificates: right identities, created once, kept private."""

from __future__ import annotations

import stat
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from shoptools.mesh.pki import ca_cert_path, cert_path, ensure_pki, ensure_server_cert, key_path


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_each_identity_gets_a_certificate_the_ca_signed_for_it(tmp_path: Path) -> None:
    ensure_pki(tmp_path, ["catalog", "gateway"])

    ca = load(ca_cert_path(tmp_path))
    cert = load(cert_path(tmp_path, "catalog"))
    cert.verify_directly_issued_by(ca)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [
        "spiffe://shop.local/ns/shop/sa/catalog"
    ]
    assert san.get_values_for_type(x509.DNSName) == ["catalog.shop.local"]
    usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(usages) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_private_keys_are_readable_by_the_owner_only(tmp_path: Path) -> None:
    ensure_pki(tmp_path, ["catalog"])

    for key in (tmp_path / "ca.key", key_path(tmp_path, "catalog")):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_running_again_reuses_everything_and_adds_missing_identities(tmp_path: Path) -> None:
    ensure_pki(tmp_path, ["catalog"])
    first = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    ensure_pki(tmp_path, ["catalog", "orders"])

    again = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert {k: again[k] for k in first} == first
    assert {"orders.crt", "orders.key"} <= again.keys()
    load(cert_path(tmp_path, "orders")).verify_directly_issued_by(load(ca_cert_path(tmp_path)))


def test_a_new_ca_reissues_the_certificates_it_did_not_sign(tmp_path: Path) -> None:
    ensure_pki(tmp_path, ["catalog"])
    ca_cert_path(tmp_path).unlink()

    ensure_pki(tmp_path, ["catalog"])

    load(cert_path(tmp_path, "catalog")).verify_directly_issued_by(load(ca_cert_path(tmp_path)))


def test_a_server_certificate_names_the_address_clients_dial(tmp_path: Path) -> None:
    ensure_server_cert(tmp_path, "nats", ["127.0.0.1"])
    first = cert_path(tmp_path, "nats").read_bytes()
    ensure_server_cert(tmp_path, "nats", ["127.0.0.1"])
    assert cert_path(tmp_path, "nats").read_bytes() == first  # kept

    ensure_server_cert(tmp_path, "nats", ["127.0.0.1", "nats.example"])  # reissued

    cert = load(cert_path(tmp_path, "nats"))
    cert.verify_directly_issued_by(load(ca_cert_path(tmp_path)))
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert san.get_values_for_type(x509.DNSName) == ["nats.shop.local", "nats.example"]
    assert stat.S_IMODE(key_path(tmp_path, "nats").stat().st_mode) == 0o600
