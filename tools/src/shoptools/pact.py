"""`shop can-i-deploy SERVICE`: may this checkout's SERVICE be deployed without breaking a
service it talks to? Answered from the pacts in pacts/ (`<consumer>-<provider>.json`) by
running the contract tests that exist for them (services/<name>/tests/contract/):

- as a provider: its verification of every consumer's pact on it
  (`test_<name>_keeps_its_consumers_pacts`, its real code in the states they name), and of
  its REST clients' HTTP pacts through the gateway of a whole stack
  (tests/system/test_pact_rest.py, `test_<name>_keeps_its_rest_consumers_pacts`);
- as a consumer: its own contract tests (its code still does what its pacts say, and the
  committed pacts are the ones they write), then each provider's verification of its pacts
  alone (SHOP_PACT_CONSUMER), so the providers as they are now give it what it asks.

Each check is a pytest run of its own (every service's tests need their own fixtures).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from shoptools.services import checkout_root, deployable_services

CONSUMER_ENV = "SHOP_PACT_CONSUMER"  # chassis.testing.pact verifies only this consumer's pacts
PACTS_ENV = "SHOP_PACTS_DIR"  # where the pacts are, when not in the checkout's pacts/
VERIFICATION = "keeps_its_consumers_pacts"  # the provider verification test's name ends so
REST_VERIFICATION = "keeps_its_rest_consumers_pacts"  # ... and that of its HTTP pacts


@dataclass(frozen=True)
class Pact:
    consumer: str
    provider: str
    path: Path
    http: bool  # of the provider's HTTP API (a REST client's), verified on a stack


@dataclass(frozen=True)
class Check:
    what: str
    tests: list[Path]
    selection: str = ""  # pytest -k
    consumer: str = ""  # only this consumer's pacts


def pacts(root: Path) -> list[Pact]:
    """The pacts in the repository, by the names of their files."""
    services = deployable_services(root)
    found = []
    for path in sorted(pacts_dir(root).glob("*.json")):
        consumer, _, provider = path.stem.rpartition("-")
        if provider in services:
            found.append(Pact(consumer, provider, path, is_http(path)))
    return found


def is_http(path: Path) -> bool:
    interactions = json.loads(path.read_text()).get("interactions", [])
    return any(i.get("type") == "Synchronous/HTTP" for i in interactions)


def pacts_dir(root: Path) -> Path:
    return Path(os.environ.get(PACTS_ENV) or root / "pacts")


def contract_tests(root: Path, service: str) -> Path:
    return root / "services" / service / "tests" / "contract"


def provider_verification(root: Path, service: str) -> Path:
    return contract_tests(root, service) / f"test_{service}_pact_provider.py"


def rest_verification(root: Path) -> Path:
    return root / "tests" / "system" / "test_pact_rest.py"


def checks(root: Path, service: str) -> list[Check]:
    """What must pass for `service` to be deployed, in the order they run."""
    found = pacts(root)
    planned = []
    consumers = sorted({p.consumer for p in found if p.provider == service and not p.http})
    if consumers:
        planned.append(
            Check(
                f"{service} gives {', '.join(consumers)} what they need",
                [provider_verification(root, service)],
                selection=VERIFICATION,
            )
        )
    clients = sorted({p.consumer for p in found if p.provider == service and p.http})
    if clients:
        planned.append(
            Check(
                f"{service} gives {', '.join(clients)} what they need over HTTP (on a stack)",
                [rest_verification(root)],
                selection=f"test_{service}_{REST_VERIFICATION}",
            )
        )
    own = sorted(
        path
        for path in contract_tests(root, service).glob(f"test_{service}_pact_*.py")
        if path != provider_verification(root, service)
    )
    if own:
        planned.append(Check(f"{service}'s code matches the pacts it committed", own))
    for provider in sorted({p.provider for p in found if p.consumer == service}):
        planned.append(
            Check(
                f"{provider} as it is now gives {service} what it asks",
                [provider_verification(root, provider)],
                selection=VERIFICATION,
                consumer=service,
            )
        )
    return planned


def run(root: Path, check: Check) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"]
    if check.selection:
        command += ["-k", check.selection]
    environment = dict(os.environ, PACT_DO_NOT_TRACK="true")
    if check.consumer:
        environment[CONSUMER_ENV] = check.consumer
    return subprocess.run(
        [*command, *map(str, check.tests)],
        cwd=root,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )


def can_i_deploy(service: str, out: TextIO, root: Path | None = None) -> int:
    """0 when every check passes; the failing checks' reports otherwise."""
    root = root or checkout_root()
    if service not in deployable_services(root):
        print(f"no service {service!r} (services/*/pyproject.toml)", file=out)
        return 2
    planned = checks(root, service)
    if not planned:
        print(f"{service}: no pact names it, nothing to check", file=out)
        return 0
    failed = 0
    for check in planned:
        result = run(root, check)
        verdict = "yes" if result.returncode == 0 else "NO"
        print(f"{verdict:>3}  {check.what}", file=out)
        if result.returncode != 0:
            failed += 1
            out.write((result.stdout + result.stderr)[-8000:])  # the reports' ends
    answer = "yes" if not failed else f"no ({failed} of {len(planned)} checks failed)"
    print(f"can {service} be deployed? {answer}", file=out)
    return 0 if not failed else 1


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "can-i-deploy", help="does SERVICE's code keep every pact it is part of (pacts/)?"
    )
    parser.add_argument("service", help="e.g. catalog")


def main(args: argparse.Namespace) -> int:
    return can_i_deploy(args.service, sys.stdout)
