"""gen/python/ is exactly what scripts/gen makes from proto/, and CI notices when it is not."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from shoptools.contracts import codegen
from shoptools.contracts.layout import Layout, find_root


@pytest.fixture
def copy(tmp_path: Path) -> Layout:
    root = find_root()
    shutil.copy(root / "buf.yaml", tmp_path / "buf.yaml")
    shutil.copytree(root / "proto", tmp_path / "proto")
    shutil.copytree(root / "gen", tmp_path / "gen", ignore=shutil.ignore_patterns("__pycache__"))
    return Layout(tmp_path)


def test_committed_generation_is_fresh(copy: Layout) -> None:
    assert codegen.stale_files(copy) == []


def test_a_contract_edit_without_regeneration_is_stale(copy: Layout) -> None:
    product = copy.proto / "shop/catalog/v1/product.proto"
    product.write_text(product.read_text().replace("// Display name.", "// The display name."))
    stale = codegen.stale_files(copy)
    assert "shop/catalog/v1/product_pb2.pyi" in stale
    assert "shop/contracts.binpb" not in stale, "comments are not in the descriptor set"


def test_a_hand_edit_or_a_leftover_file_is_stale(copy: Layout) -> None:
    stub = copy.gen_python / "shop/orders/v1/order_pb2.py"
    stub.write_text(stub.read_text() + "\n# edited by hand\n")
    (copy.gen_python / "shop/orders/v1/old_pb2.py").write_text("")
    assert codegen.stale_files(copy) == [
        "shop/orders/v1/old_pb2.py",
        "shop/orders/v1/order_pb2.py",
    ]


def test_no_third_party_proto_source_is_committed() -> None:
    tracked = subprocess.run(
        ["git", "ls-files", "*.proto"], cwd=find_root(), capture_output=True, text=True, check=True
    ).stdout.split()
    assert tracked, "git sees no contracts at all"
    assert all(path.startswith("proto/shop/") for path in tracked), tracked
