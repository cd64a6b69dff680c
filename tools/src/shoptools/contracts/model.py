"""The services and methods the contracts declare, with who may call each method.

Read from the descriptor set shipped in the generated package (`shop/contracts.binpb`), so
the mesh policy is checked against, and the gateway's permissions derived from, exactly
the contracts the services were built with. The stack reads it too (a database per context,
a stream per context that publishes events).
"""

from __future__ import annotations

import enum
import functools
import importlib.resources
from dataclasses import dataclass

from google.protobuf import descriptor_pb2

# Importing the extension registers it, so parsing the descriptor set resolves the option.
from shop.common.v1 import access_pb2


class Access(enum.Enum):
    """`(shop.common.v1.access)` of a method."""

    ANONYMOUS = "ANONYMOUS"
    CUSTOMER = "CUSTOMER"
    ADMIN = "ADMIN"
    INTERNAL = "INTERNAL"


@dataclass(frozen=True)
class Method:
    service: str  # the service's short name, e.g. "catalog"
    full_service: str  # e.g. "shop.catalog.v1.CatalogService"
    name: str  # e.g. "GetProduct"
    access: Access
    # The contract says a retry cannot repeat an effect (idempotency_level NO_SIDE_EFFECTS,
    # or IDEMPOTENT: keyed by its idempotency key). Only these does the mesh retry.
    retryable: bool = True

    @property
    def path(self) -> str:
        """The HTTP/2 path of the gRPC method, what routes and access rules match on."""
        return f"/{self.full_service}/{self.name}"


@dataclass(frozen=True)
class Service:
    name: str  # the bounded context, e.g. "catalog"; also the mesh identity of its workloads
    full_name: str
    methods: dict[str, Method]
    publishes_events: bool  # its contract has an events.proto (it needs a JetStream stream)

    @property
    def exposed(self) -> bool:
        """Whether the gateway serves any of its methods."""
        return any(m.access is not Access.INTERNAL for m in self.methods.values())


_RETRYABLE = (
    descriptor_pb2.MethodOptions.NO_SIDE_EFFECTS,
    descriptor_pb2.MethodOptions.IDEMPOTENT,
)


def descriptor_set() -> bytes:
    """The serialized FileDescriptorSet of every contract and its imports."""
    return importlib.resources.files("shop").joinpath("contracts.binpb").read_bytes()


@functools.cache
def load_contracts() -> dict[str, Service]:
    """Every Shopmesh service by short name (package `shop.<name>.v1`)."""
    files = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set()).file
    with_events = {f.package for f in files if f.name.endswith("/events.proto")}
    services: dict[str, Service] = {}
    for file in files:
        parts = file.package.split(".")
        if len(parts) != 3 or parts[0] != "shop":
            continue
        for svc in file.service:
            name = parts[1]
            if name in services:
                raise ValueError(f"package {file.package} declares more than one service")
            full_name = f"{file.package}.{svc.name}"
            services[name] = Service(
                name=name,
                full_name=full_name,
                methods={
                    m.name: Method(
                        name,
                        full_name,
                        m.name,
                        _access(m, full_name),
                        retryable=m.options.idempotency_level in _RETRYABLE,
                    )
                    for m in svc.method
                },
                publishes_events=file.package in with_events,
            )
    return services


def _access(method: descriptor_pb2.MethodDescriptorProto, full_service: str) -> Access:
    value = method.options.Extensions[access_pb2.access]
    if value == access_pb2.ACCESS_UNSPECIFIED:
        raise ValueError(f"{full_service}/{method.name} declares no (shop.common.v1.access)")
    return Access(access_pb2.Access.Name(value).removeprefix("ACCESS_"))
