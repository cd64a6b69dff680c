"""Fixtures over the generated contracts: every Shopmesh file, service and message."""

from __future__ import annotations

import importlib
import importlib.resources
import pkgutil
from collections.abc import Iterator

import pytest
from google.protobuf import descriptor, descriptor_pb2, descriptor_pool

import shop


def _import_all_generated_modules() -> None:
    for module in pkgutil.walk_packages(shop.__path__, prefix="shop."):
        importlib.import_module(module.name)


def shop_file_names() -> list[str]:
    """Every contract file, from the descriptor set shipped in the generated package."""
    data = (importlib.resources.files("shop") / "contracts.binpb").read_bytes()
    files = descriptor_pb2.FileDescriptorSet.FromString(data).file
    return sorted(f.name for f in files if f.name.startswith("shop/"))


def shop_files() -> Iterator[descriptor.FileDescriptor]:
    _import_all_generated_modules()
    pool = descriptor_pool.Default()
    for name in shop_file_names():
        yield pool.FindFileByName(name)


def all_methods() -> list[descriptor.MethodDescriptor]:
    return [m for f in shop_files() for s in f.services_by_name.values() for m in s.methods]


def all_enums() -> list[descriptor.EnumDescriptor]:
    def nested(message: descriptor.Descriptor) -> Iterator[descriptor.EnumDescriptor]:
        yield from message.enum_types
        for inner in message.nested_types:
            yield from nested(inner)

    enums: list[descriptor.EnumDescriptor] = []
    for file in shop_files():
        enums.extend(file.enum_types_by_name.values())
        for message in file.message_types_by_name.values():
            enums.extend(nested(message))
    return enums


@pytest.fixture(scope="session")
def methods() -> list[descriptor.MethodDescriptor]:
    return all_methods()
