"""The mesh policy as Linkerd resources, for Kubernetes: the same policy the Envoy sidecars
and gateway enforce locally, rendered from the same model (policy.MeshPolicy).

Per service (its pods are labelled app.kubernetes.io/name=<service>, its ServiceAccount is
its mesh identity):

- inbound, who may call what: a `Server` for the gRPC port (default deny: a request that
  matches no authorized route is refused), and per method that anyone may call a
  `GRPCRoute` on that Server, a `MeshTLSAuthentication` naming the callers'
  ServiceAccounts (policy.callers: the policy's callers, plus the gateway for methods the
  contract does not mark internal) and an `AuthorizationPolicy` joining the two. Health
  (grpc.health.v1.Health) has its own route, open to any client: the kubelet's gRPC probes
  come from the node, unmeshed, and health tells nothing secret (locally: any mesh
  identity).
- outbound, how calls behave: per method a `GRPCRoute` on the Service with Linkerd's
  timeout and retry annotations: the policy's timeout for the whole call; retries only
  where the contract declares the method idempotent (as the Envoy routes), with the same
  number of attempts and per-try timeout.

Besides the services (render_edge): the gateway's public port is open to every address
(it checks tokens itself), and Postgres' and NATS' ports take only the services'
identities (NATS' cluster port only its peers'), as opaque TCP under mutual TLS.

What Linkerd does not take from the policy: the retry backoff (Linkerd retries at once,
within the retry budget), circuit breaker sizes, outlier detection and active health
checks (Linkerd balances by latency and stops sending to endpoints that fail, on its own).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from shoptools.contracts.model import Method, Service
from shoptools.mesh.policy import GATEWAY, MeshPolicy

Resource = dict[str, Any]

GRPC_PORT = 50051
GRPC_PORT_NAME = "grpc"
HEALTH_SERVICE = "grpc.health.v1.Health"
NAME_LABEL = "app.kubernetes.io/name"
GATEWAY_API = "gateway.networking.k8s.io"
POLICY_API = "policy.linkerd.io"
ALL_NETWORKS = "all-networks"  # the NetworkAuthentication of every address
# Which gRPC status each of the policy's retry conditions is to Linkerd. Linkerd retries on
# the status a call ends with; a reset stream, a refused stream and a failed connection
# reach the client proxy's retry layer as UNAVAILABLE (the proxy answers them so).
RETRY_STATUS = {
    "unavailable": "unavailable",
    "reset": "unavailable",
    "connect-failure": "unavailable",
    "refused-stream": "unavailable",
}
TIMEOUT = "timeout.linkerd.io/request"
RETRY_GRPC = "retry.linkerd.io/grpc"
RETRY_LIMIT = "retry.linkerd.io/limit"
RETRY_TIMEOUT = "retry.linkerd.io/timeout"


def kebab(name: str) -> str:
    """A method's name as part of a resource name: GetProduct -> get-product."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", name).lower()


def server_name(service: str) -> str:
    return f"{service}-{GRPC_PORT_NAME}"


def inbound_route_name(method: Method) -> str:
    return f"{method.service}-{kebab(method.name)}-inbound"


def outbound_route_name(method: Method) -> str:
    return f"{method.service}-{kebab(method.name)}-outbound"


def duration(seconds: float) -> str:
    """Linkerd's duration annotations: whole milliseconds, e.g. "2000ms"."""
    return f"{round(seconds * 1000)}ms"


def render_linkerd(policy: MeshPolicy, services: Iterable[str]) -> list[Resource]:
    """Every Linkerd policy resource for `services` (their names, as deployed), in a
    stable order: the shared authentications, then each service's."""
    resources = [_all_networks()]
    for name in sorted(services):
        resources += _service_resources(policy, policy.service(name))
    return resources


def _service_resources(policy: MeshPolicy, service: Service) -> list[Resource]:
    resources = [_server(service.name), *_health(service)]
    for method in sorted(service.methods.values(), key=lambda m: m.name):
        callers = policy.callers(method)
        if callers:  # no route for a method nobody may call: the Server denies it
            resources += _authorized_route(method, callers)
        resources.append(_outbound_route(policy, method))
    return resources


def _meta(name: str, **extra: Any) -> Resource:
    return {"name": name, **extra}


def _server(service: str) -> Resource:
    return {
        "apiVersion": f"{POLICY_API}/v1beta3",
        "kind": "Server",
        "metadata": _meta(server_name(service)),
        "spec": {
            "podSelector": {"matchLabels": {NAME_LABEL: service}},
            "port": GRPC_PORT_NAME,
            "proxyProtocol": "gRPC",
            "accessPolicy": "deny",
        },
    }


def _inbound_route(name: str, service: str, match: Resource) -> Resource:
    return {
        "apiVersion": f"{GATEWAY_API}/v1",
        "kind": "GRPCRoute",
        "metadata": _meta(name),
        "spec": {
            "parentRefs": [{"group": POLICY_API, "kind": "Server", "name": server_name(service)}],
            "rules": [{"matches": [{"method": match}]}],
        },
    }


def _authorization(name: str, route: str, authentication: Resource) -> Resource:
    return {
        "apiVersion": f"{POLICY_API}/v1alpha1",
        "kind": "AuthorizationPolicy",
        "metadata": _meta(name),
        "spec": {
            "targetRef": {"group": GATEWAY_API, "kind": "GRPCRoute", "name": route},
            "requiredAuthenticationRefs": [authentication],
        },
    }


def _authorized_route(method: Method, callers: list[str]) -> list[Resource]:
    name = inbound_route_name(method)
    return [
        _inbound_route(
            name,
            method.service,
            {"type": "Exact", "service": method.full_service, "method": method.name},
        ),
        {
            "apiVersion": f"{POLICY_API}/v1alpha1",
            "kind": "MeshTLSAuthentication",
            "metadata": _meta(name),
            "spec": {
                "identityRefs": [{"kind": "ServiceAccount", "name": c} for c in callers],
            },
        },
        _authorization(
            name, name, {"group": POLICY_API, "kind": "MeshTLSAuthentication", "name": name}
        ),
    ]


def _health(service: Service) -> list[Resource]:
    name = f"{service.name}-health-inbound"
    return [
        _inbound_route(name, service.name, {"type": "Exact", "service": HEALTH_SERVICE}),
        _authorization(
            name,
            name,
            {"group": POLICY_API, "kind": "NetworkAuthentication", "name": ALL_NETWORKS},
        ),
    ]


def _all_networks() -> Resource:
    return {
        "apiVersion": f"{POLICY_API}/v1alpha1",
        "kind": "NetworkAuthentication",
        "metadata": _meta(ALL_NETWORKS),
        "spec": {"networks": [{"cidr": "0.0.0.0/0"}, {"cidr": "::/0"}]},
    }


def _outbound_route(policy: MeshPolicy, method: Method) -> Resource:
    timeouts = policy.timeouts(method)
    annotations = {TIMEOUT: duration(timeouts.timeout)}
    if method.retryable:
        retries = policy.defaults.retries
        statuses = sorted({RETRY_STATUS[c] for c in retries.conditions})
        annotations |= {
            RETRY_GRPC: ",".join(statuses),
            RETRY_LIMIT: str(retries.attempts - 1),
            RETRY_TIMEOUT: duration(timeouts.per_try_timeout),
        }
    return {
        "apiVersion": f"{GATEWAY_API}/v1",
        "kind": "GRPCRoute",
        "metadata": _meta(outbound_route_name(method), annotations=annotations),
        "spec": {
            "parentRefs": [
                {"group": "core", "kind": "Service", "name": method.service, "port": GRPC_PORT}
            ],
            "rules": [
                {
                    "matches": [
                        {
                            "method": {
                                "type": "Exact",
                                "service": method.full_service,
                                "method": method.name,
                            }
                        }
                    ],
                    "backendRefs": [{"name": method.service, "port": GRPC_PORT}],
                }
            ],
        },
    }


def render_edge(services: Iterable[str]) -> list[Resource]:
    """The gateway's public port (anyone may connect: it authenticates with JWTs itself),
    the web pages' port (the gateway's identity only), and the data stores' ports:
    Postgres and NATS take connections from the services' identities only, and NATS'
    cluster port from its own peers."""
    identities = sorted(services)

    def server(name: str, app: str, port: str, protocol: str) -> Resource:
        return {
            "apiVersion": f"{POLICY_API}/v1beta3",
            "kind": "Server",
            "metadata": _meta(name),
            "spec": {
                "podSelector": {"matchLabels": {NAME_LABEL: app}},
                "port": port,
                "proxyProtocol": protocol,
                "accessPolicy": "deny",
            },
        }

    def mesh_clients(name: str, accounts: list[str]) -> list[Resource]:
        return [
            {
                "apiVersion": f"{POLICY_API}/v1alpha1",
                "kind": "MeshTLSAuthentication",
                "metadata": _meta(name),
                "spec": {"identityRefs": [{"kind": "ServiceAccount", "name": a} for a in accounts]},
            },
            _server_authorization(name, name, "MeshTLSAuthentication"),
        ]

    return [
        server("gateway-http", GATEWAY, "http", "unknown"),
        _server_authorization("gateway-http", "gateway-http", "NetworkAuthentication"),
        # the storefront and console: their pages come through the gateway only
        server("web-http", "web", "http", "HTTP/1"),
        *mesh_clients("web-http", [GATEWAY]),
        server("postgres", "postgres", "postgres", "opaque"),
        *mesh_clients("postgres", identities),
        server("nats-client", "nats", "client", "opaque"),
        *mesh_clients("nats-client", [*identities, "nats-admin"]),
        server("nats-cluster", "nats", "cluster", "opaque"),
        *mesh_clients("nats-cluster", ["nats"]),
    ]


def _server_authorization(name: str, authentication: str, kind: str) -> Resource:
    return {
        "apiVersion": f"{POLICY_API}/v1alpha1",
        "kind": "AuthorizationPolicy",
        "metadata": _meta(name),
        "spec": {
            "targetRef": {"group": POLICY_API, "kind": "Server", "name": name},
            "requiredAuthenticationRefs": [
                {
                    "group": POLICY_API,
                    "kind": kind,
                    "name": ALL_NETWORKS if kind == "NetworkAuthentication" else authentication,
                }
            ],
        },
    }
