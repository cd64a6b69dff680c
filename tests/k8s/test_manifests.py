"""The manifests: fresh, valid against the Kubernetes API, hardened, and consistent with the
code they deploy (services, ports, settings, secrets)."""

from __future__ import annotations

import copy
import importlib
import re
import shutil
from pathlib import Path

import kubernetes_validate  # type: ignore[import-untyped]  # ships no type information
import pytest
from pydantic_settings import BaseSettings

from chassis.config import ServiceSettings
from shoptools.contracts.model import load_contracts
from shoptools.k8s import generate, secrets, workloads
from shoptools.services import deployable_services
from shoptools.stack import wiring
from shoptools.stack.postgres import DATABASES
from shoptools.topology import Topology

from .conftest import ROOT, Object, build, of_kind, pod_spec

KUBERNETES_VERSIONS = ("1.31.0", "1.34.0")
# Custom resources: Linkerd's policy and the Gateway API's routes. kubernetes-validate has
# no schema for them: test_crds validates them against their CRDs' schemas, and
# test_mesh_references checks what joins them together.
CUSTOM_KINDS = {
    "Server",
    "MeshTLSAuthentication",
    "NetworkAuthentication",
    "AuthorizationPolicy",
    "GRPCRoute",
}
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "Job")
SERVICES = deployable_services()


def test_generated_manifests_are_fresh() -> None:
    stale = generate.differences(ROOT)
    assert not stale, "run `python -m shoptools.k8s generate`:\n" + "\n".join(stale)


def test_a_policy_change_makes_the_generated_manifests_stale(tmp_path: Path) -> None:
    """The freshness check compares with what the policy renders now, not a snapshot."""
    (tmp_path / "mesh").mkdir()
    policy = (ROOT / "mesh" / "policy.yaml").read_text()
    changed = policy.replace("SearchProducts: {timeout: 8s", "SearchProducts: {timeout: 9s")
    assert changed != policy
    (tmp_path / "mesh" / "policy.yaml").write_text(changed)
    for service in SERVICES:
        (tmp_path / "services" / service).mkdir(parents=True)
        shutil.copy(ROOT / "services" / service / "pyproject.toml", tmp_path / "services" / service)
    shutil.copytree(generate.generated_dir(ROOT), generate.generated_dir(tmp_path))
    stale = {diff.splitlines()[0].split("/")[-1]: diff for diff in generate.differences(tmp_path)}
    # Both meshes: Linkerd's route timeout, and the gateway's Envoy route.
    assert set(stale) == {"gateway.yaml (committed)", "mesh-policy.yaml (committed)"}
    assert "+    timeout.linkerd.io/request: 9000ms" in stale["mesh-policy.yaml (committed)"]
    assert '"timeout": "9.000s"' in stale["gateway.yaml (committed)"]


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_object_validates_strictly(overlay: tuple[str, list[Object]], version: str) -> None:
    name, objects = overlay
    custom = set()
    for o in objects:
        try:
            kubernetes_validate.validate(o, version, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            custom.add(o["kind"])
        except kubernetes_validate.ValidationError as e:
            pytest.fail(
                f"{name}: {o['kind']}/{o['metadata']['name']}: {e.message} at {list(e.path)}"
            )
    assert custom <= CUSTOM_KINDS


def test_strict_validation_refuses_an_unknown_field() -> None:
    """What the validation above is worth: a misspelt field does not pass."""
    deployment = copy.deepcopy(
        of_kind(build(ROOT / "k8s" / "overlays" / "kind"), "Deployment")["catalog"]
    )
    pod_spec(deployment)["containers"][0]["readinessProbes"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[0], strict=True)


def test_every_service_of_the_contracts_is_deployed(overlay: tuple[str, list[Object]]) -> None:
    _, objects = overlay
    assert set(load_contracts()) == set(SERVICES)
    for kind in ("Deployment", "Service", "ServiceAccount", "PodDisruptionBudget"):
        assert set(SERVICES) <= set(of_kind(objects, kind)), kind
    autoscaled = {
        h["spec"]["scaleTargetRef"]["name"]
        for h in of_kind(objects, "HorizontalPodAutoscaler").values()
    }
    assert autoscaled == {*SERVICES, "gateway", "web"}
    for service in SERVICES:
        deployment = of_kind(objects, "Deployment")[service]
        assert pod_spec(deployment)["serviceAccountName"] == service  # its mesh identity
        (port,) = of_kind(objects, "Service")[service]["spec"]["ports"]
        assert port["appProtocol"] == "kubernetes.io/h2c"
        assert port["targetPort"] == "grpc"


def test_the_web_pages_are_deployed_and_sign_in_only_in_development(
    overlay: tuple[str, list[Object]],
) -> None:
    """The storefront and console run in every overlay, behind the gateway; only the
    development overlays give them the signing key (and so a sign-in page)."""
    name, objects = overlay
    web = of_kind(objects, "Deployment")["web"]
    (container,) = pod_spec(web)["containers"]
    assert _env(container)["SHOP_SERVICE"]["value"] == "shopweb"
    assert container["image"].rsplit(":", 1)[0].endswith("/shopmesh-web")  # `web` target
    (port,) = of_kind(objects, "Service")["web"]["spec"]["ports"]
    assert port["appProtocol"] == "http"
    secrets = {v["secret"]["secretName"] for v in pod_spec(web)["volumes"] if "secret" in v}
    signs_in = "--dev-identity-pki-dir" in container["args"]
    if name == "production":
        assert not signs_in
        assert not secrets
        assert "--secure-cookies" in container["args"]
    else:
        assert signs_in
        assert secrets == {"shop-jwt-signing"}


def _env(container: Object) -> dict[str, Object]:
    return {e["name"]: e for e in container.get("env", [])}


def test_probes_ask_the_chassis_health_on_the_port_it_serves(
    overlay: tuple[str, list[Object]],
) -> None:
    _, objects = overlay
    contracts = load_contracts()
    for service in SERVICES:
        (container,) = pod_spec(of_kind(objects, "Deployment")[service])["containers"]
        env = _env(container)
        # The chassis listens on SHOP_LISTEN_HOST:SHOP_GRPC_PORT, health included.
        port = int(env["SHOP_GRPC_PORT"]["value"])
        assert env["SHOP_LISTEN_HOST"]["value"] == "0.0.0.0"
        assert [p["containerPort"] for p in container["ports"] if p["name"] == "grpc"] == [port]
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert container[probe]["grpc"] == {
                "port": port,
                "service": contracts[service].full_name,  # a name the chassis' health serves
            }, (service, probe)
        assert ServiceSettings.model_fields["listen_host"].default == "127.0.0.1"


def _settings_variables(service: str) -> set[str]:
    """Every environment variable `service`'s configuration reads: the chassis'
    ServiceSettings and the service's own settings classes (prefix, aliases)."""
    classes: list[type[BaseSettings]] = [ServiceSettings]
    try:
        module = importlib.import_module(f"{service}.settings")
    except ModuleNotFoundError:
        module = None
    if module is not None:
        classes += [
            c
            for c in vars(module).values()
            if isinstance(c, type) and issubclass(c, BaseSettings) and c is not BaseSettings
        ]
    names = set()
    for cls in classes:
        prefix = str(cls.model_config.get("env_prefix", ""))
        for field_name, field in cls.model_fields.items():
            names.add(f"{prefix}{field_name}".upper())
            alias = field.validation_alias
            for choice in getattr(alias, "choices", [alias] if isinstance(alias, str) else []):
                names.add(str(choice).upper())
    return names


def test_every_variable_a_manifest_sets_is_read_by_the_service(
    overlay: tuple[str, list[Object]], tmp_path: Path
) -> None:
    _, objects = overlay
    topology = Topology(tmp_path)
    # What the local stack sets besides the service's settings (Python, OpenTelemetry).
    local = wiring.service_env(topology, topology.instances()[0], "postgresql://x")
    others = {name for name in local if not name.startswith("SHOP_")}
    for service in SERVICES:
        read = _settings_variables(service) | others
        spec = pod_spec(of_kind(objects, "Deployment")[service])
        for container in [*spec["initContainers"], *spec["containers"]]:
            env = _env(container)
            values = " ".join(str(e.get("value", "")) for e in env.values())
            for name in env:
                # A helper only feeds another variable's value, $(NAME).
                if f"$({name})" not in values:
                    assert name in read, f"{service}/{container['name']}: {name} is read by nobody"


def test_workloads_are_hardened(overlay: tuple[str, list[Object]]) -> None:
    name, objects = overlay
    for kind in WORKLOAD_KINDS:
        for workload_name, workload in of_kind(objects, kind).items():
            where = f"{name}: {kind}/{workload_name}"
            spec = pod_spec(workload)
            assert spec["securityContext"]["runAsNonRoot"] is True, where
            assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, where
            assert spec["automountServiceAccountToken"] is False, where
            for container in [*spec.get("initContainers", []), *spec["containers"]]:
                security = container["securityContext"]
                assert security["allowPrivilegeEscalation"] is False, where
                assert security["readOnlyRootFilesystem"] is True, where
                assert security["capabilities"]["drop"] == ["ALL"], where
                for bound in ("requests", "limits"):
                    assert set(container["resources"][bound]) == {"cpu", "memory"}, where
            if kind != "Job":
                for container in spec["containers"]:
                    assert "readinessProbe" in container, where
                    assert "livenessProbe" in container, where


def test_services_and_gateway_drain_before_they_stop(overlay: tuple[str, list[Object]]) -> None:
    _, objects = overlay
    for name in [*SERVICES, "gateway"]:
        deployment = of_kind(objects, "Deployment")[name]
        spec = pod_spec(deployment)
        (container,) = spec["containers"]
        assert container["lifecycle"]["preStop"] == {"sleep": {"seconds": workloads.PRE_STOP_S}}
        # Longer than the drain and the chassis' grace for calls in flight (10 s).
        grace = ServiceSettings.model_fields["shutdown_grace_s"].default
        assert spec["terminationGracePeriodSeconds"] > workloads.PRE_STOP_S + grace
        assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def _secret_refs(objects: list[Object]) -> set[tuple[str, str]]:
    refs = set()
    for kind in WORKLOAD_KINDS:
        for workload in of_kind(objects, kind).values():
            spec = pod_spec(workload)
            for container in [*spec.get("initContainers", []), *spec["containers"]]:
                for e in container.get("env", []):
                    ref = e.get("valueFrom", {}).get("secretKeyRef")
                    if ref:
                        refs.add((ref["name"], ref["key"]))
            for volume in spec.get("volumes", []):
                if "secret" in volume:
                    refs.add((volume["secret"]["secretName"], "*"))
    return refs


def test_no_overlay_holds_a_secret(overlay: tuple[str, list[Object]]) -> None:
    """Secrets come from scripts/k8s (development) or the cluster's secret store."""
    name, objects = overlay
    assert not of_kind(objects, "Secret"), name
    for kind in WORKLOAD_KINDS:
        for workload in of_kind(objects, kind).values():
            for container in pod_spec(workload)["containers"]:
                for e in container.get("env", []):
                    assert "PASSWORD" not in e["name"] or "valueFrom" in e, e


def test_production_has_no_demo_services_and_spreads_its_replicas() -> None:
    objects = build(ROOT / "k8s" / "overlays" / "production")
    assert "smtp-sink" not in of_kind(objects, "Deployment")
    (notifications,) = pod_spec(of_kind(objects, "Deployment")["notifications"])["containers"]
    assert _env(notifications)["SHOP_SMTP_URL"]["valueFrom"]["secretKeyRef"]["name"] == "shop-smtp"
    for name in [*SERVICES, "gateway"]:
        deployment = of_kind(objects, "Deployment")[name]
        assert deployment["spec"]["replicas"] == 3
        hostname = pod_spec(deployment)["topologySpreadConstraints"][0]
        assert hostname["topologyKey"] == "kubernetes.io/hostname"
        assert hostname["whenUnsatisfiable"] == "DoNotSchedule"
    assert {
        h["spec"]["minReplicas"] for h in of_kind(objects, "HorizontalPodAutoscaler").values()
    } == {3}
    assert of_kind(objects, "StatefulSet")["nats"]["spec"]["replicas"] == 3


def test_the_dev_secrets_are_every_secret_the_dev_overlays_use(tmp_path: Path) -> None:
    made = secrets.secret_objects(tmp_path, list(DATABASES), sorted(load_contracts()))
    provided = {(s["metadata"]["name"], key) for s in made for key in s["stringData"]}
    provided |= {(name, "*") for name, _ in provided}
    for overlay_name in ("kind", "minikube"):
        assert _secret_refs(build(ROOT / "k8s" / "overlays" / overlay_name)) <= provided
    # Made once: a second `scripts/k8s up` keeps every password and key.
    again = secrets.secret_objects(tmp_path, list(DATABASES), sorted(load_contracts()))
    assert again == made
    passwords = [v for s in made[:2] for v in s["stringData"].values()]
    assert len(set(passwords)) == len(passwords)
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{32}", p) for p in passwords)  # URL-safe


def test_postgres_makes_a_database_and_role_per_context() -> None:
    objects = build(ROOT / "k8s" / "overlays" / "kind")
    script = of_kind(objects, "ConfigMap")["postgres-init"]["data"]["10-shop-databases.sh"]
    (container,) = pod_spec(of_kind(objects, "StatefulSet")["postgres"])["containers"]
    env = _env(container)
    for database in DATABASES:
        variable = f"SHOP_DB_PASSWORD_{database.upper()}"
        assert f'create_database {database} {database}_svc "${variable}"' in script
        assert env[variable]["valueFrom"]["secretKeyRef"] == {
            "name": "shop-postgres",
            "key": database,
        }
    # Each service connects as its own role to its own database.
    for service in SERVICES:
        (app,) = pod_spec(of_kind(objects, "Deployment")[service])["containers"]
        url = _env(app)["SHOP_DATABASE_URL"]["value"]
        assert re.fullmatch(
            rf"postgresql\+psycopg://{service}_svc:\$\(DB_PASSWORD\)@postgres\.shop\.svc\.cluster\.local:5432/{service}",
            url,
        )


def _pods(objects: list[Object]) -> list[tuple[dict[str, str], set[str]]]:
    """Each workload's pod labels and container port names."""
    pods = []
    for kind in WORKLOAD_KINDS:
        for workload in of_kind(objects, kind).values():
            template = workload["spec"]["template"]
            ports = {p["name"] for c in template["spec"]["containers"] for p in c.get("ports", [])}
            pods.append((template["metadata"]["labels"], ports))
    return pods


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def test_mesh_references_resolve(overlay: tuple[str, list[Object]]) -> None:
    """What no schema checks: every Linkerd and Gateway API reference names an object of
    the overlay, and every Server and Service reaches a named port of some pod."""
    name, objects = overlay
    exists = {(o["kind"], o["metadata"]["name"]) for o in objects}
    pods = _pods(objects)
    for server in of_kind(objects, "Server").values():
        spec = server["spec"]
        assert any(
            _selects(spec["podSelector"]["matchLabels"], labels) and spec["port"] in ports
            for labels, ports in pods
        ), (name, server["metadata"]["name"])
    for service in of_kind(objects, "Service").values():
        if "selector" in service["spec"]:
            for port in service["spec"]["ports"]:
                assert any(
                    _selects(service["spec"]["selector"], labels) and port["targetPort"] in ports
                    for labels, ports in pods
                ), (name, service["metadata"]["name"], port)
    for route in of_kind(objects, "GRPCRoute").values():
        for parent in route["spec"]["parentRefs"]:
            assert (parent["kind"], parent["name"]) in exists, (name, route["metadata"]["name"])
        for rule in route["spec"]["rules"]:
            for backend in rule.get("backendRefs", []):
                assert ("Service", backend["name"]) in exists
    for policy in of_kind(objects, "AuthorizationPolicy").values():
        target = policy["spec"]["targetRef"]
        assert (target["kind"], target["name"]) in exists, (name, policy["metadata"]["name"])
        for ref in policy["spec"]["requiredAuthenticationRefs"]:
            assert (ref["kind"], ref["name"]) in exists, (name, policy["metadata"]["name"])
    for authentication in of_kind(objects, "MeshTLSAuthentication").values():
        for ref in authentication["spec"]["identityRefs"]:
            assert ("ServiceAccount", ref["name"]) in exists, ref
