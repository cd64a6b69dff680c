"""Generate gen/python/ from proto/: messages, gRPC stubs, type stubs, descriptor set.

Output is deterministic for pinned tool versions, so CI can regenerate into a temporary
directory and require it to equal what is committed.
"""

from __future__ import annotations

import filecmp
import importlib.resources
import shutil
import sys
import tempfile
from pathlib import Path

from google.protobuf import descriptor, descriptor_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_tools import protoc

from shoptools.contracts import openapi
from shoptools.contracts.layout import Layout
from shoptools.contracts.third_party import VALIDATE_PROTO, materialize

# Top-level packages under gen/python/ that codegen owns entirely.
GENERATED_PACKAGES = ("shop", "buf")
# Every contract and its imports in one FileDescriptorSet: the gateway's transcoder and
# anything else that needs the schema at run time read it from the installed package.
DESCRIPTOR_SET = "shop/contracts.binpb"
# The public REST API (every RPC with an HTTP binding) as OpenAPI 3.1: the gateway serves
# it, clients generate from it, Schemathesis fuzzes against it.
OPENAPI_DOCUMENT = "shop/openapi.json"


def _plugin(name: str) -> str:
    """A protoc plugin installed next to this interpreter (or on PATH)."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        raise RuntimeError(f"protoc plugin {name} is not installed (mypy-protobuf)")
    return f"--plugin={name}={found}"


def _protoc(layout: Layout, *args: str) -> None:
    builtin = importlib.resources.files("grpc_tools") / "_proto"
    argv = ["protoc", f"-I{layout.proto}", f"-I{layout.third_party}", f"-I{builtin}", *args]
    if protoc.main(argv) != 0:
        raise RuntimeError("protoc failed: " + " ".join(args))


def _files_with_services(descriptor_set: Path, names: list[str]) -> list[str]:
    files = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set.read_bytes()).file
    return [f.name for f in files if f.name in names and f.service]


def _mark_packages(out: Path) -> None:
    """Make every generated directory a regular, typed package (protoc writes neither)."""
    for top in GENERATED_PACKAGES:
        (out / top / "py.typed").touch()
        for directory in [out / top, *(d for d in (out / top).rglob("*") if d.is_dir())]:
            (directory / "__init__.py").touch()


def generate_into(layout: Layout, out: Path) -> None:
    """Write the complete generated tree for the current contracts into `out`."""
    materialize(layout)
    names = [p.as_posix() for p in layout.contract_files()] + [VALIDATE_PROTO]
    descriptor_set = out / DESCRIPTOR_SET
    descriptor_set.parent.mkdir(parents=True, exist_ok=True)
    _protoc(layout, "--include_imports", f"--descriptor_set_out={descriptor_set}", *names)
    _protoc(
        layout,
        _plugin("protoc-gen-mypy"),
        f"--python_out={out}",
        f"--mypy_out=quiet:{out}",
        *names,
    )
    _protoc(
        layout,
        _plugin("protoc-gen-mypy_grpc"),
        f"--grpc_python_out={out}",
        f"--mypy_grpc_out=quiet:{out}",
        *_files_with_services(descriptor_set, names),
    )
    _mark_packages(out)
    _write_openapi(layout, names, out / OPENAPI_DOCUMENT)


def _write_openapi(layout: Layout, names: list[str], path: Path) -> None:
    """The OpenAPI document, from the contracts compiled once more with their comments
    (source info) and with the error types the gateway prints (google.rpc)."""
    with tempfile.TemporaryDirectory() as tmp:
        with_comments = Path(tmp) / "with_comments.binpb"
        _protoc(
            layout,
            "--include_imports",
            "--include_source_info",
            f"--descriptor_set_out={with_comments}",
            *names,
        )
        files = descriptor_pb2.FileDescriptorSet.FromString(with_comments.read_bytes())
    known = {f.name for f in files.file}

    def add(file: descriptor.FileDescriptor) -> None:
        if file.name not in known:
            for dependency in file.dependencies:
                add(dependency)
            file.CopyToProto(files.file.add())
            known.add(file.name)

    add(status_pb2.DESCRIPTOR)
    add(error_details_pb2.DESCRIPTOR)
    document = openapi.build_document(files.SerializeToString())
    path.write_text(openapi.render(document))


def _generated_files(tree: Path) -> set[str]:
    return {
        p.relative_to(tree).as_posix()
        for top in GENERATED_PACKAGES
        for p in (tree / top).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }


def stale_files(layout: Layout) -> list[str]:
    """Generated files that differ from, are missing in, or are extra in gen/python/."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp)
        generate_into(layout, fresh)
        want, have = _generated_files(fresh), _generated_files(layout.gen_python)
        differ = {
            name
            for name in want & have
            if not filecmp.cmp(fresh / name, layout.gen_python / name, shallow=False)
        }
        return sorted(differ | (want ^ have))


def regenerate(layout: Layout) -> None:
    """Replace the generated packages in gen/python/ with a fresh generation."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp)
        generate_into(layout, fresh)
        for top in GENERATED_PACKAGES:
            shutil.rmtree(layout.gen_python / top, ignore_errors=True)
            shutil.copytree(fresh / top, layout.gen_python / top)
