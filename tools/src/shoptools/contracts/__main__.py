"""`scripts/gen [gen|deps|check|release]`: the contracts workflow in one command."""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable
from pathlib import Path

from shoptools import web
from shoptools.contracts import buf_cli, codegen
from shoptools.contracts.layout import Layout, find_root
from shoptools.contracts.third_party import materialize


def cmd_deps(layout: Layout) -> bool:
    files = materialize(layout)
    print(f"third_party/proto: {len(files)} files ({', '.join(files)})")
    return True


def cmd_gen(layout: Layout) -> bool:
    codegen.regenerate(layout)
    print(f"regenerated {layout.gen_python.relative_to(layout.root)}/ from proto/")
    return True


def _report(step: str, ok: bool, detail: str = "") -> bool:
    print(f"{'ok  ' if ok else 'FAIL'} {step}")
    if detail.strip() and not ok:
        print("     " + detail.strip().replace("\n", "\n     "))
    return ok


def _breaking_against_previous_commit(layout: Layout) -> bool:
    with tempfile.TemporaryDirectory() as tmp:
        image = Path(tmp) / "previous.binpb"
        if not buf_cli.image_at_commit(layout, "HEAD~1", image):
            print("skip buf breaking against HEAD~1 (no such commit with contracts)")
            return True
        result = buf_cli.breaking(layout, image)
    return _report("buf breaking against HEAD~1", result.returncode == 0, result.stdout)


def cmd_check(layout: Layout) -> bool:
    """Everything CI requires of the contracts; reports every failure, not just the first."""
    materialize(layout)
    lint = buf_cli.buf(layout, "lint")
    fmt = buf_cli.buf(layout, "format", "proto", "--diff", "--exit-code")
    released = buf_cli.breaking(layout, layout.released_image)
    stale = codegen.stale_files(layout)
    openapi_lint = web.lint_openapi(layout.gen_python / codegen.OPENAPI_DOCUMENT)
    results = [
        _report("buf lint", lint.returncode == 0, lint.stdout + lint.stderr),
        _report("buf format", fmt.returncode == 0, fmt.stdout + fmt.stderr),
        _report(
            "buf breaking against the released image",
            released.returncode == 0,
            released.stdout + released.stderr,
        ),
        _breaking_against_previous_commit(layout),
        _report(
            "gen/python is fresh",
            not stale,
            "stale (run scripts/gen): " + ", ".join(stale[:20]),
        ),
        _report(
            "redocly lint of the OpenAPI document",
            openapi_lint.returncode == 0,
            openapi_lint.stdout + openapi_lint.stderr,
        ),
    ]
    return all(results)


def cmd_release(layout: Layout) -> bool:
    """Record the current contracts as the released baseline, if they do not break it."""
    if layout.released_image.exists():
        result = buf_cli.breaking(layout, layout.released_image)
        if not _report(
            "no breaking change against the current release", result.returncode == 0, result.stdout
        ):
            print("a breaking change needs a new version package (see proto/README.md)")
            return False
    built = buf_cli.build_image(layout, layout.released_image)
    if not _report("wrote proto/released.binpb", built.returncode == 0, built.stderr):
        return False
    print("commit it: git add proto/released.binpb && git commit -m 'contracts: release'")
    return True


COMMANDS: dict[str, Callable[[Layout], bool]] = {
    "gen": cmd_gen,
    "deps": cmd_deps,
    "check": cmd_check,
    "release": cmd_release,
}


def main() -> None:
    parser = argparse.ArgumentParser(prog="scripts/gen", description=__doc__)
    parser.add_argument(
        "command",
        nargs="?",
        default="gen",
        choices=COMMANDS,
        help="gen: regenerate gen/python, its OpenAPI document included (default); "
        "deps: materialize third_party/proto; check: what CI checks; "
        "release: update the released contract baseline",
    )
    args = parser.parse_args()
    ok = COMMANDS[args.command](Layout(find_root()))
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
