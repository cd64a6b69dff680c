"""Every command of the READMEs works as written.

The commands are read from the READMEs' ```sh blocks when the test runs (readme.py) and run
in order, as a newcomer following README.md would: `scripts/up`, calls, `shop` commands,
the reshaped stack the chaos examples ask for, `shop down`, the buf commands. The stack is
this module's own: the README changes its shape, which the other system tests' stack must
keep. A command the guard cannot run says why in NOT_RUN.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shoptools.stack.postgres import Postgres
from shoptools.topology import Topology

from .harness import ROOT, shop
from .readme import Command, as_run_here, commands, stack_environment

READMES = [ROOT / "README.md", ROOT / "proto" / "README.md", ROOT / "mesh" / "README.md"]
# A command (its program, and for scripts/gen its subcommand) -> why the guard does not run it.
NOT_RUN = {
    "scripts/test": "it runs the suite this test is part of",
    "git": "it changes the repository",
    "scripts/gen": "it rewrites gen/python (the contracts env checks that it is fresh)",
    "scripts/gen release": "it rewrites the released baseline",
}
# bash as a person's shell, except that curl fails on an HTTP error status (4xx, 5xx),
# which a person sees in the answer but `curl -s` does not report.
PRELUDE = 'set -euo pipefail\ncurl() { command curl --fail-with-body "$@"; }\n'
COMMAND_TIMEOUT_S = 300.0
FOLLOW_OUTPUT_WAIT_S = 30.0


def not_run_because(command: Command) -> str | None:
    words = shlex.split(command.text, comments=True)
    program = " ".join(words[:2]) if words[0] == "scripts/gen" else words[0]
    return NOT_RUN.get(program)


@pytest.fixture(scope="module")
def topology() -> Iterator[Topology]:
    # Ports free for the largest shape the README asks for (two catalog instances).
    state_dir = Path(tempfile.mkdtemp(prefix="shop-readme-"))
    topology = Topology(state_dir=state_dir, services={"catalog": 2}).with_free_ports()
    try:
        yield topology
    finally:
        shop(topology, "down")
        Postgres(topology).stop()
        shutil.rmtree(state_dir, ignore_errors=True)


def test_the_readmes_have_commands_and_every_exception_is_still_needed() -> None:
    found = [c for readme in READMES for c in commands(readme)]
    texts = " ".join(c.text for c in found)
    assert "scripts/up" in texts
    assert "shop status" in texts
    skipped = {not_run_because(c) for c in found} - {None}
    assert skipped == set(NOT_RUN.values())


def test_every_readme_command_works_as_written(topology: Topology) -> None:
    ran = 0
    for readme in READMES:
        for command in commands(readme):
            if not_run_because(command) is not None:
                continue
            run(command, topology)
            ran += 1
    assert ran >= 15


def run(command: Command, topology: Topology) -> None:
    script = PRELUDE + as_run_here(command.text, topology, ROOT)
    words = shlex.split(command.text, comments=True)
    if "logs" in words and ("-f" in words or "--follow" in words):
        follow(command, script, topology)
        return
    result = subprocess.run(
        ["bash", "-c", script],
        cwd=ROOT,
        env=stack_environment(topology),
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, (
        f"{command}\nexit {result.returncode}\n{result.stdout}\n{result.stderr}"
    )


def follow(command: Command, script: str, topology: Topology) -> None:
    """A command that follows a log runs until it shows a line, then is stopped (Ctrl-C)."""
    with subprocess.Popen(
        ["bash", "-c", script],
        cwd=ROOT,
        env=stack_environment(topology),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stdout is not None
        deadline = time.monotonic() + FOLLOW_OUTPUT_WAIT_S
        line = process.stdout.readline()
        process.terminate()
        _, errors = process.communicate(timeout=30)
        assert line.strip(), f"{command}\nprinted nothing\n{errors}"
        assert time.monotonic() < deadline, f"{command}\nno line within {FOLLOW_OUTPUT_WAIT_S} s"
