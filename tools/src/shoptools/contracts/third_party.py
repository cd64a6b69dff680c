"""Materialize the third-party .proto files our contracts import, from installed packages.

We never commit third-party sources: `google/api/*` and `google/rpc/*` come from the
googleapis-common-protos wheel, `buf/validate/validate.proto` is printed back from the
descriptor embedded in the protovalidate wheel, and `google/protobuf/*` is built into both
buf and protoc. The result is a plain directory buf and protoc read like any other.
"""

from __future__ import annotations

import functools
import importlib.util
import re
import subprocess
import tempfile
from pathlib import Path

from shoptools.contracts.layout import Layout, buf_binary
from shoptools.contracts.proto_printer import embedded_validate_descriptor, render_proto

VALIDATE_PROTO = "buf/validate/validate.proto"
_BUILTIN_PREFIX = "google/protobuf/"
_IMPORT = re.compile(r'^\s*import\s+(?:public\s+|weak\s+)?"([^"]+)"\s*;', re.MULTILINE)


def googleapis_root() -> Path:
    """The site-packages directory holding googleapis-common-protos' google/api sources."""
    spec = importlib.util.find_spec("google.api.annotations_pb2")
    if spec is None or spec.origin is None:
        raise RuntimeError("googleapis-common-protos is not installed")
    return Path(spec.origin).parents[2]


def imports_of(source: str) -> list[str]:
    return _IMPORT.findall(source)


def third_party_sources(layout: Layout) -> dict[str, str]:
    """Every third-party file reachable from our contracts' imports, by import path."""
    googleapis = googleapis_root()
    found: dict[str, str] = {}
    pending = [
        imported
        for path in layout.contract_files()
        for imported in imports_of((layout.proto / path).read_text())
    ]
    while pending:
        name = pending.pop()
        if name in found or name.startswith(_BUILTIN_PREFIX) or (layout.proto / name).exists():
            continue
        if name == VALIDATE_PROTO:
            source = buf_formatted(
                render_proto(embedded_validate_descriptor(), origin="protovalidate")
            )
        elif (googleapis / name).is_file():
            source = (googleapis / name).read_text()
        else:
            raise RuntimeError(f"import {name!r} is neither ours nor in an installed package")
        found[name] = source
        pending.extend(imports_of(source))
    return found


def materialize(layout: Layout) -> list[str]:
    """Write third_party/proto/ to hold exactly what the contracts import; return its files."""
    sources = third_party_sources(layout)
    target = layout.third_party
    for stale in target.rglob("*.proto") if target.exists() else []:
        if stale.relative_to(target).as_posix() not in sources:
            stale.unlink()
    for name, source in sources.items():
        path = target / name
        path.parent.mkdir(parents=True, exist_ok=True)
        # Rewrite only on change, so buf and editors see stable files.
        if not path.exists() or path.read_text() != source:
            path.write_text(source)
    return sorted(sources)


@functools.cache
def buf_formatted(source: str) -> str:
    """`source` as `buf format` writes it, so a plain `buf format -d --exit-code` over the
    whole workspace (third_party/proto included) finds nothing to change."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "printed.proto"
        path.write_text(source)
        result = subprocess.run(
            [buf_binary(), "format", str(path)], capture_output=True, text=True, check=False
        )
    if result.returncode != 0:
        raise RuntimeError(f"buf format refused the printed proto:\n{result.stderr}")
    return result.stdout
