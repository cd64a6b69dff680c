"""tools/web's npm packages: installed from the committed lock file, again only when it
changes (shoptools.web.ensure_installed; npm from the system, the npm registry)."""

from __future__ import annotations

import shutil
from pathlib import Path

from shoptools import web


def test_the_packages_are_installed_from_the_lock_and_again_only_when_it_changes(
    tmp_path: Path,
) -> None:
    for name in ("package.json", "package-lock.json"):
        shutil.copy(web.WEB_DIR / name, tmp_path / name)
    bundle = tmp_path / "node_modules" / "swagger-ui-dist" / "swagger-ui-bundle.js"

    web.ensure_installed(tmp_path)
    assert bundle.is_file()
    assert (tmp_path / "node_modules" / "axe-core" / "axe.min.js").is_file()

    bundle.unlink()
    web.ensure_installed(tmp_path)
    assert not bundle.exists(), "the same lock file installed again"

    lock = tmp_path / "package-lock.json"
    lock.write_text(lock.read_text() + "\n")
    web.ensure_installed(tmp_path)
    assert bundle.is_file(), "a changed lock file was not installed"


def test_axe_core_is_the_browser_bundle() -> None:
    bundle = web.axe_core()
    assert bundle.name == "axe.min.js"
    assert bundle.read_text().startswith("/*! axe v4.")
