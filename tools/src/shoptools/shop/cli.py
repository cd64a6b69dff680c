"""`shop`: run the local stack. `shop up`, `shop status`, `shop logs`, `shop token`,
`shop drain`/`shop undrain`, `shop dlq list`/`shop dlq redrive`, `shop mail`,
`shop order ID`, `shop bench reads`/`shop bench orders`, `shop can-i-deploy SERVICE`,
`shop down`."""

from __future__ import annotations

import argparse
import datetime
import functools
import os
import sys
from pathlib import Path

from shoptools import pact
from shoptools.bench import orders as bench_orders
from shoptools.bench import reads
from shoptools.contracts.layout import find_root
from shoptools.contracts.model import load_contracts
from shoptools.mesh.envoy import envoy_binary
from shoptools.mesh.jwt import mint_token
from shoptools.mesh.policy import load_policy
from shoptools.mesh.render import write_configs
from shoptools.services import deployable_services
from shoptools.shop import chaos, order
from shoptools.shop.ready import print_ready, shop_command
from shoptools.stack import audit as audit_log
from shoptools.stack import deadletters, logs, rotation, runfile, smtp_sink, stack, status
from shoptools.stack.nats_auth import write_config as write_nats_config
from shoptools.stack.runfile import RunState
from shoptools.stack.supervisor import Supervisor
from shoptools.stack.wiring import MeshSetup
from shoptools.topology import DEFAULT_BASE_PORT, Topology, one_of_each

# Defaults for --state-dir and --base-port, so every command of a shell reaches a second
# stack without repeating them.
STATE_DIR_VARIABLE = "SHOP_STATE_DIR"
BASE_PORT_VARIABLE = "SHOP_BASE_PORT"


def main(argv: list[str] | None = None) -> int:  # noqa: PLR0911 - a return per command
    args = _parser().parse_args(argv)
    if args.command == "bench":
        return reads.main(args) if args.bench == "reads" else bench_orders.main(args)
    if args.command == "can-i-deploy":
        return pact.main(args)
    state_dir = (args.state_dir or _default_state_dir()).resolve()
    if args.command in ("up", "supervise"):
        return _start(args, state_dir)
    topology = runfile.running_topology(state_dir)
    if args.command == "down":
        return stack.down(topology, sys.stdout)
    if args.command == "status":
        return status.show(topology, as_json=args.json, out=sys.stdout)
    if args.command == "logs":
        return logs.show_logs(
            topology.log_dir, args.component, follow=args.follow, lines=args.lines, out=sys.stdout
        )
    if args.command == "dlq":
        if args.dlq == "list":
            return deadletters.show(topology, as_json=args.json, out=sys.stdout)
        return deadletters.redrive(topology, subscription=args.subscription, out=sys.stdout)
    if args.command == "mail":
        return _mail(topology, to=args.to, last=args.lines)
    if args.command == "audit":
        return audit_log.main(topology, args, sys.stdout)
    if args.command == "order":
        return order.main(topology, args, sys.stdout)
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
    supervisor = Supervisor(
        topology, _mesh_setup(topology, policy, args.fault), faults=args.fault, policy_file=policy
    )
    if args.command == "supervise":
        return stack.supervise(supervisor)
    running = stack.running(topology)
    if running is not None:
        refused = _keep_or_replace(running, supervisor, foreground=args.foreground)
        if refused is not None:
            return refused
    on_ready = functools.partial(print_ready, topology, policy, out=sys.stdout)
    if args.foreground:
        return stack.up_foreground(supervisor, on_ready, sys.stdout)
    supervise = [sys.executable, "-m", "shoptools.shop", "supervise", *_start_args(supervisor)]
    return stack.up_detached(topology, supervise, on_ready, sys.stdout)


def _keep_or_replace(running: RunState, wanted: Supervisor, *, foreground: bool) -> int | None:
    """A running stack that differs from the one asked for is stopped (the data in its
    state directory is kept), and None returned: go on and start. A request for the same
    stack leaves it running (exit 0); so does one for the foreground, refused (exit 1)."""
    topology = wanted.topology
    if _same_stack(running, wanted.state) and not foreground:
        print(
            f"The stack is already running as asked ({_shape(running)}; supervisor pid "
            f"{running.supervisor_pid}); see `{shop_command(topology, 'status')}`."
        )
        return 0
    if foreground:
        print(
            f"A stack is already running in the background ({_shape(running)}); stop it "
            f"first: `{shop_command(topology, 'down')}`, then "
            f"`{shop_command(topology, 'up --foreground')}` with your options.",
            file=sys.stderr,
        )
        return 1
    print(
        f"The stack runs as {_shape(running)}; restarting it as {_shape(wanted.state)} "
        f"(its data in {stack.shown(topology.state_dir)} is kept)."
    )
    stack.down(runfile.running_topology(topology.state_dir), sys.stdout)
    return None


def _same_stack(running: RunState, wanted: RunState) -> bool:
    return (running.base_port, running.services, running.clients, running.faults) == (
        wanted.base_port,
        wanted.services,
        wanted.clients,
        wanted.faults,
    ) and running.policy == wanted.policy


def _shape(state: RunState) -> str:
    """How a stack was asked for, e.g. "catalog=2, client orders, fault catalog-2:abort=14"."""
    parts = [f"{name}={count}" for name, count in state.services.items()]
    parts += [f"client {identity}" for identity in state.clients]
    parts += [f"fault {spec}" for spec in state.faults]
    parts += [f"base port {state.base_port}"] if state.base_port != DEFAULT_BASE_PORT else []
    return ", ".join(parts)


def _mesh_setup(topology: Topology, policy_file: Path, fault_specs: list[str]) -> MeshSetup:
    """The mesh the stack runs: certificates, the JWT signing key and every Envoy config
    (with the chaos faults of `fault_specs`), rendered from the policy; keys are kept."""

    def write() -> dict[str, Path]:
        faults = chaos.parse_faults(fault_specs, topology)
        return write_configs(topology, load_policy(policy_file), faults)

    def write_nats() -> Path:  # the policy's events section: who publishes, who consumes
        return write_nats_config(topology, load_policy(policy_file))

    return MeshSetup(envoy=envoy_binary(), write_configs=write, write_nats_config=write_nats)


def _start_args(supervisor: Supervisor) -> list[str]:
    """The options that make `shop supervise` run the stack `supervisor` describes."""
    topology, state = supervisor.topology, supervisor.state
    args = ["--state-dir", str(topology.state_dir), "--base-port", str(topology.base_port)]
    for service in {*deployable_services(), *topology.services}:  # 0: left out
        args += ["--instances", f"{service}={topology.services.get(service, 0)}"]
    for identity in topology.clients:
        args += ["--client", identity]
    for spec in state.faults:
        args += ["--fault", spec]
    return [*args, "--policy", state.policy]


def _default_state_dir() -> Path:
    return Path(os.environ.get(STATE_DIR_VARIABLE) or find_root() / ".state")


def _default_base_port() -> int:
    value = os.environ.get(BASE_PORT_VARIABLE, "")
    if not value:
        return DEFAULT_BASE_PORT
    if not value.isdigit():
        raise SystemExit(f"{BASE_PORT_VARIABLE}={value!r}: not a port number")
    return int(value)


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--state-dir",
        type=Path,
        help="where the stack keeps data, keys, logs and its run file "
        f"(default: ${STATE_DIR_VARIABLE}, or <checkout>/.state)",
    )
    starting = argparse.ArgumentParser(add_help=False, parents=[common])
    starting.add_argument(
        "--base-port",
        type=int,
        default=_default_base_port(),
        help="the gateway's port; every other port is derived from it "
        f"(default: ${BASE_PORT_VARIABLE}, or {DEFAULT_BASE_PORT})",
    )
    starting.add_argument(
        "--instances",
        action="append",
        default=[],
        metavar="SERVICE=N",
        help="run N instances of SERVICE (repeatable; default: one of each service; "
        "0 leaves it out)",
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
    bench_orders.add_parser(reads.add_parser(commands))
    pact.add_parser(commands)
    up = commands.add_parser(
        "up",
        parents=[starting],
        help="start the stack and return once it is healthy (it keeps running in the "
        "background); a running stack started with other options is restarted with these",
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
    dlq = commands.add_parser(
        "dlq", parents=[common], help="events consumers could not handle: list, redrive"
    )
    dlq_commands = dlq.add_subparsers(dest="dlq", required=True)
    dlq_list = dlq_commands.add_parser("list", parents=[common], help="every dead letter, why")
    dlq_list.add_argument("--json", action="store_true", help="machine-readable")
    redrive = dlq_commands.add_parser(
        "redrive", parents=[common], help="publish dead letters again on their subjects"
    )
    redrive.add_argument("--subscription", help="only this consumer's (default: all)")
    mail = commands.add_parser(
        "mail", parents=[common], help="email the services sent, as the stack's SMTP sink got it"
    )
    mail.add_argument("--to", metavar="ADDRESS", help="only mail to ADDRESS")
    mail.add_argument(
        "-n", "--lines", type=int, default=10, metavar="N", help="the last N messages (0: all)"
    )
    audit_log.add_parser(commands, common)
    order.add_parser(commands, common)
    token = commands.add_parser("token", parents=[common], help="print a JWT for the gateway")
    who = token.add_mutually_exclusive_group(required=True)
    who.add_argument("--customer", metavar="ID", help="a customer token for customer ID")
    who.add_argument("--admin", action="store_true", help="an administrator token")
    token.add_argument("--ttl", type=int, default=3600, metavar="SECONDS")
    return parser


def _services(instances: list[str]) -> dict[str, int]:
    """Every service once, unless told otherwise; SERVICE=0 leaves it out (to stand in for
    it with `--client SERVICE`, say)."""
    services = one_of_each()
    for item in instances:
        name, _, count = item.partition("=")
        if not name or not count.isdigit():
            raise SystemExit(f"--instances wants SERVICE=N with N >= 0, not {item!r}")
        if name not in services:
            known = ", ".join(deployable_services())
            raise SystemExit(f"--instances {item!r}: no service {name!r} (services: {known})")
        services[name] = int(count)
    return {name: count for name, count in services.items() if count > 0}


def _clients(identities: list[str], services: dict[str, int]) -> tuple[str, ...]:
    known = set(load_contracts())
    for identity in identities:
        if identity not in known:
            raise SystemExit(f"--client {identity!r}: not a service of the contracts")
        if identity in services:
            raise SystemExit(f"--client {identity!r}: that service runs; call as its instances")
    return tuple(dict.fromkeys(identities))


def _mail(topology: Topology, *, to: str | None, last: int) -> int:
    """The last messages in the SMTP sink's mailbox, oldest first."""
    mails = smtp_sink.Mailbox(topology.mail_dir).messages(to=to or "", last=last)
    if not mails:
        whom = f" to {to}" if to else ""
        print(f"No mail{whom} in {stack.shown(topology.mail_dir)}.")
        return 0
    print(smtp_sink.render(mails), end="")
    return 0


def _token(topology: Topology, args: argparse.Namespace) -> str:
    ttl = datetime.timedelta(seconds=args.ttl)
    if args.admin:
        return mint_token(topology.pki_dir, "admin", "admin", ttl)
    return mint_token(topology.pki_dir, args.customer, "customer", ttl)
