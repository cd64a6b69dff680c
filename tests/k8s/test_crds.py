"""The Linkerd and Gateway API resources, validated against their CRDs' schemas.

kubernetes-validate knows the core API only; these kinds are custom resources, and the API
server checks them against the `openAPIV3Schema` of their CustomResourceDefinition. The
schemas are kept in crd_schemas/ (README.md there says where each comes from) in the CRD's
own form, and read the way the API server reads a structural schema: a field the schema
does not name is an error here (the server would prune it silently, so the setting would
be lost), as `kubernetes-validate --strict` does for the core kinds."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # ships no type information
import pytest

from .conftest import ROOT, Object, build

SCHEMAS = Path(__file__).with_name("crd_schemas")
# API groups whose kinds are CustomResourceDefinitions installed with Linkerd (its CRDs
# chart also installs the Gateway API's routes).
CRD_GROUP = re.compile(r"(^|\.)linkerd\.io$|^gateway\.networking\.k8s\.io$")
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
# What the API server checks of a custom resource's metadata (ObjectMeta), for the fields
# a manifest sets; the CRD schema itself only says `type: object`.
OBJECT_META: Object = {
    "type": "object",
    "required": ["name"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "maxLength": 253, "pattern": DNS_SUBDOMAIN},
        "namespace": {"type": "string", "maxLength": 63, "pattern": DNS_LABEL},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}

Schema = dict[str, Any]


def structural(schema: Schema) -> Schema:
    """A CRD's OpenAPI v3 schema as JSON Schema with Kubernetes' reading of it: an object
    with `properties` takes no other field unless `x-kubernetes-preserve-unknown-fields`,
    and `x-kubernetes-int-or-string` means an integer or a string. The other `x-kubernetes-*`
    keys (CEL rules, list types) are left as annotations: JSON Schema ignores them."""
    result: Schema = {}
    for key, value in schema.items():
        if isinstance(value, dict):
            named = key == "properties"  # a map of field names to schemas
            result[key] = (
                {k: structural(v) for k, v in value.items()} if named else structural(value)
            )
        elif isinstance(value, list):
            result[key] = [structural(v) if isinstance(v, dict) else v for v in value]
        else:
            result[key] = value
    if result.pop("x-kubernetes-int-or-string", False):
        result["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    preserves = result.get("x-kubernetes-preserve-unknown-fields", False)
    if result.get("type") == "object" and "properties" in result and not preserves:
        result.setdefault("additionalProperties", False)
    return result


def _load_schemas() -> dict[tuple[str, str], jsonschema.protocols.Validator]:
    validators: dict[tuple[str, str], jsonschema.protocols.Validator] = {}
    for path in sorted(SCHEMAS.glob("*.json")):
        group, kind, version = path.stem.split("_")
        schema = structural(json.loads(path.read_text())["openAPIV3Schema"])
        jsonschema.Draft202012Validator.check_schema(schema)
        validators[(f"{group}/{version}", kind)] = jsonschema.Draft202012Validator(schema)
    return validators


VALIDATORS = _load_schemas()
META = jsonschema.Draft202012Validator(OBJECT_META)


def is_custom(o: Object) -> bool:
    group, _, _ = str(o["apiVersion"]).rpartition("/")
    return bool(CRD_GROUP.search(group))


def violations(o: Object) -> Iterator[str]:
    """Every way `o` breaks its CRD's schema; a kind with no schema here is one."""
    validator = VALIDATORS.get((o["apiVersion"], o["kind"]))
    if validator is None:
        yield f"no CRD schema in {SCHEMAS.name}/ for {o['apiVersion']} {o['kind']}"
        return
    for where, error in [
        *(("", e) for e in validator.iter_errors(o)),
        *(("metadata.", e) for e in META.iter_errors(o.get("metadata"))),
    ]:
        yield f"{error.message} at {where}{'.'.join(map(str, error.absolute_path)) or '(root)'}"


def _custom_resources(objects: list[Object]) -> list[Object]:
    return [o for o in objects if is_custom(o)]


def test_every_linkerd_and_gateway_api_object_validates(
    overlay: tuple[str, list[Object]],
) -> None:
    name, objects = overlay
    custom = _custom_resources(objects)
    assert {o["kind"] for o in custom} == {
        "Server",
        "MeshTLSAuthentication",
        "NetworkAuthentication",
        "AuthorizationPolicy",
        "GRPCRoute",
    }
    failures = [
        f"{name}: {o['kind']}/{o['metadata']['name']}: {problem}"
        for o in custom
        for problem in violations(o)
    ]
    assert not failures, "\n".join(failures)


def test_every_schema_kept_is_one_the_manifests_use(overlay: tuple[str, list[Object]]) -> None:
    _, objects = overlay
    used = {(o["apiVersion"], o["kind"]) for o in _custom_resources(objects)}
    assert used == set(VALIDATORS)


@pytest.fixture(scope="module")
def kind_overlay() -> list[Object]:
    return build(ROOT / "k8s" / "overlays" / "kind")


def _first(objects: list[Object], kind: str, predicate: Any = lambda o: True) -> Object:
    found = next(o for o in objects if o["kind"] == kind and predicate(o))
    copied: Object = copy.deepcopy(found)
    return copied


def _outbound(o: Object) -> bool:
    return str(o["metadata"]["name"]).endswith("-outbound")


def test_a_wrong_field_or_type_fails_validation(kind_overlay: list[Object]) -> None:
    """What the validation above is worth: each change below is refused."""
    server = _first(kind_overlay, "Server")
    assert not list(violations(server))
    server["spec"]["proxyProtocols"] = "gRPC"  # misspelt: Kubernetes would drop it
    assert any("'proxyProtocols' was unexpected" in v for v in violations(server))

    server = _first(kind_overlay, "Server")
    server["spec"]["port"] = [50051]  # a port name or number, not a list
    assert list(violations(server))

    route = _first(kind_overlay, "GRPCRoute", _outbound)
    assert not list(violations(route))
    route["spec"]["parentRefs"][0]["port"] = "50051"  # an integer in the CRD
    assert any("is not of type 'integer'" in v for v in violations(route))

    route = _first(kind_overlay, "GRPCRoute", _outbound)
    route["spec"]["rules"][0]["matches"][0]["method"]["methods"] = "Get"  # nested, misspelt
    assert any("'methods' was unexpected" in v for v in violations(route))

    route = _first(kind_overlay, "GRPCRoute", _outbound)
    route["spec"]["rules"][0]["matches"][0]["method"]["method"] = "shop.Get"  # not a method name
    assert list(violations(route))

    route = _first(kind_overlay, "GRPCRoute", _outbound)
    del route["spec"]["rules"][0]["backendRefs"][0]["port"]
    route["spec"]["rules"][0]["backendRefs"][0]["group"] = ""  # a core Service needs its port
    assert list(violations(route))

    policy = _first(kind_overlay, "AuthorizationPolicy")
    del policy["spec"]["requiredAuthenticationRefs"]
    missing = "'requiredAuthenticationRefs' is a required property"
    assert any(missing in v for v in violations(policy))

    authentication = _first(kind_overlay, "MeshTLSAuthentication")
    authentication["spec"]["identities"] = ["gateway.shop.serviceaccount.identity.linkerd"]
    assert list(violations(authentication))  # identities or identityRefs, not both

    authentication = _first(kind_overlay, "NetworkAuthentication")
    authentication["metadata"]["name"] = "All_Networks"
    assert list(violations(authentication))


def test_a_custom_kind_with_no_schema_fails(kind_overlay: list[Object]) -> None:
    route = _first(kind_overlay, "GRPCRoute")
    route["apiVersion"] = "gateway.networking.k8s.io/v1alpha2"
    assert is_custom(route)
    assert list(violations(route)) == [
        f"no CRD schema in {SCHEMAS.name}/ for gateway.networking.k8s.io/v1alpha2 GRPCRoute"
    ]
