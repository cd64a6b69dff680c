"""Rendered Envoy configs: Envoy accepts every one, and they say what the policy says."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from shoptools.contracts.model import Access, load_contracts
from shoptools.mesh.envoy import service_routes
from shoptools.mesh.gateway import render_gateway
from shoptools.mesh.policy import load_policy
from shoptools.mesh.render import validate_config, write_configs
from shoptools.mesh.sidecar import Fault, render_sidecar
from shoptools.topology import Topology

from .test_policy import REPO_POLICY

EVERY_SERVICE = {name: 1 for name in load_contracts()} | {"catalog": 2}


def test_every_config_of_a_full_stack_passes_envoy_validation(tmp_path: Path) -> None:
    topology = Topology(tmp_path, base_port=40000, services=EVERY_SERVICE, clients=("tester",))
    faults = {
        "catalog-2": [
            Fault(abort_grpc_status=14, delay_s=0.5),
            Fault(delay_s=1, method="GetProduct"),
        ]
    }

    paths = write_configs(topology, load_policy(REPO_POLICY), faults)

    expected = {i.name for i in topology.instances()} | {"tester-1", "gateway"}
    assert set(paths) == expected
    for path in paths.values():
        validate_config(path)


def test_a_client_sidecar_has_only_an_outbound_listener(tmp_path: Path) -> None:
    topology = Topology(tmp_path, services={"catalog": 1}, clients=("tester",))
    policy = load_policy(REPO_POLICY)

    client = render_sidecar(topology, policy, topology.client_sidecars()[0])
    service = render_sidecar(topology, policy, topology.instances()[0])

    assert [lst["name"] for lst in client["static_resources"]["listeners"]] == ["outbound"]
    assert [lst["name"] for lst in service["static_resources"]["listeners"]] == [
        "inbound",
        "outbound",
    ]


def test_the_gateway_allows_exactly_the_methods_the_contracts_expose(tmp_path: Path) -> None:
    topology = Topology(tmp_path, services=EVERY_SERVICE)
    config = render_gateway(topology, load_policy(REPO_POLICY))

    filters = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"]
    http_filters = filters[0]["typed_config"]["http_filters"]
    rbac = next(f for f in http_filters if f["name"] == "envoy.filters.http.rbac")
    allowed = {
        permission["url_path"]["path"]["exact"]
        for policy in rbac["typed_config"]["rules"]["policies"].values()
        for permission in policy["permissions"]
    }
    exposed = {
        m.path
        for s in load_contracts().values()
        for m in s.methods.values()
        if m.access is not Access.INTERNAL
    }
    assert allowed == exposed
    assert "/shop.payments.v1.PaymentsService/AuthorizePayment" not in allowed


def test_a_fault_applies_to_its_method_or_to_every_method_never_to_health_checks(
    tmp_path: Path,
) -> None:
    topology = Topology(tmp_path, services={"catalog": 1})
    faults = [Fault(abort_grpc_status=14), Fault(delay_s=2, method="SearchProducts")]

    config = render_sidecar(topology, load_policy(REPO_POLICY), topology.instances()[0], faults)

    inbound = config["static_resources"]["listeners"][0]
    http_filters = inbound["filter_chains"][0]["filters"][0]["typed_config"]["http_filters"]
    rendered = [f["typed_config"] for f in http_filters if f["name"] == "envoy.filters.http.fault"]
    assert [(f["headers"][0]["string_match"], "abort" in f, "delay" in f) for f in rendered] == [
        ({"prefix": "/shop.catalog.v1.CatalogService/"}, True, False),
        ({"exact": "/shop.catalog.v1.CatalogService/SearchProducts"}, False, True),
    ]
    assert rendered[1]["delay"]["fixed_delay"] == "2.000s"


def test_the_gateway_serves_every_exposed_service_running_or_not(tmp_path: Path) -> None:
    topology = Topology(tmp_path, services={"catalog": 2})
    config = render_gateway(topology, load_policy(REPO_POLICY))

    clusters = {
        c["name"]: [e for group in c["load_assignment"]["endpoints"] for e in group["lb_endpoints"]]
        for c in config["static_resources"]["clusters"]
    }
    exposed = {name for name, s in load_contracts().items() if s.exposed}
    assert set(clusters) == exposed | {"web"}  # and the web pages' process
    assert len(clusters["catalog"]) == 2
    assert all(not clusters[name] for name in exposed - {"catalog"})
    [web] = clusters["web"]
    assert web["endpoint"]["address"]["socket_address"]["port_value"] == topology.web_port


def test_only_methods_the_contract_declares_idempotent_are_retried() -> None:
    catalog = load_contracts()["catalog"]
    upsert = replace(catalog.methods["UpsertProduct"], retryable=False)
    changed = replace(catalog, methods={**catalog.methods, "UpsertProduct": upsert})
    policy = load_policy(REPO_POLICY)

    routes = {
        str(r["match"].get("path", r["match"].get("prefix"))): r["route"]
        for r in service_routes(changed, policy, "catalog", retries=True, prefix="/")
    }

    assert all(m.retryable for m in catalog.methods.values()), "every v1 RPC is idempotent"
    assert "retry_policy" not in routes[upsert.path]
    assert routes[upsert.path]["timeout"] == routes["/"]["timeout"]
    assert "retry_policy" in routes["/"]  # GetProduct and the other reads
    search = catalog.methods["SearchProducts"].path  # own timeout in the policy, retried
    assert "retry_policy" in routes[search]
