"""Sweeps: every row equals what analyze gives for its configuration (a property checked over
random grid points of several specs, with and without a device and fusion), the grid's
parsing, topology splits, invalid configurations, streaming, Pareto fronts, budgets, formats."""

from __future__ import annotations

import csv
import io
import json
import random

import numpy as np
import pytest

from cnncost.analysis import analyze, figures
from cnncost.errors import UsageError
from cnncost.latency import load_device
from cnncost.library import load_model
from cnncost.sweeps import Axis, Sweep, parse_axis, pareto
from cnncost.vector import Overflow, Vec

from conftest import cli


def rows_of(job: Sweep) -> dict[str, np.ndarray]:
    blocks = list(job.blocks())
    return {k: np.concatenate([np.asarray(b[k]) for b in blocks]) for k in job.columns}


def expected(spec: str, settings: dict, **options) -> dict:
    return figures(analyze(load_model(spec, settings), **options))


# spec, its grid, and how many random points of it to check against analyze
GRIDS = [
    ("mobilenet_v2", {"width": "0.35:1.4:0.05", "resolution": "96:224:16",
                      "depth": "0.5:1.5:0.25"}),
    ("mobilenet_v1", {"alpha": "0.25:1.0:0.25", "resolution": "96:224:32"}),
    ("efficientnet_b0", {"width": "0.8:1.2:0.1", "depth": "1.0:1.4:0.2",
                         "resolution": "192:256:32"}),
    ("mobilenet_v3_large", {"width": "0.5:1.25:0.25", "resolution": "128:224:48"}),
    ("mnasnet", {"alpha": "0.5:1.3:0.25", "resolution": "160:224:32"}),
    ("resnet50", {"resolution": "128:256:64", "width_per_group": "32:64:16"}),
    ("bench/g2_group_conv", {"channels": "64:256:64", "groups": "1,2,4"}),
]


@pytest.mark.parametrize("spec, grid", GRIDS, ids=[g[0] for g in GRIDS])
@pytest.mark.parametrize("fuse, device", [("none", None), ("bn-act", "desktop_cpu")])
def test_every_row_equals_analyze(spec, grid, fuse, device):
    profile = load_device(device) if device else None
    job = Sweep(spec, [parse_axis(f"{k}={v}") for k, v in grid.items()], fuse=fuse,
                device=profile)
    rows = rows_of(job)
    n = len(rows["params"])
    assert n + job.result.invalid == job.size == np.prod([len(a.values) for a in job.axes])
    for i in random.Random(f"{spec}{fuse}").sample(range(n), min(n, 6)):
        settings = {a.name: rows[a.name][i].item() for a in job.axes}
        want = expected(spec, settings, fuse=fuse, device=profile)
        for metric in job.metrics:  # exact: the same code, the same order of operations
            assert rows[metric][i] == want[metric], (settings, metric)


def test_the_grid_is_one_expansion_when_the_topology_holds():
    job = Sweep("mobilenet_v2", [parse_axis("width=0.35:1.4:0.05"),
                                 parse_axis("resolution=96:224:16")])
    rows = rows_of(job)
    assert len(rows["params"]) == 22 * 9 and job.result.expansions == 1
    # the MobileNet v2 paper's Table 4 / torchvision: 1.0 at 224 is 300,774,272 mult-adds
    at = np.flatnonzero((rows["width"] == 1.0) & (rows["resolution"] == 224))
    assert rows["mult_adds"][at].tolist() == [300_774_272]
    # params depend on the width only: the same at every resolution
    assert len(set(rows["params"][rows["width"] == 0.5].tolist())) == 1


def test_topologies_that_differ_are_split_apart():
    # depth changes the repeat counts; tiny widths make a residual's channels equal (a new add)
    job = Sweep("mobilenet_v2", [parse_axis("width=0.05:0.5:0.05"), parse_axis("depth=0.5,1.0")])
    rows = rows_of(job)
    assert len(job.result.topologies) >= 3 and job.result.expansions > 2
    for i in range(len(rows["params"])):
        settings = {"width": rows["width"][i].item(), "depth": rows["depth"][i].item()}
        assert rows["mult_adds"][i] == expected("mobilenet_v2", settings)["mult_adds"]


def test_configurations_that_cannot_be_built_are_counted_not_dropped():
    # AlexNet's 11x11 stride-4 stem and valid 3x3 pools leave nothing of a 16x16 input
    result = cli("sweep", "alexnet", "--grid", "resolution=16,64,224", "-f", "csv")
    assert result.exit_code == 0
    body = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["resolution"] for r in body] == ["64", "224"]
    assert "1 could not be built" in result.stderr
    none = cli("sweep", "alexnet", "--grid", "resolution=8,16", "-f", "csv")
    assert none.exit_code == 2 and "no configuration" in none.stderr and not none.stdout


@pytest.mark.parametrize("fmt", ["table", "csv", "jsonl"])
def test_nothing_is_written_when_nothing_can_be_built(tmp_path, fmt):
    out = tmp_path / f"rows.{fmt}"
    result = cli("sweep", "mobilenet_v2", "--grid", "resolution=0:0:1", "-f", fmt, "-o",
                 str(out))
    assert result.exit_code == 2 and "no configuration" in result.stderr
    assert not out.exists() and not list(tmp_path.iterdir())


def test_overflow_falls_back_to_exact_integers(monkeypatch):
    import cnncost.vector as vector

    monkeypatch.setattr(vector, "LIMIT", 10**6)  # every product "could overflow"
    with pytest.raises(Overflow):
        _ = Vec(np.array([[2000]])) * Vec(np.array([[1000, 2000]]))
    job = Sweep("mobilenet_v1", [parse_axis("alpha=0.25,0.5"), parse_axis("resolution=128,160")])
    rows = rows_of(job)
    assert rows["mult_adds"].tolist() == [
        expected("mobilenet_v1", {"alpha": a, "resolution": r})["mult_adds"]
        for a in (0.25, 0.5) for r in (128, 160)]


def test_small_blocks_give_the_same_rows():
    axes = [parse_axis("width=0.5:1.0:0.1"), parse_axis("resolution=128:224:32")]
    whole, pieces = rows_of(Sweep("mobilenet_v2", axes)), rows_of(Sweep("mobilenet_v2", axes,
                                                                          block=5))
    for k in whole:
        assert whole[k].tolist() == pieces[k].tolist()


@pytest.mark.parametrize("text, values", [
    ("width=0.35:0.5:0.05", (0.35, 0.4, 0.45, 0.5)),  # exact decimal steps, stop included
    ("resolution=96:224:64", (96, 160, 224)),
    ("resolution=96:250:64", (96, 160, 224)),
    ("depth=1,2,3", (1, 2, 3)),
    ("alpha=0.5", (0.5,)),
])
def test_grid_values(text, values):
    axis = parse_axis(text)
    assert axis.values == values and all(type(v) is type(values[0]) for v in axis.values)


@pytest.mark.parametrize("text, message", [
    ("width", "expected NAME=START:STOP:STEP"),
    ("width=1:0.5:0.1", "START <= STOP"),
    ("width=0.1:1:0", "positive STEP"),
    ("width=a,b", "not numbers"),
    ("width=0:1e9:1", "per variable"),
    ("1x=1,2", "expected NAME"),
])
def test_bad_grids(text, message):
    with pytest.raises(UsageError) as caught:
        parse_axis(text)
    assert message in caught.value.format()
    result = cli("sweep", "mobilenet_v2", "--grid", text)
    assert result.exit_code == 2 and message in result.stderr and not result.stdout


@pytest.mark.parametrize("args, message", [
    (("--grid", "wdth=0.5,1.0"), "no variable 'wdth'"),
    (("--grid", "width=0.5,1.0", "--set", "width=0.75"), "both set and swept"),
    (("--grid", "width=0.5", "--grid", "width=1.0"), "twice"),
    ((), "nothing to sweep"),
])
def test_bad_sweeps_exit_2(args, message):
    result = cli("sweep", "mobilenet_v2", *args)
    assert result.exit_code == 2 and message in result.stderr and not result.stdout
    assert "Traceback" not in result.stderr


def test_a_list_variable_cannot_be_swept():
    result = cli("sweep", "shufflenet_v2", "--grid", "stage_channels=1,2")
    assert result.exit_code == 2 and not result.stdout


def test_pareto_front_is_every_undominated_row():
    x = np.array([1, 2, 3, 4, 2, 5])
    y = np.array([9, 5, 6, 1, 5, 0])
    # (1,9) (2,5) (4,1) (5,0) are undominated; (3,6) is beaten by (2,5); (2,5) twice: both
    assert sorted(pareto(x, y).tolist()) == [0, 1, 3, 4, 5]
    result = cli("sweep", "mobilenet_v2", "--grid", "width=0.35:1.4:0.05", "--grid",
                 "resolution=96:224:32", "--pareto", "mult_adds,peak_activation_bytes",
                 "-f", "jsonl")
    front = [json.loads(line) for line in result.stdout.splitlines()]
    every = rows_of(Sweep("mobilenet_v2", [parse_axis("width=0.35:1.4:0.05"),
                                           parse_axis("resolution=96:224:32")]))
    points = list(zip(every["mult_adds"].tolist(), every["peak_activation_bytes"].tolist()))
    undominated = [p for p in points
                   if not any(q[0] <= p[0] and q[1] <= p[1] and q != p for q in points)]
    assert sorted((r["mult_adds"], r["peak_activation_bytes"]) for r in front) == \
        sorted(undominated)


def test_budget_filters_rows(tmp_path):
    path = tmp_path / "budget.yaml"
    path.write_text("budget: {mult_adds: 150M, params: 3M}\n")
    result = cli("sweep", "mobilenet_v2", "--grid", "width=0.5:1.4:0.1", "--grid",
                 "resolution=128:224:32", "--budget", str(path), "-f", "csv")
    kept = list(csv.DictReader(io.StringIO(result.stdout)))
    assert kept and all(int(r["mult_adds"]) <= 150_000_000 and int(r["params"]) <= 3_000_000
                        for r in kept)
    every = rows_of(Sweep("mobilenet_v2", [parse_axis("width=0.5:1.4:0.1"),
                                           parse_axis("resolution=128:224:32")]))
    assert len(kept) == int(((every["mult_adds"] <= 150_000_000) &
                             (every["params"] <= 3_000_000)).sum())
    path.write_text("budget: {latency: 2ms}\n")
    no_device = cli("sweep", "mobilenet_v2", "--grid", "width=0.5,1.0", "--budget", str(path))
    assert no_device.exit_code == 2 and "latency with --device" in no_device.stderr
    path.write_text("budget: {kernels: 100}\n")
    other = cli("sweep", "mobilenet_v2", "--grid", "width=0.5,1.0", "--budget", str(path))
    assert other.exit_code == 2 and "kernels" in other.stderr and "budget.yaml" in other.stderr


def test_formats_agree_and_the_file_is_written_whole(tmp_path):
    args = ("sweep", "mobilenet_v1", "--grid", "alpha=0.25,0.5", "--grid",
            "resolution=128,224", "--device", "phone_soc")
    table = cli(*args)
    assert table.exit_code == 0 and "4 configurations, 1 expansion" in " ".join(
        table.stdout.split())
    lines = [json.loads(line) for line in cli(*args, "-f", "jsonl").stdout.splitlines()]
    out = tmp_path / "rows.csv"
    written = cli(*args, "-f", "csv", "-o", str(out))
    assert written.exit_code == 0 and not written.stdout and "wrote" in written.stderr
    from_csv = list(csv.DictReader(out.open()))
    assert [r["label"] for r in from_csv] == [r["label"] for r in lines] == [
        "mobilenet_v1@alpha=0.25,resolution=128", "mobilenet_v1@alpha=0.25,resolution=224",
        "mobilenet_v1@alpha=0.5,resolution=128", "mobilenet_v1@alpha=0.5,resolution=224"]
    # the MobileNet paper's Table 6/7 rows: 0.25 at 128 is 13,570,048 mult-adds
    assert lines[0]["mult_adds"] == int(from_csv[0]["mult_adds"]) == 13_570_048
    assert float(from_csv[3]["latency"]) == lines[3]["latency"] > 0
    bad = cli(*args, "-f", "csv", "-o", str(tmp_path / "missing" / "rows.csv"))
    assert bad.exit_code == 2 and "cannot write" in bad.stderr


def test_the_api_returns_columns():
    import cnncost

    rows = cnncost.sweep("mobilenet_v1", {"alpha": [0.25, 1.0], "resolution": "128:224:96"})
    assert rows["mult_adds"].tolist() == [13_570_048, 41_030_272, 186_400_768, 568_740_352]
    assert list(rows) == ["alpha", "resolution", "params", "mult_adds", "mem_access",
                          "peak_activation_bytes"]
    with_device = cnncost.sweep("mobilenet_v1", {"alpha": [1.0]}, device="desktop_cpu")
    assert with_device["latency"][0] == figures(analyze(
        load_model("mobilenet_v1"), device=load_device("desktop_cpu")))["latency"]


def test_axis_values_keep_their_type():
    assert Axis("x", (1, 2)).values == (1, 2)
    job = Sweep("mobilenet_v1", [parse_axis("resolution=128:160:32")])
    assert rows_of(job)["resolution"].dtype.kind == "i"


def test_the_parallel_example_streams_every_row(tmp_path):
    # docs/examples/parallel_sweep.py: the sweep API under concurrent.futures, a CSV per part
    import sys

    from conftest import ROOT

    sys.path.insert(0, str(ROOT / "docs" / "examples"))
    try:
        from parallel_sweep import parallel_sweep
    finally:
        sys.path.pop(0)
    axes = [parse_axis("width=0.5:1.0:0.25"), parse_axis("resolution=128,160")]
    rows, _ = parallel_sweep("mobilenet_v2", axes, str(tmp_path), workers=2)
    written = [r for p in sorted(tmp_path.iterdir()) for r in csv.DictReader(p.open())]
    assert rows == len(written) == 6
    every = rows_of(Sweep("mobilenet_v2", axes))
    assert sorted(int(r["mult_adds"]) for r in written) == sorted(every["mult_adds"].tolist())
