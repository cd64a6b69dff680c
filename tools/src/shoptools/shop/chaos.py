"""Chaos testing: `shop up --fault SPEC` makes an instance misbehave at its inbound sidecar.

    INSTANCE[:METHOD]:abort=CODE      answer each call (of METHOD) with gRPC status CODE
    INSTANCE[:METHOD]:delay=DURATION  hold each call (of METHOD) that long before passing it on

e.g. `catalog-2:abort=14` (or `abort=UNAVAILABLE`), `catalog-1:SearchProducts:delay=3s`.
Health checks are never affected, so a faulty instance stays in rotation: what the mesh
does about it (retries, outlier ejection, timeouts, circuit breakers) is what one observes.
"""

from __future__ import annotations

from collections.abc import Sequence

import grpc

from shoptools.contracts.model import load_contracts
from shoptools.mesh.policy import parse_duration
from shoptools.mesh.sidecar import Fault
from shoptools.topology import Topology

SYNTAX = "INSTANCE[:METHOD]:abort=CODE or INSTANCE[:METHOD]:delay=DURATION"


class FaultSpecError(ValueError):
    """A --fault that does not parse or names something the stack does not run."""


def parse_faults(specs: Sequence[str], topology: Topology) -> dict[str, list[Fault]]:
    """The faults of `specs` by instance name."""
    faults: dict[str, list[Fault]] = {}
    for spec in specs:
        instance, fault = parse_fault(spec, topology)
        faults.setdefault(instance, []).append(fault)
    return faults


def parse_fault(spec: str, topology: Topology) -> tuple[str, Fault]:
    *target, action = spec.split(":")
    kind, _, value = action.partition("=")
    if len(target) not in (1, 2) or not value:
        raise FaultSpecError(f"--fault {spec!r}: expected {SYNTAX}")
    instance = next((i for i in topology.instances() if i.name == target[0]), None)
    if instance is None:
        running = ", ".join(i.name for i in topology.instances())
        raise FaultSpecError(f"--fault {spec!r}: no instance {target[0]!r} (running: {running})")
    method = target[1] if len(target) == 2 else None
    service = load_contracts()[instance.service]
    if method is not None and method not in service.methods:
        raise FaultSpecError(f"--fault {spec!r}: {service.full_name} has no method {method!r}")
    if kind == "abort":
        return instance.name, Fault(abort_grpc_status=_grpc_code(spec, value), method=method)
    if kind == "delay":
        try:
            delay_s = parse_duration(value)
        except ValueError as error:
            raise FaultSpecError(f"--fault {spec!r}: {error}") from None
        return instance.name, Fault(delay_s=delay_s, method=method)
    raise FaultSpecError(f"--fault {spec!r}: unknown fault {kind!r} (abort or delay)")


def _grpc_code(spec: str, value: str) -> int:
    """A failing gRPC status, by number (14) or name (UNAVAILABLE)."""
    codes = {code.name: int(code.value[0]) for code in grpc.StatusCode if code.name != "OK"}
    if value.upper() in codes:
        return codes[value.upper()]
    if value.isdigit() and int(value) in codes.values():
        return int(value)
    raise FaultSpecError(f"--fault {spec!r}: {value!r} is not a failing gRPC status code")
