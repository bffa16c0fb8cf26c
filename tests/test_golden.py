"""Exact output of every format, at 80 and 160 columns: what people and programs see.

Each case's output is compared with tests/golden/NAME.txt, character for character. After an
intended change of the output, look at the diff, then rewrite the files with
    CNNCOST_UPDATE_GOLDEN=1 python -m pytest tests/test_golden.py
"""

from __future__ import annotations

import os

import pytest

from conftest import ROOT, cli

GOLDEN = ROOT / "tests" / "golden"

CASES = {
    "analyze": ["analyze", "mobilenet_v1"],
    "analyze-layers-fused": ["analyze", "mobilenet_v1@alpha=0.5,resolution=128", "--layers",
                             "--fuse", "bn-act"],
    "analyze-by-op": ["analyze", "mobilenet_v1", "--by", "op"],
    "analyze-by-block": ["analyze", "shufflenet_v2", "--by", "block", "--depth", "2"],
    "guidelines": ["guidelines", "mobilenet_v2", "--top", "3"],
    "compare": ["compare", "mobilenet_v1", "mobilenet_v2", "shufflenet_v2@1.5x",
                "--baseline", "mobilenet_v1", "--sort", "mult_adds"],
    "compare-many": ["compare", "mobilenet_v1", "mobilenet_v2", "mobilenet_v3_large",
                     "shufflenet_v2", "mnasnet", "efficientnet_b0"],
    "check": ["check", "docs/examples/my_net.yaml", "mobilenet_v2", "--budget",
              "docs/examples/budgets.yaml"],
    "specs": ["specs"],
}
FORMATS = {"table": ("80", "160"), "markdown": ("80",), "csv": ("80",), "json": ("80",)}
ONLY_TABLE = {"analyze-by-block", "compare-many", "specs"}


def cases():
    for name, args in CASES.items():
        for fmt, widths in FORMATS.items():
            if fmt != "table" and name in ONLY_TABLE:
                continue
            if (fmt, name) in (("csv", "analyze-layers-fused"), ("json", "analyze-by-op")):
                continue
            for width in widths:
                yield pytest.param(name, args, fmt, width, id=f"{name}-{fmt}-{width}")
    yield pytest.param("check", CASES["check"], "junit", "80", id="check-junit-80")


@pytest.mark.parametrize("name,args,fmt,width", list(cases()))
def test_output_is_exactly_as_recorded(name, args, fmt, width, monkeypatch):
    monkeypatch.chdir(ROOT)  # paths in the output are as given, relative to the repository
    result = cli(*args, "--format", fmt, env={"COLUMNS": width})
    assert result.exit_code in (0, 1), result.stderr
    suffix = {"json": "json", "csv": "csv", "markdown": "md", "junit": "xml"}.get(fmt, "txt")
    path = GOLDEN / f"{name}-{fmt}-{width}.{suffix}" if fmt == "table" else \
        GOLDEN / f"{name}.{suffix}"
    if os.environ.get("CNNCOST_UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(result.stdout)
    assert result.stdout == path.read_text(), f"{path.name} differs (see the module docstring)"
    if fmt == "table":
        assert max(len(line) for line in result.stdout.splitlines()) <= int(width)
