"""The commands of the READMEs, read from their ```sh blocks, and how to run them against
a test's stack instead of the default one.

A README shows commands for the default stack (base port 8080, state in .state, tools in
.venv/bin). The test's stack has its own base port and state directory, and the tools are
those of the Python running the tests: `as_run_here` rewrites exactly those three things,
and `stack_environment` points every `shop` at the test's stack (SHOP_STATE_DIR,
SHOP_BASE_PORT), as a person with a second stack would.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from shoptools.topology import DEFAULT_BASE_PORT, Topology

FENCE = re.compile(r"^```(\w*)\s*$")
LOOPBACK_PORT = re.compile(r"127\.0\.0\.1:(\d+)")
STACK_PORTS = range(DEFAULT_BASE_PORT, DEFAULT_BASE_PORT + 600)  # Topology: base + 0..599


@dataclass(frozen=True)
class Command:
    readme: str
    line: int  # where it starts, 1-based
    text: str  # as written, continuation lines included

    def __str__(self) -> str:
        return f"{self.readme}:{self.line}: {self.text}"


def commands(readme: Path) -> list[Command]:
    """Every command of the README's ```sh blocks, in order. A command spans lines while a
    line ends with a backslash or a quote is still open."""
    found: list[Command] = []
    in_sh = False
    pending: list[str] = []
    start = 0
    for number, line in enumerate(readme.read_text().splitlines(), start=1):
        fence = FENCE.match(line)
        if fence:
            in_sh = not in_sh and fence.group(1) == "sh"
            continue
        if not in_sh or (not pending and not line.strip()):
            continue
        if not pending:
            start = number
        pending.append(line)
        text = "\n".join(pending)
        if not line.endswith("\\") and _complete(text):
            found.append(Command(readme.name, start, text))
            pending = []
    return found


def _complete(text: str) -> bool:
    try:
        shlex.split(text, comments=True)
    except ValueError:  # an open quote: the command goes on
        return False
    return True


def as_run_here(command: str, topology: Topology, root: Path) -> str:
    """`command` against `topology`'s stack: its ports, its state directory, this Python's
    tools."""
    offset = topology.base_port - DEFAULT_BASE_PORT

    def moved(match: re.Match[str]) -> str:
        port = int(match.group(1))
        return f"127.0.0.1:{port + offset if port in STACK_PORTS else port}"

    command = LOOPBACK_PORT.sub(moved, command)
    command = re.sub(r"(?<![\w/])\.venv/bin/", f"{Path(sys.executable).parent}/", command)
    return re.sub(r"(?<![\w/])\.state\b", str(topology.state_dir), command)


def stack_environment(topology: Topology) -> dict[str, str]:
    return {
        **os.environ,
        "SHOP_STATE_DIR": str(topology.state_dir),
        "SHOP_BASE_PORT": str(topology.base_port),
    }
