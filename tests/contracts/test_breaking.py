"""`buf breaking` guards the released contract: it rejects edits that would break deployed
clients and accepts additive ones. Each case edits a temporary copy of the checkout."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from shoptools.contracts import buf_cli
from shoptools.contracts.layout import Layout, find_root

PRODUCT = "shop/catalog/v1/product.proto"
CATALOG_SERVICE = "shop/catalog/v1/catalog_service.proto"


@pytest.fixture
def copy(tmp_path: Path) -> Layout:
    """A scratch checkout: buf.yaml, proto/ (with the released image) and nothing else."""
    root = find_root()
    shutil.copy(root / "buf.yaml", tmp_path / "buf.yaml")
    shutil.copytree(root / "proto", tmp_path / "proto")
    return Layout(tmp_path)


def edit(layout: Layout, name: str, old: str, new: str) -> None:
    path = layout.proto / name
    source = path.read_text()
    assert old in source, f"{name} no longer contains {old!r}: update this test"
    path.write_text(source.replace(old, new, 1))


def remove_field(layout: Layout) -> None:
    edit(layout, PRODUCT, "string description = 3", "reserved 3;\n  string unused_description = 30")


def change_field_type(layout: Layout) -> None:
    edit(layout, PRODUCT, "int32 weight_grams = 6", "int64 weight_grams = 6")


def rename_service(layout: Layout) -> None:
    edit(layout, CATALOG_SERVICE, "service CatalogService {", "service ProductService {")


def renumber_field(layout: Layout) -> None:
    edit(layout, PRODUCT, "string name = 2", "string name = 12")


def remove_enum_value(layout: Layout) -> None:
    edit(layout, "shop/catalog/v1/errors.proto", "ERROR_REASON_PRODUCT_NOT_FOUND = 1;", "")


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        (remove_field, 'Previously present field "3" with name "description"'),
        (change_field_type, 'changed type from "int32" to "int64"'),
        (rename_service, 'Previously present service "CatalogService"'),
        (renumber_field, 'Previously present field "2" with name "name"'),
        (remove_enum_value, 'Previously present enum value "1"'),
    ],
    ids=lambda case: case.__name__ if callable(case) else "",
)
def test_breaking_change_is_rejected(
    copy: Layout, change: Callable[[Layout], None], complaint: str
) -> None:
    assert buf_cli.breaking(copy, copy.released_image).returncode == 0, "baseline must pass"
    change(copy)
    result = buf_cli.breaking(copy, copy.released_image)
    assert result.returncode != 0
    assert complaint in result.stdout


def test_additive_change_is_accepted(copy: Layout) -> None:
    edit(
        copy,
        PRODUCT,
        "google.protobuf.Timestamp update_time = 9;",
        "google.protobuf.Timestamp update_time = 9;\n  // Brand shown next to the name.\n"
        "  string brand = 10;",
    )
    edit(
        copy,
        "shop/catalog/v1/errors.proto",
        "ERROR_REASON_PRODUCT_NOT_FOUND = 1;",
        "ERROR_REASON_PRODUCT_NOT_FOUND = 1;\n  ERROR_REASON_PRODUCT_RETIRED = 99;",
    )
    result = buf_cli.breaking(copy, copy.released_image)
    assert result.returncode == 0, result.stdout + result.stderr


def test_released_image_is_the_baseline_of_the_checkout() -> None:
    layout = Layout(find_root())
    result = buf_cli.breaking(layout, layout.released_image)
    assert result.returncode == 0, result.stdout + result.stderr
