"""JSON Schemas of Protobuf messages as the gateway's transcoder speaks them, for the
OpenAPI document (openapi.py).

The proto3 JSON mapping with the transcoder's print options: proto field names, every
scalar printed, 64-bit integers as strings, enums by name, well-known types in their JSON
forms. `buf.validate` rules become JSON Schema keywords where JSON Schema can say them
(lengths, patterns, ranges, enum subsets, item counts, formats); a field is required when
its zero value, what an absent field means in proto3, breaks a rule; every other rule (CEL,
timestamp bounds, byte lengths) is named in the description.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from buf.validate import validate_pb2
from google.protobuf import descriptor_pb2, json_format
from google.protobuf.message import Message

Schema = dict[str, Any]
FieldProto = descriptor_pb2.FieldDescriptorProto
COMPONENT_PREFIX = "#/components/schemas/"

# The proto3 JSON forms of the well-known types the contracts use (and their relatives).
WELL_KNOWN: dict[str, Schema] = {
    "google.protobuf.Timestamp": {
        "type": "string",
        "format": "date-time",
        "description": "RFC 3339, in UTC (`Z`), with 0, 3, 6 or 9 fractional digits.",
    },
    "google.protobuf.Duration": {
        "type": "string",
        "pattern": r"^-?[0-9]+(\.[0-9]{1,9})?s$",
        "description": "Seconds with up to 9 fractional digits and the suffix `s`, e.g. `1.5s`.",
    },
    "google.protobuf.FieldMask": {"type": "string", "description": "Comma-separated paths."},
    "google.protobuf.Struct": {"type": "object"},
    "google.protobuf.Value": {},
    "google.protobuf.ListValue": {"type": "array"},
    "google.protobuf.Empty": {"type": "object", "additionalProperties": False},
    "google.protobuf.Any": {
        "type": "object",
        "required": ["@type"],
        "properties": {"@type": {"type": "string"}},
    },
}
_INT64 = {"type": "string", "pattern": "^-?[0-9]+$", "format": "int64"}
_UINT64 = {"type": "string", "pattern": "^[0-9]+$", "format": "uint64"}
T = FieldProto.Type
_SCALARS: dict[int, Schema] = {
    T.TYPE_DOUBLE: {"type": "number", "format": "double"},
    T.TYPE_FLOAT: {"type": "number", "format": "float"},
    T.TYPE_INT64: _INT64,
    T.TYPE_SFIXED64: _INT64,
    T.TYPE_SINT64: _INT64,
    T.TYPE_UINT64: _UINT64,
    T.TYPE_FIXED64: _UINT64,
    T.TYPE_INT32: {"type": "integer", "format": "int32"},
    T.TYPE_SFIXED32: {"type": "integer", "format": "int32"},
    T.TYPE_SINT32: {"type": "integer", "format": "int32"},
    T.TYPE_UINT32: {"type": "integer", "format": "int32", "minimum": 0, "maximum": 2**32 - 1},
    T.TYPE_FIXED32: {"type": "integer", "format": "int32", "minimum": 0, "maximum": 2**32 - 1},
    T.TYPE_BOOL: {"type": "boolean"},
    T.TYPE_STRING: {"type": "string"},
    T.TYPE_BYTES: {"type": "string", "format": "byte", "contentEncoding": "base64"},
}
_INTEGER_TYPES = {T.TYPE_INT32, T.TYPE_SFIXED32, T.TYPE_SINT32, T.TYPE_UINT32, T.TYPE_FIXED32}
_STRING_FORMATS = {"email": "email", "hostname": "hostname", "ipv4": "ipv4", "ipv6": "ipv6"}
_STRING_FORMATS |= {"uri": "uri", "uri_ref": "uri-reference", "uuid": "uuid"}


@dataclass(frozen=True)
class _Declared:
    """A message or enum, with where its comments are (file, source path)."""

    proto: Any  # DescriptorProto | EnumDescriptorProto
    file: str
    path: tuple[int, ...]


class Contracts:
    """The messages, enums and comments of a FileDescriptorSet compiled with source info."""

    def __init__(self, files: Sequence[descriptor_pb2.FileDescriptorProto]) -> None:
        self.files = files
        self.messages: dict[str, _Declared] = {}
        self.enums: dict[str, _Declared] = {}
        self._comments: dict[tuple[str, tuple[int, ...]], str] = {}
        for file in files:
            for location in file.source_code_info.location:
                text = location.leading_comments or location.trailing_comments
                if text.strip():
                    self._comments[(file.name, tuple(location.path))] = _comment(text)
            self._index(file.name, file.package, file.message_type, file.enum_type, ())

    def _index(
        self,
        file: str,
        scope: str,
        messages: Sequence[descriptor_pb2.DescriptorProto],
        enums: Sequence[descriptor_pb2.EnumDescriptorProto],
        path: tuple[int, ...],
    ) -> None:
        message_tag, enum_tag = (3, 4) if path else (4, 5)
        for i, enum in enumerate(enums):
            self.enums[f"{scope}.{enum.name}"] = _Declared(enum, file, (*path, enum_tag, i))
        for i, message in enumerate(messages):
            name, here = f"{scope}.{message.name}", (*path, message_tag, i)
            self.messages[name] = _Declared(message, file, here)
            self._index(file, name, message.nested_type, message.enum_type, here)

    def comment(self, file: str, path: tuple[int, ...]) -> str:
        return self._comments.get((file, path), "")


def _comment(text: str) -> str:
    lines = [line.removeprefix(" ") for line in text.strip("\n").splitlines()]
    return "\n".join(lines).strip()


def type_name(field: FieldProto) -> str:
    return field.type_name.removeprefix(".")


def ref(name: str) -> Schema:
    return {"$ref": COMPONENT_PREFIX + name}


def describe(schema: Schema, *parts: str) -> Schema:
    text = "\n\n".join(p for p in parts if p)
    return {**schema, "description": text} if text else schema


def _rules(field: FieldProto) -> validate_pb2.FieldRules:
    return field.options.Extensions[validate_pb2.field]


def _set_fields(message: Message) -> dict[str, Any]:
    return {f.name: value for f, value in message.ListFields()}


class SchemaBuilder:
    """Component schemas of the messages an operation reaches, built on demand."""

    def __init__(self, contracts: Contracts) -> None:
        self.contracts = contracts
        self.components: dict[str, Schema] = {}

    def message(self, name: str, *, without: frozenset[str] = frozenset()) -> Schema:
        """A $ref to the schema of message `name` (minus fields `without`, under their own
        component name), building it and everything it reaches first."""
        if name in WELL_KNOWN:
            return dict(WELL_KNOWN[name])
        key = name + ("_" + "_".join(sorted(without)) + "_Body" if without else "")
        if key not in self.components:
            self.components[key] = {}  # placeholder: a message may reach itself
            self.components[key] = self._build_message(name, without)
        return ref(key)

    def _build_message(self, name: str, without: frozenset[str]) -> Schema:
        declared = self.contracts.messages[name]
        properties: Schema = {}
        required: list[str] = []
        for i, field in enumerate(declared.proto.field):
            if field.name in without:
                continue
            comment = self.contracts.comment(declared.file, (*declared.path, 2, i))
            properties[field.name], needed = self.field(field, comment)
            if needed:
                required.append(field.name)
        schema: Schema = {"type": "object", "properties": properties}
        if required:
            schema["required"] = required
        schema["additionalProperties"] = False
        message_rules = declared.proto.options.Extensions[validate_pb2.message]
        checks = [f"{c.id}: {c.message}" for c in message_rules.cel]
        return describe(
            schema,
            self.contracts.comment(declared.file, declared.path),
            also_checked(checks),
        )

    def field(self, field: FieldProto, comment: str = "") -> tuple[Schema, bool]:
        """The schema of one field with its validation rules, and whether a request must
        carry it (its zero value, what an absent field means in proto3, breaks a rule)."""
        rules = _rules(field)
        ignored = rules.ignore == validate_pb2.IGNORE_ALWAYS
        unexpressed: list[str] = [f"{c.id}: {c.message}" for c in rules.cel]
        map_entry = self._map_entry(field)
        if map_entry is not None:
            _, value = map_entry.field
            schema: Schema = {
                "type": "object",
                "additionalProperties": self._single(value, validate_pb2.FieldRules(), [])[0],
            }
            if not ignored:
                _apply_map_rules(schema, rules, unexpressed)
            needed = False
        elif field.label == FieldProto.LABEL_REPEATED:
            items_rules = rules.repeated.items if rules.HasField("repeated") else None
            item, _ = self._single(field, items_rules or validate_pb2.FieldRules(), unexpressed)
            schema = {"type": "array", "items": item}
            needed = False
            if rules.HasField("repeated") and not ignored:
                repeated = rules.repeated
                if repeated.min_items:
                    schema["minItems"] = repeated.min_items
                    needed = True
                if repeated.HasField("max_items"):
                    schema["maxItems"] = repeated.max_items
                if repeated.unique:
                    schema["uniqueItems"] = True
        else:
            schema, zero_breaks = self._single(
                field, validate_pb2.FieldRules() if ignored else rules, unexpressed
            )
            optional = field.proto3_optional or field.HasField("oneof_index")
            zero_passes = rules.ignore == validate_pb2.IGNORE_IF_ZERO_VALUE
            if zero_passes and zero_breaks:
                # The rules apply to a value that is set; the zero value (absent) passes.
                if field.type == T.TYPE_ENUM:
                    schema, _ = self._enum(type_name(field), rules.enum, allow_zero=True)
                elif field.type != T.TYPE_MESSAGE:
                    schema = _or_zero(schema, field)
            needed = zero_breaks and not (optional or ignored or zero_passes)
        if rules.required and not ignored:
            needed = True
        return describe(schema, comment, also_checked(unexpressed)), needed

    def _map_entry(self, field: FieldProto) -> descriptor_pb2.DescriptorProto | None:
        if field.type != T.TYPE_MESSAGE:
            return None
        declared = self.contracts.messages.get(type_name(field))
        if declared is None or not declared.proto.options.map_entry:
            return None
        entry: descriptor_pb2.DescriptorProto = declared.proto
        return entry

    def _single(
        self, field: FieldProto, rules: validate_pb2.FieldRules, unexpressed: list[str]
    ) -> tuple[Schema, bool]:
        """One value of the field's type (an item, for a repeated field) and whether its
        zero value breaks `rules`."""
        if field.type in (T.TYPE_MESSAGE, T.TYPE_GROUP):
            kind = rules.WhichOneof("type")
            if kind is not None:
                unexpressed.append(f"{kind} rules: {_text(getattr(rules, kind))}")
            return self.message(type_name(field)), False
        if field.type == T.TYPE_ENUM:
            return self._enum(type_name(field), rules.enum if rules.HasField("enum") else None)
        return _scalar(field, rules, unexpressed)

    def _enum(
        self, name: str, rules: validate_pb2.EnumRules | None, *, allow_zero: bool = False
    ) -> tuple[Schema, bool]:
        declared = self.contracts.enums[name]
        values = [(v.name, v.number) for v in declared.proto.value]
        allowed = values
        if rules is not None:
            if rules.HasField("const"):
                allowed = [v for v in allowed if v[1] == rules.const]
            if rules.__getattribute__("in"):
                allowed = [v for v in allowed if v[1] in rules.__getattribute__("in")]
            allowed = [v for v in allowed if v[1] not in rules.not_in]
        if allow_zero:
            allowed = [v for v in values if v[1] == 0 or v in allowed]
        lines = [self.contracts.comment(declared.file, declared.path)]
        for i, (value_name, _) in enumerate(values):
            text = self.contracts.comment(declared.file, (*declared.path, 2, i))
            lines.append(f"- `{value_name}`" + (f": {text}" if text else ""))
        schema = describe(
            {"type": "string", "enum": [v[0] for v in allowed]}, "\n".join(filter(None, lines))
        )
        return schema, 0 not in {v[1] for v in allowed}


def _scalar(
    field: FieldProto, rules: validate_pb2.FieldRules, unexpressed: list[str]
) -> tuple[Schema, bool]:
    """A scalar field's schema with its rules, and whether its zero value breaks them."""
    schema = dict(_SCALARS[field.type])
    kind = rules.WhichOneof("type")
    if kind is None:
        return schema, False
    typed = getattr(rules, kind)
    if field.type == T.TYPE_STRING:
        return _apply_string_rules(schema, typed, unexpressed)
    if field.type in _INTEGER_TYPES or field.type in (T.TYPE_DOUBLE, T.TYPE_FLOAT):
        return _apply_number_rules(schema, typed, unexpressed)
    if field.type == T.TYPE_BOOL:
        if typed.HasField("const"):
            schema["const"] = typed.const
        return schema, typed.HasField("const") and typed.const
    if field.type == T.TYPE_BYTES:
        unexpressed.append(f"{kind} rules: {_text(typed)}")
        return schema, False
    # 64-bit integers are JSON strings: JSON Schema cannot bound them, except "positive"
    # (a pattern); every other rule is named in the description.
    if _set_fields(typed) in ({"gte": 1}, {"gt": 0}):
        schema["pattern"] = "^[1-9][0-9]*$"
    else:
        unexpressed.append(f"{kind} rules: {_text(typed)}")
    return schema, _number_zero_breaks(typed)


def _or_zero(schema: Schema, field: FieldProto) -> Schema:
    """`schema`, or the field's zero value as the transcoder prints it."""
    zero = {T.TYPE_BOOL: False, T.TYPE_STRING: "", T.TYPE_BYTES: ""}.get(field.type, 0)
    if schema.get("type") == "string" and zero == 0:
        zero = "0"  # 64-bit integers are strings
    constraints = {k: v for k, v in schema.items() if k != "type"}
    return {"type": schema["type"], "anyOf": [{"const": zero}, constraints]}


def _text(rules: Message) -> str:
    """Rules in their JSON form (timestamps and durations readable), e.g. `gte "1970-..."`."""
    as_json = json_format.MessageToDict(rules, preserving_proto_field_name=True)
    return ", ".join(f"{k} {_plain(v)}" for k, v in as_json.items())


def _plain(value: Any) -> str:
    plain = value if isinstance(value, (str, int, float, bool, dict, list)) else list(value)
    return json.dumps(plain, ensure_ascii=False)


def also_checked(rules: list[str]) -> str:
    if not rules:
        return ""
    return "Also checked by the service (not expressible here): " + "; ".join(rules) + "."


_STRING_KEYWORDS = {"min_len": "minLength", "max_len": "maxLength", "const": "const"}
_STRING_PATTERNS = {
    "pattern": lambda value: value,
    "prefix": lambda value: "^" + re.escape(value),
    "suffix": lambda value: re.escape(value) + "$",
    "contains": re.escape,
}


def _apply_string_rules(
    schema: Schema, rules: validate_pb2.StringRules, unexpressed: list[str]
) -> tuple[Schema, bool]:
    patterns: list[str] = []
    for name, value in _set_fields(rules).items():
        if name in _STRING_KEYWORDS:
            schema[_STRING_KEYWORDS[name]] = value
        elif name in _STRING_PATTERNS:
            patterns.append(_STRING_PATTERNS[name](value))
        elif name == "len":
            schema["minLength"] = schema["maxLength"] = value
        elif name == "in":
            schema["enum"] = list(value)
        elif name == "not_in":
            schema["not"] = {"enum": list(value)}
        elif name in _STRING_FORMATS and value:
            schema["format"] = _STRING_FORMATS[name]
        else:
            unexpressed.append(f"string {name} {_plain(value)}")
    if len(patterns) == 1:
        schema["pattern"] = patterns[0]
    elif patterns:
        schema["allOf"] = [{"pattern": p} for p in patterns]
    zero_breaks = (
        "format" in schema  # every format refuses ""
        or any(not re.search(p, "") for p in patterns)
        or schema.get("minLength", 0) > 0
        or ("enum" in schema and "" not in schema["enum"])
        or schema.get("const", "") != ""
        or "" in schema.get("not", {}).get("enum", [])
    )
    return schema, zero_breaks


def _apply_number_rules(
    schema: Schema, rules: Message, unexpressed: list[str]
) -> tuple[Schema, bool]:
    keywords = {
        "gt": "exclusiveMinimum",
        "gte": "minimum",
        "lt": "exclusiveMaximum",
        "lte": "maximum",
        "const": "const",
    }
    for name, value in _set_fields(rules).items():
        if name in keywords:
            schema[keywords[name]] = value
        elif name == "in":
            schema["enum"] = list(value)
        elif name == "not_in":
            schema["not"] = {"enum": list(value)}
        else:
            unexpressed.append(f"{name} {_plain(value)}")
    return schema, _number_zero_breaks(rules)


def _number_zero_breaks(rules: Message) -> bool:
    """Whether 0 (an absent field) breaks these numeric rules."""
    set_rules = _set_fields(rules)
    checks: dict[str, Callable[[Any], bool]] = {
        "gt": lambda bound: bound >= 0,
        "gte": lambda bound: bound > 0,
        "lt": lambda bound: bound <= 0,
        "lte": lambda bound: bound < 0,
        "const": lambda value: value != 0,
        "in": lambda values: 0 not in values,
        "not_in": lambda values: 0 in values,
    }
    return any(check(set_rules[name]) for name, check in checks.items() if name in set_rules)


def _apply_map_rules(
    schema: Schema, rules: validate_pb2.FieldRules, unexpressed: list[str]
) -> None:
    if not rules.HasField("map"):
        return
    if rules.map.min_pairs:
        schema["minProperties"] = rules.map.min_pairs
    if rules.map.HasField("max_pairs"):
        schema["maxProperties"] = rules.map.max_pairs
    for name in ("keys", "values"):
        if rules.map.HasField(name):
            unexpressed.append(f"map {name}: {_text(getattr(rules.map, name))}")
