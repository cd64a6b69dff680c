"""A service instance's Envoy sidecar: inbound (mTLS + access policy) and outbound.

Inbound: the instance's one door from the mesh. Mutual TLS, the caller's SPIFFE id handed
to the app in x-forwarded-client-cert, RBAC per gRPC method from the policy, then the app.
Outbound: the app's one way out. Plaintext on loopback, routed by authority (the service
name) to that service's instances, with the policy's timeouts, retries, circuit breakers,
outlier detection and health checks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from shoptools.contracts.model import Service
from shoptools.identity import TRUST_DOMAIN, spiffe_id
from shoptools.mesh.envoy import (
    HEALTH_PREFIX,
    Config,
    bootstrap,
    downstream_tls,
    duration,
    http2_protocol_options,
    http_connection_manager,
    http_filter,
    listener,
    service_cluster,
    service_routes,
    socket_address,
)
from shoptools.mesh.policy import MeshPolicy
from shoptools.topology import Instance, Topology

LOCAL_APP = "local_app"


@dataclass(frozen=True)
class Fault:
    """Make an instance misbehave, for chaos tests of the mesh: every call of its service's
    methods, or of one `method`, is aborted and/or delayed at its inbound sidecar. Health
    checks are never affected, so the instance stays in rotation."""

    abort_grpc_status: int | None = None
    delay_s: float | None = None
    method: str | None = None  # a method name of the instance's service; None: every method


def render_sidecar(
    topology: Topology, policy: MeshPolicy, instance: Instance, faults: Sequence[Fault] = ()
) -> Config:
    """The Envoy config of `instance`'s sidecar. A client sidecar (one of
    `topology.client_sidecars()`) has no app behind it, so no inbound listener."""
    listeners = [_outbound_listener(topology, policy, instance)]
    clusters = [
        service_cluster(topology, policy, policy.service(name), instance.service)
        for name in topology.services
    ]
    if instance not in topology.client_sidecars():
        service = policy.service(instance.service)
        listeners.insert(0, _inbound_listener(topology, policy, instance, service, faults))
        clusters.insert(0, _local_app_cluster(instance))
    return bootstrap(instance.name, instance.service, instance.admin_port, listeners, clusters)


def _inbound_listener(
    topology: Topology,
    policy: MeshPolicy,
    instance: Instance,
    service: Service,
    faults: Sequence[Fault],
) -> Config:
    routes = service_routes(
        service, policy, LOCAL_APP, retries=False, prefix=f"/{service.full_name}/"
    )
    routes.append(
        {
            "match": {"prefix": HEALTH_PREFIX},
            "route": {
                "cluster": LOCAL_APP,
                "timeout": duration(policy.defaults.health_check.timeout),
            },
        }
    )
    filters = [http_filter("rbac", "rbac.v3.RBAC", rules=_access_rules(policy, service))]
    filters += [_fault_filter(service, fault) for fault in faults]
    hcm = http_connection_manager(
        "inbound",
        {"virtual_hosts": [{"name": LOCAL_APP, "domains": ["*"], "routes": routes}]},
        filters,
        codec_type="HTTP2",
        # The app learns who called from the verified certificate, never from the caller.
        forward_client_cert_details="SANITIZE_SET",
        set_current_client_cert_details={"uri": True},
    )
    return listener(
        "inbound", instance.inbound_port, hcm, downstream_tls(topology, instance.service)
    )


def _access_rules(policy: MeshPolicy, service: Service) -> Config:
    """ALLOW rules: each method for the identities the policy names (plus the gateway for
    methods the contract exposes), health checks for any mesh workload; nothing else."""
    policies: Config = {
        "health": {
            "permissions": [{"url_path": {"path": {"prefix": HEALTH_PREFIX}}}],
            "principals": [
                {"authenticated": {"principal_name": {"prefix": f"spiffe://{TRUST_DOMAIN}/"}}}
            ],
        }
    }
    for method in service.methods.values():
        callers = policy.callers(method)
        if callers:
            policies[method.name] = {
                "permissions": [{"url_path": {"path": {"exact": method.path}}}],
                "principals": [
                    {"authenticated": {"principal_name": {"exact": spiffe_id(caller)}}}
                    for caller in callers
                ],
            }
    return {"action": "ALLOW", "policies": policies}


def _fault_filter(service: Service, fault: Fault) -> Config:
    """One fault filter per fault, each applying only to the calls its path matcher selects
    (a fault filter without a match would delay and abort health checks too)."""
    always = {"numerator": 100, "denominator": "HUNDRED"}
    path = (
        {"exact": service.methods[fault.method].path}
        if fault.method
        else {"prefix": f"/{service.full_name}/"}
    )
    config: Config = {"headers": [{"name": ":path", "string_match": path}]}
    if fault.abort_grpc_status is not None:
        config["abort"] = {"grpc_status": fault.abort_grpc_status, "percentage": always}
    if fault.delay_s is not None:
        config["delay"] = {"fixed_delay": duration(fault.delay_s), "percentage": always}
    return http_filter("fault", "fault.v3.HTTPFault", **config)


def _local_app_cluster(instance: Instance) -> Config:
    return {
        "name": LOCAL_APP,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": LOCAL_APP,
            "endpoints": [
                {"lb_endpoints": [{"endpoint": {"address": socket_address(instance.app_port)}}]}
            ],
        },
        "typed_extension_protocol_options": http2_protocol_options(),
    }


def _outbound_listener(topology: Topology, policy: MeshPolicy, instance: Instance) -> Config:
    virtual_hosts = [
        {
            "name": name,
            "domains": [name, f"{name}:*", f"{name}.{TRUST_DOMAIN}", f"{name}.{TRUST_DOMAIN}:*"],
            "routes": service_routes(policy.service(name), policy, name, retries=True, prefix="/"),
        }
        for name in topology.services
    ]
    hcm = http_connection_manager(
        "outbound", {"virtual_hosts": virtual_hosts}, [], codec_type="HTTP2"
    )
    return listener("outbound", instance.outbound_port, hcm)
