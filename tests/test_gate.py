"""`cnncost compare` and the CI gate `cnncost check`: every exit code and every format."""

from __future__ import annotations

import csv
import io
import json
from fractions import Fraction
from xml.etree import ElementTree

import pytest

from cnncost.core.budget import BYTES, COUNT, SHARE, parse_quantity
from conftest import analyze_ref, cli

# mobilenet_v2 (torchvision layout): 3,504,872 params, 300,774,272 mult-adds
# (tests/test_specs_mobile_v2.py); mobilenet_v1: 4,231,976 params, 568,740,352 mult-adds
V2_MULT_ADDS = 300_774_272
V1_MULT_ADDS = 568_740_352


def run(*args: str):
    result = cli(*args)
    assert "Traceback" not in (result.stderr or "")
    return result


# -- quantities ------------------------------------------------------------------------------

@pytest.mark.parametrize("text, kind, value", [
    ("4.2M", COUNT, 4_200_000),
    ("600M", COUNT, 600_000_000),
    ("1.5G", COUNT, 1_500_000_000),
    ("1200000", COUNT, 1_200_000),
    ("1_200_000", COUNT, 1_200_000),
    ("2.5k", COUNT, 2_500),
    (4200000, COUNT, 4_200_000),
    ("16MiB", BYTES, 16 * 1024 * 1024),
    ("100MB", BYTES, 100_000_000),
    ("2 GiB", BYTES, 2 * 1024 ** 3),
    ("16M", BYTES, 16_000_000),
    ("60%", SHARE, Fraction(3, 5)),
    ("0.6", SHARE, Fraction(3, 5)),
])
def test_quantities(text, kind, value):
    assert parse_quantity(text, kind) == value


@pytest.mark.parametrize("text, kind, message", [
    ("lots", COUNT, "'lots' is not a quantity"),
    ("16MiB", COUNT, "'MiB' is a unit of bytes, and this metric is a count"),
    ("5%", COUNT, "a percentage does not fit a count metric"),
    ("4.2X", COUNT, "unknown unit 'X'"),
    ("3 parsecs", BYTES, "unknown unit 'parsecs'"),
    (True, COUNT, "is not a quantity"),
])
def test_bad_quantities(text, kind, message):
    with pytest.raises(ValueError, match=message):
        parse_quantity(text, kind)


# -- compare ---------------------------------------------------------------------------------

def test_compare_rows_ratios_and_sort():
    result = run("compare", "mobilenet_v1", "mobilenet_v2", "mobilenet_v1@alpha=0.5",
                 "--baseline", "mobilenet_v1", "--sort=-mult_adds", "--format", "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    labels = [m["label"] for m in doc["models"]]
    assert labels == ["mobilenet_v1", "mobilenet_v2", "mobilenet_v1@alpha=0.5"]
    v2 = doc["models"][1]
    assert v2["totals"]["mult_adds"] == V2_MULT_ADDS
    assert v2["ratios"]["mult_adds"] == pytest.approx(V2_MULT_ADDS / V1_MULT_ADDS)
    assert v2["guidelines"] == {"G1": "warn", "G2": "pass", "G3": "pass", "G4": "warn"}


def test_compare_table_sorted_ascending_with_chosen_columns():
    result = run("compare", "mobilenet_v1", "mobilenet_v2", "shufflenet_v2@0.5x",
                 "--sort", "params", "--columns", "params,mult_adds,G1")
    assert result.exit_code == 0, result.stderr
    body = [line for line in result.stdout.splitlines()
            if line.strip().startswith(("mobilenet", "shufflenet"))]
    assert [line.split()[0] for line in body] == ["shufflenet_v2@0.5x", "mobilenet_v2",
                                                  "mobilenet_v1"]
    assert "mem_access" not in result.stdout.split("comparison")[1].split("\n")[3]


def test_compare_csv_and_markdown():
    rows = list(csv.DictReader(io.StringIO(run(
        "compare", "mobilenet_v1", "mobilenet_v2", "--baseline", "2", "-f", "csv").stdout)))
    assert [r["model"] for r in rows] == ["mobilenet_v1", "mobilenet_v2"]
    assert rows[1]["mult_adds"] == str(V2_MULT_ADDS) and float(rows[1]["mult_adds_ratio"]) == 1
    markdown = run("compare", "mobilenet_v1", "shufflenet_v2", "-f", "markdown").stdout
    assert "### comparison" in markdown and "| shufflenet_v2 |" in markdown


def test_compare_errors_exit_2():
    result = run("compare", "mobilenet_v1", "--columns", "parms")
    assert result.exit_code == 2 and "did you mean 'params'" in result.stderr
    result = run("compare", "mobilenet_v1", "--baseline", "resnet50")
    assert result.exit_code == 2 and "--baseline resnet50: no such model" in result.stderr
    result = run("compare", "mobilenet_v1", "--sort", "speed")
    assert result.exit_code == 2 and "--sort: unknown column 'speed'" in result.stderr
    # every spec that fails is reported, and nothing is printed
    result = run("compare", "mobilenet_v1@alpha=big", "nosuchnet", "mobilenet_v2")
    assert result.exit_code == 2 and result.stdout == ""
    assert "--set alpha=big: expected a number" in result.stderr
    assert "no such file or bundled spec: nosuchnet" in result.stderr


# -- check: budgets -------------------------------------------------------------------------

@pytest.fixture
def budget_file(tmp_path):
    def write(text: str) -> str:
        path = tmp_path / "budget.yaml"
        path.write_text(text)
        return str(path)
    return write


def test_check_passes_at_the_limit_and_fails_one_unit_over(budget_file):
    at = budget_file(f"models:\n  mobilenet_v2: {{mult_adds: {V2_MULT_ADDS}}}\n")
    result = run("check", "mobilenet_v2", "--budget", at)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "all limits hold" in result.stdout
    over = budget_file(f"models:\n  mobilenet_v2: {{mult_adds: {V2_MULT_ADDS - 1}}}\n")
    result = run("check", "mobilenet_v2", "--budget", over)
    assert result.exit_code == 1
    # one multiply-accumulate over: +1, a share of 1 / 300,774,271 that rounds to +0.0%
    assert "FAIL" in result.stdout and "+1 (+0.0%)" in result.stdout


def test_check_names_every_violation(budget_file):
    path = budget_file("budget:\n  params: 4M\nmodels:\n"
                       "  mobilenet_v1: {mult_adds: 500M, peak_activation_bytes: 4MiB}\n")
    result = run("check", "mobilenet_v1", "mobilenet_v2", "--budget", path, "-f", "json")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    failed = {(r["model"], r["metric"]) for r in doc["results"] if not r["passed"]}
    # mobilenet_v1: 4,231,976 params > 4M; 568,740,352 > 500M; peak 6,422,528 B > 4 MiB
    assert failed == {("mobilenet_v1", "params"), ("mobilenet_v1", "mult_adds"),
                      ("mobilenet_v1", "peak_activation_bytes")}
    params = next(r for r in doc["results"] if r["metric"] == "params" and not r["passed"])
    assert params["value"] == 4_231_976 and params["limit"] == 4_000_000
    assert params["over_by"] == 4_231_976 - 4_000_000 == 231_976
    assert params["over_share"] == pytest.approx(231_976 / 4_000_000)  # 5.80%
    assert params["source"] == f"{path}:2"
    assert doc["failures"] == 3 and doc["limits"] == 4  # and mobilenet_v2's params, which holds


def test_budget_in_the_spec(write_spec):
    spec = write_spec("""
        name: budgeted
        input: {shape: [3, 32, 32]}
        budget:
          params: 1K
          mult_adds: 100K
          guidelines: [G2, G3]
        layers:
          - {op: conv2d, out_channels: 8, kernel: 3}
    """)
    # 3*3*3*8 = 216 weights; 216 * 32*32 = 221,184 mult-adds > 100K
    result = run("check", spec, "-f", "json")
    assert result.exit_code == 1, result.stderr
    results = {r["metric"]: r for r in json.loads(result.stdout)["results"]}
    assert results["params"]["passed"] and results["params"]["value"] == 216
    assert not results["mult_adds"]["passed"] and results["mult_adds"]["value"] == 221_184
    assert results["guidelines"]["passed"]
    # the file's limit replaces the spec's
    path = write_spec("models:\n  budgeted: {mult_adds: 250K}\n", "budget.yaml")
    assert run("check", spec, "--budget", path).exit_code == 0


def test_guideline_budget(budget_file):
    path = budget_file("models:\n  mobilenet_v2: {guidelines: [G1, G3]}\n")
    result = run("check", "mobilenet_v2", "--budget", path)
    assert result.exit_code == 1 and "breaks G1" in result.stdout


def test_budget_errors_are_reported_with_lines(budget_file, write_spec):
    path = budget_file("budget:\n  params: lots\n  parms: 4M\n  mult_adds: 16MiB\n"
                       "modles: {}\n")
    result = run("check", "mobilenet_v2", "--budget", path)
    assert result.exit_code == 2 and result.stdout == ""
    err = result.stderr
    assert f"{path}:2:3: budget.params: 'lots' is not a quantity" in err
    assert "write a quantity such as 4.2M" in err
    assert f"{path}:3:3: budget.parms: unknown budget metric 'parms'" in err
    assert "did you mean 'params'" in err
    assert "'MiB' is a unit of bytes" in err
    assert f"{path}:5:1: modles: unknown key 'modles'" in err
    spec = write_spec("name: x\ninput: {shape: [3, 8, 8]}\nbudget: {params: 4.2 million}\n"
                      "layers: [{op: relu}]\n")
    result = run("analyze", spec)  # a bad budget is a bad spec, whatever the command
    assert result.exit_code == 2 and "'4.2 million': unknown unit 'million'" in result.stderr


def test_a_budget_for_no_model_is_an_error(budget_file):
    path = budget_file("models:\n  mobilenet_v3: {params: 5M}\n")
    result = run("check", "mobilenet_v2", "--budget", path)
    assert result.exit_code == 2
    assert "limits for 'mobilenet_v3', which is no spec file, no bundled spec and none of the " \
           "models checked" in result.stderr
    assert f"{path}:2:3: models.mobilenet_v3" in result.stderr


def test_nothing_to_check_exits_2():
    result = run("check", "mobilenet_v2")
    assert result.exit_code == 2 and "nothing to check" in result.stderr


# -- check: regressions ---------------------------------------------------------------------

NET = """\
name: net
variables: {resolution: 32}
input: {shape: [3, resolution, resolution]}
layers:
  - {op: conv2d, out_channels: WIDTH, kernel: 3}
  - {op: relu}
  - {op: conv2d, out_channels: 64, kernel: 1}
"""


def test_regression_gate_against_a_saved_analysis(tmp_path):
    spec = tmp_path / "net.yaml"
    spec.write_text(NET.replace("WIDTH", "32"))
    baseline = tmp_path / "baseline.json"
    baseline.write_text(run("analyze", str(spec), "-f", "json").stdout)
    same = run("check", str(spec), "--against", str(baseline))
    assert same.exit_code == 0, same.stdout + same.stderr
    # the spec is edited: 34 channels instead of 32 is more of everything, by 2/32 = 6.25% of
    # the mult-adds (32*32*(27*32 + 32*64) = 2,981,888 -> 32*32*(27*34 + 34*64) = 3,168,256)
    spec.write_text(NET.replace("WIDTH", "34"))
    grown = run("check", str(spec), "--against", str(baseline), "--max-increase", "2%",
                "-f", "json")
    assert grown.exit_code == 1
    doc = json.loads(grown.stdout)
    assert {r["metric"] for r in doc["results"]} == {"params", "mult_adds", "mem_access",
                                                     "peak_activation_bytes"}
    base = json.loads(baseline.read_text())["totals"]["mult_adds"]
    assert base == 32 * 32 * (27 * 32 + 32 * 64) == 2_981_888
    mult = next(r for r in doc["results"] if r["metric"] == "mult_adds")
    assert mult["value"] == 32 * 32 * (27 * 34 + 34 * 64)
    assert mult["limit"] == pytest.approx(base * 1.02) and not mult["passed"]
    # a generous allowance passes
    assert run("check", str(spec), "--against", str(baseline),
               "--max-increase", "10%").exit_code == 0


def test_regression_baseline_must_match_the_variables(tmp_path):
    baseline = tmp_path / "baseline.json"
    baseline.write_text(run("analyze", "mobilenet_v1@resolution=160", "-f", "json").stdout)
    result = run("check", "mobilenet_v1", "--against", str(baseline))
    assert result.exit_code == 2 and result.stdout == ""
    assert "with other variables: resolution=160 there, 224 here" in result.stderr


def test_regression_baseline_must_match_the_convention(tmp_path):
    baseline = tmp_path / "fused.json"
    baseline.write_text(run("analyze", "mobilenet_v1", "--fuse", "bn-act", "-f", "json").stdout)
    result = run("check", "mobilenet_v1", "--against", str(baseline))
    assert result.exit_code == 2 and "run the check with --fuse bn-act" in result.stderr


def test_regression_against_a_comparison(tmp_path):
    baseline = tmp_path / "models.json"
    baseline.write_text(run("compare", "mobilenet_v1", "mobilenet_v2", "-f", "json").stdout)
    result = run("check", "mobilenet_v2", "mobilenet_v1", "--against", str(baseline))
    assert result.exit_code == 0, result.stderr
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    result = run("check", "mobilenet_v1", "--against", str(bad))
    assert result.exit_code == 2 and "is not a cnncost JSON analysis" in result.stderr
    result = run("check", "mobilenet_v1", "--against", str(baseline), "--max-increase", "lots")
    assert result.exit_code == 2 and "--max-increase" in result.stderr


# -- check: formats for CI ---------------------------------------------------------------------

def test_junit_xml_counts_the_failures(budget_file):
    path = budget_file("budget:\n  params: 4M\n  mult_adds: 400M\n")
    result = run("check", "mobilenet_v1", "mobilenet_v2", "shufflenet_v2", "--budget", path,
                 "-f", "junit")
    assert result.exit_code == 1
    root = ElementTree.fromstring(result.stdout)
    # 3 models x 2 limits; v1 fails both (4.23M params, 569M mult-adds), v2 and shufflenet pass
    assert root.tag == "testsuites" and root.get("tests") == "6" and root.get("failures") == "2"
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert suites["mobilenet_v1"].get("failures") == "2"
    assert suites["mobilenet_v2"].get("failures") == "0"
    failure = suites["mobilenet_v1"].find("testcase/failure")
    assert "params is 4,231,976" in failure.get("message")
    names = [c.get("name") for c in suites["shufflenet_v2"].iter("testcase")]
    assert names == ["params <= 4M", "mult_adds <= 400M"]


def test_markdown_for_a_ci_job_summary(budget_file):
    path = budget_file("budget:\n  params: 4M\n")
    result = run("check", "mobilenet_v1", "--budget", path, "-f", "markdown")
    assert result.exit_code == 1
    assert result.stdout.startswith("### cnncost check: 1 exceeded")
    # the model heads its rows; each limit is a row of its own
    assert "| mobilenet_v1 |  |  |" in result.stdout
    # the limit in the value's unit; over by 4,231,976 - 4,000,000 = 231,976 = 5.8% of 4M
    assert "|   params | 4,231,976 | 4,000,000 | FAIL +231,976 (+5.8%) |" in result.stdout


def test_check_csv(budget_file):
    path = budget_file("budget:\n  params: 5M\n")
    result = run("check", "mobilenet_v1", "--budget", path, "-f", "csv")
    assert result.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert rows[0]["metric"] == "params" and rows[0]["status"] == "pass"
    assert rows[0]["value"] == "4231976" and rows[0]["limit"] == "5000000"


def test_junit_marks_models_without_a_budget_skipped(budget_file):
    path = budget_file("models:\n  mobilenet_v1: {params: 5M}\n")
    result = run("check", "mobilenet_v1", "mobilenet_v2", "--budget", path, "-f", "junit")
    assert result.exit_code == 0
    root = ElementTree.fromstring(result.stdout)
    skipped = [s.get("name") for s in root.iter("testsuite") if s.get("skipped") == "1"]
    assert skipped == ["mobilenet_v2"]


def test_analysis_figures_match_what_check_reads():
    assert analyze_ref("mobilenet_v2").totals.mult_adds == V2_MULT_ADDS
