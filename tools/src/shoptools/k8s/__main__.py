"""python -m shoptools.k8s generate [--check] | secrets STATE_DIR | trust-anchor DIR"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from shoptools.contracts.model import load_contracts
from shoptools.k8s import generate, secrets
from shoptools.stack.postgres import DATABASES


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shoptools.k8s", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    gen = commands.add_parser("generate", help="write k8s/base/generated/ (or --check it)")
    gen.add_argument("--check", action="store_true", help="fail if a file is stale")
    made = commands.add_parser("secrets", help="print the dev cluster's Secrets as YAML")
    made.add_argument("state_dir", type=Path)
    anchor = commands.add_parser("trust-anchor", help="make Linkerd's trust anchor and issuer")
    anchor.add_argument("directory", type=Path)
    args = parser.parse_args(argv)
    root = generate.default_root()
    if args.command == "generate":
        if args.check:
            stale = generate.differences(root)
            for diff in stale:
                sys.stdout.write(diff)
            if stale:
                print("k8s/base/generated is stale: run `python -m shoptools.k8s generate`")
                return 1
            return 0
        for path in generate.write(root):
            print(f"wrote {path.relative_to(root)}")
    elif args.command == "secrets":
        objects = secrets.secret_objects(args.state_dir, list(DATABASES), sorted(load_contracts()))
        sys.stdout.write(yaml.safe_dump_all(objects, sort_keys=False))
    else:
        for role, path in secrets.ensure_trust_anchor(args.directory).items():
            print(f"{role}={path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
