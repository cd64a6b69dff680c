"""The public REST API as an OpenAPI 3.1 document, derived from the compiled contracts.

Every RPC with a `google.api.http` binding becomes an operation. Schemas follow the proto3
JSON mapping exactly as the gateway's transcoder prints and parses it (proto field names,
64-bit integers as strings, enums by name, well-known types in their JSON forms); the proto
comments become descriptions; `buf.validate` rules become JSON Schema where JSON Schema can
say them, and the rest is named in the description. Security comes from the `access`
method option, and every error the gateway answers is a documented response.

Nothing here knows a particular service: a new binding in proto/ appears in the document
with the next `scripts/gen`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from buf.validate import validate_pb2
from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor_pb2

from shop.common.v1 import access_pb2
from shoptools.contracts.openapi_schemas import (
    WELL_KNOWN,
    Contracts,
    FieldProto,
    Schema,
    SchemaBuilder,
    T,
    also_checked,
    describe,
    ref,
    type_name,
)

BEARER = "bearer"
STATUS = "google.rpc.Status"

# Every error status the gateway answers (the transcoder's google.rpc.Code -> HTTP mapping,
# and the gateway's own refusals), documented on every operation (403: not anonymous ones).
_ERRORS: dict[str, str] = {
    "400": "INVALID_ARGUMENT (a `google.rpc.BadRequest` detail names each invalid field), "
    "FAILED_PRECONDITION or OUT_OF_RANGE (an `ErrorInfo` detail gives the reason); also a "
    "body, path or query parameter the contract does not define.",
    "401": "UNAUTHENTICATED: the bearer token is missing (where one is required), expired, "
    "not for this API or not signed by the shop.",
    "403": "PERMISSION_DENIED: the token's role may not call this operation.",
    "404": "NOT_FOUND: what the request names does not exist (an `ErrorInfo` detail gives "
    "the reason); also a path no operation matches.",
    "409": "ABORTED or ALREADY_EXISTS: the idempotency key was used with another request, "
    "or a concurrent change won; retry with fresh data.",
    "429": "RESOURCE_EXHAUSTED: the caller's rate limit (per customer, or per address "
    "without a token) or the gateway's overall one; retry after `Retry-After` seconds.",
    "503": "UNAVAILABLE: no instance of the service can answer now (or it is not deployed "
    "in this stack); safe to retry with the same idempotency key.",
}
_ANONYMOUS_ERRORS = [code for code in _ERRORS if code != "403"]


@dataclass(frozen=True)
class _Binding:
    method: str  # the HTTP method, lower case
    path: str  # the template, e.g. /v1/products/{sku}
    body: str  # "", "*" or a field name
    response_body: str


def _bindings(rule: http_pb2.HttpRule) -> Iterator[_Binding]:
    kind = rule.WhichOneof("pattern")
    if kind is None:
        return
    path = rule.custom.path if kind == "custom" else getattr(rule, kind)
    method = rule.custom.kind.lower() if kind == "custom" else kind
    yield _Binding(method, path, rule.body, rule.response_body)
    for extra in rule.additional_bindings:
        yield from _bindings(extra)


_PATH_VARIABLE = re.compile(r"\{([^}=]+)(=[^}]*)?\}")


def _path_variables(template: str) -> list[str]:
    variables = []
    for match in _PATH_VARIABLE.finditer(template):
        if match.group(2) not in (None, "=*"):
            raise ValueError(f"{template}: only single-segment path variables are supported")
        if "." in match.group(1):
            raise ValueError(f"{template}: path variables must be top-level fields")
        variables.append(match.group(1))
    return variables


class _OpenApiBuilder:
    def __init__(self, contracts: Contracts) -> None:
        self.contracts = contracts
        self.schemas = SchemaBuilder(contracts)
        self.paths: dict[str, dict[str, Schema]] = {}
        self.tags: list[Schema] = []
        # operationId -> (service, binding, response message) for links.
        self.operations: dict[str, tuple[str, _Binding, str]] = {}

    def build(self) -> Schema:
        for file in self.contracts.files:
            for s, service in enumerate(file.service):
                self._service(file, s, service)
        self._link_writes_to_what_they_wrote()
        self._error_schemas()
        return {
            "openapi": "3.1.0",
            "info": {
                "title": "Shopmesh API",
                "version": "v1",
                "summary": "The public REST/JSON API of Shopmesh, served by its gateway.",
                "description": _INFO,
            },
            "servers": [{"url": "/", "description": "The gateway that serves this document."}],
            "tags": self.tags,
            "paths": dict(sorted(self.paths.items())),
            "components": {
                "schemas": dict(sorted(self.schemas.components.items())),
                "securitySchemes": {
                    BEARER: {
                        "type": "http",
                        "scheme": "bearer",
                        "bearerFormat": "JWT",
                        "description": "A JWT signed by the shop (`shop token --customer ID` or "
                        "`shop token --admin`): `sub` is the caller, `role` `customer` or `admin`.",
                    }
                },
                "responses": self._error_responses(),
            },
        }

    def _service(self, file: descriptor_pb2.FileDescriptorProto, index: int, service: Any) -> None:
        bound = [
            (m, method)
            for m, method in enumerate(service.method)
            if method.options.HasExtension(annotations_pb2.http)
        ]
        if not bound:
            return
        self.tags.append(
            describe({"name": service.name}, self.contracts.comment(file.name, (6, index)))
        )
        for m, method in bound:
            rule = method.options.Extensions[annotations_pb2.http]
            comment = self.contracts.comment(file.name, (6, index, 2, m))
            for n, binding in enumerate(_bindings(rule)):
                operation_id = f"{service.name}.{method.name}" + (f"_{n}" if n else "")
                operation = self._operation(service.name, method, binding, comment, operation_id)
                methods = self.paths.setdefault(binding.path, {})
                if binding.method in methods:
                    raise ValueError(f"{binding.method.upper()} {binding.path} is bound twice")
                methods[binding.method] = operation
                response = _type_name_of(method.output_type)
                self.operations[operation_id] = (
                    f"{file.package}.{service.name}",
                    binding,
                    response,
                )

    def _operation(
        self,
        service: str,
        method: descriptor_pb2.MethodDescriptorProto,
        binding: _Binding,
        comment: str,
        operation_id: str,
    ) -> Schema:
        access = access_pb2.Access.Name(method.options.Extensions[access_pb2.access])
        access = access.removeprefix("ACCESS_")
        if access == "INTERNAL":
            raise ValueError(f"{service}.{method.name} is internal but has an HTTP binding")
        request = _type_name_of(method.input_type)
        message = self.contracts.messages[request].proto
        fields = {f.name: f for f in message.field}
        in_path = _path_variables(binding.path)
        parameters = [self._parameter(fields[name], "path") for name in in_path]
        request_rules = message.options.Extensions[validate_pb2.message]
        checks = also_checked([f"{c.id}: {c.message}" for c in request_rules.cel])
        operation: Schema = {
            "operationId": operation_id,
            "tags": [service],
            "summary": _first_sentence(comment),
            "description": "\n\n".join(filter(None, [comment, checks])),
            "x-shop-access": access,
            "security": [] if access == "ANONYMOUS" else [{BEARER: [access.lower()]}],
        }
        if binding.body == "*":
            body = self.schemas.message(request, without=frozenset(in_path))
            operation["requestBody"] = _json_body(body)
        else:
            if binding.body:
                schema, _ = self.schemas.field(fields[binding.body])
                operation["requestBody"] = _json_body(schema)
            skip = {*in_path, binding.body}
            for field in message.field:
                if field.name not in skip:
                    parameters.extend(self._query(field, field.name))
        if parameters:
            operation["parameters"] = parameters
        response = _type_name_of(method.output_type)
        if binding.response_body:
            outputs = {f.name: f for f in self.contracts.messages[response].proto.field}
            response_schema, _ = self.schemas.field(outputs[binding.response_body])
        else:
            response_schema = self.schemas.message(response)
        errors = _ANONYMOUS_ERRORS if access == "ANONYMOUS" else list(_ERRORS)
        operation["responses"] = {
            "200": {
                "description": "OK",
                "content": {"application/json": {"schema": response_schema}},
            },
            **{code: {"$ref": f"#/components/responses/{_ERROR_NAMES[code]}"} for code in errors},
        }
        return operation

    def _parameter(self, field: FieldProto, where: str, name: str | None = None) -> Schema:
        schema, needed = self.schemas.field(field)
        description = schema.pop("description", "")
        parameter: Schema = {"name": name or field.name, "in": where}
        if description:
            parameter["description"] = description
        parameter["required"] = where == "path" or needed
        parameter["schema"] = schema
        if schema.get("type") == "array":
            parameter["style"], parameter["explode"] = "form", True
        return parameter

    def _query(self, field: FieldProto, name: str) -> list[Schema]:
        """Query parameters for a request field: scalars, enums and repeated scalars by
        name, well-known types in their JSON string form, other messages flattened into
        dotted names (as the transcoder reads them)."""
        message = type_name(field)
        if field.type != T.TYPE_MESSAGE or message in WELL_KNOWN:
            return [self._parameter(field, "query", name)]
        if field.label == FieldProto.LABEL_REPEATED:
            return []  # the transcoder cannot read repeated messages from a query
        nested = self.contracts.messages[message].proto
        return [p for f in nested.field for p in self._query(f, f"{name}.{f.name}")]

    def _link_writes_to_what_they_wrote(self) -> None:
        """Links from a write that returns a resource to the other operations of the same
        service that take its id in their path (place an order, then read or cancel it):
        Schemathesis's stateful phase follows them, and readers see how calls chain."""
        for writer_id, (service, binding, response) in self.operations.items():
            if binding.method == "get":
                continue
            for next_id, (other, then, _) in self.operations.items():
                variables = _path_variables(then.path)
                if other != service or next_id == writer_id or not variables:
                    continue
                found = self._response_pointers(response, variables)
                if found is not None:
                    operation = self.paths[binding.path][binding.method]
                    links = operation["responses"]["200"].setdefault("links", {})
                    links[next_id.split(".")[-1]] = {
                        "operationId": next_id,
                        "parameters": {v: f"$response.body#{p}" for v, p in found.items()},
                    }

    def _response_pointers(self, response: str, variables: list[str]) -> dict[str, str] | None:
        """JSON pointers into a response (`/<field>/<variable>`, one resource field deep)
        for every path variable, or None when it does not carry them all."""
        message = self.contracts.messages[response].proto
        for field in message.field:
            if field.type != T.TYPE_MESSAGE or field.label == FieldProto.LABEL_REPEATED:
                continue
            nested = self.contracts.messages.get(type_name(field))
            if nested is None:
                continue
            names = {f.name for f in nested.proto.field}
            if all(v in names for v in variables):
                return {v: f"/{field.name}/{v}" for v in variables}
        return None

    def _error_schemas(self) -> None:
        detail_types = ["google.rpc.BadRequest", "google.rpc.ErrorInfo"]
        detail_types += ["google.rpc.PreconditionFailure", "google.rpc.RetryInfo"]
        for name in [STATUS, *detail_types]:
            self.schemas.message(name)
        # As the transcoder prints them: packed in google.protobuf.Any, `@type` first.
        status = self.schemas.components[STATUS]
        status["properties"]["details"]["items"] = {
            "anyOf": [_any_of(name) for name in detail_types],
        }
        for name in detail_types:
            self.schemas.components[name + "_Any"] = {
                "allOf": [ref(name)],
                "type": "object",
                "required": ["@type"],
                "properties": {"@type": {"const": f"type.googleapis.com/{name}"}},
            }
            # The packed form carries `@type` beside the fields.
            self.schemas.components[name] = {
                k: v
                for k, v in self.schemas.components[name].items()
                if k != "additionalProperties"
            }

    def _error_responses(self) -> Schema:
        responses: Schema = {}
        for code, text in _ERRORS.items():
            response: Schema = {
                "description": text,
                "content": {"application/json": {"schema": ref(STATUS)}},
            }
            if code == "429":
                response["headers"] = {
                    "Retry-After": {
                        "description": "Seconds after which the caller's bucket has refilled.",
                        "required": True,
                        "schema": {"type": "integer", "minimum": 0},
                    }
                }
            responses[_ERROR_NAMES[code]] = response
        return responses


_ERROR_NAMES = {
    "400": "BadRequest",
    "401": "Unauthenticated",
    "403": "PermissionDenied",
    "404": "NotFound",
    "409": "Conflict",
    "429": "TooManyRequests",
    "503": "Unavailable",
}

_INFO = """\
Generated from the Protobuf contracts (proto/) by `scripts/gen`; never edit it by hand.

JSON follows the proto3 JSON mapping as the gateway prints it: field names as in the
contracts (snake_case), every scalar field present (zero values included), 64-bit
integers as strings, enums by name, timestamps in RFC 3339.

Errors are a `google.rpc.Status` (`code`, `message`, `details`). A request rejected by
validation carries a `google.rpc.BadRequest` detail naming each invalid field; a domain
failure carries a `google.rpc.ErrorInfo` whose `reason` is the contract's error reason.
Writes carry an `idempotency_key`: a retry with the same key and body returns the first
outcome. No string may contain the NUL character (U+0000): such a request is refused with
400 and a `BadRequest` naming the field."""


def _first_sentence(comment: str) -> str:
    return " ".join(comment.split("\n\n", maxsplit=1)[0].split()).split(". ")[0].rstrip(".")


def _any_of(name: str) -> Schema:
    return ref(name + "_Any")


def _json_body(schema: Schema) -> Schema:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _type_name_of(name: str) -> str:
    return name.removeprefix(".")


def build_document(descriptor_set: bytes) -> Schema:
    """The OpenAPI document of a FileDescriptorSet compiled with --include_source_info
    and --include_imports (google.rpc.Status and its details among them)."""
    files = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set).file
    return _OpenApiBuilder(Contracts(files)).build()


def render(document: Schema) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
