"""One JSON schema across commands (docs/cli.md, "JSON output"): the same envelope and
convention everywhere, the same model fields, exact integers for counts, numbers as numbers,
lists as lists, the spec as named, --sort in every format."""

from __future__ import annotations

import csv
import io
import json

import pytest

from cnncost import __version__
from conftest import ROOT, cli

CONVENTION = {"fuse": "none", "dtype": "fp32", "bytes_per_element": 4, "batch": 1,
              "device": None}
MODEL_FIELDS = {"label", "model", "spec", "description", "variant", "variables", "settings",
                "input_shape"}


def doc(*args: str) -> dict:
    result = cli(*args, "--format", "json")
    assert result.exit_code in (0, 1), result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("args,command", [
    (("analyze", "mobilenet_v1"), "analyze"),
    (("guidelines", "mobilenet_v1"), "guidelines"),
    (("compare", "mobilenet_v1", "mobilenet_v2"), "compare"),
    (("check", "docs/examples/my_net.yaml"), "check"),
    (("specs",), "specs"),
    (("specs", "--figures"), "specs"),
    (("ops",), "ops"),
    (("devices",), "devices"),
])
def test_every_command_has_the_same_envelope(args, command, monkeypatch):
    monkeypatch.chdir(ROOT)
    d = doc(*args)
    assert list(d)[:3] == ["cnncost_version", "command", "convention"]
    assert d["cnncost_version"] == __version__ and d["command"] == command
    assert d["convention"] == CONVENTION


def test_a_model_is_described_alike_everywhere(monkeypatch):
    monkeypatch.chdir(ROOT)
    ref = "mobilenet_v1@alpha=0.5"
    analysed = doc("analyze", ref)
    entries = [analysed, doc("guidelines", ref), doc("compare", ref, "mobilenet_v2")["models"][0],
               doc("check", ref, "--budget", "docs/examples/budgets.yaml")["models"][0]]
    for entry in entries:
        fields = {k: entry[k] for k in MODEL_FIELDS}
        assert fields == {k: analysed[k] for k in MODEL_FIELDS}
    assert analysed["label"] == "mobilenet_v1@alpha=0.5" and analysed["spec"] == "mobilenet_v1"
    assert analysed["settings"] == {"alpha": 0.5} and analysed["variables"]["alpha"] == 0.5
    assert not analysed["spec"].startswith("/")  # never the installed package's path


def test_counts_are_integers_and_shares_numbers():
    d = doc("analyze", "mobilenet_v1")
    for key, value in d["totals"].items():
        if key == "peak_activation_at":
            assert isinstance(value, str)
        elif key.endswith("_share"):
            assert isinstance(value, float)
        else:
            assert isinstance(value, int) and not isinstance(value, bool), key
    layer = d["layers"][0]
    assert layer["kernel"] == [3, 3] and layer["stride"] == [2, 2] and layer["window"] == "3x3/2"
    # Conv2d_0: 112*112*32 outputs x 27 = 10,838,016 of 568,740,352 mult-adds
    assert layer["mult_adds"] == 112 * 112 * 32 * 27 == 10_838_016
    assert layer["mult_adds_share"] == pytest.approx(10_838_016 / 568_740_352)
    assert layer["output_elements"] == 112 * 112 * 32


def test_check_limits_and_overs_are_numbers(tmp_path):
    budget = tmp_path / "b.yaml"
    budget.write_text("budget:\n  params: 4M\n  elementwise_mem_access_share: 50%\n"
                      "  peak_activation_bytes: 4MiB\n  guidelines: all\n")
    d = doc("check", "mobilenet_v1", "--budget", str(budget))
    results = {r["metric"]: r for r in d["results"]}
    assert results["params"]["limit"] == 4_000_000 and results["params"]["over_by"] == 231_976
    assert results["peak_activation_bytes"]["limit"] == 4 * 2**20
    assert results["elementwise_mem_access_share"]["limit"] == 0.5
    assert isinstance(results["elementwise_mem_access_share"]["value"], float)
    assert results["guidelines"]["value"] == ["G4"] and results["guidelines"]["limit"] == [
        "G1", "G2", "G3", "G4"]
    assert d["passed"] is False and d["failures"] == 4


def test_specs_and_ops_hold_lists_and_objects():
    spec = next(s for s in doc("specs")["specs"] if s["spec"] == "shufflenet_v2")
    assert isinstance(spec["variables"], dict) and "1.5x" in spec["variants"]
    figures = doc("specs", "--figures")["specs"]
    assert all(isinstance(row["guidelines_broken"], list) for row in figures)
    conv = next(o for o in doc("ops")["ops"] if o["op"] == "conv2d")
    assert conv["aliases"] == ["conv"]
    stride = next(a for a in conv["attributes"] if a["name"] == "stride")
    assert stride == {"name": "stride", "kind": "pair", "required": False, "default": [1, 1],
                      "choices": [], "doc": stride["doc"]}


@pytest.mark.parametrize("fmt", ["json", "csv", "markdown", "table"])
def test_sort_is_honoured_in_every_format(fmt):
    result = cli("compare", "mobilenet_v1", "mobilenet_v2", "shufflenet_v2",
                 "--sort", "-mult_adds", "--format", fmt, env={"COLUMNS": "200"})
    assert result.exit_code == 0
    order = ["mobilenet_v1", "mobilenet_v2", "shufflenet_v2"]  # 569M, 301M, 145M
    if fmt == "json":
        assert [m["label"] for m in json.loads(result.stdout)["models"]] == order
    elif fmt == "csv":
        assert [r["model"] for r in csv.DictReader(io.StringIO(result.stdout))] == order
    else:
        positions = [result.stdout.index(f"{name} ") for name in order]
        assert positions == sorted(positions)


def test_batch_for_every_spec():
    one, eight = doc("analyze", "mobilenet_v1"), doc("analyze", "mobilenet_v1", "--batch", "8")
    assert eight["convention"]["batch"] == 8 and eight["input_shape"] == [8, 3, 224, 224]
    assert eight["totals"]["mult_adds"] == 8 * one["totals"]["mult_adds"]
    assert eight["totals"]["params"] == one["totals"]["params"]
    table = cli("analyze", "mobilenet_v1", "--batch", "8").stdout
    assert "input 8x3x224x224" in table and "batch 8" in table


def test_docs_command_serves_a_pip_user():
    listing = cli("docs").stdout
    assert "metrics" in listing and "mult_adds" in listing
    assert cli("docs", "metrics").stdout.startswith("# Metrics")
    assert "multiply-accumulates" in cli("docs", "mult_adds").stdout
    wrong = cli("docs", "mult_add")
    assert wrong.exit_code == 2 and "did you mean 'mult_adds'" in wrong.stderr


def test_the_convention_names_the_device_latency_was_estimated_on():
    for args in (("analyze", "mobilenet_v1"), ("compare", "mobilenet_v1", "mobilenet_v2")):
        d = doc(*args, "--device", "phone_soc")
        assert d["convention"] == {**CONVENTION, "device": "phone_soc"}
        totals = d["totals"] if "totals" in d else d["models"][0]["totals"]
        assert isinstance(totals["latency"], float) and totals["latency"] > 0
