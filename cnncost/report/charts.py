"""Charts, drawn with matplotlib: the ``plot`` extra (``pip install 'cnncost[plot]'``), imported
only when a chart is drawn, never by ``import cnncost``.

- ``roofline_figure(a)``: each kernel of a model on the roofline of its device (``--device``);
- ``layers_figure(a)``: mult-adds and mem_access per layer along the depth of the network,
  and the estimated latency per layer with a device;
- ``scatter_figure(rows, x, y)``: any two numeric columns of compared models or sweep rows,
  with the Pareto front marked and the points labelled.

Each returns the chart as PNG or SVG bytes. In SVG, text stays text and each series is a group
whose id says what it holds (``kernels-pointwise-memory``, ``pareto``, ``mult_adds-12``), so
that a test or a script can count the points. What each chart shows is plain data computed
apart (``roofline_points``, ``layer_series``, cnncost/points.py).
"""

from __future__ import annotations

import io
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cnncost.pipeline import Analysis
from cnncost.core.errors import Problem, UsageError, optional_module, printable
from cnncost.core.metrics import BY_NAME, BYTES, COUNT, SECONDS, SHARE
from cnncost.core.settings import CHART_FORMATS, LAYER_KINDS
from cnncost.passes.latency import kernel_bytes
from cnncost.report.points import Rows, pareto_front, points
from cnncost.report import fmt as numbers

KINDS = (*LAYER_KINDS, "other")  # other: a kernel of no layer kind (a pool, an add)
COLORS = {"conv": "#1f77b4", "pointwise": "#ff7f0e", "depthwise": "#2ca02c",
          "grouped": "#9467bd", "linear": "#8c564b", "other": "#7f7f7f",
          "compute": "#1f77b4", "memory": "#d62728", "": "#7f7f7f"}
STYLE = {"svg.fonttype": "none",  # text stays text: smaller, searchable, testable
         "text.parse_math": False,  # a '$' in a name is a dollar, not mathtext
         "font.size": 9, "axes.titlesize": 10, "legend.fontsize": 8}
SVG_METADATA = {"Creator": None, "Date": None, "Format": None, "Type": None}  # reproducible,
# and no URL in a report that must work offline
DPI = 120
MAX_BARS = 2000  # per-layer bars up to this many layers; one filled outline beyond
ALL_LABELS = 15  # a scatter of at most this many points labels every point ...
FRONT_LABELS = 25  # ... beyond, only points of the Pareto front, at most this many
LOG_SPAN = 100  # an axis is logarithmic when its values are positive and span more than this


def matplotlib_module() -> Any:
    """matplotlib, drawing without a screen, or a clear message when it is not installed."""
    matplotlib = optional_module("matplotlib", "drawing charts needs matplotlib", "plot")
    if "matplotlib.pyplot" not in sys.modules:  # a notebook's pyplot keeps its own backend;
        matplotlib.use("Agg")  # cnncost draws on Figure objects and needs none
    return matplotlib


def render(draw: Callable[[Any], None], fmt: str, size: tuple[float, float],
           salt: str = "cnncost") -> bytes:
    """A new figure of ``size`` inches, drawn by ``draw(figure)``, as PNG or SVG bytes.
    ``salt`` keeps the ids of two SVG charts in one page apart."""
    if fmt not in CHART_FORMATS:
        raise UsageError(Problem(f"cannot draw a chart as {fmt!r}",
                                 hint="charts are " + " or ".join(CHART_FORMATS)))
    mpl = matplotlib_module()
    from matplotlib.figure import Figure

    with mpl.rc_context({**STYLE, "svg.hashsalt": salt}):
        figure = Figure(figsize=size, layout="constrained")
        draw(figure)
        buffer = io.BytesIO()
        figure.savefig(buffer, format=fmt, dpi=DPI,
                       metadata=SVG_METADATA if fmt == "svg" else {})
    return buffer.getvalue()


def text(value: Any, limit: int = 60) -> str:
    """A name as a chart shows it: control characters escaped, cut to ``limit``."""
    shown = printable(str(value))
    return shown if len(shown) <= limit else shown[:limit - 3] + "..."


def axis_label(name: str) -> str:
    """An axis named by a metric spells it out: ``mult-adds (multiply-accumulates)``; any
    other column keeps its name."""
    metric = BY_NAME.get(name)
    if metric is None:
        return text(name)
    label = metric.header.replace("\n", " ")
    unit = {BYTES: "bytes", SECONDS: "seconds", SHARE: "share"}.get(metric.unit)
    return f"{label}, {unit}" if unit and unit not in label else label


def formatter(name: str) -> Any:
    """Tick labels in the metric's unit: 569M, 6.12 MiB, 7.23 ms, 72.85%."""
    from matplotlib.ticker import FuncFormatter

    unit = BY_NAME[name].unit if name in BY_NAME else COUNT
    show = {BYTES: lambda v: numbers.human_bytes(int(v)) if v >= 0 else f"{v:g}",
            SECONDS: lambda v: numbers.seconds(v) if v >= 0 else f"{v:g}",
            SHARE: numbers.percent}.get(unit, lambda v: numbers.human(float(f"{v:.6g}")))
    return FuncFormatter(lambda value, _: show(value))


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def per_second(value: float, unit: str) -> str:
    """``5e10, "B"`` -> ``50 GB/s``."""
    shown = numbers.human(value)
    if shown[-1].isalpha():
        shown = f"{shown[:-1]} {shown[-1]}"
    return f"{shown}{unit}/s"


def _notes(figure: Any, lines: list[str], width: int) -> Any:
    """The notes under a chart, wrapped at ``width`` characters: their Text (None if none)."""
    if lines:
        return figure.supxlabel(_wrapped(lines, width), fontsize="small", color="0.3",
                                ha="left", x=0.01)
    return None


def _wrapped(lines: list[str], width: int) -> str:
    return "\n".join(textwrap.fill(line, width) for line in lines)


# -- roofline ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class KernelPoint:
    """One kernel on the roofline."""

    node: int  # the node that launches it
    name: str
    kind: str  # conv, pointwise, depthwise, grouped, linear (other: none of these)
    intensity: float  # mult-adds per byte moved
    rate: float  # mult-adds per second attained: its mult_adds over its estimated seconds
    bound: str  # compute or memory


def roofline_points(a: Analysis) -> tuple[tuple[KernelPoint, ...], int]:
    """The kernels that do multiply-adds, placed on the roofline, and how many kernels without
    any (pooling, adds, activations) are left out."""
    if a.latency is None:
        raise UsageError(Problem("a roofline needs a device profile",
                                 hint="add --device NAME (cnncost devices lists them)"))
    estimate, device = a.latency, a.latency.device
    placed, left_out = [], 0
    for k in estimate.kernels:
        seconds = estimate.seconds[k.node]
        moved = kernel_bytes(k, device)  # as the estimate moves them (im2col, Winograd)
        if not k.mult_adds or not seconds or not moved:
            left_out += 1
            continue
        placed.append(KernelPoint(k.node, a.graph.nodes[k.node].name, k.kind or "other",
                                  k.mult_adds / moved, k.mult_adds / seconds,
                                  estimate.bound[k.node]))
    return tuple(placed), left_out


def roofline_figure(a: Analysis, fmt: str = "png") -> bytes:
    """Each kernel at x = mult-adds per byte moved and y = mult-adds per second attained (its
    estimated time, launch included), under the device's roofs: the peak, the share of it each
    kind of layer reaches, and the memory bandwidth (and the cache's)."""
    marks, left_out = roofline_points(a)
    device, dtype = a.latency.device, a.latency.dtype
    peak = device.peak_mult_adds.get(dtype) or device.peak_mult_adds["fp32"]
    slopes = [("main memory", device.bandwidth, "-")]
    if device.cache_bytes and device.cache_bandwidth:
        slopes.append((f"cache ({numbers.human_bytes(int(device.cache_bytes))})",
                       device.cache_bandwidth, ":"))
    kinds = [k for k in KINDS if any(m.kind == k for m in marks)]

    def draw(figure: Any) -> None:
        ax = figure.add_subplot()
        ax.set_xscale("log")
        ax.set_yscale("log")
        ridges = [peak / rate for _, rate, _ in slopes]
        xs = [m.intensity for m in marks] + ridges
        low, high = min(xs) / 4, max(xs) * 4
        ys = [m.rate for m in marks] + [low * min(r for _, r, _ in slopes)]
        for name, rate, style in slopes:
            ax.plot([low, peak / rate], [low * rate, peak], color="black", linestyle=style,
                    linewidth=1.2, label=f"{name}: {per_second(rate, 'B')}")
        ax.plot([min(ridges), high], [peak, peak], color="black", linewidth=1.6,
                label=f"peak: {numbers.human(peak)} mult-adds/s ({dtype})")
        for kind in kinds:
            roof = device.throughput(kind, dtype) if kind != "other" else peak
            ax.axhline(roof, color=COLORS[kind], linestyle="--", linewidth=0.8,
                       label=f"{kind} roof: {roof / peak:.0%} of peak")
        for kind in kinds:
            for bound, face in (("compute", COLORS[kind]), ("memory", "none")):
                chosen = [m for m in marks if m.kind == kind and m.bound == bound]
                if chosen:
                    ax.plot([m.intensity for m in chosen], [m.rate for m in chosen],
                            linestyle="none", marker="o", markersize=5, color=COLORS[kind],
                            markerfacecolor=face, gid=f"kernels-{kind}-{bound}",
                            label=f"{kind} kernels, {bound}-bound")
        ax.set_xlim(low, high)
        ax.set_ylim(min(ys) / 2, peak * 2)
        ax.set_xlabel("arithmetic intensity (mult-adds per byte moved)")
        ax.set_ylabel("attained mult-adds per second (multiply-accumulates)")
        ax.xaxis.set_major_formatter(formatter("intensity"))
        ax.yaxis.set_major_formatter(formatter("mult_adds"))
        ax.xaxis.set_minor_formatter("")
        ax.yaxis.set_minor_formatter("")
        ax.grid(True, which="major", color="0.9")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
        ax.set_title(f"{text(a.model.title)} on {text(device.name)}: roofline, "
                     f"{len(marks)} kernels")
        _notes(figure, [
            "Each point is one kernel (after the device's fusion): x its mult-adds per byte "
            "moved, y its mult-adds over its estimated time, launch included (cnncost docs "
            "latency). Filled: compute-bound; hollow: memory-bound. " +
            ("A kernel whose bytes fit in the cache moves them at the cache's bandwidth. "
             if len(slopes) > 1 else "") +
            f"Not shown: {plural(left_out, 'kernel')} without mult-adds (pooling, adds, "
            "activations)."],
            150)

    return render(draw, fmt, (10.0, 6.0), "cnncost-roofline")


# -- per layer ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class LayerSeries:
    """Per layer in topological order (the input left out): what the layers chart shows."""

    names: tuple[str, ...]
    mult_adds: tuple[int, ...]
    mem_access: tuple[int, ...]
    latency: tuple[float, ...] | None  # seconds, with a device
    bound: tuple[str, ...] | None
    blocks: tuple[tuple[int, int, str], ...]  # first and last layer number, top-level name


def layer_series(a: Analysis) -> LayerSeries:
    nodes = range(1, len(a.graph.nodes))
    names = tuple(a.graph.nodes[i].name for i in nodes)
    blocks: list[tuple[int, int, str]] = []
    for number, name in enumerate(names, 1):
        top = name.split(".")[0]
        if blocks and blocks[-1][2] == top:
            blocks[-1] = (blocks[-1][0], number, top)
        else:
            blocks.append((number, number, top))
    estimate = a.latency
    return LayerSeries(
        names, tuple(a.costs[i].mult_adds for i in nodes),
        tuple(a.costs[i].mem_access for i in nodes),
        tuple(estimate.seconds[i] for i in nodes) if estimate else None,
        tuple(estimate.bound[i] for i in nodes) if estimate else None, tuple(blocks))


def layers_figure(a: Analysis, fmt: str = "png") -> bytes:
    """mult-adds and mem_access per layer, one panel each (and the estimated latency with a
    device), along the layers in topological order; top-level blocks shaded in turn."""
    series = layer_series(a)
    n = len(series.names)
    panels: list[tuple[str, str, tuple[Any, ...], Any]] = [
        ("mult_adds", BY_NAME["mult_adds"].header, series.mult_adds, COLORS["conv"]),
        ("mem_access", BY_NAME["mem_access"].header, series.mem_access, COLORS["pointwise"])]
    if series.latency is not None:
        panels.append(("latency", "latency\n(estimated)", series.latency,
                       [COLORS[b] for b in series.bound or ()]))
    positions = list(range(1, n + 1))

    def draw(figure: Any) -> None:
        axes = figure.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
        for ax, (key, label, values, color) in zip(axes, panels):
            for shade, (first, last, _) in enumerate(series.blocks):
                if shade % 2:
                    ax.axvspan(first - 0.5, last + 0.5, color="0.93", zorder=0, linewidth=0)
            if n <= MAX_BARS:
                bars = ax.bar(positions, values, width=0.8, color=color)
                for number, bar in zip(positions, bars):
                    bar.set_gid(f"{key}-{number}")
            else:
                ax.stairs(values, [p - 0.5 for p in [*positions, n + 1]], fill=True,
                          color=color if isinstance(color, str) else COLORS[""], gid=key)
            ax.set_ylabel(label)
            ax.yaxis.set_major_formatter(formatter(key))
            ax.set_xlim(0.5, n + 0.5)
        if series.latency is not None:
            from matplotlib.patches import Patch

            axes[-1].legend(handles=[Patch(color=COLORS["compute"], label="compute-bound"),
                                     Patch(color=COLORS["memory"], label="memory-bound")],
                            loc="upper right")
        bottom = axes[-1]
        if len(series.blocks) <= 40:
            bottom.set_xticks([(first + last) / 2 for first, last, _ in series.blocks],
                              [text(b, 24) for _, _, b in series.blocks], rotation=90,
                              fontsize="x-small")
            bottom.set_xlabel(f"{n} layers in topological order, by top-level block "
                              "(shaded in turn)")
        else:
            bottom.set_xlabel("layer number, in topological order (top-level blocks shaded "
                              "in turn)")
        axes[0].set_title(f"{text(a.model.title)}: per layer")
        notes = [f"fuse={a.fuse}, dtype={a.dtype}: "
                 + ("every op is its own kernel (ShuffleNet V2 setting)" if a.fuse == "none"
                    else "layers fused into a conv show no bars: their work is the conv's")]
        if a.latency is not None:
            notes.append(f"latency estimated on {text(a.latency.device.name)}, with its "
                         f"fusion ({a.latency.device.fuse}): a model, not a measurement")
        _notes(figure, notes, 160)

    width = min(24.0, max(9.0, 4.0 + n * 0.06))
    return render(draw, fmt, (width, 2.3 * len(panels) + 1.8), "cnncost-layers")


# -- scatter -----------------------------------------------------------------------------------

def labelled(count: int, front: tuple[bool, ...], order: list[int]) -> set[int]:
    """Which points get a label: all of them when there are few; otherwise points of the
    front (``order``: the front along x), at most FRONT_LABELS, spread along it."""
    if count <= ALL_LABELS:
        return set(range(count))
    on_front = [i for i in order if front[i]]
    step = max(1, -(-len(on_front) // FRONT_LABELS))
    return set(on_front[::step])


def label_note(count: int, chosen: int, placed: int) -> str:
    """What the labels show: every point, or points of the front; and how many had no room."""
    which = ("every point" if chosen == count else
             f"{plural(chosen, 'point')} of the Pareto front")
    if placed == chosen:
        return f"Labelled: {which}."
    left = chosen - placed
    return (f"Labelled: {placed} of {'the ' + plural(count, 'point') if chosen == count else which}"
            f"; {left} left out, with no room beside {'its point' if left == 1 else 'them'}.")


LABEL_RADII = (3, 10, 20, 34, 52)  # points from its point a label may sit, nearest first
LABEL_DIRECTIONS = ((1, 1), (1, -1), (-1, 1), (-1, -1), (1, 0), (-1, 0), (0, 1), (0, -1))
LABEL_MARGIN = 3  # pixels kept clear around a label, and between a label and the frame
LEADER_FROM = 10  # a label this far from its point or farther is joined to it by a line


def place_labels(figure: Any, ax: Any, anchors: list[tuple[float, float]],
                 names: list[str]) -> int:
    """Label the points ``anchors`` (in order of priority) where no label overlaps another,
    covers a labelled point or the legend, or touches the axes' frame: each label tries
    spots around its point, nearest first (a small, deterministic search; a leader line
    joins a label set apart). A label that finds no spot is left out. Lays the figure out
    first and fixes the layout, so that the spots found are where the labels are drawn.
    The number of labels placed."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.transforms import Bbox

    FigureCanvasAgg(figure).draw()  # the layout, the axes' limits and the legend, final
    figure.set_layout_engine("none")
    renderer = figure.canvas.get_renderer()
    frame = ax.get_window_extent(renderer).padded(-LABEL_MARGIN)
    points = ax.transData.transform(anchors) if anchors else []
    dot = 3 * figure.dpi / 72  # a marker's half width, in pixels
    markers = [Bbox.from_extents(px - dot, py - dot, px + dot, py + dot) for px, py in points]
    legend = ax.get_legend()
    taken = [legend.get_window_extent(renderer)] if legend is not None else []
    placed = 0
    for k, (anchor, name) in enumerate(zip(anchors, names)):
        label = ax.annotate(name, anchor, xytext=(0, 0), textcoords="offset points",
                            fontsize="x-small", color="0.2", gid="point-label")
        spot = _free_spot(label, renderer, frame, taken + markers[:k] + markers[k + 1:])
        if spot is None:
            label.remove()
            continue
        box, (dx, dy) = spot
        taken.append(box)
        placed += 1
        if max(abs(dx), abs(dy)) >= LEADER_FROM:
            label.remove()
            ax.annotate(name, anchor, xytext=(dx, dy), textcoords="offset points",
                        fontsize="x-small", color="0.2", gid="point-label",
                        ha=label.get_ha(), va=label.get_va(),
                        arrowprops={"arrowstyle": "-", "color": "0.6", "linewidth": 0.5,
                                    "shrinkA": 0, "shrinkB": 3})
    return placed


def _free_spot(label: Any, renderer: Any, frame: Any,
               taken: list[Any]) -> tuple[Any, tuple[float, float]] | None:
    """The first spot around its point where ``label`` fits (its box and offset), or None."""
    from matplotlib.text import Text

    for radius in LABEL_RADII:
        for ux, uy in LABEL_DIRECTIONS:
            offset = (ux * radius, uy * radius)
            label.xyann = offset
            label.set_ha({1: "left", -1: "right", 0: "center"}[ux])
            label.set_va({1: "bottom", -1: "top", 0: "center"}[uy])
            label.update_positions(renderer)
            box = Text.get_window_extent(label, renderer)  # the text's, without a leader
            clear = box.padded(LABEL_MARGIN)
            if (frame.contains(box.x0, box.y0) and frame.contains(box.x1, box.y1)
                    and not any(clear.overlaps(other) for other in taken)):
                return box, offset
    return None


def log_scale(values: tuple[float, ...]) -> bool:
    return min(values) > 0 and max(values) / min(values) > LOG_SPAN


def scatter_figure(rows: Rows, x: str, y: str, *, label: str | None = None,
                   pareto: bool = True, maximize: tuple[bool, bool] = (False, False),
                   fmt: str = "png", title: str = "") -> bytes:
    """One point per row at (``x``, ``y``): two numeric columns. With ``pareto``, the points
    no other point beats on both axes (smaller is better unless ``maximize``) are marked and
    joined. Points are labelled by the ``label`` column (default: ``label`` if there is one,
    else the row's number): every point when there are at most 15, else front points."""
    p = points(rows, x, y, label)
    count = len(p.x)
    front = pareto_front(p.x, p.y, maximize) if pareto else (False,) * count
    order = sorted(range(count), key=lambda i: (p.x[i], p.y[i]))
    shown = labelled(count, front, order)

    def draw(figure: Any) -> None:
        ax = figure.add_subplot()
        rest = [i for i in range(count) if not front[i]]
        if rest:
            ax.plot([p.x[i] for i in rest], [p.y[i] for i in rest], linestyle="none",
                    marker="o", markersize=5 if count <= 500 else 3, color=COLORS["conv"],
                    alpha=0.8 if count <= 500 else 0.4, gid="points",
                    label="dominated" if pareto else None)
        if pareto:
            line = [i for i in order if front[i]]
            ax.plot([p.x[i] for i in line], [p.y[i] for i in line], color=COLORS["memory"],
                    linewidth=1, drawstyle="steps-pre" if maximize[0] else "steps-post",
                    gid="pareto-line")
            ax.plot([p.x[i] for i in line], [p.y[i] for i in line], linestyle="none",
                    marker="o", markersize=6, color=COLORS["memory"], gid="pareto",
                    label=f"Pareto front ({len(line)})")
        for axis, values, name in ((ax.xaxis, p.x, x), (ax.yaxis, p.y, y)):
            if log_scale(values):
                (ax.set_xscale if axis is ax.xaxis else ax.set_yscale)("log")
                axis.set_minor_formatter("")
            axis.set_major_formatter(formatter(name))
        ax.set_xlabel(axis_label(x))
        ax.set_ylabel(axis_label(y))
        ax.grid(True, color="0.9")
        if pareto:  # above the axes, where it covers no point and no label
            ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncols=2, frameon=False)
        figure.suptitle(text(title or f"{y} against {x}", 100) + f": {count} points",
                        x=0.01, ha="left", fontsize=STYLE["axes.titlesize"])  # over the legend
        better = " and ".join(f"{'larger' if big else 'smaller'} {name}"
                              for big, name in zip(maximize, (x, y)))
        notes = [f"Pareto front: the points no other point beats on both axes ({better} is "
                 f"better)." if pareto else ""]
        if p.left_out:
            notes.append(f"Not shown: {plural(p.left_out, 'row')} without a value for {x} "
                         f"or {y}.")
        # the layout leaves room for the longest note the labels can need, then they are
        # placed (place_labels fixes the layout) and the note says how many found room
        chosen = [i for i in order if i in shown]
        note = _notes(figure, [" ".join(n for n in notes + [
            label_note(count, len(chosen), 0) + " 0000"] if n)], 130)
        placed = place_labels(figure, ax, [(p.x[i], p.y[i]) for i in chosen],
                              [text(p.labels[i], 40) for i in chosen])
        note.set_text(_wrapped([" ".join(n for n in notes + [
            label_note(count, len(chosen), placed)] if n)], 130))

    return render(draw, fmt, (9.0, 6.0), "cnncost-scatter")
