"""Pictures (issue 12): the roofline, the per-layer chart and the scatter render to PNG and SVG
with the expected points; the Pareto front is the one worked out by hand; bad input exits 2
without a traceback or a file; the HTML report is self-contained, escapes names, sorts its
table, and runs in a headless browser without errors (skipped where none is installed)."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from xml.etree import ElementTree

import pytest

from cnncost.pipeline import analyze
from cnncost.frontends.builder import GraphBuilder, make_op
from cnncost.estimate.devices import load_device
from cnncost.passes.latency import Device
from cnncost.frontends.library import load_model
from cnncost.report.points import pareto_front, read_rows

from cnncost.report import charts as plots  # draws with matplotlib (the dev extra): CI runs all

from conftest import cli

SMALL = "mobilenet_v1@alpha=0.25,resolution=128"  # 85 layers
SVG = "{http://www.w3.org/2000/svg}"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
HOSTILE = "<img src=x onerror=alert(1)>&\"'$x$"


def groups(svg: bytes | str, prefix: str) -> dict[str, ElementTree.Element]:
    """The SVG's groups whose id starts with ``prefix``, by id."""
    root = ElementTree.fromstring(svg)
    return {g.get("id"): g for g in root.iter(f"{SVG}g") if g.get("id", "").startswith(prefix)}


def markers(svg: bytes | str, prefix: str) -> int:
    """Points drawn as markers (one <use> each) in the groups whose id starts with prefix."""
    return sum(len(list(g.iter(f"{SVG}use"))) for g in groups(svg, prefix).values())


def words(svg: bytes | str) -> str:
    """The SVG's text, each element's joined by a space (a wrapped note is several)."""
    texts = (" ".join(t.itertext()) for t in ElementTree.fromstring(svg).iter(f"{SVG}text"))
    return re.sub(r"\s+", " ", " ".join(texts))


def written(result, path: Path) -> bytes:
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "" and f"wrote {path}" in result.stderr
    return path.read_bytes()


def refused(result, *fragments: str) -> str:
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr)
    return result.stderr


@pytest.fixture(scope="module")
def small():
    return analyze(load_model(SMALL), device=load_device("desktop_cpu"))


# -- the roofline ------------------------------------------------------------------------------

def test_one_kernel_on_the_roofline_by_hand():
    # 1x1 conv 16 -> 32 on 8x8: 64*16*32 = 32,768 mult-adds; mem_access 64*48 + 512 = 3,584
    # elements = 14,336 bytes: intensity 32,768 / 14,336 = 2.2857 mult-adds per byte.
    # compute at 1e9 * 0.5 = 5e8/s takes 65.536 us > memory 14.336 us: it attains the
    # pointwise roof, 32,768 / 65.536 us = 5e8 mult-adds per second
    b = GraphBuilder("pw", (1, 16, 8, 8))
    b.add("relu", make_op("relu"), [b.add("conv", make_op("conv2d", out_channels=32,
                                                             kernel=1), [0])])
    device = Device(name="plain", peak_mult_adds={"fp32": 1e9}, bandwidth=1e9,
                    efficiency={"pointwise": 0.5})
    (point,), left_out = plots.roofline_points(analyze(b.graph(), device=device))
    assert (point.name, point.kind, point.bound) == ("conv", "pointwise", "compute")
    assert point.intensity == pytest.approx(32_768 / 14_336)
    assert point.rate == pytest.approx(5e8)
    assert left_out == 1  # the relu: no mult-adds


def test_the_roofline_moves_the_bytes_the_estimate_moves():
    from dataclasses import replace

    from cnncost.passes.latency import kernel_bytes

    # 3x3 conv 16 -> 32 on 8x8: 64 x 16 x 32 x 9 = 294,912 mult-adds; mem_access 1,024 in +
    # 2,048 out + 4,608 weights = 7,680 elements. An im2col CPU adds its column matrix,
    # 2 x 64 x 16 x 9 = 18,432 elements: fp32, (7,680 + 18,432) x 4 = 104,448 bytes
    b = GraphBuilder("c3", (1, 16, 8, 8))
    b.add("conv", make_op("conv2d", out_channels=32, kernel=3, padding=1), [0])
    cpu = Device(name="cpu", peak_mult_adds={"fp32": 1e9}, bandwidth=1e9, im2col=True)
    (point,), _ = plots.roofline_points(analyze(b.graph(), device=cpu))
    assert point.intensity == pytest.approx(294_912 / 104_448)
    # run as Winograd in fp16 it builds no column matrix, and its elements are 2 bytes:
    # 7,680 x 2 = 15,360 bytes
    fast = replace(cpu, winograd=4, compute_dtype="fp16")
    (point,), _ = plots.roofline_points(analyze(b.graph(), device=fast))
    assert point.intensity == pytest.approx(294_912 / 15_360)
    # a whole network: every point's bytes are the estimate's bytes for its kernel
    device = replace(load_device("desktop_cpu"), winograd=2, compute_dtype="fp16")
    a = analyze(load_model("resnet18"), device=device)
    by_node = {k.node: k for k in a.latency.kernels}
    placed, _ = plots.roofline_points(a)
    assert any(by_node[m.node].winograd for m in placed)
    for m in placed:
        k = by_node[m.node]
        assert k.mult_adds / m.intensity == pytest.approx(kernel_bytes(k, device))


@pytest.mark.parametrize("fmt", ["png", "svg"])
def test_roofline_renders(tmp_path, small, fmt):
    out = tmp_path / f"roof.{fmt}"
    data = written(cli("plot", "roofline", SMALL, "--device", "desktop_cpu", "-o", str(out)),
                   out)
    placed, left_out = plots.roofline_points(small)
    # mobilenet_v1 fused as desktop_cpu runs it (bn-act: BN and ReLU6 run in the conv's
    # kernel): 14 convs, 13 depthwise convs and the classifier do multiply-adds; the average
    # pool does not (dropout and flatten launch no kernel)
    assert (len(placed), left_out) == (28, 1)
    if fmt == "png":
        assert data.startswith(PNG_SIGNATURE) and len(data) > 10_000
        return
    assert markers(data, "kernels-") == 28
    kinds = {gid.split("-")[1] for gid in groups(data, "kernels-")}
    assert kinds == {"conv", "pointwise", "depthwise", "linear"}
    text = words(data)
    assert "arithmetic intensity (mult-adds per byte moved)" in text
    assert "Not shown: 1 kernel without mult-adds" in text


def test_a_roofline_needs_a_device(tmp_path):
    out = tmp_path / "roof.png"
    refused(cli("plot", "roofline", SMALL, "-o", str(out)), "a roofline needs a device profile",
            "hint: add --device NAME")
    assert not out.exists()


# -- the layers chart --------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["png", "svg"])
def test_layers_chart_renders(tmp_path, fmt):
    out = tmp_path / f"layers.{fmt}"
    data = written(cli("plot", "layers", SMALL, "-o", str(out)), out)
    if fmt == "png":
        assert data.startswith(PNG_SIGNATURE)
        return
    # one bar per layer (85, the input left out) in each panel, in topological order
    assert len(groups(data, "mult_adds-")) == len(groups(data, "mem_access-")) == 85
    assert not groups(data, "latency-")
    text = data.decode()
    assert "mult-adds" in text and "(multiply-accumulates)" in text
    assert "(memory access cost, elements)" in text


def test_layers_chart_with_the_estimated_latency(small):
    data = plots.layers_figure(small, "svg")
    assert len(groups(data, "latency-")) == 85
    assert "compute-bound" in data.decode()
    assert plots.layers_figure(small, "svg") == data  # no date, fixed ids: reproducible


def test_layer_series_follow_the_analysis(small):
    series = plots.layer_series(small)
    assert len(series.names) == 85 and series.names[0] == "Conv2d_0.conv"
    assert sum(series.mult_adds) == small.totals.mult_adds
    assert sum(series.mem_access) == small.totals.mem_access
    assert series.blocks[0] == (1, 3, "Conv2d_0")  # conv, bn, relu6


# -- the scatter and its Pareto front ----------------------------------------------------------

def test_the_pareto_front_by_hand():
    # (x, y), smaller is better on both:
    #   a (1, 9)  front: nothing has x <= 1 but itself
    #   b (2, 4)  front
    #   c (3, 4)  off: b has the same y at a smaller x
    #   d (4, 2)  front
    #   e (5, 5)  off: b and d beat it on both
    #   f (4, 2)  front: equal to d, neither beats the other
    #   g (9, 1)  front
    xs = [1, 2, 3, 4, 5, 4, 9]
    ys = [9, 4, 4, 2, 5, 2, 1]
    assert pareto_front(xs, ys) == (True, True, False, True, False, True, True)
    # smaller x and larger y: a (1, 9) has both the smallest x and the largest y
    assert pareto_front(xs, ys, (False, True)) == (True, False, False, False, False, False,
                                                   False)
    # larger is better on both: g has the largest x, a the largest y, and nothing beats
    # e (5, 5) on both (only g has a larger x, with y 1); e beats b, c, d and f
    assert pareto_front(xs, ys, (True, True)) == (True, False, False, False, True, False, True)
    assert pareto_front([], []) == ()


ROWS = """label,alpha,resolution,mult_adds,latency
a,0.25,128,1,9
b,0.25,160,2,4
c,0.5,128,3,4
d,0.5,160,4,2
e,0.75,128,5,5
f,0.75,160,4,2
g,1.0,224,9,1
"""


@pytest.mark.parametrize("fmt", ["png", "svg"])
def test_scatter_of_sweep_rows(tmp_path, fmt):
    rows = tmp_path / "sweep.csv"
    rows.write_text(ROWS)
    out = tmp_path / f"s.{fmt}"
    data = written(cli("plot", "scatter", "--rows", str(rows), "--x", "mult_adds", "--y",
                       "latency", "-o", str(out)), out)
    if fmt == "png":
        assert data.startswith(PNG_SIGNATURE)
        return
    # the front worked out above: a, b, d, f, g; c and e are dominated
    assert markers(data, "pareto") == 5 and markers(data, "points") == 2
    texts = ["".join(t.itertext()) for t in ElementTree.fromstring(data).iter(f"{SVG}text")]
    assert all(name in texts for name in "abcdefg")  # seven points: every one labelled
    assert "mult-adds (multiply-accumulates)" in texts
    assert "latency (estimated), seconds" in texts


def test_scatter_labels_only_the_front_when_there_are_many_points(tmp_path):
    # 40 points on a line y = 40 - x ... all on the front; plus 40 points above it, all off
    lines = ["label,x,y"] + [f"on{i},{i},{40 - i}" for i in range(40)] + \
            [f"off{i},{i},{50 - i}" for i in range(40)]
    rows = tmp_path / "many.csv"
    rows.write_text("\n".join(lines) + "\n")
    data = plots.scatter_figure(read_rows(str(rows)), "x", "y", fmt="svg")
    assert markers(data, "pareto") == 40 and markers(data, "points") == 40
    texts = {"".join(t.itertext()) for t in ElementTree.fromstring(data).iter(f"{SVG}text")}
    labelled = {t for t in texts if re.fullmatch(r"o(n|ff)\d+", t)}
    assert labelled and all(t.startswith("on") for t in labelled) and len(labelled) <= 25


def test_scatter_of_json_lines_without_a_label_column(tmp_path):
    rows = tmp_path / "sweep.jsonl"
    rows.write_text('{"width": 1, "cost": 3}\n\n{"width": 2, "cost": 1}\n'
                    '{"width": 3, "cost": null}\n')
    data = plots.scatter_figure(read_rows(str(rows)), "width", "cost", fmt="svg")
    assert markers(data, "pareto") + markers(data, "points") == 2  # the null one left out
    assert "Not shown: 1 row without a value for width or cost." in words(data)


def test_scatter_of_models_as_compare_loads_them(tmp_path):
    out = tmp_path / "models.svg"
    data = written(cli("plot", "scatter", SMALL, "mobilenet_v1@alpha=0.5,resolution=128",
                       "mobilenet_v1@alpha=0.75,resolution=128", "--x", "mult_adds", "--y",
                       "latency", "--device", "desktop_cpu", "-o", str(out)), out)
    assert markers(data, "pareto") + markers(data, "points") == 3
    assert SMALL in data.decode()


def test_hostile_labels_are_text_in_the_chart(tmp_path):
    rows = tmp_path / "h.csv"
    rows.write_text(f'label,x,y\n"{HOSTILE.replace(chr(34), chr(34) * 2)}",1,2\n"\x1b[31m",2,1\n')
    data = plots.scatter_figure(read_rows(str(rows)), "x", "y", fmt="svg")
    texts = {"".join(t.itertext()) for t in ElementTree.fromstring(data).iter(f"{SVG}text")}
    assert HOSTILE in texts  # '$x$' stays a dollar sign, not mathtext
    assert "\\x1b[31m" in texts  # a control character is shown, never written


def drawn_scatter(monkeypatch, rows, x: str, y: str, fmt: str, **options):
    """The scatter's bytes, and the matplotlib Figure they were saved from (to measure it)."""
    from matplotlib.figure import Figure

    figures = []
    save = Figure.savefig

    def keep(figure, *args, **kwargs):
        figures.append(figure)
        return save(figure, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", keep)
    data = plots.scatter_figure(rows, x, y, fmt=fmt, **options)
    return data, figures[-1]


def label_boxes(figure) -> tuple[list, object]:
    """The window extents of the points' labels (their text, without leader lines), and the
    axes' extent, measured with the renderer of the layout the chart was saved with."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.text import Text

    renderer = FigureCanvasAgg(figure).get_renderer()
    ax = figure.axes[0]
    labels = [t for t in ax.texts if t.get_gid() == "point-label"]
    for label in labels:
        label.update_positions(renderer)
    return [Text.get_window_extent(t, renderer) for t in labels], ax.get_window_extent(renderer)


@pytest.mark.parametrize("fmt", ["png", "svg"])
def test_scatter_labels_never_overlap_nor_touch_the_frame(monkeypatch, tmp_path, fmt):
    # 15 points (every one labelled) in a tight cluster whose long labels cannot all sit
    # beside their points, a second cluster at the frame's corner, and one point far away
    lines = ["label,x,y"] + [f'"mobilenet_v2@width={1 + i / 100:.2f},resolution=224",'
                             f"{100 + (i % 4) * 0.4},{50 + (i // 4) * 0.3}" for i in range(10)]
    lines += [f"corner{i},{900 + i},{900 - i}" for i in range(4)] + ["alone,500,400"]
    path = tmp_path / "crowd.csv"
    path.write_text("\n".join(lines) + "\n")
    data, figure = drawn_scatter(monkeypatch, read_rows(str(path)), "x", "y", fmt)
    boxes, frame = label_boxes(figure)
    assert 4 <= len(boxes) < 15  # some found room, some could not (and the note says so)
    for i, a in enumerate(boxes):
        # inside the axes, a pixel or more from the frame
        assert frame.x0 + 1 <= a.x0 and a.x1 <= frame.x1 - 1, (i, a, frame)
        assert frame.y0 + 1 <= a.y0 and a.y1 <= frame.y1 - 1, (i, a, frame)
        for b in boxes[i + 1:]:
            assert not a.overlaps(b), (a, b)
    note = f"Labelled: {len(boxes)} of the 15 points; {15 - len(boxes)} left out"
    if fmt == "svg":
        assert note in words(data)
        assert "alone" in words(data) and "corner0" in words(data)
    else:
        assert data.startswith(PNG_SIGNATURE)
        assert note in figure.get_supxlabel().replace("\n", " ")


def test_scatter_labels_are_placed_the_same_every_time(monkeypatch, tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text(ROWS)
    first = plots.scatter_figure(read_rows(str(path)), "mult_adds", "latency", fmt="svg")
    assert first == plots.scatter_figure(read_rows(str(path)), "mult_adds", "latency",
                                         fmt="svg")


def test_maximize_names_a_column_as_sweep_does(tmp_path):
    rows = tmp_path / "sweep.csv"
    rows.write_text(ROWS)
    by_name, by_axis = tmp_path / "name.svg", tmp_path / "axis.svg"
    common = ("plot", "scatter", "--rows", str(rows), "--x", "mult_adds", "--y", "latency")
    named = written(cli(*common, "--maximize", "latency", "-o", str(by_name)), by_name)
    assert named == written(cli(*common, "--maximize", "y", "-o", str(by_axis)), by_axis)
    # smaller mult_adds, larger latency: a (1, 9) beats every other point
    assert markers(named, "pareto") == 1 and markers(named, "points") == 6
    refused(cli(*common, "--maximize", "resolution", "-o", str(tmp_path / "s.svg")),
            "--maximize resolution: the Pareto front is of mult_adds and latency")


def test_every_documented_scatter_has_a_front_of_more_than_one_point(tmp_path):
    import shlex

    from conftest import ROOT
    from test_docs import shell_examples

    documented = [line for _, _, lines in shell_examples() for line in lines
                  if line.startswith("cnncost plot scatter")]
    assert len(documented) >= 2  # docs/plots.md: models, and a sweep's rows
    for line in documented:
        words_ = shlex.split(line)[1:]
        at = words_.index("-o")
        out = tmp_path / Path(words_[at + 1]).with_suffix(".svg").name
        words_[at + 1] = str(out)
        words_ = [str(ROOT / w) if w.startswith("docs/") else w for w in words_]
        data = written(cli(*words_), out)
        assert markers(data, "pareto") > 1, line


# -- bad input: exit 2, a message with a hint, no traceback, no file ---------------------------

def test_an_unknown_metric_has_a_did_you_mean(tmp_path):
    out = tmp_path / "s.png"
    refused(cli("plot", "scatter", SMALL, "--x", "mult_add", "--y", "mem_access", "-o",
                str(out)), "--x mult_add: no such metric", "did you mean 'mult_adds'?")
    refused(cli("plot", "scatter", SMALL, "--x", "mult_adds", "--y", "latency", "-o", str(out)),
            "latency is estimated on a device profile", "add --device NAME")
    rows = tmp_path / "sweep.csv"
    rows.write_text(ROWS)
    refused(cli("plot", "scatter", "--rows", str(rows), "--x", "resolutoin", "-o", str(out)),
            f"{rows} has no column 'resolutoin'", "did you mean 'resolution'?")
    refused(cli("plot", "scatter", "--rows", str(rows), "--x", "label", "-o", str(out)),
            f"{rows}:2: a is not a number")
    refused(cli("plot", "scatter", "--rows", str(rows), "--x", "mult_adds", "--y", "latency",
                "--label", "nmae", "-o", str(out)),
            "--label nmae: no such column")
    assert not out.exists()


@pytest.mark.parametrize("name,text,fragment", [
    ("missing.csv", None, "no such file"),
    ("ragged.csv", "label,x\na,1,2\n", "ragged.csv:2: 3 values for 2 columns"),
    ("empty.csv", "", "the first line names the columns"),
    ("header.csv", "label,x\n", "has no rows"),
    ("bad.jsonl", '{"x": 1}\n{"x": \n', "bad.jsonl:2: not JSON"),
    ("nested.jsonl", '{"x": {"y": 1}}\n', "each line is one flat JSON object"),
    ("rows.txt", "x\n1\n", "cnncost reads rows from .csv or .jsonl files"),
    ("binary.csv", b"\xff\xfe\x00x", "is not UTF-8 text"),
])
def test_unreadable_rows_files(tmp_path, name, text, fragment):
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    elif text is not None:
        path.write_text(text)
    out = tmp_path / "s.svg"
    refused(cli("plot", "scatter", "--rows", str(path), "--x", "x", "-o", str(out)), fragment)
    assert not out.exists()


def test_other_refusals(tmp_path):
    out = tmp_path / "s.png"
    refused(cli("plot", "scatter", "-o", str(out)), "give either SPECs to compare or --rows")
    refused(cli("plot", "layers", SMALL, "-o", str(tmp_path / "s.pdf")),
            "a chart is a .png or .svg file")
    refused(cli("plot", "scatter", SMALL, "--maximize", "z", "-o", str(out)), "--maximize z")
    refused(cli("plot", "layers", "no_such_spec", "-o", str(out)), "no_such_spec")
    refused(cli("plot", "layers", SMALL, "-o", str(tmp_path / "no" / "dir.png")), "cannot write")
    refused(cli("plot", "roofline", SMALL, "--device", "desktop_cpy", "-o", str(out)),
            "did you mean 'desktop_cpu'?")
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_without_matplotlib(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib fails
    out = tmp_path / "l.png"
    refused(cli("plot", "layers", SMALL, "-o", str(out)), "drawing charts needs matplotlib",
            "hint: pip install 'cnncost[plot]'")
    refused(cli("report", SMALL, "-o", str(tmp_path / "r.html")),
            "the report's charts need matplotlib", "--no-charts")
    assert list(tmp_path.iterdir()) == []
    result = cli("report", SMALL, "--no-charts")
    assert result.exit_code == 0 and "<svg" not in result.stdout
    assert "<table" in result.stdout


def test_cnncost_and_analyze_never_import_matplotlib():
    code = ("import sys, cnncost\n"
            "from cnncost.cli import main\n"
            "sys.argv = ['cnncost', 'analyze', 'mobilenet_v1@alpha=0.25', '--layers']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "assert 'matplotlib' not in sys.modules, 'matplotlib imported'\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr


# -- the HTML report ---------------------------------------------------------------------------

class Page(HTMLParser):
    """What a test reads from the report: the layer table's rows, scripts, every URL-bearing
    attribute, and whether the tags nest."""

    def __init__(self):
        super().__init__()
        self.open: list[str] = []
        self.tables: list[dict] = []
        self.attributes: list[tuple[str, str]] = []
        self.scripts: list[str] = []
        self.svgs = 0
        self.mismatched: list[str] = []

    VOID = {"meta", "br", "input", "img", "link", "hr", "wbr"}

    def handle_starttag(self, tag, attrs):
        self.attributes += [(k, v or "") for k, v in attrs]
        if tag == "table":
            self.tables.append({"class": dict(attrs).get("class"), "body_rows": 0,
                                "headers": []})
        elif tag == "tr" and "tbody" in self.open:
            self.tables[-1]["body_rows"] += 1
        elif tag == "svg":
            self.svgs += 1
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.attributes += [(k, v or "") for k, v in attrs]

    def handle_endtag(self, tag):
        if not self.open or self.open[-1] != tag:
            self.mismatched.append(tag)
        else:
            self.open.pop()

    def handle_data(self, data):
        if self.open and self.open[-1] == "script":
            self.scripts.append(data)
        if self.open and self.open[-1] in ("th", "small") and "thead" in self.open:
            self.tables[-1]["headers"].append(data)


def parse(page: str) -> Page:
    parser = Page()
    parser.feed(page)
    parser.close()
    return parser


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    path = tmp_path_factory.mktemp("report") / "report.html"
    result = cli("report", SMALL, "--device", "desktop_cpu", "-o", str(path))
    written(result, path)
    return path


def test_the_report_is_one_well_formed_page(report, small):
    page = report.read_text()
    parsed = parse(page)
    assert page.startswith("<!DOCTYPE html>") and not parsed.mismatched and not parsed.open
    sortable = [t for t in parsed.tables if t["class"] == "sortable"]
    assert len(sortable) == 1 and sortable[0]["body_rows"] == 85  # one row per layer
    assert "#" in sortable[0]["headers"] and "mult-adds" in sortable[0]["headers"]
    assert parsed.svgs == 2  # the layers chart and the roofline
    assert any("sortBy" in s and "aria-sort" in s for s in parsed.scripts)
    assert "estimated latency on desktop_cpu" in page and "G4" in page  # summary, guidelines
    # the numbers sort as numbers: each cell carries its raw value
    assert f'data-value="{small.costs[1].mult_adds}"' in page


def test_the_report_works_offline(report):
    page = report.read_text()
    assert "http" not in page  # no URL at all, not even an XML namespace
    for name, value in parse(page).attributes:
        assert name not in ("src", "srcset", "action"), (name, value)
        if name in ("href", "xlink:href"):
            assert value.startswith("#"), value  # links within the page only
    assert "<link" not in page and "@import" not in page
    assert not re.search(r"url\((?!#)", page)
    # every link and reference within the page finds its target, and no id is used twice
    # (the two charts' ids are prefixed apart)
    ids = [value for name, value in parse(page).attributes if name == "id"]
    assert len(ids) == len(set(ids))
    targets = re.findall(r'href="#([^"]+)"', page) + re.findall(r"url\(#([^)]+)\)", page)
    assert targets and set(targets) <= set(ids)


def test_the_report_escapes_every_name(tmp_path):
    b = GraphBuilder(HOSTILE, (1, 3, 8, 8))
    b.add(HOSTILE, make_op("conv2d", out_channels=4, kernel=3), [0])
    from cnncost.report.html import report_html

    page = report_html(analyze(b.graph()))
    assert HOSTILE not in page and "<img" not in page
    assert html.escape(HOSTILE, quote=True) in page  # in the title, the table ...
    assert "&lt;img src=x onerror=alert(1)&gt;" in page  # ... and the chart's text
    assert not parse(page).mismatched
    spec = tmp_path / "h.yaml"
    spec.write_text('name: "<b>net & \'q\'</b>"\ndescription: "a <script>alert(1)</script>"\n'
                    "input: {shape: [3, 8, 8]}\nlayers:\n  - {op: relu}\n")
    result = cli("report", str(spec), "--no-charts")
    assert result.exit_code == 0, result.stderr
    assert "<script>alert" not in result.stdout and "<b>net" not in result.stdout
    assert "&lt;b&gt;net &amp; &#x27;q&#x27;&lt;/b&gt;" in result.stdout


# -- the report in a real browser --------------------------------------------------------------

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CATCH_ERRORS = ('<script>window.__errors = []; window.addEventListener("error", function (e) '
                '{ window.__errors.push(String(e.message)); });</script>')
# after the page's own script: sort by mult-adds twice (descending), and report what happened
PROBE = """<script>
(function () {
  var table = document.querySelector("table.sortable");
  var header = Array.prototype.filter.call(table.tHead.rows[0].cells, function (th) {
    return th.textContent.indexOf("mult-adds") === 0; })[0];
  header.click();
  header.click();
  var values = Array.prototype.map.call(table.tBodies[0].rows, function (row) {
    return parseFloat(row.cells[header.cellIndex].getAttribute("data-value")); });
  document.body.setAttribute("data-probe", JSON.stringify({errors: window.__errors,
    sort: header.getAttribute("aria-sort"), values: values,
    svgs: document.querySelectorAll("figure svg").length}));
})();
</script>"""


def browser() -> str | None:
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    return None


def headless_browser() -> str:
    """The browser to run pages in; the test is skipped when there is none."""
    found = browser()
    if found is None:
        others = [n for n in ("firefox",) if shutil.which(n)]
        pytest.skip("no headless browser installed: none of " + ", ".join(BROWSERS) +
                    (f" (found {others[0]}, which cannot dump the page's DOM)" if others else "")
                    + "; on Debian: apt-get install chromium")
    return found


def probed(found: str, page: str, tmp_path: Path, *options: str) -> dict:
    """Load ``page`` in the headless browser; what its probe script wrote into the body's
    data-probe attribute."""
    probe = tmp_path / "probe.html"
    probe.write_text(page)
    result = subprocess.run(
        [found, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", *options, "--dump-dom",
         probe.as_uri()], capture_output=True, text=True, timeout=120)
    match = re.search(r'data-probe="([^"]*)"', result.stdout)
    assert match, result.stderr[-2000:]
    return json.loads(html.unescape(match.group(1)))


@pytest.mark.slow
def test_the_report_runs_in_a_headless_browser(report, tmp_path):
    found = headless_browser()
    page = report.read_text()
    state = probed(found, page.replace("<head>", "<head>\n" + CATCH_ERRORS, 1)
                   .replace("</body>", PROBE + "\n</body>", 1), tmp_path)
    assert state["errors"] == [] and state["svgs"] == 2
    assert state["sort"] == "descending" and len(state["values"]) == 85
    assert state["values"] == sorted(state["values"], reverse=True)


# how wide the page is, and each table's box: its content's width and the width it is given
WIDTHS = """<script>
document.body.setAttribute("data-probe", JSON.stringify({
  page: document.documentElement.scrollWidth,
  tables: Array.prototype.map.call(document.querySelectorAll(".wide"), function (box) {
    return [box.querySelector("thead").textContent.trim().slice(0, 40), box.scrollWidth,
            box.clientWidth]; })}));
</script>"""


@pytest.mark.slow
def test_the_report_fits_a_1400_pixel_window(tmp_path):
    """At 1400 px the page never scrolls sideways, and each table of mobilenet_v2 with a device
    (the per-layer table's 15 columns, latency and bound among them) fits its box."""
    found = headless_browser()
    path = tmp_path / "report.html"
    written(cli("report", "mobilenet_v2", "--device", "phone_soc", "--no-charts", "-o",
                str(path)), path)
    state = probed(found, path.read_text().replace("</body>", WIDTHS + "\n</body>", 1),
                   tmp_path, "--window-size=1400,900")
    assert 0 < state["page"] <= 1400
    assert len(state["tables"]) == 6  # summary, guidelines, findings, by op, by block, layers
    for header, content, box in state["tables"]:
        assert content <= box, f"the table headed {header!r} is {content} px in {box} px"


def test_the_report_has_the_findings_and_the_roll_ups(report, small):
    page = report.read_text()
    tables = parse(page).tables
    # summary, guidelines, findings, by op type, by block, per layer
    assert len(tables) == 6
    findings = sum(min(10, len(v.findings)) for v in small.guidelines)
    assert findings > 0 and tables[2]["body_rows"] == findings  # the 10 costliest each
    assert tables[3]["body_rows"] == len(small.by_kind) and "weights" in tables[3]["headers"]
    assert tables[4]["body_rows"] == len(small.blocks) and "kernels" in tables[4]["headers"]
    costliest = max((f for v in small.guidelines for f in v.findings),
                    key=lambda f: f.mem_access)
    assert html.escape(costliest.subject).replace(".", ".<wbr>") in page
    for section in ("guidelines", "by-op", "by-block", "layers"):
        assert f'<a href="#{section}">' in page and f'<section id="{section}">' in page


def test_the_report_shows_no_markdown():
    """cnncost's notes write commands in backticks; the page sets them as code."""
    from cnncost.report.html import prose

    assert prose("`cnncost guidelines` lists <all>") == \
        "<code>cnncost guidelines</code> lists &lt;all&gt;"
    result = cli("report", SMALL, "--no-charts")
    assert result.exit_code == 0, result.stderr
    text = re.sub(r"<script>.*?</script>", "", result.stdout, flags=re.DOTALL)
    assert "`" not in text and "<code>cnncost guidelines</code>" in text
