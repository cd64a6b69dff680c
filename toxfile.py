"""Tox environments for every package of the checkout, discovered instead of listed by hand.

tox loads this file as an inline plugin. A service is a directory `services/<name>/` with a
`pyproject.toml` (a library: `libs/<name>/`); adding one gives it, with no edit to tox.ini:

- an environment named after it, running its integration tests (`services/<name>/tests/
  integration`, against a real Postgres);
- its pure tests (`tests/unit`) in the `unit` environment;
- a mypy --strict run of its sources and tests in `lint`;
- an editable install in every environment.

tox.ini keeps what is not discovered: the fixed environments and their descriptions.
"""

from __future__ import annotations

import configparser
from pathlib import Path

from tox.config.loader.memory import MemoryLoader
from tox.config.sets import ConfigSet, EnvConfigSet
from tox.config.types import Command, EnvList
from tox.plugin import impl
from tox.session.state import State

ROOT = Path(__file__).resolve().parent


def packages(kind: str) -> list[str]:
    """The packages under `kind`/ ("services" or "libs"), by directory name."""
    return sorted(p.parent.name for p in (ROOT / kind).glob("*/pyproject.toml"))


def services() -> list[str]:
    return packages("services")


def local_packages() -> list[str]:
    """Every package of the checkout, as paths relative to the root, installed editable."""
    found = ["gen/python", "tools", "web"]
    found += [f"libs/{name}" for name in packages("libs")]
    return found + [f"services/{name}" for name in services()]


@impl
def tox_add_core_config(core_conf: ConfigSet, state: State) -> None:
    """tox.ini's env_list with a service's environment after the chassis' (the order
    `scripts/test` runs them in)."""
    ini = configparser.ConfigParser(interpolation=None)
    ini.read(ROOT / "tox.ini")
    configured = [e.strip() for e in ini["tox"]["env_list"].split(",") if e.strip()]
    at = configured.index("chassis") + 1 if "chassis" in configured else len(configured)
    envs = [*configured[:at], *services(), *configured[at:]]
    core_conf.loaders.insert(0, MemoryLoader(env_list=EnvList(envs)))


@impl
def tox_add_env_config(env_conf: EnvConfigSet, state: State) -> None:
    name = env_conf.name
    posargs = list(state.conf.pos_args(None) or ())
    settings: dict[str, object] = {
        "deps": ["-r requirements/dev.in", *(f"-e {path}" for path in local_packages())]
    }
    if name in services():
        settings["description"] = f"the {name} service's integration tests, against a real Postgres"
        settings["commands"] = [pytest(f"services/{name}/tests/integration", posargs)]
    elif name == "unit":
        settings["commands"] = [
            pytest("tools/tests", posargs, *PROCESS_TESTS_OF_TOOLS),
            pytest("web/tests", posargs),
            *(pytest(f"services/{s}/tests/unit", posargs) for s in with_unit_tests()),
        ]
    elif name == "pact":
        settings["commands"] = [
            *(pytest(f"services/{s}/tests/contract", posargs) for s in with_contract_tests()),
            pytest("tools/tests/rest_pacts", posargs),
            pytest("tests/pact", posargs),
        ]
    elif name == "lint":
        settings["commands"] = [*LINT_EVERYTHING, *(mypy_package(p) for p in checked_packages())]
    env_conf.loaders.insert(0, MemoryLoader(**settings))


# tools/tests holds pure tests and, in these folders and files, tests that run processes
# (the stack and mesh environments run those).
PROCESS_TESTS_OF_TOOLS = (
    "--ignore=tools/tests/stack",
    "--ignore=tools/tests/mesh/test_sidecar_traffic.py",
    "--ignore=tools/tests/mesh/test_gateway_traffic.py",
    "--ignore=tools/tests/test_web.py",  # npm; the contracts environment runs it
    "--ignore=tools/tests/rest_pacts",  # the pact environment runs them
)
LINT_EVERYTHING = [
    Command(["ruff", "check", "."]),
    Command(["ruff", "format", "--check", "."]),
    Command(["mypy"]),  # tools/src, tools/tests, tests (pyproject.toml)
]


def with_unit_tests() -> list[str]:
    return [s for s in services() if (ROOT / "services" / s / "tests" / "unit").is_dir()]


def with_contract_tests() -> list[str]:
    return [s for s in services() if (ROOT / "services" / s / "tests" / "contract").is_dir()]


def checked_packages() -> list[str]:
    """Libraries, services and the web front end, each type-checked in its own mypy run:
    their tests import helper modules and conftest by plain name, so they cannot share one."""
    return [p for p in local_packages() if p.startswith(("libs/", "services/", "web"))]


def pytest(path: str, posargs: list[str], *options: str) -> Command:
    return Command(["pytest", path, *options, *posargs])


def mypy_package(path: str) -> Command:
    # The package's src and tests are module roots of their own (MYPYPATH), beside the
    # repository-wide mypy_path of pyproject.toml.
    return Command(
        ["env", f"MYPYPATH={path}/src:{path}/tests", "mypy", f"{path}/src", f"{path}/tests"]
    )
