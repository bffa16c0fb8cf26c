"""Analyses as tables of plain data: columns that say what they hold, rows of raw values.

The same tables feed every text format (render.py); headers spell the metrics out, so
that nobody has to guess whether a number is multiply-accumulates or FLOPs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cnncost.core import metrics
from cnncost.pipeline import Analysis, figures
from cnncost.core.ir import numel
from cnncost.core.settings import FUSE_MODES
from cnncost.passes.rollup import Group
from cnncost.report import fmt

TEXT, COUNT, SHARE, SHAPE, BYTES, RATIO, VERDICT, NUMBER, SECONDS = (
    "text", "count", "share", "shape", "bytes", "ratio", "verdict", "number", "seconds")

MULT_ADDS = metrics.BY_NAME["mult_adds"].header
MEM_ACCESS = metrics.BY_NAME["mem_access"].header
# a header's explanation "(...)" after its first line moves to a note in narrow tables


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    kind: str = COUNT
    human: bool = True  # shown in table and markdown
    machine: bool = True  # written to CSV
    optional: int = 0  # 0: always shown; n > 0: left out of narrow tables, highest n first
    markdown: bool = False  # the cells are markdown already (cnncost's own words, no data)
    wrap: bool = True  # text may wrap; names and shapes never do
    attach: bool = False  # shown beside the column before it when rows are drawn as records


@dataclass(frozen=True)
class Table:
    title: str
    columns: tuple[Column, ...]
    rows: tuple[dict[str, Any], ...]
    notes: tuple[str, ...] = ()
    sections: frozenset[int] = frozenset()  # rows that start a new section (a rule above)
    totals: dict[str, Any] | None = None  # a last row, set apart (table and markdown only)
    transpose: bool = False  # when too wide, try one column per row (compare) before records
    group_by: str = ""  # table and markdown: this column's value heads each run of rows
    nest: tuple[str, str] = ()  # narrow tables: (the row key of the block a row is in, the
    # key of its name within that block); the block heads its rows, which show the short name


def heading(a: Analysis, what: str) -> str:
    """A table's title: the model with the settings analysed, then what the table shows."""
    return f"{a.model.title}: {what}"


def convention(a: Analysis) -> str:
    fuse = FUSE_MODES[a.fuse]
    device = ""
    if a.latency is not None:  # counts and latency may be under two fusions: say both
        d = a.latency.device
        device = (f"; latency estimated for {d.name} under its own fusion (fuse={d.fuse}: "
                  f"{FUSE_MODES[d.fuse]}), counts under fuse={a.fuse}: a model, not a "
                  f"measurement (cnncost docs latency)")
    return (f"fuse={a.fuse}: {fuse}; dtype={a.dtype} ({a.bytes_per_element} bytes/element); "
            f"batch {a.graph.nodes[0].shape[0]}. Definitions: cnncost docs metrics{device}")


def latency_columns(a: Analysis, per_layer: bool = False) -> tuple[Column, ...]:
    """With --device: the estimate's columns (and, per layer, what bounds each kernel)."""
    if a.latency is None:
        return ()
    bound = (Column("bound", "bound", TEXT),) if per_layer else ()
    return (Column("latency", "latency\n(estimated)", SECONDS),
            Column("latency_share", "% of\nlatency", SHARE, optional=2 if per_layer else 6),
            *bound)


def latency_cells(a: Analysis, seconds: float | None, bound: str | None = None) -> dict[str, Any]:
    if a.latency is None:
        return {}
    total = a.latency.total
    cells = {"latency": seconds or 0.0,
             "latency_share": (seconds or 0.0) / total if total else 0.0}
    return cells if bound is None else {**cells, "bound": bound or None}


COLUMN_KIND = {metrics.COUNT: COUNT, metrics.BYTES: BYTES, metrics.SHARE: SHARE,
               metrics.TEXT: TEXT, metrics.SECONDS: SECONDS}
LAYER_METRICS = tuple(m.name for m in metrics.METRICS if m.per_layer)  # attributes of Cost


def summary_table(a: Analysis) -> Table:
    values = figures(a)
    rows = []
    for metric in (m for m in metrics.METRICS if m.summary and m.name in values):
        key, label, kind = metric.name, metric.label, COLUMN_KIND[metric.unit]
        value = values[key]
        if key == "latency":
            d = a.latency.device
            label = f"{label[:-len(' (--device)')]} on {d.name} (fuse={d.fuse})"
        if kind == COUNT:
            shown, approx = fmt.grouped(value), fmt.human(value) if value >= 1000 else ""
        elif kind == BYTES:
            shown, approx = fmt.grouped(value), fmt.human_bytes(value)
        elif kind == SECONDS:
            shown, approx = fmt.seconds(value), ""
        else:
            shown, approx = fmt.percent(value), ""
        rows.append({"metric": key, "label": label, "value": value, "shown": shown,
                     "approx": approx})
    rows += [{"metric": f"unsupported_ops.{op}", "label": f"nodes not read, counted as 0: {op}",
              "value": count, "shown": fmt.grouped(count), "approx": ""}
             for op, count in a.model.partial]  # a partial analysis (ONNX --allow-unknown)
    peak_at = values["peak_activation_at"]
    return Table(
        title=heading(a, f"input {fmt.shape(a.graph.nodes[0].shape)}"),
        columns=(Column("metric", "metric", TEXT, human=False),
                 Column("label", "metric", TEXT, machine=False),
                 Column("value", "value", COUNT, human=False),
                 Column("shown", "value", TEXT, machine=False),
                 Column("approx", "", TEXT, machine=False)),
        rows=tuple(rows),
        notes=(f"peak activation memory while computing {peak_at}", *a.model.notes,
               *a.warnings, convention(a)),
    )


def window(op: Any) -> str:
    """Kernel and stride as papers write them: ``3x3`` (stride 1), ``3x3/2``; "" if none."""
    kernel = getattr(op, "kernel", None)
    if kernel is None:
        return ""
    stride = getattr(op, "stride", None) or kernel
    size = f"{kernel[0]}x{kernel[1]}"
    if stride == (1, 1):
        return size
    return size + (f"/{stride[0]}" if stride[0] == stride[1] else f"/{stride[0]}x{stride[1]}")


def layer_rows(a: Analysis) -> tuple[dict[str, Any], ...]:
    """One row per layer (the JSON ``layers`` list); the network input is left out."""
    rows = []
    names = [n.name for n in a.graph.nodes]
    total = a.totals.mult_adds
    for index, node in enumerate(a.graph.nodes):
        if index == 0:
            continue
        cost, op = a.costs[index], node.op
        kernel, stride = getattr(op, "kernel", None), getattr(op, "stride", None)
        rows.append({
            "name": node.name,
            "op": op.op_name,
            "kind": a.kinds[index],
            "kernel": list(kernel) if kernel else None,
            "stride": list(stride or kernel) if kernel else None,
            "window": window(op),
            "inputs": [names[i] for i in node.inputs],
            "out_shape": list(node.shape),
            **{name: getattr(cost, name) for name in LAYER_METRICS},
            "mult_adds_share": cost.mult_adds / total if total else 0.0,
            "output_elements": numel(node.shape),
            "fused_into": names[a.host[index]] if a.host[index] != index else None,
            "line": node.loc.line if node.loc else None,
            **(layer_latency(a, index, names) if a.latency is not None else {}),
        })
    return tuple(rows)


def layer_latency(a: Analysis, index: int, names: list[str]) -> dict[str, Any]:
    """A layer's latency cells and, when the device's fusion runs it in another layer's
    kernel (whose time includes its work, its own is 0), that layer's name."""
    host = a.latency.fused_into(index)
    return {**latency_cells(a, a.latency.seconds[index], a.latency.bound[index]),
            "latency_fused_into": names[host] if host is not None else None}


def _fused_kernel(row: dict[str, Any]) -> dict[str, Any]:
    """Table and CSV: a layer the device fuses into another's kernel shows no time of its
    own but where it runs, ``fused -> conv`` (the host named within their common block)."""
    host = row.get("latency_fused_into")
    if not host:
        return {}
    own, theirs = row["name"].split("."), host.split(".")
    common = 0
    while common < min(len(own), len(theirs)) - 1 and own[common] == theirs[common]:
        common += 1
    return {"latency": None, "latency_share": None,
            "bound": "fused -> " + ".".join(theirs[common:])}


def layers_table(a: Analysis) -> Table:
    rows = layer_rows(a)
    depth = min((1, 2), key=lambda d: _nested_width([r["name"] for r in rows], d))
    # the op without its size (the kernel column has it); fused layers marked
    shown = tuple({**row, "name": ("+ " if row["fused_into"] else "") + row["name"],
                   **_nesting(row["name"], "+ " if row["fused_into"] else "", depth),
                   "kind": (row["kind"].rsplit(" ", 1)[0] if row["window"] else row["kind"])
                   .replace("depthwise", "dw"), **_fused_kernel(row)}
                  for row in rows)
    # a rule between top-level blocks; top-level layers between blocks go together
    blocks = [row["name"].split(".")[0] if "." in row["name"] else "" for row in rows]
    sections = frozenset(i for i in range(1, len(rows)) if blocks[i] != blocks[i - 1])
    t = a.totals
    totals = {"name": f"total ({len(rows)} layers)", "params": t.params,
              "mult_adds": t.mult_adds, "mult_adds_share": 1.0 if t.mult_adds else 0.0,
              "elementwise_ops": t.elementwise_ops, "mem_access": t.mem_access,
              **latency_cells(a, a.latency.total if a.latency else None)}
    fused = ("+ fused into the conv before it (--fuse bn-act): no kernel of its own, its "
             "memory traffic counted there",) if any(r["fused_into"] for r in rows) else ()
    return Table(
        title=heading(a, "layers"),
        # narrow tables keep the shape, params, mem_access and, with --device, latency and
        # its bound; they drop what other columns imply first (output elements, shares), then
        # the op, and with --device at last mult-adds (the bound says which of the two limits)
        columns=(Column("name", "layer", TEXT, wrap=False),
                 Column("kind", "op", TEXT, optional=4),
                 Column("window", "kernel\n/stride", TEXT, optional=5),
                 Column("out_shape", "output shape", SHAPE),
                 Column("params", "params"),
                 Column("mult_adds", MULT_ADDS, optional=1 if a.latency else 0),
                 Column("mult_adds_share", "%\n(share of mult-adds)", SHARE, optional=3),
                 Column("elementwise_ops", "element-wise\nops", optional=6),
                 Column("mem_access", MEM_ACCESS),
                 Column("output_elements", "output\nelements", optional=7),
                 *latency_columns(a, per_layer=True),
                 Column("fused_into", "fused into", TEXT, human=False),
                 *((Column("latency_fused_into", "latency fused into", TEXT, human=False),)
                   if a.latency else ())),
        rows=shown, notes=(*fused, *latency_note(a), convention(a)), sections=sections,
        totals=totals, nest=("block", "short"),
    )


def _nesting(name: str, mark: str, depth: int) -> dict[str, str]:
    """A layer's block (its first ``depth`` dotted parts, when it has more) and its name
    within it: at depth 2, ``stage2.block1.expand.conv`` is ``expand.conv`` under
    ``stage2.block1``; ``mark`` goes before the short name."""
    parts = name.split(".")
    if len(parts) <= depth:
        return {"block": "", "short": mark + name}
    return {"block": ".".join(parts[:depth]), "short": mark + ".".join(parts[depth:])}


def _nested_width(names: list[str], depth: int) -> int:
    """The widest name when nested at ``depth``: a block heading, or an indented short name."""
    nested = [_nesting(name, "", depth) for name in names]
    return max((max(len(n["block"]), len(n["short"]) + 2 * bool(n["block"])) for n in nested),
               default=0)


def latency_note(a: Analysis) -> tuple[str, ...]:
    if a.latency is None:
        return ()
    overhead = a.latency.device.overhead
    return (("total latency includes the per-inference overhead of "
             f"{fmt.seconds(overhead)}; " if overhead else "") +
            "bound: what limits the kernel, compute or memory traffic; fused -> X: the "
            f"device's fusion ({a.latency.device.fuse}) runs the layer in X's kernel, whose "
            "latency includes it",)


def group_row(g: Group) -> dict[str, Any]:
    c = g.cost
    latency = g.column("latency")
    return {
        "name": g.key, "layers": g.layers, "kernels": g.kernels, "fragments": g.fragments,
        "max_parallel_branches": g.branches, "params": c.params, "weights": c.weights,
        "mult_adds": c.mult_adds, "elementwise_ops": c.elementwise_ops,
        "mem_access": c.mem_access, "elementwise_mem_access_share": g.elementwise_share,
        **({"latency": latency} if latency is not None else {}),
    }


def blocks_table(a: Analysis) -> Table:
    return Table(
        title=heading(a, f"by block (depth {a.depth})"),
        columns=(Column("name", "block", TEXT, wrap=False), Column("layers", "layers", optional=4),
                 Column("kernels", "kernels", optional=3),
                 Column("fragments", "fragments", optional=2),
                 Column("max_parallel_branches", "widest\nbranching"),
                 Column("params", "params", optional=1), Column("mult_adds", MULT_ADDS),
                 Column("mem_access", MEM_ACCESS),
                 Column("elementwise_mem_access_share", "element-wise\nshare of\nmem_access",
                        SHARE),
                 *latency_columns(a)),
        rows=tuple({**group_row(g), **latency_cells(a, g.column("latency"))}
                   for g in a.blocks),
        notes=("fragments: conv, linear and pooling ops (ShuffleNet V2, G3); widest "
               "branching: most fragments at one depth", convention(a)),
    )


def kind_rows(a: Analysis) -> tuple[dict[str, Any], ...]:
    t = a.totals
    rows = []
    for g in a.by_kind:
        c = g.cost
        rows.append({
            "kind": g.key, "layers": g.layers, "params": c.params, "weights": c.weights,
            "mult_adds": c.mult_adds, "elementwise_ops": c.elementwise_ops,
            "mem_access": c.mem_access,
            "mult_adds_share": c.mult_adds / t.mult_adds if t.mult_adds else 0.0,
            "weights_share": c.weights / t.weights if t.weights else 0.0,
            "params_share": c.params / t.params if t.params else 0.0,
            "mem_access_share": c.mem_access / t.mem_access if t.mem_access else 0.0,
            **latency_cells(a, g.column("latency")),
        })
    return tuple(rows)


def kinds_table(a: Analysis) -> Table:
    return Table(
        title=heading(a, "by op type"),
        columns=(Column("kind", "op", TEXT), Column("layers", "layers", optional=3),
                 Column("params", "params", optional=2), Column("weights", "weights"),
                 Column("mult_adds", MULT_ADDS),
                 Column("mult_adds_share", "% of\nmult-adds", SHARE),
                 Column("weights_share", "% of\nweights", SHARE),
                 Column("params_share", "% of\nparams", SHARE, optional=1),
                 Column("mem_access", MEM_ACCESS),
                 Column("mem_access_share", "% of\nmem_access", SHARE),
                 *latency_columns(a)),
        rows=kind_rows(a),
        notes=("shares of weights leave out biases and BN, like the MobileNet paper's "
               "Table 2", convention(a)),
    )


def _guideline_number(guideline: str, value: float) -> str:
    return f"{value:g}" if guideline == "G3" else fmt.percent(value)


def guideline_rows(a: Analysis) -> tuple[dict[str, Any], ...]:
    rows = []
    for v in a.guidelines:
        rows.append({
            "guideline": v.guideline, "title": v.title, "figure": v.figure,
            "value": v.value, "shown": _guideline_number(v.guideline, v.value),
            "threshold": v.threshold,
            "limit": "<= " + _guideline_number(v.guideline, v.threshold),
            "verdict": "pass" if v.passed else "warn", "mem_access": v.mem_access,
            "findings": len(v.findings), **v.details})
    return tuple(rows)


def guidelines_table(a: Analysis) -> Table:
    return Table(
        title=heading(a, "ShuffleNet V2 guidelines"),
        columns=(Column("guideline", "", TEXT), Column("title", "guideline", TEXT),
                 Column("figure", "figure", TEXT, optional=1),
                 Column("value", "value", SHARE, human=False),
                 Column("shown", "value", TEXT, machine=False),
                 Column("threshold", "threshold", SHARE, human=False),
                 Column("limit", "threshold", TEXT, machine=False),
                 Column("verdict", "verdict", VERDICT),
                 Column("mem_access", "mem_access", human=False),
                 Column("findings", "findings")),
        rows=guideline_rows(a),
        notes=("definitions and thresholds: cnncost docs guidelines; `cnncost guidelines` lists "
               "the findings",))


def finding_rows(a: Analysis, top: int = 0) -> tuple[dict[str, Any], ...]:
    rows = []
    for v in a.guidelines:
        for f in v.findings[:top or None]:
            rows.append({
                "guideline": f.guideline, "subject": f.subject, "figure": f.figure,
                "value": f.value, "threshold": f.threshold,
                "limit": "<= " + (f"{f.threshold:g}" if f.guideline in ("G2", "G3") else
                                  f"{f.threshold:g}x" if f.guideline == "G1" else
                                  fmt.percent(f.threshold)),
                "mem_access": f.mem_access, "suggestion": f.suggestion, "line": f.line})
    return tuple(rows)


def findings_table(a: Analysis, top: int = 0) -> Table:
    from cnncost.passes.guidelines import SUGGESTIONS

    shown = f"the {top} costliest per guideline" if top else "all"
    advice = tuple(f"{v.guideline}: {SUGGESTIONS[v.guideline]}"
                   for v in a.guidelines if v.findings)
    rows = finding_rows(a, top)
    if not rows:
        advice = ("no findings: no layer or block is past a guideline's threshold",)
    return Table(
        title=heading(a, f"findings ({shown}, by mem_access)"),
        columns=(Column("guideline", "", TEXT),
                 Column("subject", "layer or block", TEXT, wrap=False),
                 Column("figure", "figure", TEXT, optional=1),
                 Column("value", "value", TEXT, human=False),
                 Column("threshold", "threshold", TEXT, human=False),
                 Column("limit", "threshold", TEXT, machine=False),
                 Column("mem_access", "mem_access cost\n(elements)"),
                 Column("suggestion", "suggestion", TEXT, human=False),
                 Column("line", "line", TEXT, human=False)),
        rows=rows,
        notes=(*advice,
               "mem_access cost: G1 the excess over equal widths, G2 the extra over g=1, G3 the "
               "block's mem_access, G4 the element-wise and depthwise mem_access",
               convention(a)))
