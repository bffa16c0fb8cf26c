"""Shared helpers: build graphs from spec text, analyse them, run the CLI."""

from __future__ import annotations

import json
import lzma
import os
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cnncost.pipeline import analyze
from cnncost.cli import app
from cnncost.frontends.library import load_model
from cnncost.frontends.yamlspec import graph_from_text, spec_from_text

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
RECORDED = ROOT / "tests" / "data" / "onnx"  # recorded torchvision exports, xz-compressed


def build(text: str, **overrides):
    """A graph from (dedented) spec text."""
    return graph_from_text(textwrap.dedent(text).lstrip("\n"), overrides)


def build_model(text: str, variant: str | None = None, **overrides):
    """A model (the graph with the spec's variables, variant, ...) from (dedented) spec text."""
    return spec_from_text(textwrap.dedent(text).lstrip("\n"), overrides, variant=variant)


def analysis(text: str, *, fuse: str = "none", dtype: str = "fp32", depth: int = 1,
             **overrides):
    return analyze(build(text, **overrides), fuse=fuse, dtype=dtype, depth=depth)


def analyze_ref(ref: str, *, fuse: str = "none", dtype: str = "fp32", depth: int = 1):
    """Analyse a bundled spec or file by reference: ``"shufflenet_v2@1.5x"``,
    ``"mobilenet_v1@alpha=0.5,resolution=160"``."""
    return analyze(load_model(ref), fuse=fuse, dtype=dtype, depth=depth)


def layer_costs(a) -> dict:
    """Cost of each layer by name (the input node left out)."""
    return {node.name: a.costs[i] for i, node in enumerate(a.graph.nodes) if i}


TERMINAL = {"COLUMNS": "80", "NO_COLOR": "", "FORCE_COLOR": ""}


def cli(*args: str, env: dict[str, str] | None = None):
    """Run the CLI in-process; stdout and stderr are kept apart. Tables are drawn for an
    80-column terminal without colour unless ``env`` says otherwise."""
    return CliRunner().invoke(app, list(args), env={**TERMINAL, **(env or {})})


def cli_json(*args: str) -> dict:
    result = cli(*args, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture
def write_spec(tmp_path):
    """Write spec text to a file and return its path as a string."""
    def write(text: str, name: str = "spec.yaml") -> str:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip("\n"))
        return str(path)
    return write


# -- the recorded ONNX exports, decompressed once per session --------------------------------

def unpack(packed: Path, target: Path, piece: int = 4096) -> None:
    """Decompress the xz file ``packed`` to ``target`` a piece at a time, leaving each piece of
    zero bytes a hole: the recorded exports' weights are zeros, so the 528 MB VGG-16 file takes
    about 100 kB of disk, and no model sits whole in memory while it is unpacked."""
    decompressor = lzma.LZMADecompressor()
    data = packed.read_bytes()  # at most ~100 kB compressed
    with target.open("wb") as out:
        while not decompressor.eof:
            chunk = decompressor.decompress(data, max_length=piece)
            data = b""
            if not chunk and decompressor.needs_input:
                raise EOFError(f"{packed} ends before its xz stream does")
            if chunk.count(0) == len(chunk):
                out.seek(len(chunk), os.SEEK_CUR)
            else:
                out.write(chunk)
        out.truncate()  # a file that ends in a hole gets its full size


class RecordedExports:
    """The folder of the recorded exports: ``exports / "resnet18.dynamo.static.onnx"`` is the
    path of that model, decompressed the first time a test asks for it, with the external data
    file beside it where it has one."""

    def __init__(self, folder: Path):
        self.folder = folder

    def __truediv__(self, name: str) -> Path:
        for file in (name, f"{name}.data"):
            packed, target = RECORDED / f"{file}.xz", self.folder / file
            if packed.is_file() and not target.exists():
                unpack(packed, target)
        return self.folder / name


@pytest.fixture(scope="session")
def exports(tmp_path_factory) -> RecordedExports:
    """The recorded torchvision exports (tests/data/onnx), each decompressed at most once per
    session, and only when a test asks for it."""
    return RecordedExports(tmp_path_factory.mktemp("onnx"))
