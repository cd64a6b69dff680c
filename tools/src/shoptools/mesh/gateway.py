"""The API gateway: the public REST/JSON edge, a mesh client with identity "gateway".

Filter order, and why:
  header_mutation   drops identity headers a client might forge;
  grpc_json_transcoder  turns REST into gRPC (or passes gRPC through), so every later
                    decision matches the exact gRPC method path the contract names, for
                    REST and gRPC callers alike;
  jwt_authn         per method, from the contract's access: anonymous methods accept a
                    missing token, customer and admin ones require a valid token (401);
  rbac              default deny: anonymous methods for anyone, customer methods with a
                    verified subject, admin methods with role=admin (403); internal
                    methods and anything unknown never get through;
  local_ratelimit   fair use (429): a token from the caller's own bucket, per customer
                    (the verified subject, so after jwt_authn) or, without a token, per
                    client address; then one from the overall bucket. After rbac, so only
                    calls that would reach a service count, and one client over its quota
                    never spends the overall tokens others need;
  router            per-method routes with the policy's timeouts and retries.
A REST caller gets every error as a JSON google.rpc.Status, whoever answers it: the
transcoder turns a service's gRPC status into one, and the gateway's own refusals (the
transcoder's 400 for a body or query it cannot map and 404 for a path it cannot route,
jwt_authn's 401, rbac's 403, local_ratelimit's 429) are rewritten into one by the
local-reply mappers (`_rest_local_replies`); they would be text/plain otherwise.

The gateway also serves the API's description: the generated OpenAPI document at
/openapi.json and a reference page (Swagger UI) at /docs/, as Envoy direct responses read
from files when the config loads (no other process to run, nothing fetched at run time).
On those routes the transcoder and rbac are off: they are not API methods.

It routes the web pages to the web process (shopweb: the storefront under /shop/, the
operations console under /console/, the development sign-in, their static files, and "/",
which redirects to the storefront), plain HTTP/1.1 on loopback. Those routes are not API
methods either: no transcoder, no token (jwt_authn and rbac off; a page is not data, and
the pages call the REST API themselves with the visitor's token), but they count towards
the rate limits like an anonymous call, per client address.

The REST surface is the contracts', whatever runs: a service that is not deployed in this
stack answers every method UNAVAILABLE "service <name> is not deployed in this stack"
(HTTP 503 with a JSON google.rpc.Status), never 404; its customer and admin methods still
require a token first.
"""

from __future__ import annotations

import base64
import importlib.resources
import math
from pathlib import Path

from google.protobuf import descriptor, descriptor_pb2
from google.rpc import error_details_pb2, status_pb2

from shoptools.contracts.model import Access, Method, Service, descriptor_set
from shoptools.mesh.envoy import (
    Config,
    bootstrap,
    duration,
    http_connection_manager,
    http_filter,
    listener,
    service_cluster,
    service_routes,
    socket_address,
)
from shoptools.mesh.jwt import jwks
from shoptools.mesh.policy import GATEWAY, MeshPolicy, TokenBucket
from shoptools.topology import Topology
from shoptools.web import REFERENCE_PAGE, SWAGGER_UI, ensure_installed

JWT_PROVIDER = "shop"
JWT_FILTER = "envoy.filters.http.jwt_authn"
PAYLOAD_METADATA = "jwt_payload"
# Verified claims the gateway passes to services; clients may not set them themselves.
SUBJECT_HEADER = "x-shop-subject"
ROLE_HEADER = "x-shop-role"
CUSTOMER_KEY = "customer"  # rate limit descriptor keys
ANONYMOUS_KEY = "anonymous"
UNAVAILABLE = 14  # google.rpc.Code
OPENAPI_PATH = "/openapi.json"
REFERENCE_PATH = "/docs/"
WEB_CLUSTER = "web"
# The web process's paths (each with everything under it) and exactly "/".
WEB_PREFIXES = ("/shop", "/console", "/signin", "/signout", "/web-static")
WEB_TIMEOUT_S = 30.0  # a console page gathers several API calls
# Envoy refuses a direct response body larger than this (default 4 KiB); Swagger UI's
# bundle is about 1.7 MB.
MAX_STATIC_BODY_BYTES = 8 * 1024 * 1024


def render_gateway(topology: Topology, policy: MeshPolicy) -> Config:
    """The gateway's Envoy config: the REST surface of every service the contracts expose,
    in front of the instances of those that run, and the web pages."""
    services = [s for s in policy.contracts.values() if s.exposed]
    methods = [m for s in services for m in s.methods.values() if m.access is not Access.INTERNAL]
    api_routes = [
        route
        for s in services
        for route in (
            service_routes(s, policy, s.name, retries=True, prefix=f"/{s.full_name}/")
            if topology.instances(s.name)
            else [_not_deployed(s)]
        )
    ]
    routes = _description_routes() + _web_routes() + api_routes
    hcm = http_connection_manager(
        "gateway",
        {
            "virtual_hosts": [{"name": "api", "domains": ["*"], "routes": routes}],
            "max_direct_response_body_size_bytes": MAX_STATIC_BODY_BYTES,
        },
        [
            http_filter(
                "header_mutation",
                "header_mutation.v3.HeaderMutation",
                mutations={
                    "request_mutations": [{"remove": SUBJECT_HEADER}, {"remove": ROLE_HEADER}]
                },
            ),
            _transcoder(services),
            _jwt_authn(topology, policy, methods),
            http_filter("rbac", "rbac.v3.RBAC", rules=_access_rules(methods)),
            _rate_limit(policy),
        ],
        codec_type="AUTO",
        use_remote_address=True,
        always_set_request_id_in_response=True,
    )
    hcm["typed_config"]["local_reply_config"]["mappers"].extend(_rest_local_replies())
    return bootstrap(
        GATEWAY,
        GATEWAY,
        topology.gateway_admin_port,
        [listener("gateway", topology.gateway_port, hcm)],
        [
            *(service_cluster(topology, policy, s, GATEWAY) for s in services),
            _web_cluster(topology),
        ],
    )


# The gateway's own refusals, HTTP status -> google.rpc.Code (the transcoder's mapping).
_REFUSALS = {400: 3, 401: 16, 403: 7, 404: 5, 413: 3, 429: 8, 503: 14}


def _rest_local_replies() -> list[Config]:
    """Local-reply mappers that give a REST caller's refusal the body every other error
    has: {"code", "message", "details"} (google.rpc.Status as the transcoder prints it),
    the refusal's text as the message. A REST caller is one whose request the transcoder
    rewrote (it keeps the original path in x-envoy-original-path, a header Envoy strips
    from clients) or one that never was gRPC; a native gRPC caller keeps its grpc-status."""
    rest_caller = {
        "or_filter": {
            "filters": [
                {
                    "header_filter": {
                        "header": {"name": "x-envoy-original-path", "present_match": True}
                    }
                },
                {
                    "header_filter": {
                        "header": {
                            "name": "content-type",
                            "string_match": {"prefix": "application/grpc"},
                            "invert_match": True,
                            # A GET has no content-type: a REST caller too.
                            "treat_missing_header_as_empty": True,
                        }
                    }
                },
            ]
        }
    }
    return [
        {
            "filter": {
                "and_filter": {
                    "filters": [
                        rest_caller,
                        {
                            "status_code_filter": {
                                "comparison": {
                                    "op": "EQ",
                                    "value": {
                                        "default_value": status,
                                        "runtime_key": f"gateway_local_reply_{status}",
                                    },
                                }
                            }
                        },
                    ]
                }
            },
            "body_format_override": {
                "json_format": {"code": code, "message": "%LOCAL_REPLY_BODY%", "details": []},
                "content_type": "application/json",
            },
        }
        for status, code in _REFUSALS.items()
    ]


def openapi_document() -> Path:
    """The generated OpenAPI document, shipped in the contracts package."""
    return Path(str(importlib.resources.files("shop").joinpath("openapi.json")))


def _description_routes() -> list[Config]:
    """/openapi.json, the reference page and its assets (files of tools/web's vendored
    swagger-ui-dist, see shoptools.web), and /docs redirected to /docs/. Envoy reads the
    files when it loads the config, so they are installed first if they are not yet."""
    ensure_installed()
    files = {
        OPENAPI_PATH: (openapi_document(), "application/json"),
        REFERENCE_PATH: (REFERENCE_PAGE, "text/html; charset=utf-8"),
        f"{REFERENCE_PATH}swagger-ui.css": (SWAGGER_UI / "swagger-ui.css", "text/css"),
        f"{REFERENCE_PATH}swagger-ui-bundle.js": (
            SWAGGER_UI / "swagger-ui-bundle.js",
            "application/javascript",
        ),
    }
    not_an_api_method = _not_an_api_method("grpc_json_transcoder", "rbac")
    routes: list[Config] = [
        {
            "match": {"path": path},
            "direct_response": {"status": 200, "body": {"filename": str(file)}},
            "response_headers_to_add": [
                {
                    "header": {"key": "content-type", "value": content_type},
                    "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
                }
            ],
            "typed_per_filter_config": not_an_api_method,
        }
        for path, (file, content_type) in files.items()
    ]
    routes.append(
        {
            "match": {"path": REFERENCE_PATH.rstrip("/")},
            "redirect": {"path_redirect": REFERENCE_PATH},
            "typed_per_filter_config": not_an_api_method,
        }
    )
    return routes


def _not_an_api_method(*filters: str) -> Config:
    """Per-route configuration that turns these gateway filters off."""
    return {
        f"envoy.filters.http.{name}": {
            "@type": "type.googleapis.com/envoy.config.route.v3.FilterConfig",
            "disabled": True,
        }
        for name in filters
    }


def _web_routes() -> list[Config]:
    """The pages' paths to the web process. path_separated_prefix: /shop and /shop/...,
    never the gRPC paths /shop.catalog.v1..., which share the text "/shop"."""
    matches: list[Config] = [{"path": "/"}]
    matches += [{"path_separated_prefix": prefix} for prefix in WEB_PREFIXES]
    return [
        {
            "match": match,
            "route": {"cluster": WEB_CLUSTER, "timeout": duration(WEB_TIMEOUT_S)},
            "typed_per_filter_config": _not_an_api_method(
                "grpc_json_transcoder", "jwt_authn", "rbac"
            ),
        }
        for match in matches
    ]


def _web_cluster(topology: Topology) -> Config:
    """The web process: plain HTTP/1.1 on loopback (it is not in the mesh)."""
    return {
        "name": WEB_CLUSTER,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": WEB_CLUSTER,
            "endpoints": [
                {"lb_endpoints": [{"endpoint": {"address": socket_address(topology.web_port)}}]}
            ],
        },
    }


def _not_deployed(service: Service) -> Config:
    """Every method of a service with no instance here: a gRPC UNAVAILABLE that names it
    (the transcoder makes it HTTP 503 with a JSON status for REST callers), instead of
    Envoy's bare "no healthy upstream"."""
    message = f"service {service.name} is not deployed in this stack"
    return {
        "match": {"prefix": f"/{service.full_name}/"},
        "direct_response": {"status": 200},
        "response_headers_to_add": [
            {"header": {"key": key, "value": value}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}
            for key, value in (
                ("content-type", "application/grpc"),
                ("grpc-status", str(UNAVAILABLE)),
                ("grpc-message", message),
            )
        ],
    }


def _bucket(bucket: TokenBucket) -> Config:
    return {
        "max_tokens": bucket.max_tokens,
        "tokens_per_fill": bucket.tokens_per_fill,
        "fill_interval": duration(bucket.fill_interval),
    }


def _rate_limit(policy: MeshPolicy) -> Config:
    limits = policy.gateway.rate_limit
    always = {"numerator": 100, "denominator": "HUNDRED"}
    # A refused call may retry once its bucket has refilled: at most the longest interval.
    retry_after = math.ceil(
        max(b.fill_interval for b in (limits.per_customer, limits.per_address, limits.overall))
    )
    return http_filter(
        "local_ratelimit",
        "local_ratelimit.v3.LocalRateLimit",
        stat_prefix="gateway_rate_limit",
        # The overall cap, taken after the caller's own bucket let the call through.
        token_bucket=_bucket(limits.overall),
        always_consume_default_token_bucket=True,
        # A bucket per distinct value of a key without a value (dynamic descriptors),
        # least recently used evicted first. Set here, beside the descriptors: Envoy
        # does not inherit it into per-route configurations.
        descriptors=[
            {"entries": [{"key": CUSTOMER_KEY}], "token_bucket": _bucket(limits.per_customer)},
            {
                "entries": [{"key": ANONYMOUS_KEY, "value": "true"}, {"key": "remote_address"}],
                "token_bucket": _bucket(limits.per_address),
            },
        ],
        max_dynamic_descriptors=limits.tracked_clients,
        rate_limits=[
            # The verified subject (jwt_authn's claim_to_headers; header_mutation removed
            # any the client sent).
            {
                "actions": [
                    {
                        "request_headers": {
                            "header_name": SUBJECT_HEADER,
                            "descriptor_key": CUSTOMER_KEY,
                            "skip_if_absent": True,
                        }
                    }
                ]
            },
            # No verified subject: the client's address (use_remote_address: the peer,
            # not a header it could forge).
            {
                "actions": [
                    {
                        "header_value_match": {
                            "descriptor_key": ANONYMOUS_KEY,
                            "descriptor_value": "true",
                            "expect_match": False,
                            "headers": [{"name": SUBJECT_HEADER, "present_match": True}],
                        }
                    },
                    {"remote_address": {}},
                ]
            },
        ],
        filter_enabled={"default_value": always, "runtime_key": "rate_limit_enabled"},
        filter_enforced={"default_value": always, "runtime_key": "rate_limit_enforced"},
        # gRPC callers get RESOURCE_EXHAUSTED (which no hop retries), not UNAVAILABLE.
        rate_limited_as_resource_exhausted=True,
        enable_x_ratelimit_headers="DRAFT_VERSION_03",  # x-ratelimit-limit/remaining/reset
        response_headers_to_add=[
            {"header": {"key": key, "value": value}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}
            for key, value in (("x-local-rate-limit", "true"), ("retry-after", str(retry_after)))
        ],
    )


def _transcoder(services: list[Service]) -> Config:
    return http_filter(
        "grpc_json_transcoder",
        "grpc_json_transcoder.v3.GrpcJsonTranscoder",
        proto_descriptor_bin=base64.b64encode(_transcoder_descriptors()).decode(),
        services=[s.full_name for s in services],
        convert_grpc_status=True,
        request_validation_options={
            "reject_unknown_method": True,
            "reject_unknown_query_parameters": True,
        },
        print_options={"preserve_proto_field_names": True, "always_print_primitive_fields": True},
    )


def _transcoder_descriptors() -> bytes:
    """The contracts plus google.rpc.Status and the standard error details: the transcoder
    prints a failed call's status details (a BadRequest naming the invalid field) as the
    JSON body only if it knows every type in them; otherwise the body is empty."""
    files = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set())
    known = {f.name for f in files.file}

    def add(file: descriptor.FileDescriptor) -> None:
        if file.name in known:
            return
        for dependency in file.dependencies:
            add(dependency)
        file.CopyToProto(files.file.add())
        known.add(file.name)

    add(status_pb2.DESCRIPTOR)
    add(error_details_pb2.DESCRIPTOR)
    return files.SerializeToString()


def _jwt_authn(topology: Topology, policy: MeshPolicy, methods: list[Method]) -> Config:
    token_optional = {
        "requires_any": {"requirements": [{"provider_name": JWT_PROVIDER}, {"allow_missing": {}}]}
    }
    token_required = {"provider_name": JWT_PROVIDER}
    return http_filter(
        "jwt_authn",
        "jwt_authn.v3.JwtAuthentication",
        providers={
            JWT_PROVIDER: {
                "issuer": policy.gateway.jwt.issuer,
                "audiences": [policy.gateway.jwt.audience],
                "local_jwks": {"inline_string": jwks(topology.pki_dir)},
                "payload_in_metadata": PAYLOAD_METADATA,
                "claim_to_headers": [
                    {"header_name": SUBJECT_HEADER, "claim_name": "sub"},
                    {"header_name": ROLE_HEADER, "claim_name": "role"},
                ],
            }
        },
        rules=[
            {
                "match": {"path": m.path},
                "requires": token_optional if m.access is Access.ANONYMOUS else token_required,
            }
            for m in methods
        ],
    )


def _access_rules(methods: list[Method]) -> Config:
    def claim(name: str, value: Config) -> Config:
        return {
            "sourced_metadata": {
                "metadata_matcher": {
                    "filter": JWT_FILTER,
                    "path": [{"key": PAYLOAD_METADATA}, {"key": name}],
                    "value": value,
                }
            }
        }

    principals = {
        Access.ANONYMOUS: {"any": True},
        Access.CUSTOMER: claim("sub", {"present_match": True}),
        Access.ADMIN: claim("role", {"string_match": {"exact": "admin"}}),
    }
    policies: Config = {}
    for access, principal in principals.items():
        paths = [m.path for m in methods if m.access is access]
        if paths:
            policies[access.value.lower()] = {
                "permissions": [{"url_path": {"path": {"exact": p}}} for p in paths],
                "principals": [principal],
            }
    return {"action": "ALLOW", "policies": policies}
