"""The buf checks CI runs on the contracts: lint, format, and breaking-change detection."""

from __future__ import annotations

import subprocess
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

from shoptools.contracts.layout import Layout, buf_binary
from shoptools.contracts.third_party import materialize


def buf(layout: Layout, *args: str) -> subprocess.CompletedProcess[str]:
    """Run buf in the checkout; the caller decides what a non-zero exit means."""
    return subprocess.run(
        [buf_binary(), *args], cwd=layout.root, capture_output=True, text=True, check=False
    )


def build_image(layout: Layout, out: Path) -> subprocess.CompletedProcess[str]:
    """Our contracts, with the imports they need to be read back, as a buf image."""
    materialize(layout)
    return buf(layout, "build", "proto", "--exclude-source-info", "-o", str(out))


def breaking(layout: Layout, against: Path) -> subprocess.CompletedProcess[str]:
    materialize(layout)
    return buf(layout, "breaking", "proto", "--against", str(against))


def image_at_commit(layout: Layout, ref: str, out: Path) -> bool:
    """Build the contracts as they were at `ref`; False when that commit has none."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", ref, "buf.yaml", "proto"],
        cwd=layout.root,
        capture_output=True,
        check=False,
    )
    if archive.returncode != 0:
        return False
    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
            tar.extractall(tmp, filter="data")
        built = build_image(Layout(Path(tmp)), out)
    if built.returncode != 0:
        raise RuntimeError(f"contracts at {ref} do not build:\n{built.stderr}")
    return True
