"""At the terminal and in files (issue 17): at 80 columns, the width of a piped CI log, tables
keep what a reader needs instead of falling back to records; check's limits are in their
figure's unit and say which are regressions; analyze -o writes whole; CSV lists are text,
JUnit messages sentences; `cnncost docs` lists only metrics under Metrics."""

from __future__ import annotations

import csv
import io
import json
import re
from xml.etree import ElementTree

import pytest

from conftest import ROOT, cli

NARROW = {"COLUMNS": "80"}


def lines_of(result) -> list[str]:
    assert result.exit_code in (0, 1), result.stderr
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    return lines


def row(lines: list[str], first: str) -> list[str]:
    """The cells of the first line that starts with ``first`` (cells are 2+ spaces apart)."""
    line = next(line for line in lines if line.strip().startswith(first))
    return re.split(r"\s{2,}", line.strip())


# -- check at 80 columns -----------------------------------------------------------------------

def test_check_of_every_spec_is_a_table_at_80_columns(monkeypatch):
    """docs/ci.md's example: every spec against the file's limits, a line a limit, not records
    of eight lines a limit (~200 lines)."""
    monkeypatch.chdir(ROOT)
    specs = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "specs").glob("*.yaml"))
    result = cli("check", *specs, "--budget", "docs/examples/budgets.yaml", env=NARROW)
    assert result.exit_code == 1  # alexnet, vgg16, ... are over 8M params
    lines = lines_of(result)
    assert lines[1].split()[:4] == ["model,", "metric", "value", "limit"]
    doc = json.loads(cli("check", *specs, "--budget", "docs/examples/budgets.yaml",
                         "-f", "json").stdout)
    # a line a limit (two for a failure, whose "over by" wraps), a heading and a blank line a
    # model, three of title and header, and at most ten of notes
    limits, failures, models = len(doc["results"]), doc["failures"], len(doc["models"])
    # 26 bundled specs; efficientnet_v2_s (21,458,488 params), convnext (tiny: 28,589,128),
    # swin (t: 28,288,354) and vit (b_16: 86,567,656) are over the 8M limit too (nasbench201,
    # 1,531,546 params, is within it)
    assert (limits, failures, models) == (30, 9, 26)
    assert len(lines) <= limits + failures + 2 * models + 3 + 10 < 8 * limits
    # alexnet: 61,100,840 params over 8,000,000 by 53,100,840 = 663.8% of the limit
    assert row(lines, "params")[:3] == ["params", "61,100,840", "8,000,000"]
    assert "FAIL +53,100,840" in lines[lines.index("specs/alexnet.yaml") + 1]


def test_regression_rows_say_they_are_regressions_in_the_figures_unit(tmp_path):
    baseline = tmp_path / "base.json"
    assert cli("analyze", "docs/examples/my_net.yaml", "-f", "json", "-o",
               str(baseline)).exit_code == 0
    result = cli("check", "docs/examples/my_net.yaml", "--against", str(baseline),
                 "--max-increase", "2%", env=NARROW)
    lines = lines_of(result)
    base = json.loads(baseline.read_text())["totals"]
    assert base["params"] == 304_296 and base["peak_activation_bytes"] == 3_276_800
    regressions = [line for line in lines if "(baseline+2%)" in line]
    assert len(regressions) == 4  # params, mult_adds, mem_access, peak_activation_bytes
    # params: floor(304,296 x 1.02) = 310,381, beside the value in the same unit
    assert row(regressions, "params")[:3] == ["params", "304,296", "310,381 (baseline+2%)"]
    # bytes: 3,276,800 B = 3.125 MiB (shown 3.12), x 1.02 = 3.1875 MiB (shown 3.19)
    assert row(regressions, "peak_activation_bytes")[1:3] == ["3.12 MiB",
                                                              "3.19 MiB (baseline+2%)"]
    # the budget rows show their limits the same way: 400K is 400,000, 4MiB is 4.00 MiB
    assert row(lines, "params")[2] == "400,000"
    assert row(lines, "peak_activation_bytes")[2] == "4.00 MiB"
    assert any(line.startswith("params: every trainable parameter (weights + biases")
               for line in lines)


# -- analyze --layers and specs at 80 columns --------------------------------------------------

def test_layers_at_80_columns_keep_shape_params_and_the_bound():
    result = cli("analyze", "mobilenet_v2", "--layers", "--device", "phone_soc", env=NARROW)
    lines = lines_of(result)
    table = lines[next(i for i, line in enumerate(lines) if line.endswith(": layers")):]
    assert table[1].split() == ["layer", "output", "shape", "params", "mem_access", "latency",
                                "bound"]
    # stem.conv: 3x3 conv, 3 -> 32 channels, stride 2: 3*3*3*32 = 864 params, 112x112 output
    stem = row(table, "stem.conv")
    assert stem[:3] == ["stem.conv", "1x32x112x112", "864"] and stem[-1] in ("compute",
                                                                           "memory")
    # deeper names sit under their block: stage2.block1.expand.conv is expand.conv there
    block = table.index("stage2.block1")
    assert table[block + 1].startswith("  expand.conv ")
    assert any("not shown at this width:" in line for line in table)


def test_layers_at_80_columns_without_a_device_keep_mult_adds():
    lines = lines_of(cli("analyze", "mobilenet_v2", "--layers", env=NARROW))
    header = next(line for line in lines if line.startswith("layer "))
    assert header.split() == ["layer", "output", "shape", "params", "mult-adds", "%",
                              "mem_access"]


def test_specs_at_80_columns_keep_their_descriptions():
    from cnncost.frontends.library import catalog

    result = cli("specs", env=NARROW)
    lines = lines_of(result)
    assert lines[1].split() == ["spec", "description", "variants"]
    text = " ".join(" ".join(lines).split())
    for entry in catalog():  # each description, wrapped, is there word for word
        first_words = " ".join(entry.description.split()[:2])
        assert first_words in text, entry.name


# -- analyze -o --------------------------------------------------------------------------------

def test_analyze_writes_its_output_whole_to_a_file(tmp_path):
    out = tmp_path / "base.json"
    result = cli("analyze", "mobilenet_v1", "-f", "json", "-o", str(out))
    assert result.exit_code == 0 and result.stdout == "" and f"wrote {out}" in result.stderr
    assert out.read_text() == cli("analyze", "mobilenet_v1", "-f", "json").stdout
    assert json.loads(out.read_text())["totals"]["mult_adds"] == 568_740_352
    # a failed analysis leaves the file as it was, and makes none
    result = cli("analyze", "nosuchnet", "-f", "json", "-o", str(out))
    assert result.exit_code == 2 and json.loads(out.read_text())["model"] == "mobilenet_v1"
    assert cli("analyze", "nosuchnet", "-o", str(tmp_path / "new.json")).exit_code == 2
    assert not (tmp_path / "new.json").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["base.json"]  # no temporary file left


def test_analyze_never_overwrites_its_spec(tmp_path):
    spec = tmp_path / "net.yaml"
    text = (ROOT / "docs" / "examples" / "my_net.yaml").read_text()
    spec.write_text(text)
    result = cli("analyze", str(spec), "-o", str(spec))
    assert result.exit_code == 2 and "never overwrites its input" in result.stderr
    assert spec.read_text() == text


# -- check in CSV and JUnit ----------------------------------------------------------------------

@pytest.fixture
def guideline_budget(tmp_path):
    path = tmp_path / "budget.yaml"
    path.write_text("models:\n  mobilenet_v2: {params: 3M, guidelines: [G1, G3]}\n")
    return str(path)


def test_check_csv_writes_lists_as_text(guideline_budget):
    result = cli("check", "mobilenet_v2", "--budget", guideline_budget, "-f", "csv")
    assert result.exit_code == 1
    rows = {r["metric"]: r for r in csv.DictReader(io.StringIO(result.stdout))}
    # mobilenet_v2 warns on G1 (and G4, not asked for): G1 is what breaks the G1, G3 limit
    assert rows["guidelines"]["value"] == "G1" and rows["guidelines"]["limit"] == "G1; G3"
    assert "['" not in result.stdout and "[]" not in result.stdout  # no Python repr


def test_junit_failures_read_as_sentences(guideline_budget):
    result = cli("check", "mobilenet_v2", "--budget", guideline_budget, "-f", "junit")
    assert result.exit_code == 1
    failures = {case.get("name"): case.find("failure")
                for case in ElementTree.fromstring(result.stdout).iter("testcase")}
    # 3,504,872 params over 3,000,000 by 504,872 = 16.8%
    assert failures["params <= 3M"].get("message") == (
        "mobilenet_v2: params is 3,504,872, over its limit of 3,000,000 by 504,872 (16.8%).")
    assert failures["guidelines G1, G3 pass"].get("message") == (
        "mobilenet_v2: G1 warns, and its budget requires G1, G3 to pass.")
    assert failures["params <= 3M"].text == f"The limit is written at {guideline_budget}:2."


# -- cnncost docs --------------------------------------------------------------------------------

def test_docs_lists_only_metrics_under_metrics():
    from cnncost.core.metrics import METRICS

    text = cli("docs").stdout
    sections = dict(part.split(":\n", 1) for part in text.strip().split("\n\n"))
    listed = sections["Metrics (cnncost docs METRIC)"].replace("\n", " ")
    assert sorted(n.strip() for n in listed.split(",")) == sorted(m.name for m in METRICS)
    # the other names the documents define, under the document that defines them
    assert "check" in sections["Names defined in cli.md (cnncost docs NAME)"]
    assert "budget" in sections["Names defined in spec-format.md (cnncost docs NAME)"]
    assert cli("docs", "budget").exit_code == 0
