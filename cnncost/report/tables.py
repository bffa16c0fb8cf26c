"""Analyses as tables of plain data: columns that say what they hold, rows of raw values.

The same tables feed every text format (render.py); headers spell the metrics out, so
that nobody has to guess whether a number is multiply-accumulates or FLOPs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cnncost.analysis import Analysis, figures
from cnncost.ir import numel
from cnncost.passes.rollup import Group
from cnncost.report import fmt

TEXT, COUNT, SHARE, SHAPE, BYTES, RATIO = "text", "count", "share", "shape", "bytes", "ratio"

MULT_ADDS = "mult-adds\n(multiply-accumulates)"
MEM_ACCESS = "mem_access\n(memory access cost, elements)"


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    kind: str = COUNT
    human: bool = True  # shown in table and markdown
    machine: bool = True  # written to CSV


@dataclass(frozen=True)
class Table:
    title: str
    columns: tuple[Column, ...]
    rows: tuple[dict[str, Any], ...]
    notes: tuple[str, ...] = ()


def convention(a: Analysis) -> str:
    fuse = ("every op is its own kernel (ShuffleNet V2 setting)" if a.fuse == "none"
            else "BN folded and activations fused into the preceding conv")
    return (f"fuse={a.fuse}: {fuse}; dtype={a.dtype} ({a.bytes_per_element} bytes/element); "
            f"batch {a.graph.nodes[0].shape[0]}. Definitions: docs/metrics.md")


_SUMMARY = (
    ("params", "params (weights + biases + BN gamma/beta)", COUNT),
    ("weights", "  weights", COUNT),
    ("biases", "  biases", COUNT),
    ("norm_params", "  norm params (BN gamma, beta)", COUNT),
    ("buffers", "buffers (BN running mean, var; not params)", COUNT),
    ("mult_adds", "mult-adds (multiply-accumulates; 1 fused multiply-add = 1)", COUNT),
    ("flops", "FLOPs (= 2 x mult-adds)", COUNT),
    ("elementwise_ops", "element-wise ops (activations, adds, muls, BN, pooling, biases)",
     COUNT),
    ("mem_access", "mem_access (memory access cost, elements read + written)", COUNT),
    ("mem_access_bytes", "mem_access, bytes", BYTES),
    ("peak_activation_elements", "peak activation memory (elements)", COUNT),
    ("peak_activation_bytes", "peak activation memory, bytes", BYTES),
    ("kernels", "kernels launched", COUNT),
    ("elementwise_mem_access_share", "element-wise share of mem_access", SHARE),
)


def summary_table(a: Analysis) -> Table:
    values = figures(a)
    rows = []
    for key, label, kind in _SUMMARY:
        value = values[key]
        if kind == COUNT:
            shown, approx = fmt.grouped(value), fmt.human(value) if value >= 1000 else ""
        elif kind == BYTES:
            shown, approx = fmt.grouped(value), fmt.human_bytes(value)
        else:
            shown, approx = fmt.percent(value), ""
        rows.append({"metric": key, "label": label, "value": value, "shown": shown,
                     "approx": approx})
    peak_at = values["peak_activation_at"]
    return Table(
        title=f"{a.graph.name}{'@' + a.graph.variant if a.graph.variant else ''}: "
              f"input {fmt.shape(a.graph.nodes[0].shape)}",
        columns=(Column("metric", "metric", TEXT, human=False),
                 Column("label", "metric", TEXT, machine=False),
                 Column("value", "value", COUNT, human=False),
                 Column("shown", "value", TEXT, machine=False),
                 Column("approx", "", TEXT, machine=False)),
        rows=tuple(rows),
        notes=(f"peak activation memory while computing {peak_at}", convention(a)),
    )


def layer_rows(a: Analysis) -> tuple[dict[str, Any], ...]:
    """One row per layer (the JSON ``layers`` list); the network input is left out."""
    rows = []
    names = [n.name for n in a.graph.nodes]
    for index, node in enumerate(a.graph.nodes):
        if index == 0:
            continue
        cost = a.costs[index]
        rows.append({
            "name": node.name,
            "op": node.op.op_name,
            "kind": a.kinds[index],
            "inputs": [names[i] for i in node.inputs],
            "out_shape": list(node.shape),
            "params": cost.params,
            "weights": cost.weights,
            "biases": cost.biases,
            "norm_params": cost.norm_params,
            "mult_adds": cost.mult_adds,
            "elementwise_ops": cost.elementwise_ops,
            "mem_access": cost.mem_access,
            "activation_elements": numel(node.shape),
            "fused_into": names[a.host[index]] if a.host[index] != index else None,
            "line": node.loc.line if node.loc else None,
        })
    return tuple(rows)


def layers_table(a: Analysis) -> Table:
    return Table(
        title=f"{a.graph.name}: layers",
        columns=(Column("name", "layer", TEXT), Column("kind", "op", TEXT),
                 Column("out_shape", "output shape", SHAPE),
                 Column("params", "params"), Column("mult_adds", MULT_ADDS),
                 Column("elementwise_ops", "element-wise\nops"),
                 Column("mem_access", MEM_ACCESS),
                 Column("activation_elements", "output\nelements")),
        rows=layer_rows(a),
        notes=(convention(a),),
    )


def group_row(g: Group) -> dict[str, Any]:
    c = g.cost
    return {
        "name": g.key, "layers": g.layers, "kernels": g.kernels, "fragments": g.fragments,
        "max_parallel_branches": g.width, "params": c.params, "weights": c.weights,
        "mult_adds": c.mult_adds, "elementwise_ops": c.elementwise_ops,
        "mem_access": c.mem_access, "elementwise_mem_access_share": g.elementwise_share,
    }


def blocks_table(a: Analysis) -> Table:
    return Table(
        title=f"{a.graph.name}: by block (depth {a.depth})",
        columns=(Column("name", "block", TEXT), Column("layers", "layers"),
                 Column("kernels", "kernels"), Column("fragments", "fragments"),
                 Column("max_parallel_branches", "widest\nbranching"),
                 Column("params", "params"), Column("mult_adds", MULT_ADDS),
                 Column("mem_access", MEM_ACCESS),
                 Column("elementwise_mem_access_share", "element-wise\nshare of\nmem_access",
                        SHARE)),
        rows=tuple(group_row(g) for g in a.blocks),
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
        })
    return tuple(rows)


def kinds_table(a: Analysis) -> Table:
    return Table(
        title=f"{a.graph.name}: by op type",
        columns=(Column("kind", "op", TEXT), Column("layers", "layers"),
                 Column("params", "params"), Column("weights", "weights"),
                 Column("mult_adds", MULT_ADDS),
                 Column("mult_adds_share", "% of\nmult-adds", SHARE),
                 Column("weights_share", "% of\nweights", SHARE),
                 Column("params_share", "% of\nparams", SHARE),
                 Column("mem_access", MEM_ACCESS),
                 Column("mem_access_share", "% of\nmem_access", SHARE)),
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
        title=f"{a.graph.name}: ShuffleNet V2 guidelines",
        columns=(Column("guideline", "", TEXT), Column("title", "guideline", TEXT),
                 Column("figure", "figure", TEXT),
                 Column("value", "value", SHARE, human=False),
                 Column("shown", "value", TEXT, machine=False),
                 Column("threshold", "threshold", SHARE, human=False),
                 Column("limit", "threshold", TEXT, machine=False),
                 Column("verdict", "verdict", TEXT),
                 Column("mem_access", "mem_access", human=False),
                 Column("findings", "findings")),
        rows=guideline_rows(a),
        notes=("definitions and thresholds: docs/guidelines.md; `cnncost guidelines` lists the "
               "findings",))


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
    return Table(
        title=f"{a.graph.name}: findings ({shown}, by mem_access)",
        columns=(Column("guideline", "", TEXT), Column("subject", "layer or block", TEXT),
                 Column("figure", "figure", TEXT),
                 Column("value", "value", TEXT, human=False),
                 Column("threshold", "threshold", TEXT, human=False),
                 Column("limit", "threshold", TEXT, machine=False),
                 Column("mem_access", "mem_access cost\n(elements)"),
                 Column("suggestion", "suggestion", TEXT, human=False),
                 Column("line", "line", TEXT, human=False)),
        rows=finding_rows(a, top),
        notes=(*advice,
               "mem_access cost: G1 the excess over equal widths, G2 the extra over g=1, G3 the "
               "block's mem_access, G4 the element-wise and depthwise mem_access",
               convention(a)))
