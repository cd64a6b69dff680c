"""third_party/proto holds exactly the transitive closure of our imports, from the wheels."""

from __future__ import annotations

from pathlib import Path

import pytest

from shoptools.contracts.layout import Layout
from shoptools.contracts.third_party import materialize


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_materializes_the_import_closure_and_nothing_else(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    write(
        layout.proto / "shop/x/v1/x.proto",
        'syntax = "proto3";\nimport "google/api/annotations.proto";\n'
        'import "buf/validate/validate.proto";\nimport "google/protobuf/empty.proto";\n',
    )
    write(layout.third_party / "google/type/money.proto", "left over from an older contract")

    files = materialize(layout)

    # annotations.proto imports http.proto; google/protobuf/* is built into buf and protoc.
    assert files == [
        "buf/validate/validate.proto",
        "google/api/annotations.proto",
        "google/api/http.proto",
    ]
    on_disk = sorted(
        p.relative_to(layout.third_party).as_posix() for p in layout.third_party.rglob("*.proto")
    )
    assert on_disk == files
    assert (
        "package buf.validate;" in (layout.third_party / "buf/validate/validate.proto").read_text()
    )


def test_an_import_nobody_provides_is_an_error(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    write(layout.proto / "shop/x/v1/x.proto", 'import "acme/nowhere.proto";\n')
    with pytest.raises(RuntimeError, match=r"acme/nowhere\.proto"):
        materialize(layout)
