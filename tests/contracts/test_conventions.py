"""Every RPC, request and enum of the v1 contracts follows the conventions in proto/README.md.

These walk the compiled descriptors, so they hold for services added later without
anyone remembering to extend a list.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from buf.validate import validate_pb2
from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor, descriptor_pb2

from shop.common.v1 import access_pb2
from shoptools.contracts.layout import Layout, find_root
from tests.contracts.conftest import all_enums, all_methods, shop_file_names

READ_PREFIXES = ("Get", "List", "Search", "Quote", "Verify")
EXPECTED_SERVICES = {
    "shop.audit.v1.AuditService",
    "shop.catalog.v1.CatalogService",
    "shop.inventory.v1.InventoryService",
    "shop.notifications.v1.NotificationsService",
    "shop.orders.v1.OrdersService",
    "shop.payments.v1.PaymentsService",
    "shop.shipping.v1.ShippingService",
}
IDEMPOTENT = descriptor_pb2.MethodOptions.IDEMPOTENT
NO_SIDE_EFFECTS = descriptor_pb2.MethodOptions.NO_SIDE_EFFECTS
# googleapis-common-protos' stubs type the extension as a plain FieldDescriptor.
HTTP: Any = annotations_pb2.http
METHODS = all_methods()
READS = [m for m in METHODS if m.GetOptions().idempotency_level == NO_SIDE_EFFECTS]
WRITES = [m for m in METHODS if m.GetOptions().idempotency_level == IDEMPOTENT]


def by_name(method: descriptor.MethodDescriptor) -> str:
    return method.full_name


def access_of(method: descriptor.MethodDescriptor) -> access_pb2.Access.ValueType:
    return method.GetOptions().Extensions[access_pb2.access]


def http_rule(method: descriptor.MethodDescriptor) -> http_pb2.HttpRule | None:
    options = method.GetOptions()
    if not options.HasExtension(HTTP):
        return None
    rule: http_pb2.HttpRule = options.Extensions[HTTP]
    return rule


def field_rules(field: descriptor.FieldDescriptor) -> validate_pb2.FieldRules:
    return field.GetOptions().Extensions[validate_pb2.field]


def test_all_seven_contexts_have_a_service() -> None:
    assert {m.containing_service.full_name for m in METHODS} == EXPECTED_SERVICES


@pytest.mark.parametrize("method", METHODS, ids=by_name)
def test_method_declares_who_may_call_it(method: descriptor.MethodDescriptor) -> None:
    assert access_of(method) != access_pb2.ACCESS_UNSPECIFIED


@pytest.mark.parametrize("method", METHODS, ids=by_name)
def test_side_effects_are_declared_and_match_the_name(method: descriptor.MethodDescriptor) -> None:
    level = method.GetOptions().idempotency_level
    expected = NO_SIDE_EFFECTS if method.name.startswith(READ_PREFIXES) else IDEMPOTENT
    assert level == expected


@pytest.mark.parametrize("method", WRITES, ids=by_name)
def test_mutating_method_takes_a_required_uuid_idempotency_key(
    method: descriptor.MethodDescriptor,
) -> None:
    key = method.input_type.fields_by_number.get(1)
    assert key is not None
    assert key.name == "idempotency_key"
    assert key.type == descriptor.FieldDescriptor.TYPE_STRING
    rules = field_rules(key)
    assert rules.required
    assert rules.string.uuid


@pytest.mark.parametrize("method", READS, ids=by_name)
def test_read_method_takes_no_idempotency_key(method: descriptor.MethodDescriptor) -> None:
    assert "idempotency_key" not in method.input_type.fields_by_name


def has_rules(field: descriptor.FieldDescriptor) -> bool:
    """A field's own rules, or, for an optional contract message, the rules of its type
    (protovalidate validates a set message field against its own rules)."""
    if field_rules(field).ListFields():
        return True
    message = field.message_type
    return (
        message is not None
        and message.full_name.startswith("shop.")
        and any(field_rules(inner).ListFields() for inner in message.fields)
    )


@pytest.mark.parametrize("method", METHODS, ids=by_name)
def test_every_request_field_has_validation_rules(method: descriptor.MethodDescriptor) -> None:
    unruled = [f.name for f in method.input_type.fields if not has_rules(f)]
    assert unruled == []


@pytest.mark.parametrize("method", METHODS, ids=by_name)
def test_http_binding_matches_access(method: descriptor.MethodDescriptor) -> None:
    rule = http_rule(method)
    access = access_of(method)
    if access == access_pb2.ACCESS_INTERNAL:
        assert rule is None, "internal RPCs must not be reachable through the gateway"
        return
    assert rule is not None
    path = getattr(rule, rule.WhichOneof("pattern"))
    prefix = "/admin/v1/" if access == access_pb2.ACCESS_ADMIN else "/v1/"
    assert path.startswith(prefix)


@pytest.mark.parametrize("method", [m for m in METHODS if http_rule(m)], ids=by_name)
def test_http_path_variables_and_body_name_request_fields(
    method: descriptor.MethodDescriptor,
) -> None:
    rule = http_rule(method)
    assert rule is not None
    path = getattr(rule, rule.WhichOneof("pattern"))
    for variable in re.findall(r"{([a-z_.]+)", path):
        message = method.input_type
        *parents, leaf = variable.split(".")
        for parent in parents:
            inner = message.fields_by_name[parent].message_type
            assert inner is not None, f"{path}: {parent} is not a message"
            message = inner
        assert leaf in message.fields_by_name, f"{path} names no field {variable}"
    assert rule.body in ("", "*") or rule.body in method.input_type.fields_by_name
    if rule.WhichOneof("pattern") == "get":
        assert rule.body == "", "GET requests carry no body"


def test_every_enum_starts_with_unspecified() -> None:
    enums = all_enums()
    assert enums
    for enum in enums:
        prefix = re.sub(r"(?<!^)(?=[A-Z])", "_", enum.name).upper()
        zero = enum.values_by_number[0]
        assert zero.name == f"{prefix}_UNSPECIFIED", enum.full_name


def test_descriptor_set_holds_every_contract_file() -> None:
    layout = Layout(find_root())
    assert shop_file_names() == [p.as_posix() for p in layout.contract_files()]
