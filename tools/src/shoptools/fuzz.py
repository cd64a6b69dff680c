"""Fuzz the REST API of a running stack with Schemathesis, through its gateway.

`scripts/fuzz` (a person's long run) and tests/system/test_schemathesis.py (a bounded run in
CI) both call `fuzz`. The document fuzzed is the one the gateway serves (/openapi.json).
Every operation of a deployed service runs in three passes, each with the credentials of
one access level (tokens signed by the stack's own key):

  anonymous  the anonymous operations, without a token;
  customer   the customer operations, with a customer's token;
  admin      every operation, with an administrator's token (admin tokens carry a subject,
             so customer operations answer them too), in the stateful phase as well: the
             document's links chain a write to the reads of what it wrote.

Schemathesis also sends cases without the token and with broken data (negative mode), so
the 400, 401 and 403 answers are checked against the document too. A run fails on any 5xx
and any response whose status, content type or body the document does not describe.
"""

from __future__ import annotations

import argparse
import datetime
import re
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from shoptools.contracts.model import load_contracts
from shoptools.mesh.jwt import Role, mint_token
from shoptools.stack import runfile
from shoptools.topology import Topology

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
)


@dataclass(frozen=True)
class Pass:
    name: str
    role: Role | None  # the token's role; None: no token
    access: frozenset[str]  # the operations' `x-shop-access` levels it covers
    stateful: bool = False


PASSES = (
    Pass("anonymous", None, frozenset({"ANONYMOUS"})),
    Pass("customer", "customer", frozenset({"CUSTOMER"})),
    Pass("admin", "admin", frozenset({"ANONYMOUS", "CUSTOMER", "ADMIN"}), stateful=True),
)


@dataclass(frozen=True)
class PassResult:
    name: str
    operations: int  # operations Schemathesis tested
    cases: int  # test cases it generated
    output: str  # its report
    passed: bool


def deployed_operations(document: dict[str, object], topology: Topology) -> dict[str, str]:
    """operationId -> access level, for operations of services running in `topology` (the
    document describes every service's API; one that is not deployed answers 503)."""
    by_tag = {s.full_name.rsplit(".", 1)[-1]: s.name for s in load_contracts().values()}
    paths = document["paths"]
    assert isinstance(paths, dict)
    return {
        operation["operationId"]: operation["x-shop-access"]
        for methods in paths.values()
        for operation in methods.values()
        if topology.instances(by_tag[operation["tags"][0]])
    }


def _token(topology: Topology, role: Role) -> str:
    subject = "fuzz-admin" if role == "admin" else "fuzz-customer"
    return mint_token(topology.pki_dir, subject, role, datetime.timedelta(hours=2))


def _run_pass(
    gateway: str,
    topology: Topology,
    run: Pass,
    operation_ids: Sequence[str],
    schemathesis_args: Sequence[str],
) -> PassResult:
    argv = [str(Path(sys.executable).parent / "st"), "run", f"{gateway}/openapi.json"]
    argv += ["--url", gateway, "--checks", ",".join(CHECKS), "--no-color"]
    for operation_id in operation_ids:
        argv += ["--include-operation-id", operation_id]
    if run.role is not None:
        argv += ["--header", f"Authorization: Bearer {_token(topology, run.role)}"]
    if not run.stateful:
        argv += ["--phases", "examples,coverage,fuzzing"]
    result = subprocess.run(
        [*argv, *schemathesis_args], capture_output=True, text=True, check=False
    )
    output = result.stdout + result.stderr
    tested = re.search(r"Tested: (\d+)", output)
    cases = re.search(r"(\d+) generated", output)
    return PassResult(
        run.name,
        int(tested.group(1)) if tested else 0,
        int(cases.group(1)) if cases else 0,
        output,
        result.returncode == 0,
    )


def fuzz(
    gateway: str, topology: Topology, schemathesis_args: Sequence[str] = ()
) -> list[PassResult]:
    """Every pass over the deployed operations; `schemathesis_args` go to each `st run`
    (e.g. --max-examples, --seed)."""
    document = httpx.get(f"{gateway}/openapi.json", timeout=30).raise_for_status().json()
    operations = deployed_operations(document, topology)
    results = []
    for run in PASSES:
        ids = sorted(op for op, access in operations.items() if access in run.access)
        if ids:
            results.append(_run_pass(gateway, topology, run, ids, schemathesis_args))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="scripts/fuzz",
        description="Fuzz the running stack's REST API with Schemathesis (see shoptools.fuzz). "
        "Arguments after -- go to every `st run`, e.g. -- --max-examples 500 --seed 7.",
    )
    parser.add_argument("--state-dir", type=Path, default=Path(".state"), help="the stack's")
    parser.add_argument("--max-examples", type=int, default=200, help="per operation and pass")
    parser.add_argument("schemathesis_args", nargs="*", help="more `st run` options")
    args = parser.parse_args()
    state = runfile.load(Topology(state_dir=args.state_dir).run_file)
    if state is None:
        raise SystemExit(f"no stack runs with state in {args.state_dir} (scripts/up first)")
    topology = Topology(
        state_dir=args.state_dir,
        base_port=state.base_port,
        services=state.services,
        clients=tuple(state.clients),
    )
    gateway = f"http://127.0.0.1:{topology.gateway_port}"
    st_args = ["--max-examples", str(args.max_examples), *args.schemathesis_args]
    results = fuzz(gateway, topology, st_args)
    for result in results:
        print(f"=== {result.name} pass ===\n{result.output}")
    for result in results:
        verdict = "ok  " if result.passed else "FAIL"
        print(f"{verdict} {result.name}: {result.operations} operations, {result.cases} cases")
    raise SystemExit(0 if all(r.passed for r in results) else 1)


if __name__ == "__main__":
    main()
