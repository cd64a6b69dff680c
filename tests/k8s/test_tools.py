"""What the cluster runs, checked with the real programs where they install from PyPI:
Envoy accepts the gateway's cluster configuration, nats-server the cluster's NATS
configuration, PostgreSQL the init script; hadolint passes the Containerfile; Linkerd's
trust anchor is a CA that signs its issuer; scripts/k8s names every missing tool."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import psycopg
import pytest
from cryptography import x509

from shop.catalog.v1 import catalog_service_pb2
from shoptools.k8s import gateway as cluster_gateway
from shoptools.k8s import secrets
from shoptools.k8s.workloads import nats_config, postgres_init_script
from shoptools.mesh import jwt
from shoptools.mesh.envoy import envoy_binary
from shoptools.mesh.gateway import render_gateway
from shoptools.mesh.policy import load_policy
from shoptools.mesh.render import validate_config
from shoptools.services import deployable_services
from shoptools.stack import nats_auth
from shoptools.stack.postgres import DATABASES, Postgres, bin_dir
from shoptools.topology import Topology

from .conftest import ROOT

BIN = Path(sys.executable).parent
SERVICES = deployable_services()
CATALOG = "shop.catalog.v1.CatalogService"


def test_the_containerfile_passes_hadolint() -> None:
    result = subprocess.run(
        [str(BIN / "hadolint"), str(ROOT / "Containerfile")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_context_holds_what_the_containerfile_copies() -> None:
    """.containerignore (and .dockerignore, for docker) lets in exactly the copied paths."""
    ignore = (ROOT / ".containerignore").read_text()
    assert (ROOT / ".dockerignore").read_text() == ignore
    allowed = {line[1:] for line in ignore.splitlines() if line.startswith("!")}
    copied = set()
    for line in (ROOT / "Containerfile").read_text().splitlines():
        words = line.split()
        if words[:1] == ["COPY"] and not words[1].startswith("--from"):
            copied |= {w.rstrip("/") for w in words[1:-1]}
    assert copied == allowed


def test_envoy_accepts_the_cluster_gateway(tmp_path: Path) -> None:
    policy = load_policy(ROOT / "mesh" / "policy.yaml")
    config = cluster_gateway.render_cluster_gateway(policy, SERVICES, "shop")
    jwks = tmp_path / "jwks.json"
    jwks.write_text(jwt.jwks(tmp_path / "pki"))  # what scripts/k8s puts in the shop-jwt Secret
    path = tmp_path / "envoy.json"
    path.write_text(json.dumps(config).replace(cluster_gateway.JWKS_FILE, str(jwks)))
    validate_config(path)


def test_the_cluster_gateway_keeps_the_local_filters_and_routes(tmp_path: Path) -> None:
    policy = load_policy(ROOT / "mesh" / "policy.yaml")
    local = render_gateway(Topology(tmp_path, services=dict.fromkeys(SERVICES, 1)), policy)
    cluster = cluster_gateway.render_cluster_gateway(policy, SERVICES, "shop")

    def api(config: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
        hcm = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
        typed = hcm["typed_config"]
        routes = typed["route_config"]["virtual_hosts"][0]["routes"]
        timeouts = {str(r["match"]): r["route"]["timeout"] for r in routes if "route" in r}
        return [f["name"] for f in typed["http_filters"]], timeouts

    assert api(cluster) == api(local)
    clusters = {c["name"]: c for c in cluster["static_resources"]["clusters"]}
    catalog = clusters["catalog"]
    assert "transport_socket" not in catalog  # Linkerd's proxy adds mutual TLS
    endpoint = catalog["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
    assert endpoint["address"]["socket_address"] == {
        "address": "catalog.shop.svc.cluster.local",
        "port_value": 50051,
    }


def _nats_test(
    config: str, tmp_path: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "nats.conf"
    path.write_text(
        config.replace("/data/jetstream", str(tmp_path / "js")).replace(
            "/var/run/nats", str(tmp_path)
        )
    )
    return subprocess.run(
        [str(BIN / "nats-server"), "-c", str(path), "-t"],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": os.environ["PATH"], **env},
    )


def test_nats_server_accepts_the_cluster_configuration(tmp_path: Path) -> None:
    policy = load_policy(ROOT / "mesh" / "policy.yaml")
    config = nats_config(policy, "shop")
    users = [nats_auth.ADMIN, *sorted(policy.contracts)]
    env = {f"NATS_PASSWORD_{u.upper()}": f"pw-{u}" for u in users} | {"POD_NAME": "nats-0"}
    result = _nats_test(config, tmp_path, env)
    assert result.returncode == 0, result.stderr
    # Every password is the Secret's, through the environment: without one it is refused.
    del env["NATS_PASSWORD_PAYMENTS"]
    result = _nats_test(config, tmp_path, env)
    assert result.returncode != 0
    assert "NATS_PASSWORD_PAYMENTS" in result.stderr + result.stdout
    # The permissions are the local stack's (nats_auth.permissions).
    parsed = json.loads(re.sub(r": (\$[A-Z_]+)", r': "\1"', config))  # unquoted: variables
    for user in parsed["authorization"]["users"]:
        assert user["password"] == f"$NATS_PASSWORD_{user['user'].upper()}"
        if user["user"] != nats_auth.ADMIN:
            allowed = nats_auth.permissions(policy, user["user"])
            assert user["permissions"] == {
                "publish": {"allow": list(allowed.publish)},
                "subscribe": {"allow": list(allowed.subscribe)},
            }
    assert len(parsed["cluster"]["routes"]) == 3


@pytest.fixture
def postgres(tmp_path: Path) -> Iterator[Postgres]:
    server = Postgres(Topology(tmp_path).with_free_ports())
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_the_postgres_init_script_makes_a_database_and_role_per_context(
    postgres: Postgres, tmp_path: Path
) -> None:
    script = tmp_path / "init.sh"
    script.write_text(postgres_init_script(list(DATABASES)))
    host, port = postgres.address.split(":")
    env = {
        "PATH": f"{bin_dir()}:{os.environ['PATH']}",
        "PGHOST": str(postgres.data_dir),  # the superuser's socket, as the image's init runs
        "PGPORT": port,
        "POSTGRES_USER": "postgres",
        **{f"SHOP_DB_PASSWORD_{d.upper()}": f"pw-{d}" for d in DATABASES},
    }
    result = subprocess.run(
        ["bash", str(script)], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    with psycopg.connect(f"postgresql://catalog_svc:pw-catalog@{host}:{port}/catalog") as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("catalog_svc",)
    with pytest.raises(psycopg.OperationalError, match="permission denied"):
        psycopg.connect(f"postgresql://catalog_svc:pw-catalog@{host}:{port}/orders")


def test_the_linkerd_trust_anchor_signs_its_issuer(tmp_path: Path) -> None:
    paths = secrets.ensure_trust_anchor(tmp_path)
    anchor = x509.load_pem_x509_certificate(paths["trust-anchor"].read_bytes())
    issuer = x509.load_pem_x509_certificate(paths["issuer-certificate"].read_bytes())
    issuer.verify_directly_issued_by(anchor)
    constraints = issuer.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert constraints.ca
    common_name = issuer.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)
    assert common_name[0].value == secrets.ISSUER_NAME
    assert oct(paths["issuer-key"].stat().st_mode & 0o777) == "0o600"
    before = {role: path.read_bytes() for role, path in paths.items()}
    assert secrets.ensure_trust_anchor(tmp_path) == paths
    assert {role: path.read_bytes() for role, path in paths.items()} == before  # kept


def test_scripts_k8s_names_every_missing_tool_before_it_starts(tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "dirname").symlink_to(
        subprocess.check_output(["which", "dirname"], text=True).strip()
    )
    result = subprocess.run(
        ["/bin/bash", str(ROOT / "scripts" / "k8s"), "up"],
        env={"PATH": str(tmp_path / "bin"), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    for tool in ("kubectl", "linkerd", "kind", "docker or podman"):
        assert tool in result.stderr


def test_checkov_finds_nothing_beyond_the_written_exceptions() -> None:
    result = subprocess.run(
        [str(ROOT / "k8s" / "checkov.sh")],
        env={**os.environ, "KUBECTL": str(BIN / "kubectl")},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "Failed checks: 0" in result.stdout


def _list_products(
    request: catalog_service_pb2.ListProductsRequest, context: grpc.ServicerContext
) -> catalog_service_pb2.ListProductsResponse:
    return catalog_service_pb2.ListProductsResponse(next_page_token="page-2")


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_the_cluster_gateway_serves_rest_over_plaintext_and_answers_probes(
    tmp_path: Path,
) -> None:
    """The cluster gateway for real: REST transcoded to a plaintext h2c upstream (Linkerd's
    proxy does the TLS), and the kubelet's /ready on the probes port."""
    app = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    handler = grpc.unary_unary_rpc_method_handler(
        _list_products,
        request_deserializer=catalog_service_pb2.ListProductsRequest.FromString,
        response_serializer=catalog_service_pb2.ListProductsResponse.SerializeToString,
    )
    app.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler(CATALOG, {"ListProducts": handler})]
    )
    app_port = app.add_insecure_port("127.0.0.1:0")
    app.start()
    policy = load_policy(ROOT / "mesh" / "policy.yaml")
    config = cluster_gateway.render_cluster_gateway(policy, SERVICES, "shop")
    ports = {name: _free_port() for name in ("api", "probes", "admin")}
    config["admin"]["address"]["socket_address"]["port_value"] = ports["admin"]
    for listener in config["static_resources"]["listeners"]:
        address = listener["address"]["socket_address"]
        address["address"] = "127.0.0.1"
        address["port_value"] = ports["api" if listener["name"] == "gateway" else "probes"]
    for cluster in config["static_resources"]["clusters"]:
        endpoint = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
        if cluster["name"] == "admin":
            endpoint["address"]["socket_address"]["port_value"] = ports["admin"]
        elif cluster["name"] == "catalog":
            endpoint["address"]["socket_address"] = {"address": "127.0.0.1", "port_value": app_port}
    (tmp_path / "jwks.json").write_text(jwt.jwks(tmp_path / "pki"))
    path = tmp_path / "envoy.json"
    path.write_text(
        json.dumps(config).replace(cluster_gateway.JWKS_FILE, str(tmp_path / "jwks.json"))
    )
    envoy = subprocess.Popen(
        [
            str(envoy_binary()),
            "-c",
            str(path),
            "--disable-hot-restart",
            "--concurrency",
            "1",
            "--base-id",
            str(ports["admin"]),
            "-l",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        ready = f"http://127.0.0.1:{ports['probes']}/ready"
        deadline = time.monotonic() + 30
        while _probe(ready) != 200:
            assert time.monotonic() < deadline, "the gateway never got ready"
            time.sleep(0.1)
        assert _get(f"http://127.0.0.1:{ports['probes']}/stats")[0] == 404  # admin stays private
        status, body = _get(f"http://127.0.0.1:{ports['api']}/v1/products?page_size=1")
        assert status == 200, body
        assert json.loads(body)["next_page_token"] == "page-2"
    finally:
        envoy.terminate()
        envoy.wait(10)
        app.stop(None)


def _probe(url: str) -> int | None:
    try:
        return _get(url)[0]
    except OSError:
        return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
