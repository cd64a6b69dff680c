"""Domain values as canonical JSON and back, for what the unit of work stores: the outcome of
a command (returned again to a retry with the same idempotency key) and the fingerprint of
its request.

Handles what domain models are made of: frozen dataclasses, tuples, lists, dicts with
string keys, str/int/float/bool/None, datetime, timedelta, Enum, UUID and Optional/unions with None.
Decoding is driven by the type hints, so a stored outcome comes back as the same types.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import hashlib
import json
import types
import typing
import uuid
from datetime import datetime, timedelta
from typing import Any, TypeVar

T = TypeVar("T")


def dump(value: object) -> bytes:
    """Canonical JSON: the same value always gives the same bytes."""
    return json.dumps(plain(value), sort_keys=True, separators=(",", ":")).encode()


def fingerprint(value: object) -> bytes:
    """A digest of the value's canonical form, with its type's name (a request's identity)."""
    kind = f"{type(value).__module__}.{type(value).__qualname__}"
    return hashlib.sha256(kind.encode() + b"\0" + dump(value)).digest()


def load(kind: type[T], data: bytes) -> T:
    return typed(kind, json.loads(data))


def plain(value: object) -> Any:  # noqa: PLR0911 - one branch per kind of value
    """The value as JSON's types (what `dump` encodes), e.g. for a JSONB column."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return plain(value.value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous; use an aware one")
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"cannot store a {type(value).__name__} in a record")


def typed(kind: type[T], value: Any) -> T:
    """A value of `kind` from its `plain` form (what `load` decodes)."""
    decoded: T = _typed(kind, value)
    return decoded


def _typed(kind: Any, value: Any) -> Any:  # noqa: PLR0911 - one branch per kind of type
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(kind) if a is not type(None)]
        if value is None:
            return None
        if len(options) != 1:
            raise TypeError(f"cannot decode the union {kind}")
        return _typed(options[0], value)
    if origin is tuple:
        args = typing.get_args(kind)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_typed(args[0], v) for v in value)
        return tuple(_typed(a, v) for a, v in zip(args, value, strict=True))
    if origin is list:
        return [_typed(typing.get_args(kind)[0], v) for v in value]
    if origin is dict:
        return {k: _typed(typing.get_args(kind)[1], v) for k, v in value.items()}
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        return kind(**{name: _typed(hint, value[name]) for name, hint in _field_types(kind)})
    if kind is datetime:
        return datetime.fromisoformat(value)
    if kind is timedelta:
        return timedelta(seconds=value)
    if isinstance(kind, type) and issubclass(kind, enum.Enum | uuid.UUID):
        return kind(value)
    return value


@functools.cache
def _field_types(kind: type) -> tuple[tuple[str, Any], ...]:
    """A dataclass's fields and their types, resolved once: resolving the string
    annotations (`from __future__ import annotations`) costs more than the decoding."""
    hints = typing.get_type_hints(kind)
    return tuple((field.name, hints[field.name]) for field in dataclasses.fields(kind))
