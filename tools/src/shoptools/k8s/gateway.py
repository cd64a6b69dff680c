"""The API gateway's Envoy configuration for Kubernetes: the local gateway's, rendered by the
same code from the same policy and contracts, with only what the cluster does differently.

Kept as is: the listener's filters (identity header removal, REST transcoding, JWT, RBAC
per access level, per-client rate limits), the per-method routes and their timeouts.
Changed, because in the cluster the gateway's Linkerd proxy is its outbound side:
- each service is one cluster at its Service's DNS name, plaintext h2c: the proxy adds
  mutual TLS with the gateway's ServiceAccount identity, and balances over the pods;
- no retries, outlier detection or active health checks in Envoy: Linkerd does them (the
  retries from the same policy, see shoptools.mesh.linkerd), and two layers of retries
  would multiply the attempts;
- the JWKS is a file from the `shop-jwt` Secret rather than inline: keys rotate with the
  Secret, not with the manifests;
- it listens on every address, and a probes listener answers the kubelet's `/ready` from
  Envoy's admin, which itself stays on loopback;
- routes that answer with a file of the checkout (the API description pages) are left
  out: the files are not in Envoy's image, and larger than a ConfigMap may be;
- the web pages go to the `web` Service (plain HTTP/1.1; Linkerd's proxy adds mutual TLS
  like for every other call).
"""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path
from typing import Any

from shoptools.mesh.envoy import Config, http_connection_manager
from shoptools.mesh.gateway import JWT_PROVIDER, WEB_CLUSTER, render_gateway
from shoptools.mesh.linkerd import GRPC_PORT
from shoptools.mesh.policy import MeshPolicy
from shoptools.topology import Topology

GATEWAY_PORT = 8080
PROBES_PORT = 8081
ADMIN_PORT = 9901
WEB_SERVICE_PORT = 80  # the web process's Service
JWKS_FILE = "/etc/shop/jwt/jwks.json"
CONFIG_FILE = "envoy.json"


def service_address(service: str, namespace: str) -> str:
    return f"{service}.{namespace}.svc.cluster.local"


def render_cluster_gateway(policy: MeshPolicy, services: list[str], namespace: str) -> Config:
    with tempfile.TemporaryDirectory() as state:
        # The local renderer wants a topology; every service has instances in the cluster.
        topology = Topology(Path(state), services=dict.fromkeys(services, 1))
        config = copy.deepcopy(render_gateway(topology, policy))
    config["admin"]["address"]["socket_address"]["port_value"] = ADMIN_PORT
    listener = config["static_resources"]["listeners"][0]
    listener["address"]["socket_address"] = {"address": "0.0.0.0", "port_value": GATEWAY_PORT}
    hcm = listener["filter_chains"][0]["filters"][0]["typed_config"]
    for http_filter in hcm["http_filters"]:
        if http_filter["name"] == "envoy.filters.http.jwt_authn":
            provider = http_filter["typed_config"]["providers"][JWT_PROVIDER]
            provider["local_jwks"] = {"filename": JWKS_FILE}
    for host in hcm["route_config"]["virtual_hosts"]:
        host["routes"] = [r for r in host["routes"] if not _serves_a_local_file(r)]
        for route in host["routes"]:
            route.get("route", {}).pop("retry_policy", None)
    config["static_resources"]["clusters"] = [
        _cluster(cluster, namespace) for cluster in config["static_resources"]["clusters"]
    ]
    config["static_resources"]["listeners"].append(_probes_listener())
    config["static_resources"]["clusters"].append(_admin_cluster())
    return config


def _serves_a_local_file(route: Config) -> bool:
    """A direct response read from a file of the checkout (the API description pages):
    the file is not in the gateway's container, and too large for a ConfigMap."""
    return "filename" in route.get("direct_response", {}).get("body", {})


def _cluster(local: Config, namespace: str) -> Config:
    """A local cluster at its Service's DNS name: a service's gRPC port (h2c, with its
    circuit breakers), or the web process's HTTP port."""
    name = local["name"]
    port = WEB_SERVICE_PORT if name == WEB_CLUSTER else GRPC_PORT
    kept = ("lb_policy", "typed_extension_protocol_options", "circuit_breakers")
    return {
        "name": name,
        "type": "STRICT_DNS",
        "connect_timeout": local["connect_timeout"],
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [
                {
                    "lb_endpoints": [
                        {
                            "endpoint": {
                                "address": {
                                    "socket_address": {
                                        "address": service_address(name, namespace),
                                        "port_value": port,
                                    }
                                }
                            }
                        }
                    ]
                }
            ],
        },
        **{key: local[key] for key in kept if key in local},
    }


def _probes_listener() -> Config:
    route: dict[str, Any] = {"match": {"path": "/ready"}, "route": {"cluster": "admin"}}
    hcm = http_connection_manager(
        "probes",
        {"virtual_hosts": [{"name": "probes", "domains": ["*"], "routes": [route]}]},
        [],
    )
    return {
        "name": "probes",
        "address": {"socket_address": {"address": "0.0.0.0", "port_value": PROBES_PORT}},
        "filter_chains": [{"filters": [hcm]}],
    }


def _admin_cluster() -> Config:
    return {
        "name": "admin",
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": "admin",
            "endpoints": [
                {
                    "lb_endpoints": [
                        {
                            "endpoint": {
                                "address": {
                                    "socket_address": {
                                        "address": "127.0.0.1",
                                        "port_value": ADMIN_PORT,
                                    }
                                }
                            }
                        }
                    ]
                }
            ],
        },
    }
