"""What `shop up` prints once the stack is healthy: calls that work as printed."""

from __future__ import annotations

import importlib.resources
import sys
from pathlib import Path
from typing import TextIO

import grpc

from shop.catalog.v1 import catalog_service_pb2, catalog_service_pb2_grpc
from shoptools.mesh.policy import load_policy
from shoptools.stack.stack import shop_executable, shown
from shoptools.topology import Topology

GET_PRODUCT = "shop.catalog.v1.CatalogService/GetProduct"


def print_ready(topology: Topology, policy_file: Path, took_s: float, out: TextIO) -> None:
    catalog = next(iter(topology.instances("catalog")), None)
    first_instance = next((i.name for i in topology.instances()), "supervisor")
    lines = [
        "",
        f"Shopmesh is up in {took_s:.1f} s. Logs: {shown(topology.log_dir)}",
        "",
        "  The storefront, and the operations console (sign in as an admin):",
        f"    http://127.0.0.1:{topology.gateway_port}/shop/",
        f"    http://127.0.0.1:{topology.gateway_port}/console/",
        "  REST via the gateway:",
        f"    curl -s 'http://127.0.0.1:{topology.gateway_port}/v1/products?page_size=3'",
        "  The API reference (Swagger UI) and its OpenAPI document:",
        f"    http://127.0.0.1:{topology.gateway_port}/docs/",
        f"    http://127.0.0.1:{topology.gateway_port}/openapi.json",
        "  A token (customer or --admin) for authenticated calls:",
        f"    {shop_command(topology, 'token --customer alice')}",
    ]
    grpcurl = shown(Path(sys.executable).with_name("grpcurl"))
    sku = first_sku(catalog.app_port) if catalog is not None else None
    if catalog is not None:
        address = f"127.0.0.1:{catalog.app_port}"
        lines += [
            "  gRPC straight to the catalog app (reflection):",
            f"    {grpcurl} -plaintext {address} list",
        ]
        if sku is not None:
            lines.append(
                f'    {grpcurl} -plaintext -d \'{{"sku": "{sku}"}}\' {address} {GET_PRODUCT}'
            )
    lines += _client_lines(topology, policy_file, grpcurl, sku)
    lines += [
        "  What runs, and its logs:",
        f"    {shop_command(topology, 'status')}",
        f"    {shop_command(topology, f'logs {first_instance} -f')}",
        "  Stop everything:",
        f"    {shop_command(topology, 'down')}",
    ]
    print("\n".join(lines), file=out, flush=True)


def _client_lines(
    topology: Topology, policy_file: Path, grpcurl: str, sku: str | None
) -> list[str]:
    """Where each `--client` sidecar listens, and a call through one the policy lets call
    GetProduct (the mesh serves no reflection: grpcurl reads the contracts' descriptors)."""
    clients = topology.client_sidecars()
    if not clients:
        return []
    lines = ["  The mesh as a service (plaintext to its sidecar; the authority names the callee):"]
    lines += [f"    as {c.service:<14} 127.0.0.1:{c.outbound_port}" for c in clients]
    if sku is None:
        return lines
    policy = load_policy(policy_file)
    allowed = policy.callers(policy.service("catalog").methods["GetProduct"])
    caller = next((c for c in clients if c.service in allowed), None)
    if caller is not None:
        protoset = shown(Path(str(importlib.resources.files("shop") / "contracts.binpb")))
        lines.append(
            f"    {grpcurl} -plaintext -protoset {protoset} -authority catalog "
            f'-d \'{{"sku": "{sku}"}}\' 127.0.0.1:{caller.outbound_port} {GET_PRODUCT}'
        )
    return lines


def first_sku(port: int) -> str | None:
    """A product that exists, so the printed GetProduct call works as printed."""
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = catalog_service_pb2_grpc.CatalogServiceStub(channel)
        try:
            reply = stub.ListProducts(
                catalog_service_pb2.ListProductsRequest(page_size=1), timeout=5
            )
        except grpc.RpcError:
            return None
    return reply.products[0].sku if reply.products else None


def shop_command(topology: Topology, command: str) -> str:
    """How to run `shop <command>` against this stack, as a person would type it here."""
    words = [shop_executable(), command]
    if topology.state_dir != Path.cwd() / ".state":
        words += ["--state-dir", shown(topology.state_dir)]
    return " ".join(words)
