"""`shop`: run the local stack. `shop up`, `shop status`, `shop logs`, `shop token`,
`shop drain`/`shop undrain`, `shop down`."""

from __future__ import annotations

import argparse
import datetime
import sys
from pathlib import Path

from shoptools.contracts.layout import find_root
from shoptools.mesh.contracts import load_contracts
from shoptools.mesh.jwt import mint_token
from shoptools.stack import chaos, rotation, runfile, stack, status
from shoptools.stack.topology import DEFAULT_BASE_PORT, Topology


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    state_dir = (args.state_dir or find_root() / ".state").resolve()
    if args.command in ("up", "supervise"):
        return _start(args, state_dir)
    topology = _running_topology(state_dir)
    if args.command == "down":
        return stack.down(topology, sys.stdout)
    if args.command == "status":
        return status.show(topology, as_json=args.json, out=sys.stdout)
    if args.command == "logs":
        return stack.show_logs(
            topology, args.component, follow=args.follow, lines=args.lines, out=sys.stdout
        )
    if args.command in ("drain", "undrain"):
        serving = args.command == "undrain"
        return rotation.set_in_rotation(topology, args.instance, serving=serving, out=sys.stdout)
    print(_token(topology, args))
    return 0


def _start(args: argparse.Namespace, state_dir: Path) -> int:
    services = _services(args.instances)
    topology = Topology(
        state_dir=state_dir,
        base_port=args.base_port,
        services=services,
        clients=_clients(args.client, services),
    )
    try:
        chaos.parse_faults(args.fault, topology)  # refuse a bad spec before starting anything
    except chaos.FaultSpecError as error:
        raise SystemExit(str(error)) from None
    policy = (args.policy or find_root() / "mesh" / "policy.yaml").resolve()
    if args.command == "supervise":
        return stack.supervise(topology, policy, args.fault)
    if args.foreground:
        return stack.up_foreground(topology, policy, args.fault, sys.stdout)
    return stack.up_detached(topology, policy, args.fault, sys.stdout)


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--state-dir",
        type=Path,
        help="where the stack keeps data, keys, logs and its run file (default: <checkout>/.state)",
    )
    starting = argparse.ArgumentParser(add_help=False, parents=[common])
    starting.add_argument(
        "--base-port",
        type=int,
        default=DEFAULT_BASE_PORT,
        help="the gateway's port; every other port is derived from it (default: %(default)s)",
    )
    starting.add_argument(
        "--instances",
        action="append",
        default=[],
        metavar="SERVICE=N",
        help="run N instances of SERVICE (repeatable; default: catalog=1)",
    )
    starting.add_argument(
        "--policy", type=Path, help="the mesh policy (default: <checkout>/mesh/policy.yaml)"
    )
    starting.add_argument(
        "--client",
        action="append",
        default=[],
        metavar="IDENTITY",
        help="also run an outbound-only sidecar with the mesh identity IDENTITY (a service "
        "that is not running, e.g. orders), to call the mesh as that service (repeatable)",
    )
    starting.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="SPEC",
        help="chaos testing: make an instance's sidecar fail or slow down its calls, "
        f"{chaos.SYNTAX}; e.g. catalog-2:abort=14 or catalog-1:SearchProducts:delay=3s "
        "(repeatable; health checks are not affected)",
    )

    parser = argparse.ArgumentParser(prog="shop", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser(
        "up",
        parents=[starting],
        help="start the stack and return once it is healthy (it keeps running in the background)",
    )
    up.add_argument(
        "--foreground", action="store_true", help="stay attached; Ctrl-C stops everything"
    )
    commands.add_parser(
        "supervise", parents=[starting], help="(what `up` runs in the background) supervise"
    )
    commands.add_parser("down", parents=[common], help="stop everything the stack runs")
    status_cmd = commands.add_parser(
        "status", parents=[common], help="health, addresses, pids, restarts, golden signals"
    )
    status_cmd.add_argument("--json", action="store_true", help="machine-readable")
    logs = commands.add_parser("logs", parents=[common], help="show (and follow) logs")
    logs.add_argument(
        "component", nargs="?", help="e.g. catalog-1, gateway, postgres (default: all)"
    )
    logs.add_argument("-f", "--follow", action="store_true")
    logs.add_argument("-n", "--lines", type=int, default=20, metavar="N")
    for name, what in (
        ("drain", "take a service instance out of rotation without stopping it"),
        ("undrain", "put a drained service instance back in rotation"),
    ):
        rotate = commands.add_parser(name, parents=[common], help=what)
        rotate.add_argument("instance", help="e.g. catalog-2")
    token = commands.add_parser("token", parents=[common], help="print a JWT for the gateway")
    who = token.add_mutually_exclusive_group(required=True)
    who.add_argument("--customer", metavar="ID", help="a customer token for customer ID")
    who.add_argument("--admin", action="store_true", help="an administrator token")
    token.add_argument("--ttl", type=int, default=3600, metavar="SECONDS")
    return parser


def _services(instances: list[str]) -> dict[str, int]:
    services = {"catalog": 1}
    for item in instances:
        name, _, count = item.partition("=")
        if not name or not count.isdigit() or int(count) < 1:
            raise SystemExit(f"--instances wants SERVICE=N with N >= 1, not {item!r}")
        services[name] = int(count)
    return services


def _clients(identities: list[str], services: dict[str, int]) -> tuple[str, ...]:
    known = set(load_contracts())
    for identity in identities:
        if identity not in known:
            raise SystemExit(f"--client {identity!r}: not a service of the contracts")
        if identity in services:
            raise SystemExit(f"--client {identity!r}: that service runs; call as its instances")
    return tuple(dict.fromkeys(identities))


def _running_topology(state_dir: Path) -> Topology:
    """The running stack's ports come from its run file (it may use another base port)."""
    state = runfile.load(Topology(state_dir=state_dir).run_file)
    if state is None:
        return Topology(state_dir=state_dir)
    return Topology(
        state_dir=state_dir,
        base_port=state.base_port,
        services=state.services,
        clients=tuple(state.clients),
    )


def _token(topology: Topology, args: argparse.Namespace) -> str:
    ttl = datetime.timedelta(seconds=args.ttl)
    if args.admin:
        return mint_token(topology.pki_dir, "admin", "admin", ttl)
    return mint_token(topology.pki_dir, args.customer, "customer", ttl)
