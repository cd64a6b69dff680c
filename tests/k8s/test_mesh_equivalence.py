"""One policy, two meshes: what Envoy enforces locally and what Linkerd enforces on
Kubernetes say the same thing. Each side is read back from its rendered output (Envoy's
RBAC and routes; Linkerd's routes, authentications and annotations), never from the
policy, so a renderer that drops or bends a rule fails here."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from shoptools.identity import spiffe_id
from shoptools.mesh import linkerd
from shoptools.mesh.linkerd import render_linkerd
from shoptools.mesh.policy import MeshPolicy, parse_policy
from shoptools.mesh.sidecar import render_sidecar
from shoptools.services import deployable_services
from shoptools.topology import Topology

from .conftest import ROOT

Config = dict[str, Any]
SERVICES = deployable_services()


@dataclass(frozen=True)
class Behaviour:
    """How a caller's mesh treats one method."""

    timeout_s: float
    retry: tuple[int, float, frozenset[str]] | None  # attempts, per-try timeout, on which statuses


@dataclass(frozen=True)
class MeshView:
    callers: dict[str, frozenset[str]]  # method path -> identities allowed to call it
    behaviour: dict[str, Behaviour]  # method path -> timeouts and retries


def _seconds(text: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s)", text)
    assert match, text
    return float(match[1]) / (1000 if match[2] == "ms" else 1)


# --- Envoy ------------------------------------------------------------------------------


def envoy_view(policy: MeshPolicy, state: Path) -> MeshView:
    topology = Topology(state, services=dict.fromkeys(SERVICES, 1))
    identities = {spiffe_id(name): name for name in [*SERVICES, "gateway"]}
    callers: dict[str, frozenset[str]] = {}
    behaviour: dict[str, Behaviour] = {}
    paths = [m.path for s in SERVICES for m in policy.service(s).methods.values()]
    for instance in topology.instances():
        config = render_sidecar(topology, policy, instance)
        listeners = {lst["name"]: lst for lst in config["static_resources"]["listeners"]}
        rbac = next(
            f["typed_config"]["rules"]["policies"]
            for f in _hcm(listeners["inbound"])["http_filters"]
            if f["name"] == "envoy.filters.http.rbac"
        )
        for rule_name, rule in rbac.items():
            if rule_name == "health":
                continue
            (permission,) = rule["permissions"]
            path = permission["url_path"]["path"]["exact"]
            callers[path] = frozenset(
                identities[p["authenticated"]["principal_name"]["exact"]]
                for p in rule["principals"]
            )
        if instance.index == 1 and not behaviour:  # every caller's outbound routes are alike
            hosts = _hcm(listeners["outbound"])["route_config"]["virtual_hosts"]
            for path in paths:
                service = path.split("/")[1]
                host = next(h for h in hosts if policy.service(h["name"]).full_name == service)
                behaviour[path] = _envoy_behaviour(_first_match(host["routes"], path))
    return MeshView(callers, behaviour)


def _hcm(listener: Config) -> Config:
    config: Config = listener["filter_chains"][0]["filters"][0]["typed_config"]
    return config


def _first_match(routes: list[Config], path: str) -> Config:
    for route in routes:
        match = route["match"]
        if match.get("path") == path or path.startswith(match.get("prefix", "\0")):
            return route
    raise AssertionError(f"no route for {path}")


def _envoy_behaviour(route: Config) -> Behaviour:
    action = route["route"]
    retry = action.get("retry_policy")
    return Behaviour(
        timeout_s=_seconds(action["timeout"]),
        retry=None
        if retry is None
        else (
            retry["num_retries"] + 1,
            _seconds(retry["per_try_timeout"]),
            # Envoy's conditions, as the gRPC status the Linkerd proxy retries on for each.
            frozenset(linkerd.RETRY_STATUS[c] for c in retry["retry_on"].split(",")),
        ),
    )


# --- Linkerd ----------------------------------------------------------------------------


def linkerd_view(resources: list[Config]) -> MeshView:
    by_kind: dict[str, dict[str, Config]] = {}
    for r in resources:
        by_kind.setdefault(r["kind"], {})[r["metadata"]["name"]] = r
    routes = by_kind["GRPCRoute"]
    callers: dict[str, frozenset[str]] = {}
    behaviour: dict[str, Behaviour] = {}
    for route in routes.values():
        (parent,) = route["spec"]["parentRefs"]
        (rule,) = route["spec"]["rules"]
        (match,) = rule["matches"]
        method = match["method"]
        if parent["kind"] == "Service" and "method" in method:
            path = f"/{method['service']}/{method['method']}"
            behaviour[path] = _linkerd_behaviour(route["metadata"]["annotations"])
    for policy in by_kind["AuthorizationPolicy"].values():
        target = policy["spec"]["targetRef"]
        if target["kind"] != "GRPCRoute":
            continue
        (match,) = routes[target["name"]]["spec"]["rules"][0]["matches"]
        if "method" not in match["method"]:
            continue  # health
        path = f"/{match['method']['service']}/{match['method']['method']}"
        (authentication,) = policy["spec"]["requiredAuthenticationRefs"]
        assert authentication["kind"] == "MeshTLSAuthentication"
        refs = by_kind["MeshTLSAuthentication"][authentication["name"]]["spec"]["identityRefs"]
        callers[path] = frozenset(ref["name"] for ref in refs)
    return MeshView(callers, behaviour)


def _linkerd_behaviour(annotations: dict[str, str]) -> Behaviour:
    retry = None
    if linkerd.RETRY_GRPC in annotations:
        retry = (
            int(annotations[linkerd.RETRY_LIMIT]) + 1,
            _seconds(annotations[linkerd.RETRY_TIMEOUT]),
            frozenset(annotations[linkerd.RETRY_GRPC].split(",")),
        )
    return Behaviour(timeout_s=_seconds(annotations[linkerd.TIMEOUT]), retry=retry)


# --- the tests --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def policy_text() -> str:
    return (ROOT / "mesh" / "policy.yaml").read_text()


def committed_linkerd() -> list[Config]:
    text = (ROOT / "k8s" / "base" / "generated" / "mesh-policy.yaml").read_text()
    return [r for r in yaml.safe_load_all(text) if r]


def test_linkerd_and_envoy_say_the_same_thing(policy_text: str, tmp_path: Path) -> None:
    envoy = envoy_view(parse_policy(policy_text), tmp_path)
    linkerd_side = linkerd_view(committed_linkerd())
    assert linkerd_side.callers == envoy.callers
    assert linkerd_side.behaviour == envoy.behaviour
    # Not vacuous: callers beyond the gateway, an overridden timeout, retries.
    assert envoy.callers["/shop.catalog.v1.CatalogService/GetProduct"] == {
        "gateway",
        "orders",
        "shipping",
    }
    assert envoy.behaviour["/shop.payments.v1.PaymentsService/AuthorizePayment"].timeout_s == 10
    assert any(b.retry for b in envoy.behaviour.values())


def test_a_policy_change_changes_both_meshes(policy_text: str, tmp_path: Path) -> None:
    changed = policy_text.replace(
        "orders: [ReserveStock, ConfirmReservation, ReleaseReservation, GetStock]",
        "orders: [ReserveStock, ConfirmReservation, ReleaseReservation, GetStock]\n"
        "      shipping: [GetStock]",
    ).replace(
        "SearchProducts: {timeout: 8s, per_try_timeout: 4s}",
        "SearchProducts: {timeout: 3s, per_try_timeout: 1s}",
    )
    changed = re.sub(r"attempts: 3\b", "attempts: 5", changed)
    assert changed.count("shipping: [GetStock]") == 1
    policy = parse_policy(changed)
    envoy = envoy_view(policy, tmp_path)
    linkerd_side = linkerd_view(render_linkerd(policy, SERVICES))
    assert linkerd_side == envoy
    get_stock = next(p for p in envoy.callers if p.endswith("/GetStock"))
    search = next(p for p in envoy.behaviour if p.endswith("/SearchProducts"))
    for view in (envoy, linkerd_side):
        assert "shipping" in view.callers[get_stock]
        assert view.behaviour[search].timeout_s == 3
        retry = view.behaviour[search].retry
        assert retry is not None
        assert retry[:2] == (5, 1.0)
    # ... and both differ from what the committed policy renders.
    assert linkerd_side != linkerd_view(committed_linkerd())


def test_only_idempotent_methods_are_retried(policy_text: str) -> None:
    policy = parse_policy(policy_text)
    view = linkerd_view(render_linkerd(policy, SERVICES))
    for service in SERVICES:
        for method in policy.service(service).methods.values():
            assert (view.behaviour[method.path].retry is not None) == method.retryable


def test_a_method_nobody_may_call_has_no_route(policy_text: str) -> None:
    """Default deny: the Server refuses what no authorized route matches."""
    policy = parse_policy(policy_text)
    resources = render_linkerd(policy, SERVICES)
    view = linkerd_view(resources)
    uncallable = [
        m.path
        for s in SERVICES
        for m in policy.service(s).methods.values()
        if not policy.callers(m)
    ]
    for path in uncallable:
        assert path not in view.callers
    servers = [r for r in resources if r["kind"] == "Server"]
    assert {s["spec"]["accessPolicy"] for s in servers} == {"deny"}
    assert {s["spec"]["podSelector"]["matchLabels"][linkerd.NAME_LABEL] for s in servers} == set(
        SERVICES
    )
