"""The Kubernetes objects derived from the code: one set per discovered service, the
gateway, PostgreSQL and NATS JetStream. Plain dicts in the API's own shape; generate.py
writes them into k8s/base/generated/.

Every pod runs as a non-root user with a read-only root filesystem, no capabilities and
the runtime's default seccomp profile, with resource requests and limits, and every
workload is meshed (the namespace injects Linkerd's proxy, as a native sidecar so that it
runs before and after the pod's own init containers and Jobs complete).
"""

from __future__ import annotations

import json
from typing import Any

from nats.js.api import StorageType, StreamConfig

from shoptools.contracts.model import Service
from shoptools.k8s import gateway as cluster_gateway
from shoptools.mesh.linkerd import GRPC_PORT, GRPC_PORT_NAME, NAME_LABEL
from shoptools.mesh.policy import GATEWAY, MeshPolicy
from shoptools.stack import nats, nats_auth
from shoptools.stack.postgres import MAX_CONNECTIONS, role_name

Object = dict[str, Any]

IMAGE = "shopmesh"  # the overlays name the registry and tag
POSTGRES_IMAGE = "docker.io/library/postgres:18-alpine"
NATS_IMAGE = "docker.io/library/nats:2.11-alpine"
NATS_BOX_IMAGE = "docker.io/natsio/nats-box:0.18.0"
ENVOY_IMAGE = "docker.io/envoyproxy/envoy:v1.36-latest"
PART_OF = "app.kubernetes.io/part-of"
COMPONENT = "app.kubernetes.io/component"
POSTGRES_SECRET = "shop-postgres"  # key "postgres" (superuser), one key per database
NATS_SECRET = "shop-nats"  # one key per NATS user
JWT_SECRET = "shop-jwt"  # key jwks.json, the gateway's token verification keys
# keys jwt-signing.key and jwks.json: the development sign-in's (never in production)
JWT_SIGNING_SECRET = "shop-jwt-signing"
SECRETS = (POSTGRES_SECRET, NATS_SECRET, JWT_SECRET)
APP_UID = 10001  # the image's user (Containerfile)
POSTGRES_PORT = 5432
NATS_PORT, NATS_CLUSTER_PORT, NATS_MONITOR_PORT = 4222, 6222, 8222
NATS_REPLICAS = 3
SMTP_URL = "smtp://smtp-sink:1025"  # the dev overlays' sink (components/smtp-sink)
# A service drains before it stops: the endpoint leaves the Service first (preStop), then
# SIGTERM lets in-flight calls finish within the chassis' shutdown_grace_s (10 s).
PRE_STOP_S = 5
MIGRATE_ENV = {
    "SHOP_SERVICE",
    "DB_PASSWORD",
    "SHOP_DATABASE_URL",
    "SHOP_LOG_LEVEL",
    "PYTHONUNBUFFERED",
}
TERMINATION_GRACE_S = 30


def labels(name: str, component: str) -> dict[str, str]:
    return {NAME_LABEL: name, PART_OF: "shopmesh", COMPONENT: component}


def container_security() -> Object:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def pod_security(uid: int) -> Object:
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def resources(cpu: str, memory: str, cpu_limit: str, memory_limit: str) -> Object:
    return {
        "requests": {"cpu": cpu, "memory": memory},
        "limits": {"cpu": cpu_limit, "memory": memory_limit},
    }


def _secret_env(name: str, secret: str, key: str) -> Object:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def service_account(name: str, component: str) -> Object:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": name, "labels": labels(name, component)},
        # Only Linkerd's proxy needs a token (its own projected one, for its identity).
        "automountServiceAccountToken": False,
    }


def pdb(name: str, component: str) -> Object:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": name, "labels": labels(name, component)},
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {NAME_LABEL: name}}},
    }


def hpa(name: str, component: str) -> Object:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name, "labels": labels(name, component)},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": 1,
            "maxReplicas": 3,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 70},
                    },
                }
            ],
        },
    }


def _spread_from_peers(name: str) -> Object:
    """Prefer another node than the service's other pods (production requires it)."""
    return {
        "podAntiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 100,
                    "podAffinityTerm": {
                        "topologyKey": "kubernetes.io/hostname",
                        "labelSelector": {"matchLabels": {NAME_LABEL: name}},
                    },
                }
            ]
        }
    }


def deployment(name: str, component: str, pod: Object) -> Object:
    """A Deployment of one replica (the overlays scale it) that never goes below its
    replicas during a rollout, with `pod` as its pod spec."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels(name, component)},
        "spec": {
            "replicas": 1,
            "revisionHistoryLimit": 3,
            "selector": {"matchLabels": {NAME_LABEL: name}},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "template": {"metadata": {"labels": labels(name, component)}, "spec": pod},
        },
    }


def pod(name: str, containers: list[Object], volumes: list[Object], **more: Any) -> Object:
    """A pod spec as every workload of ours has it: its ServiceAccount (its identity), no
    API token, non-root, spread from its peers, with `more` (init containers)."""
    return {
        "serviceAccountName": name,
        "automountServiceAccountToken": False,
        "securityContext": pod_security(APP_UID),
        "terminationGracePeriodSeconds": TERMINATION_GRACE_S,
        "affinity": _spread_from_peers(name),
        **more,
        "containers": containers,
        "volumes": volumes,
    }


def tmp_volume() -> Object:
    return {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}


def service_env(service: str, namespace: str) -> list[Object]:
    """What a service instance is told (chassis ServiceSettings and the service's own),
    as the local stack tells it (shoptools.stack.wiring.service_env). DB_PASSWORD and
    NATS_PASSWORD only feed the URLs ($(VAR) is Kubernetes' expansion)."""
    cluster = f"{namespace}.svc.cluster.local"
    env: list[Object] = [
        {"name": "SHOP_SERVICE", "value": service},
        {"name": "SHOP_INSTANCE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "SHOP_LISTEN_HOST", "value": "0.0.0.0"},
        {"name": "SHOP_GRPC_PORT", "value": str(GRPC_PORT)},
        _secret_env("DB_PASSWORD", POSTGRES_SECRET, service),
        {
            "name": "SHOP_DATABASE_URL",
            "value": f"postgresql+psycopg://{role_name(service)}:$(DB_PASSWORD)"
            f"@postgres.{cluster}:{POSTGRES_PORT}/{service}",
        },
        _secret_env("NATS_PASSWORD", NATS_SECRET, service),
        # Plaintext NATS: the connection is Linkerd's mutual TLS between the two pods
        # (an opaque port), and the password says which NATS user the service is.
        {
            "name": "SHOP_NATS_URL",
            "value": f"nats://{service}:$(NATS_PASSWORD)@nats.{cluster}:4222",
        },
        # No sidecar listener to dial: each callee at its own Service, through Linkerd.
        {"name": "SHOP_MESH_OUTBOUND", "value": f"{{service}}.{cluster}:{GRPC_PORT}"},
        {"name": "SHOP_LOG_LEVEL", "value": "INFO"},
        {"name": "OTEL_SERVICE_NAME", "value": service},
        {"name": "OTEL_TRACES_EXPORTER", "value": "none"},
        {"name": "OTEL_METRICS_EXPORTER", "value": "none"},
        {"name": "OTEL_LOGS_EXPORTER", "value": "none"},
        {"name": "PYTHONUNBUFFERED", "value": "1"},
    ]
    if service == "notifications":
        env.append({"name": "SHOP_SMTP_URL", "value": SMTP_URL})
    return env


def _grpc_probe(service: Service, period: int, failures: int) -> Object:
    return {
        "grpc": {"port": GRPC_PORT, "service": service.full_name},
        "periodSeconds": period,
        "timeoutSeconds": 2,
        "failureThreshold": failures,
    }


def service_objects(service: Service, namespace: str) -> list[Object]:
    """Its ServiceAccount (its mesh identity), Service, Deployment (migrating first, in an
    init container: the chassis' migration gate keeps it NOT_SERVING until the schema is
    at head anyway), PodDisruptionBudget and HorizontalPodAutoscaler (its state is in
    Postgres and NATS, so it scales out)."""
    name = service.name
    env = service_env(name, namespace)
    container = {
        "image": IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "env": env,
        "securityContext": container_security(),
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    migrate = {
        "name": "migrate",
        **container,
        # Only what `migrate` reads: who it is, and its database.
        "env": [e for e in env if e["name"] in MIGRATE_ENV],
        "args": ["migrate"],
        "resources": resources("100m", "128Mi", "1", "256Mi"),
    }
    serve = {
        "name": name,
        **container,
        "args": ["serve"],
        "ports": [{"name": GRPC_PORT_NAME, "containerPort": GRPC_PORT}],
        "resources": resources("100m", "192Mi", "1", "512Mi"),
        # Up to 5 minutes to start (a first seed), then health every 5 s for readiness.
        # Liveness forgives a minute of NOT_SERVING: an instance waiting for its database
        # recovers on its own.
        "startupProbe": _grpc_probe(service, 5, 60),
        "readinessProbe": _grpc_probe(service, 5, 2),
        "livenessProbe": _grpc_probe(service, 10, 6),
        "lifecycle": {"preStop": {"sleep": {"seconds": PRE_STOP_S}}},
    }
    workload = deployment(
        name, "service", pod(name, [serve], [tmp_volume()], initContainers=[migrate])
    )
    k8s_service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": labels(name, "service")},
        "spec": {
            "selector": {NAME_LABEL: name},
            "ports": [
                {
                    "name": GRPC_PORT_NAME,
                    "port": GRPC_PORT,
                    "targetPort": GRPC_PORT_NAME,
                    "appProtocol": "kubernetes.io/h2c",
                }
            ],
        },
    }
    return [
        service_account(name, "service"),
        k8s_service,
        workload,
        pdb(name, "service"),
        hpa(name, "service"),
    ]


# --- the gateway --------------------------------------------------------------------------


def gateway_objects(policy: MeshPolicy, services: list[str], namespace: str) -> list[Object]:
    config = cluster_gateway.render_cluster_gateway(policy, services, namespace)
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "gateway-envoy", "labels": labels(GATEWAY, "gateway")},
        "data": {cluster_gateway.CONFIG_FILE: json.dumps(config, indent=1, sort_keys=True)},
    }

    def probe(period: int, failures: int) -> Object:
        return {
            "httpGet": {"path": "/ready", "port": "probes"},
            "periodSeconds": period,
            "failureThreshold": failures,
        }

    envoy = {
        "name": "envoy",
        "image": ENVOY_IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "command": ["envoy"],
        "args": [
            "-c",
            f"/etc/envoy/{cluster_gateway.CONFIG_FILE}",
            "--concurrency",
            "2",
            "-l",
            "warning",
            # Stop accepting, let calls in flight finish: Envoy's drain.
            "--drain-time-s",
            "15",
            "--drain-strategy",
            "immediate",
        ],
        "ports": [
            {"name": "http", "containerPort": cluster_gateway.GATEWAY_PORT},
            {"name": "probes", "containerPort": cluster_gateway.PROBES_PORT},
        ],
        "resources": resources("100m", "128Mi", "2", "512Mi"),
        "securityContext": container_security(),
        "startupProbe": probe(2, 30),
        "readinessProbe": probe(5, 2),
        "livenessProbe": probe(10, 6),
        "lifecycle": {"preStop": {"sleep": {"seconds": PRE_STOP_S}}},
        "volumeMounts": [
            {"name": "config", "mountPath": "/etc/envoy", "readOnly": True},
            {"name": "jwt", "mountPath": "/etc/shop/jwt", "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    volumes = [
        {"name": "config", "configMap": {"name": "gateway-envoy"}},
        {"name": "jwt", "secret": {"secretName": JWT_SECRET}},
        tmp_volume(),
    ]
    workload = deployment(GATEWAY, "gateway", pod(GATEWAY, [envoy], volumes))
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": GATEWAY, "labels": labels(GATEWAY, "gateway")},
        "spec": {
            "selector": {NAME_LABEL: GATEWAY},
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "appProtocol": "http"}],
        },
    }
    return [
        service_account(GATEWAY, "gateway"),
        config_map,
        service,
        workload,
        pdb(GATEWAY, "gateway"),
        hpa(GATEWAY, "gateway"),
    ]


# --- PostgreSQL ---------------------------------------------------------------------------

_CREATE_DATABASE = """\
create_database() {  # a database and its owner role; only the owner may connect
  local database=$1 role=$2 password=$3
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \\
    --set database="$database" --set role="$role" --set password="$password" <<'SQL'
CREATE ROLE :"role" LOGIN PASSWORD :'password';
CREATE DATABASE :"database" OWNER :"role";
REVOKE ALL ON DATABASE :"database" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"database" TO :"role";
SQL
}
"""


def postgres_init_script(databases: list[str]) -> str:
    """Run once by the image on an empty data directory: a database and a role per
    bounded context, as the local stack provisions them (shoptools.stack.postgres)."""
    lines = [
        "#!/bin/bash",
        "# Generated by shoptools.k8s from the contracts; do not edit.",
        "set -euo pipefail",
        _CREATE_DATABASE,
    ]
    for database in databases:
        lines.append(
            f'create_database {database} {role_name(database)} "${_password_var(database)}"'
        )
    lines += [
        'psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \\',
        '  -c "REVOKE CONNECT ON DATABASE postgres FROM PUBLIC"',
        "",
    ]
    return "\n".join(lines)


def _password_var(database: str) -> str:
    return f"SHOP_DB_PASSWORD_{database.upper()}"


def postgres_objects(databases: list[str]) -> list[Object]:
    name = "postgres"
    uid = 70  # the alpine image's postgres user
    init = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "postgres-init", "labels": labels(name, "database")},
        "data": {"10-shop-databases.sh": postgres_init_script(databases)},
    }
    probe_command = ["pg_isready", "--host", "127.0.0.1", "--username", "postgres"]
    statefulset = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {
            "name": name,
            "labels": labels(name, "database"),
            "annotations": {
                "checkov.io/skip1": "CKV_K8S_40=the image's postgres user (uid 70) owns its"
                " data directory; another uid needs a passwd entry the image lacks",
            },
        },
        "spec": {
            "serviceName": f"{name}-headless",
            "replicas": 1,
            "selector": {"matchLabels": {NAME_LABEL: name}},
            "template": {
                "metadata": {
                    "labels": labels(name, "database"),
                    "annotations": {"config.linkerd.io/opaque-ports": str(POSTGRES_PORT)},
                },
                "spec": {
                    "serviceAccountName": name,
                    "automountServiceAccountToken": False,
                    "securityContext": pod_security(uid),
                    "terminationGracePeriodSeconds": 60,
                    "containers": [
                        {
                            "name": name,
                            "image": POSTGRES_IMAGE,
                            "imagePullPolicy": "IfNotPresent",
                            # Room for every instance's pool and readers, as locally.
                            "args": ["-c", f"max_connections={MAX_CONNECTIONS}"],
                            "env": [
                                _secret_env("POSTGRES_PASSWORD", POSTGRES_SECRET, "postgres"),
                                {"name": "PGDATA", "value": "/var/lib/postgresql/18/docker"},
                                *(
                                    _secret_env(_password_var(db), POSTGRES_SECRET, db)
                                    for db in databases
                                ),
                            ],
                            "ports": [{"name": "postgres", "containerPort": POSTGRES_PORT}],
                            "resources": resources("250m", "256Mi", "2", "1Gi"),
                            "securityContext": container_security(),
                            "startupProbe": {
                                "exec": {"command": probe_command},
                                "periodSeconds": 2,
                                "failureThreshold": 60,
                            },
                            "readinessProbe": {
                                "exec": {"command": probe_command},
                                "periodSeconds": 5,
                            },
                            "livenessProbe": {
                                "exec": {"command": probe_command},
                                "periodSeconds": 10,
                                "failureThreshold": 6,
                            },
                            "volumeMounts": [
                                {"name": "data", "mountPath": "/var/lib/postgresql"},
                                {"name": "run", "mountPath": "/var/run/postgresql"},
                                {"name": "tmp", "mountPath": "/tmp"},
                                {
                                    "name": "init",
                                    "mountPath": "/docker-entrypoint-initdb.d",
                                    "readOnly": True,
                                },
                            ],
                        }
                    ],
                    "volumes": [
                        {"name": "run", "emptyDir": {}},
                        tmp_volume(),
                        {"name": "init", "configMap": {"name": "postgres-init"}},
                    ],
                },
            },
            "volumeClaimTemplates": [_claim("data", "1Gi")],
        },
    }
    return [
        service_account(name, "database"),
        init,
        _headless(name, "database", [("postgres", POSTGRES_PORT)]),
        _client_service(name, "database", [("postgres", POSTGRES_PORT)], opaque=True),
        statefulset,
    ]


def _claim(name: str, size: str) -> Object:
    return {
        "metadata": {"name": name},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}},
    }


def _ports(ports: list[tuple[str, int]]) -> list[Object]:
    return [{"name": n, "port": p, "targetPort": n} for n, p in ports]


def _headless(name: str, component: str, ports: list[tuple[str, int]]) -> Object:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": f"{name}-headless", "labels": labels(name, component)},
        "spec": {
            "clusterIP": "None",
            "publishNotReadyAddresses": True,  # peers find each other before they are ready
            "selector": {NAME_LABEL: name},
            "ports": _ports(ports),
        },
    }


def _client_service(
    name: str, component: str, ports: list[tuple[str, int]], *, opaque: bool
) -> Object:
    metadata: Object = {"name": name, "labels": labels(name, component)}
    if opaque:  # server-speaks-first protocols: Linkerd must not wait to detect HTTP
        metadata["annotations"] = {
            "config.linkerd.io/opaque-ports": ",".join(str(p) for _, p in ports)
        }
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata,
        "spec": {"selector": {NAME_LABEL: name}, "ports": _ports(ports)},
    }


# --- NATS JetStream -----------------------------------------------------------------------


def _nats_password_var(user: str) -> str:
    return f"NATS_PASSWORD_{user.upper()}"


def nats_config(policy: MeshPolicy, namespace: str) -> str:
    """nats.conf for every node of the cluster: the users and permissions of the local
    stack (shoptools.stack.nats_auth.permissions, from the policy's events section), each
    password an environment variable the server reads from the `shop-nats` Secret."""
    peers = [
        f"nats://nats-{i}.nats-headless.{namespace}.svc.cluster.local:{NATS_CLUSTER_PORT}"
        for i in range(NATS_REPLICAS)
    ]
    users: list[Object] = [{"user": nats_auth.ADMIN, "password": _var(nats_auth.ADMIN)}]
    for service in sorted(policy.contracts):
        allowed = nats_auth.permissions(policy, service)
        users.append(
            {
                "user": service,
                "password": _var(service),
                "permissions": {
                    "publish": {"allow": list(allowed.publish)},
                    "subscribe": {"allow": list(allowed.subscribe)},
                },
            }
        )
    config = {
        "server_name": "$POD_NAME",
        "listen": f"0.0.0.0:{NATS_PORT}",
        "http": f"0.0.0.0:{NATS_MONITOR_PORT}",
        "pid_file": "/var/run/nats/nats.pid",
        "lame_duck_duration": "30s",
        "lame_duck_grace_period": "10s",
        # As locally: an acknowledged publish is on disk (the relays rely on it).
        "jetstream": {"store_dir": "/data/jetstream", "sync_interval": "always"},
        "cluster": {"name": "shop", "listen": f"0.0.0.0:{NATS_CLUSTER_PORT}", "routes": peers},
        "authorization": {"users": users},
    }
    text = json.dumps(config, indent=2)
    # NATS' configuration format reads JSON, and unquoted $NAME as a variable: the
    # environment's, when the file defines none.
    for name in ["POD_NAME", *(_nats_password_var(u["user"]) for u in users)]:
        text = text.replace(f'"${name}"', f"${name}")
    return text + "\n"


def _var(user: str) -> str:
    return f"${_nats_password_var(user)}"


def stream_configs() -> dict[str, str]:
    """One JetStream API stream configuration per stream of the local stack, replicated
    on every node, as files for `nats stream add --config` (the streams Job)."""
    return {
        f"{name}.json": json.dumps(
            StreamConfig(
                name=name,
                subjects=[subjects],
                storage=StorageType.FILE,
                duplicate_window=nats.DUPLICATE_WINDOW_S,
                num_replicas=NATS_REPLICAS,
            ).as_dict(),
            indent=2,
            sort_keys=True,
        )
        + "\n"
        for name, subjects in sorted(nats.STREAMS.items())
    }


_STREAMS_SCRIPT = """\
set -eu
for file in /etc/nats-streams/*.json; do
  stream=$(basename "$file" .json)
  if nats stream info "$stream" >/dev/null 2>&1; then
    nats stream edit "$stream" --config "$file" --force
  else
    nats stream add "$stream" --config "$file"
  fi
done
nats stream ls
"""


def nats_objects(policy: MeshPolicy, namespace: str) -> list[Object]:
    name = "nats"
    users = [nats_auth.ADMIN, *sorted(policy.contracts)]
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "nats-config", "labels": labels(name, "broker")},
        "data": {"nats.conf": nats_config(policy, namespace)},
    }
    streams = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "nats-streams", "labels": labels(name, "broker")},
        "data": stream_configs(),
    }
    health = {"path": "/healthz?js-enabled-only=true", "port": "monitor"}
    statefulset = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name, "labels": labels(name, "broker")},
        "spec": {
            "serviceName": f"{name}-headless",
            "replicas": NATS_REPLICAS,
            "podManagementPolicy": "Parallel",  # a cluster forms only with its peers up
            "selector": {"matchLabels": {NAME_LABEL: name}},
            "template": {
                "metadata": {
                    "labels": labels(name, "broker"),
                    "annotations": {
                        "config.linkerd.io/opaque-ports": f"{NATS_PORT},{NATS_CLUSTER_PORT}"
                    },
                },
                "spec": {
                    "serviceAccountName": name,
                    "automountServiceAccountToken": False,
                    "securityContext": pod_security(APP_UID),
                    "terminationGracePeriodSeconds": 60,
                    "affinity": _spread_from_peers(name),
                    "containers": [
                        {
                            "name": name,
                            "image": NATS_IMAGE,
                            "imagePullPolicy": "IfNotPresent",
                            "args": ["--config", "/etc/nats/nats.conf"],
                            "env": [
                                {
                                    "name": "POD_NAME",
                                    "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}},
                                },
                                *(
                                    _secret_env(_nats_password_var(u), NATS_SECRET, u)
                                    for u in users
                                ),
                            ],
                            "ports": [
                                {"name": "client", "containerPort": NATS_PORT},
                                {"name": "cluster", "containerPort": NATS_CLUSTER_PORT},
                                {"name": "monitor", "containerPort": NATS_MONITOR_PORT},
                            ],
                            "resources": resources("100m", "128Mi", "1", "512Mi"),
                            "securityContext": container_security(),
                            "startupProbe": {
                                "httpGet": health,
                                "periodSeconds": 2,
                                "failureThreshold": 90,
                            },
                            "readinessProbe": {"httpGet": health, "periodSeconds": 5},
                            "livenessProbe": {
                                "httpGet": {"path": "/healthz", "port": "monitor"},
                                "periodSeconds": 10,
                                "failureThreshold": 6,
                            },
                            # Lame duck: clients move to the other nodes before this one stops.
                            "lifecycle": {
                                "preStop": {
                                    "exec": {
                                        "command": [
                                            "nats-server",
                                            "--signal",
                                            "ldm=/var/run/nats/nats.pid",
                                        ]
                                    }
                                }
                            },
                            "volumeMounts": [
                                {"name": "data", "mountPath": "/data"},
                                {"name": "config", "mountPath": "/etc/nats", "readOnly": True},
                                {"name": "run", "mountPath": "/var/run/nats"},
                            ],
                        }
                    ],
                    "volumes": [
                        {"name": "config", "configMap": {"name": "nats-config"}},
                        {"name": "run", "emptyDir": {}},
                    ],
                },
            },
            "volumeClaimTemplates": [_claim("data", "1Gi")],
        },
    }
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "nats-streams", "labels": labels("nats-streams", "broker")},
        "spec": {
            "backoffLimit": 20,
            "template": {
                "metadata": {"labels": labels("nats-streams", "broker")},
                "spec": {
                    "serviceAccountName": "nats-admin",
                    "automountServiceAccountToken": False,
                    "restartPolicy": "OnFailure",
                    "securityContext": pod_security(APP_UID),
                    "containers": [
                        {
                            "name": "streams",
                            "image": NATS_BOX_IMAGE,
                            "imagePullPolicy": "IfNotPresent",
                            "command": ["sh", "-c", _STREAMS_SCRIPT],
                            "env": [
                                _secret_env("NATS_PASSWORD", NATS_SECRET, nats_auth.ADMIN),
                                {
                                    "name": "NATS_URL",
                                    "value": f"nats://{nats_auth.ADMIN}:$(NATS_PASSWORD)"
                                    f"@nats.{namespace}.svc.cluster.local:{NATS_PORT}",
                                },
                            ],
                            "resources": resources("50m", "32Mi", "500m", "128Mi"),
                            "securityContext": container_security(),
                            "volumeMounts": [
                                {
                                    "name": "streams",
                                    "mountPath": "/etc/nats-streams",
                                    "readOnly": True,
                                }
                            ],
                        }
                    ],
                    "volumes": [{"name": "streams", "configMap": {"name": "nats-streams"}}],
                },
            },
        },
    }
    return [
        service_account(name, "broker"),
        service_account("nats-admin", "broker"),
        config,
        streams,
        _headless(name, "broker", [("client", NATS_PORT), ("cluster", NATS_CLUSTER_PORT)]),
        _client_service(name, "broker", [("client", NATS_PORT)], opaque=True),
        statefulset,
        pdb(name, "broker"),
        job,
    ]
