"""The npm packages Shopmesh vendors (tools/web/): Swagger UI for the API reference page
the gateway serves, @redocly/cli to lint the OpenAPI document, and axe-core, which the
browser tests inject into the web pages to check their accessibility.

Pinned by tools/web/package.json and package-lock.json (committed); installed with
`npm ci` into tools/web/node_modules/ (git-ignored) on first use and again whenever the
lock file changes, never fetched from a CDN at run time.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

WEB_DIR = Path(__file__).resolve().parents[2] / "web"
NODE_MODULES = WEB_DIR / "node_modules"
SWAGGER_UI = NODE_MODULES / "swagger-ui-dist"
REFERENCE_PAGE = WEB_DIR / "reference.html"


def ensure_installed(web_dir: Path = WEB_DIR) -> None:
    """`npm ci` unless node_modules/ already holds exactly the locked packages. Safe to call
    from several processes at once (stacks of parallel tests): one installs, the rest wait."""
    stamp = web_dir / "node_modules" / ".shopmesh-lock-sha256"
    with open(web_dir / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        digest = hashlib.sha256((web_dir / "package-lock.json").read_bytes()).hexdigest()
        if stamp.is_file() and stamp.read_text() == digest:
            return
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError("npm is not installed (apt-get install npm): tools/web needs it")
        result = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
            cwd=web_dir,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"npm ci in {web_dir} failed:\n{result.stdout}{result.stderr}")
        stamp.write_text(digest)


def redocly() -> Path:
    """The @redocly/cli entry point (run it with node)."""
    return NODE_MODULES / "@redocly" / "cli" / "bin" / "cli.js"


def axe_core() -> Path:
    """axe-core's browser bundle (axe.min.js), installed first if it is not yet."""
    ensure_installed()
    return NODE_MODULES / "axe-core" / "axe.min.js"


def lint_openapi(document: Path) -> subprocess.CompletedProcess[str]:
    """`redocly lint` of an OpenAPI document with tools/web/redocly.yaml (the rules we
    switched off, each with its reason), offline: no telemetry, no update check."""
    ensure_installed()
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is not installed (apt-get install nodejs)")
    return subprocess.run(
        [node, str(redocly()), "lint", str(document), f"--config={WEB_DIR / 'redocly.yaml'}"],
        capture_output=True,
        text=True,
        env={**os.environ, "REDOCLY_TELEMETRY": "off", "REDOCLY_SUPPRESS_UPDATE_NOTICE": "true"},
        check=False,
    )
