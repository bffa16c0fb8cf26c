"""Sweeps: every row equals what analyze gives for its configuration (a property checked over
random grid points of several specs, with and without a device and fusion), the grid's
parsing, topology splits, invalid configurations, streaming, Pareto fronts, budgets, formats."""

from __future__ import annotations

import csv
import io
import json
import random
import re

import numpy as np
import pytest

from cnncost.pipeline import analyze, figures
from cnncost.core.errors import UsageError
from cnncost.estimate.devices import load_device
from cnncost.frontends.library import load_model
from cnncost.jobs.sweep import Axis, Sweep, parse_axis, pareto_mask
from cnncost.core.vector import Overflow, Vec

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
    import cnncost.core.vector as vector

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
    ("width=a:b:c", "not numbers"),
    ("width=a,=b", "'=b' is not a word"),
    ("width=a,a", "a value twice"),
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
    (("--grid", "width=a,b"), "width takes numbers, not a"),  # words: text values
])
def test_bad_sweeps_exit_2(args, message):
    result = cli("sweep", "mobilenet_v2", *args)
    assert result.exit_code == 2 and message in result.stderr and not result.stdout
    assert "Traceback" not in result.stderr


def test_text_variables_sweep_their_words():
    # squeezenet's version ('1.0' or '1.1') and bypass ('none', 'simple', 'complex') are text:
    # a list of words, or of numbers as written, sweeps them; each row is analyze's
    job = Sweep("squeezenet", [parse_axis("version=1.0,1.1"),
                               parse_axis("bypass=none,simple,complex"),
                               parse_axis("resolution=112,224")])
    rows = rows_of(job)
    assert rows["version"].tolist() == ["1.0"] * 6 + ["1.1"] * 6  # the last fastest
    assert rows["bypass"].tolist() == ["none", "none", "simple", "simple", "complex",
                                       "complex"] * 2
    for i in range(12):
        settings = {"version": str(rows["version"][i]), "bypass": str(rows["bypass"][i]),
                    "resolution": int(rows["resolution"][i])}
        want = expected("squeezenet", settings)
        assert {m: rows[m][i] for m in job.metrics} == {m: want[m] for m in job.metrics}
    # one expansion per text value pair (6); resolution is a Vec within each
    assert job.result.expansions == 6
    lines = cli("sweep", "squeezenet", "--grid", "bypass=none,complex", "-f", "csv").stdout
    assert lines.splitlines()[1].startswith('"squeezenet@bypass=none",none,1248424,')


@pytest.mark.parametrize("grid, message", [
    ("bypass=none,simpel", "--grid bypass: 'simpel' is not one of none, simple, complex"),
    ("bypass=0:2:1", "bypass takes text, a list of values"),
])
def test_a_text_value_the_variable_does_not_take_is_refused_up_front(grid, message):
    result = cli("sweep", "squeezenet", "--grid", grid)
    assert result.exit_code == 2 and message in result.stderr and not result.stdout
    assert "Traceback" not in result.stderr


def test_a_list_variable_cannot_be_swept():
    result = cli("sweep", "shufflenet_v2", "--grid", "stage_channels=1,2")
    assert result.exit_code == 2 and not result.stdout


def test_pareto_front_is_every_undominated_row():
    x = np.array([1, 2, 3, 4, 2, 5])
    y = np.array([9, 5, 6, 1, 5, 0])
    # (1,9) (2,5) (4,1) (5,0) are undominated; (3,6) is beaten by (2,5); (2,5) twice: both
    assert np.flatnonzero(pareto_mask(x, y)).tolist() == [0, 1, 3, 4, 5]
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


# -- issue 17: grid order, fronts with directions, size limits, SIGTERM, budgets, CSV cells ----

def product_rows(grid: dict[str, list]) -> list[tuple]:
    """The grid's configurations in itertools.product order: the last variable fastest."""
    import itertools

    return list(itertools.product(*grid.values()))


# (spec, grid as lists): a topology-changing variable alone (the example: 0.1, 0.15,
# 0.2 came out as 0.1, 0.2, 0.15), second (tiny widths change residual adds, depth the repeat
# counts: groups interleave along the fastest variable), first and unsorted
ORDERED_GRIDS = [
    ("mobilenet_v2", {"width": [0.1, 0.15, 0.2]}),
    ("mobilenet_v2", {"resolution": [128, 96], "width": [0.05, 0.1, 0.15, 0.2, 0.25, 0.3],
                      "depth": [1.0, 0.5]}),
    ("mobilenet_v2", {"depth": [1.5, 0.5, 1.0], "width": [0.05, 0.1, 0.15, 0.2]}),
]


def grid_args(grid: dict[str, list]) -> list[str]:
    return [a for name, values in grid.items()
            for a in ("--grid", f"{name}={','.join(map(str, values))}")]


@pytest.mark.parametrize("spec, grid", ORDERED_GRIDS, ids=["alone", "second", "first"])
def test_rows_come_in_grid_order_in_the_api(spec, grid):
    import cnncost

    rows = cnncost.sweep(spec, grid)
    got = list(zip(*(rows[name].tolist() for name in grid)))
    assert got == product_rows(grid)
    # and each row's figures are its configuration's (as analyze gives them)
    for i in random.Random(spec).sample(range(len(got)), min(len(got), 5)):
        assert rows["mult_adds"][i] == expected(spec, dict(zip(grid, got[i])))["mult_adds"]


def test_the_order_holds_across_blocks_and_topologies():
    # blocks of 5 configurations: each holds several topologies, learnt and cut apart
    spec, grid = ORDERED_GRIDS[1]
    job = Sweep(spec, [Axis(k, tuple(v)) for k, v in grid.items()], block=5)
    rows = rows_of(job)
    assert len(job.result.topologies) >= 3  # several topology groups, interleaved
    assert list(zip(*(rows[k].tolist() for k in grid))) == product_rows(grid)
    whole = rows_of(Sweep(spec, [Axis(k, tuple(v)) for k, v in grid.items()]))
    assert {k: v.tolist() for k, v in whole.items()} == {k: v.tolist() for k, v in rows.items()}


@pytest.mark.parametrize("spec, grid", ORDERED_GRIDS, ids=["alone", "second", "first"])
def test_rows_come_in_grid_order_in_every_format(spec, grid):
    want = product_rows(grid)
    names = list(grid)
    body = cli("sweep", spec, *grid_args(grid), "-f", "csv")
    assert body.exit_code == 0, body.stderr
    from_csv = list(csv.DictReader(io.StringIO(body.stdout)))
    assert [tuple(float(r[k]) for k in names) for r in from_csv] == want
    # the label names the same configuration as the columns: 0.15 is labelled 0.15
    assert [r["label"] for r in from_csv] == [
        f"{spec}@" + ",".join(f"{k}={v}" for k, v in zip(names, row)) for row in want]
    lines = [json.loads(line) for line in cli("sweep", spec, *grid_args(grid),
                                              "-f", "jsonl").stdout.splitlines()]
    assert [tuple(r[k] for k in names) for r in lines] == want
    assert [r["mult_adds"] for r in lines] == [int(r["mult_adds"]) for r in from_csv]
    table = cli("sweep", spec, *grid_args(grid), env={"COLUMNS": "200"}).stdout
    body_lines = table.split("───\n", 1)[1].splitlines()  # the rows under the rule, a note
    assert [tuple(float(v) for v in line.split()[:len(names)])
            for line in body_lines[:len(want)]] == want
    assert body_lines[len(want)].startswith(f"{len(want)} configurations")


def test_unsorted_values_are_labelled_by_their_own_value():
    # --grid resolution=224,128: the label and the column said 128 for the 224 row
    body = cli("sweep", "mobilenet_v1", "--grid", "resolution=224,128", "-f", "csv").stdout
    rows = list(csv.DictReader(io.StringIO(body)))
    assert [(r["label"], r["resolution"], int(r["mult_adds"])) for r in rows] == [
        ("mobilenet_v1@resolution=224", "224", 568_740_352),  # the paper's 569M at 224
        ("mobilenet_v1@resolution=128", "128", 186_400_768)]  # and 186M at 128


def test_the_parallel_example_writes_the_grid_in_order(tmp_path):
    import sys

    from conftest import ROOT

    sys.path.insert(0, str(ROOT / "docs" / "examples"))
    try:
        from parallel_sweep import parallel_sweep
    finally:
        sys.path.pop(0)
    grid = {"width": [0.05, 0.1, 0.15, 0.2, 0.25, 0.3], "depth": [1.0, 0.5]}
    parallel_sweep("mobilenet_v2", [Axis(k, tuple(v)) for k, v in grid.items()],
                   str(tmp_path), workers=2)
    written = [r for p in sorted(tmp_path.iterdir()) for r in csv.DictReader(p.open())]
    assert [(float(r["width"]), float(r["depth"])) for r in written] == product_rows(grid)


def undominated(points: list[tuple], maximize: tuple[bool, bool]) -> list[tuple]:
    """By brute force: the points no other point beats (at least as good on both axes,
    better on one), larger better where ``maximize`` says so."""
    sign = [-1 if up else 1 for up in maximize]

    def beats(q, p):
        a, b = [s * v for s, v in zip(sign, q)], [s * v for s, v in zip(sign, p)]
        return all(x <= y for x, y in zip(a, b)) and a != b
    return [p for p in points if not any(beats(q, p) for q in points)]


def test_a_pareto_front_between_a_cost_and_a_gain():
    # the most mult-adds for their peak activation memory: a real front, not one point
    grid = ("--grid", "width=0.35:1.4:0.05", "--grid", "resolution=96:224:32")
    result = cli("sweep", "mobilenet_v2", *grid, "--pareto", "peak_activation_bytes,mult_adds",
                 "--maximize", "mult_adds", "-f", "jsonl")
    assert result.exit_code == 0, result.stderr
    front = [json.loads(line) for line in result.stdout.splitlines()]
    every = rows_of(Sweep("mobilenet_v2", [parse_axis(g) for g in grid[1::2]]))
    points = list(zip(every["peak_activation_bytes"].tolist(), every["mult_adds"].tolist()))
    want = undominated(points, (False, True))
    assert len(front) == len(want) > 1  # 11 of 110 configurations
    assert [(r["peak_activation_bytes"], r["mult_adds"]) for r in front] == \
        [p for p in points if p in want]  # exactly the undominated rows, in the grid's order
    # --maximize y names the second column; the same front
    alias = cli("sweep", "mobilenet_v2", *grid, "--pareto", "peak_activation_bytes,mult_adds",
                "--maximize", "y", "-f", "jsonl")
    assert alias.stdout == result.stdout
    # both minimised, the same grid has one point: the smallest network
    cheapest = cli("sweep", "mobilenet_v2", *grid, "--pareto",
                   "peak_activation_bytes,mult_adds", "-f", "jsonl").stdout.splitlines()
    assert len(cheapest) == len(undominated(points, (False, False))) == 1


@pytest.mark.parametrize("args, message", [
    (("--maximize", "mult_adds"), "give --pareto too"),
    (("--pareto", "latency,params", "--maximize", "params"), "unknown column 'latency'"),
    (("--pareto", "mult_adds,params", "--maximize", "width"), "--maximize width"),
    (("--pareto", "mult_adds", "--maximize", "mult_adds"), "name two columns"),
])
def test_bad_fronts_exit_2(args, message):
    result = cli("sweep", "mobilenet_v2", "--grid", "width=0.5,1.0", *args)
    assert result.exit_code == 2 and message in result.stderr and not result.stdout
    assert "Traceback" not in result.stderr


def test_every_documented_front_has_more_than_one_point():
    import shlex

    from test_docs import shell_examples

    documented = [line for _, _, lines in shell_examples() for line in lines
                  if line.startswith("cnncost sweep") and "--pareto" in line]
    assert len(documented) >= 3  # README.md and docs/sweeps.md
    for line in documented:
        result = cli(*shlex.split(line)[1:], "-f", "jsonl")
        assert result.exit_code == 0, (line, result.stderr)
        assert len(result.stdout.splitlines()) > 1, line


@pytest.mark.parametrize("args, message", [
    # 1001 x 101 = 101,101 configurations: too many for a table (10^5)
    (("--grid", "width=0.3:1.3:0.001", "--grid", "resolution=100:200:1"),
     "101,101 configurations: the table format (for people) takes at most 100,000"),
    # 10,501 x 1,001 = 10,511,501 rows: too many for standard output (10^7)
    (("--grid", "width=0.35:1.4:0.0001", "--grid", "resolution=32:1032:1", "-f", "csv"),
     "10,511,501 configurations: --format csv on standard output takes at most 10,000,000"),
    (("--grid", "width=0.35:1.4:0.0001", "--grid", "resolution=32:1032:1", "-f", "jsonl"),
     "--format jsonl on standard output takes at most 10,000,000"),
])
def test_a_grid_too_big_for_its_format_is_refused_up_front(args, message):
    import time

    start = time.perf_counter()
    result = cli("sweep", "mobilenet_v2", *args)
    assert result.exit_code == 2 and message in " ".join(result.stderr.split())
    assert "-o rows.csv" in result.stderr and not result.stdout
    assert time.perf_counter() - start < 10  # refused, not evaluated


def test_size_limits_by_format():
    from cnncost.report.sweep_views import size_limit
    from cnncost.jobs.sweep import MAX_CONFIGS

    assert size_limit("table", False, False)[0] == size_limit("table", False, True)[0] == 10**5
    assert size_limit("csv", False, False)[0] == size_limit("jsonl", False, False)[0] == 10**7
    assert size_limit("csv", False, True)[0] == size_limit("jsonl", False, True)[0] == MAX_CONFIGS
    assert all(size_limit(f, True, False)[0] == MAX_CONFIGS for f in ("table", "csv", "jsonl"))


def test_the_api_refuses_a_grid_larger_than_memory():
    import cnncost

    with pytest.raises(UsageError) as caught:  # 10,501 x 1,001 configurations
        cnncost.sweep("mobilenet_v2", {"width": "0.35:1.4:0.0001", "resolution": "32:1032:1"})
    assert "10,511,501 configurations; at most 10,000,000" in caught.value.format()
    assert "Sweep(spec, axes).blocks()" in caught.value.format()


@pytest.mark.slow
def test_sigterm_leaves_no_file_and_no_temporary_file(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "rows.csv"
    # 1051 x 1001 x 10 = 10,520,510 configurations: tens of seconds of work
    process = subprocess.Popen(
        [sys.executable, "-m", "cnncost", "sweep", "mobilenet_v2", "--grid",
         "width=0.35:1.4:0.001", "--grid", "resolution=32:1032:1", "--grid",
         "depth=0.5:1.4:0.1", "-f", "csv", "-o", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not list(tmp_path.glob(".rows.csv.*")) and time.monotonic() < deadline:
            assert process.poll() is None, process.communicate()
            time.sleep(0.05)
        assert list(tmp_path.glob(".rows.csv.*")), "the sweep never started writing"
        time.sleep(0.5)  # in the middle of evaluating and writing
        os.kill(process.pid, signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 128 + signal.SIGTERM  # 143, as a shell reports it
    assert b"Traceback" not in stderr
    assert not out.exists() and not list(tmp_path.iterdir())


def test_budget_entries_naming_no_model_are_refused_as_check_does(tmp_path):
    path = tmp_path / "budget.yaml"
    path.write_text("models:\n  mobilenet_v22: {params: 3M}\n  resnet50: {params: 30M}\n")
    result = cli("sweep", "mobilenet_v2", "--grid", "width=0.5,1.0", "--budget", str(path))
    assert result.exit_code == 2 and not result.stdout
    assert f"{path}:2:3" in result.stderr and "'mobilenet_v22'" in result.stderr
    assert "none of the models swept" in result.stderr and "mobilenet_v2" in result.stderr
    checked = cli("check", "mobilenet_v2", "--budget", str(path))
    assert checked.exit_code == 2 and "'mobilenet_v22'" in checked.stderr
    # an entry for another spec that exists is not a typo: it limits that spec, not this one
    path.write_text("models:\n  mobilenet_v2: {params: 3M}\n  resnet50: {params: 30M}\n")
    kept = cli("sweep", "mobilenet_v2", "--grid", "width=0.5,1.0", "--budget", str(path),
               "-f", "csv")
    # params: 1,968,680 at width 0.5, 3,504,872 at 1.0 (above 3M)
    assert kept.exit_code == 0 and [r["width"] for r in csv.DictReader(
        io.StringIO(kept.stdout))] == ["0.5"]


def test_csv_cells_that_a_spreadsheet_would_run_are_neutralised(tmp_path, monkeypatch):
    from conftest import ROOT

    from cnncost.report.points import read_rows

    monkeypatch.chdir(tmp_path)
    (tmp_path / "=cmd.yaml").write_text((ROOT / "specs" / "mobilenet_v1.yaml").read_text())
    result = cli("sweep", "=cmd.yaml", "--grid", "alpha=0.25,0.5", "-f", "csv", "-o",
                 "rows.csv")
    assert result.exit_code == 0, result.stderr
    rows = list(csv.DictReader((tmp_path / "rows.csv").open()))
    assert [r["label"] for r in rows] == ["'=cmd.yaml@alpha=0.25", "'=cmd.yaml@alpha=0.5"]
    # numbers stay numbers: MobileNet 0.25 at 224 is 41,030,272 mult-adds (Table 6)
    assert (rows[0]["alpha"], rows[0]["mult_adds"]) == ("0.25", "41030272")
    # read back for a scatter, the label is the spec's again
    assert [r["label"] for r in read_rows("rows.csv").rows] == ["=cmd.yaml@alpha=0.25",
                                                                "=cmd.yaml@alpha=0.5"]
    # JSON lines are not a spreadsheet's: the label as it is
    lines = cli("sweep", "=cmd.yaml", "--grid", "alpha=0.25", "-f", "jsonl").stdout
    assert json.loads(lines)["label"] == "=cmd.yaml@alpha=0.25"


FORMULA = ("=", "+", "-", "@", "\t", "\r")


def text_cells(text: str) -> list[str]:
    """The CSV's cells that are not numbers."""
    cells = [cell for row in csv.reader(io.StringIO(text)) for cell in row]
    return [c for c in cells if c and not re.fullmatch(r"-?\d+(\.\d+)?(e-?\d+)?", c)]


def test_analyze_and_compare_csv_neutralise_formulas_too(tmp_path, monkeypatch):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    monkeypatch.chdir(tmp_path)
    weight = numpy_helper.from_array(np.zeros((4, 3, 3, 3), dtype=np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"], name="conv", kernel_shape=[3, 3]),
         helper.make_node("Relu", ["y"], ["z"], name="-1+2")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 4, 6, 6])], [weight])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]),
              "@model.onnx")
    layers = cli("analyze", "@model.onnx", "--layers", "-f", "csv")
    assert layers.exit_code == 0, layers.stderr
    compared = cli("compare", "@model.onnx", "mobilenet_v1", "-f", "csv")
    assert compared.exit_code == 0, compared.stderr
    for text in (layers.stdout, compared.stdout):
        cells = text_cells(text)
        assert not [c for c in cells if c.startswith(FORMULA)], text
    assert any(c.startswith("'-1") for c in text_cells(layers.stdout))  # the relu's name
    assert "'@model.onnx" in text_cells(compared.stdout)  # the model's label


def test_the_csv_renderer_quotes_text_not_numbers():
    from cnncost.report.render import to_csv
    from cnncost.report.tables import COUNT, SHARE, TEXT, Column, Table

    table = Table("t", (Column("name", "name", TEXT), Column("n", "n", COUNT),
                        Column("share", "share", SHARE)),
                  rows=({"name": "=1+1", "n": -3, "share": -0.25},
                        {"name": "+x", "n": 0, "share": 0.5},
                        {"name": "@SUM(A1)", "n": 1, "share": 0.0},
                        {"name": "-x", "n": 2, "share": 1.0},
                        {"name": "plain-name", "n": 3, "share": 0.1}))
    assert to_csv(table).splitlines() == [
        "name,n,share",
        "'=1+1,-3,-0.250000",  # a negative number stays a number
        "'+x,0,0.500000",
        "'@SUM(A1),1,0.000000",
        "'-x,2,1.000000",
        "plain-name,3,0.100000"]
