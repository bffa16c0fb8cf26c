"""The analyze command in every format, as a program would read it and as people would."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from typing import Any

import pytest

from conftest import ROOT, SPECS, cli, cli_json

SPEC = str(SPECS / "mobilenet_v1.yaml")


def run_ok(*args: str) -> str:
    result = cli(*args)
    assert result.exit_code == 0, result.stderr
    return result.stdout


def test_json_has_the_documented_keys():
    doc = cli_json("analyze", SPEC)
    for key in ("params", "weights", "mult_adds", "flops", "mem_access", "elementwise_ops",
                "peak_activation_bytes"):
        assert isinstance(doc["totals"][key], int), key
    assert doc["convention"]["fuse"] == "none" and doc["convention"]["dtype"] == "fp32"
    first = doc["layers"][0]
    for key in ("name", "op", "out_shape", "params", "weights", "mult_adds", "mem_access"):
        assert key in first, key
    assert first["name"] == "Conv2d_0.conv" and first["out_shape"] == [1, 32, 112, 112]
    assert doc["totals"]["flops"] == 2 * doc["totals"]["mult_adds"]


def test_json_states_dtype_and_bytes():
    doc = cli_json("analyze", SPEC, "--dtype", "fp16")
    totals = doc["totals"]
    assert doc["convention"]["bytes_per_element"] == 2
    assert totals["peak_activation_bytes"] == 2 * totals["peak_activation_elements"]
    assert totals["mem_access_bytes"] == 2 * totals["mem_access"]


def test_fuse_changes_mem_access_not_mult_adds():
    none = cli_json("analyze", SPEC)["totals"]
    fused = cli_json("analyze", SPEC, "--fuse", "bn-act")["totals"]
    assert fused["mult_adds"] == none["mult_adds"]
    assert fused["mem_access"] < none["mem_access"]
    # 27 conv+BN+ReLU6 groups become 27 kernels; the pool and the classifier stay
    assert (none["kernels"], fused["kernels"]) == (83, 29)


def test_set_variables_from_the_command_line():
    doc = cli_json("analyze", SPEC, "--set", "alpha=0.5", "--set", "resolution=160")
    assert doc["variables"]["alpha"] == 0.5 and doc["input_shape"] == [1, 3, 160, 160]


def test_table_spells_out_the_metrics():
    out = run_ok("analyze", SPEC, "--layers")
    assert "mult-adds (multiply-accumulates" in out
    assert "mem_access (memory access cost" in out
    assert "568,740,352" in out  # exact counts, grouped
    # at 80 columns a layer's name is nested under its block; wider, it is written whole
    assert "\nConv2d_13\n  depthwise.conv " in out and "\n  pointwise.conv " in out
    wide = cli("analyze", SPEC, "--layers", env={"COLUMNS": "200"}).stdout
    assert "\nConv2d_13.pointwise.conv " in wide


def test_by_op_and_by_block_tables():
    out = run_ok("analyze", SPEC, "--by", "op")
    assert "conv2d depthwise 3x3" in out and "94.86%" in out
    out = run_ok("analyze", SPEC, "--by", "block")
    assert "Conv2d_13" in out and "Conv2d_13.pointwise" not in out
    out = run_ok("analyze", SPEC, "--by", "block", "--depth", "2")
    assert "Conv2d_13.pointwise" in out


def test_csv_layers_parse():
    out = run_ok("analyze", SPEC, "--layers", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 85
    assert rows[0]["name"] == "Conv2d_0.conv" and rows[0]["mult_adds"] == "10838016"
    assert rows[0]["out_shape"] == "1x32x112x112"


def test_csv_summary_and_by_op():
    rows = {r["metric"]: r["value"] for r in csv.DictReader(io.StringIO(
        run_ok("analyze", SPEC, "--format", "csv")))}
    assert rows["mult_adds"] == "568740352"
    by_op = list(csv.DictReader(io.StringIO(run_ok("analyze", SPEC, "--by", "op", "-f", "csv"))))
    assert {r["kind"] for r in by_op} >= {"conv2d 1x1", "conv2d depthwise 3x3", "linear"}


def test_csv_refuses_two_tables():
    result = cli("analyze", SPEC, "--layers", "--by", "op", "--format", "csv")
    assert result.exit_code == 2 and "choose --layers or --by" in result.stderr
    assert result.stdout == ""


def test_markdown():
    out = run_ok("analyze", SPEC, "--by", "op", "--format", "markdown")
    assert "### mobilenet_v1: by op type" in out
    assert "| conv2d 1x1 | 13 |" in out
    assert "| --- |" not in out and "|---|" in out


@pytest.mark.parametrize("args", [[], ["--layers"], ["--by", "op"], ["--by", "block"],
                                  ["-f", "json"], ["-f", "csv", "--layers"], ["-f", "markdown"]])
def test_never_a_bare_mac(args):
    out = run_ok("analyze", SPEC, *args)
    assert not re.search(r"\bmacs?\b", out, re.IGNORECASE)


def test_ops_lists_every_op():
    out = run_ok("ops", "--format", "json")
    ops = {row["op"] for row in json.loads(out)["ops"]}
    assert {"conv2d", "linear", "batchnorm", "relu", "hardswish", "add", "mul", "concat",
            "split", "slice", "channel_shuffle", "maxpool", "avgpool", "global_avgpool",
            "flatten", "dropout", "identity"} <= ops


def test_python_dash_m_and_console_script():
    result = subprocess.run([sys.executable, "-m", "cnncost", "analyze", SPEC, "-f", "json"],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["totals"]["mult_adds"] == 568_740_352


def test_errors_exit_2_from_a_real_process(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ninput: {shape: [3, 8, 8]}\nlayers:\n  - {op: conv2d_typo}\n")
    result = subprocess.run([sys.executable, "-m", "cnncost", "analyze", str(bad)],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stdout == ""
    assert "unknown op 'conv2d_typo'" in result.stderr and "Traceback" not in result.stderr


def test_version():
    from cnncost import __version__
    assert run_ok("--version").strip() == f"cnncost {__version__}"


# -- every list of choices is declared once, in cnncost.core.settings ----------------------

def cli_choices() -> dict[tuple[str, str], tuple[str, ...]]:
    """(command, option) -> the choices the command line offers, for every option with a
    fixed list of choices, in every command and subcommand."""
    import typer.main

    from cnncost.cli import app

    found = {}

    def walk(command: Any, path: str) -> None:  # a click Command (typer's own click)
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, f"{path} {name}".strip())
        for param in command.params:
            if hasattr(param.type, "choices"):  # a click Choice
                found[path, max(param.opts, key=len)] = tuple(param.type.choices)

    walk(typer.main.get_command(app), "")
    return found


def settings_list(command: str, option: str) -> tuple[str, ...]:
    from cnncost.core import settings

    if option == "--format":
        return tuple({"check": settings.CHECK_FORMATS, "sweep": settings.SWEEP_FORMATS}
                     .get(command, settings.OUTPUT_FORMATS))
    return tuple({"--dtype": settings.DTYPES, "--fuse": settings.FUSE_MODES,
                  "--convention": settings.CONVENTIONS, "--by": settings.ROLLUPS}[option])


def test_the_command_lines_choices_are_the_settings_lists():
    choices = cli_choices()
    for (command, option), offered in choices.items():
        assert offered == settings_list(command, option), (command, option)
    # not vacuous: --format in the 10 commands that print text (check and sweep with their
    # own lists), --dtype in 8, --fuse in 8, --convention in 2, --by in 1: 29 options
    by_option = {o: sorted(c for c, name in choices if name == o) for _, o in choices}
    assert by_option["--format"] == ["analyze", "check", "compare", "devices", "explain",
                                     "guidelines", "measure", "ops", "specs", "sweep"]
    assert by_option["--dtype"] == ["analyze", "check", "compare", "plot layers",
                                    "plot roofline", "plot scatter", "report", "sweep"]
    assert len(by_option["--fuse"]) == 8 and by_option["--convention"] == ["analyze", "explain"]
    assert by_option["--by"] == ["analyze"] and len(choices) == 10 + 8 + 8 + 2 + 1


def test_the_docs_list_the_settings_choices():
    """docs/cli.md's synopsis: each ``--option a|b|c`` is what that command offers."""
    from cnncost.core.settings import WEIGHTS

    choices = {**cli_choices(), ("export", "--weights"): WEIGHTS}
    synopsis = (ROOT / "docs" / "cli.md").read_text().split("```")[1]
    seen, command = [], ""
    for line in synopsis.splitlines():
        if line.startswith("cnncost "):
            command = " ".join(w for w in line.split()[1:3] if re.fullmatch("[a-z]+", w))
        for option, listed in re.findall(r"(--[a-z-]+) ([a-z0-9-]+(?:\|[a-z0-9-]+)+)", line):
            assert tuple(listed.split("|")) == choices[command, option], (command, option)
            seen.append((command, option))
    assert seen == [("analyze", "--format"), ("analyze", "--by"), ("analyze", "--dtype"),
                    ("analyze", "--fuse"), ("explain", "--convention"), ("check", "--format"),
                    ("export", "--weights"), ("sweep", "--format")]


def test_export_weights_are_the_settings_list(tmp_path):
    result = cli("export", SPEC, "-o", str(tmp_path / "m.onnx"), "--weights", "ones")
    assert result.exit_code == 2 and "--weights ones: random or zeros" in result.stderr
    assert not (tmp_path / "m.onnx").exists()


def test_a_command_names_only_declared_options():
    from cnncost.cli.options import command

    def made_up(o, spec: str) -> None:
        """nothing"""

    with pytest.raises(TypeError, match="not declared"):
        command("spec", "colour")(made_up)
    with pytest.raises(TypeError, match="leaves out"):
        command("format")(made_up)
    with pytest.raises(TypeError, match=r"\['output'\] \(not taken\)"):
        command("spec", "output")(made_up)
    assert command("spec", "format", "sets")(made_up).__signature__.parameters.keys() == {
        "spec", "format", "sets"}
