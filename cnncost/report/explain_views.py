"""Other tools' figures as tables and JSON: ``cnncost analyze --convention`` and
``cnncost explain``. The counting is in cnncost/conventions.py; this module only lays it out."""

from __future__ import annotations

from typing import Any

from cnncost.pipeline import Analysis
from cnncost.conventions.tools import ASSUMPTIONS, Layer, Tally
from cnncost.core.errors import UsageError
from cnncost.ops.base import DATA, INPUT, VIEW
from cnncost.report import render
from cnncost.report.document import analysis_convention, envelope, model_fields
from cnncost.report.render import Terminal
from cnncost.report.tables import MULT_ADDS, TEXT, Column, Table, heading

DIFFERENCE = "difference\n(tool - mult_adds)"


def counted_by(t: Tally) -> str:
    c = t.convention
    return f"as {c.label} counts it" if c.name != "paper" else "as the papers count it"


def notes(a: Analysis, t: Tally) -> tuple[str, ...]:
    """What the figure is, what it leaves out, and what it assumes of the PyTorch code."""
    c = t.convention
    found = [f"{c.call}: {c.counts}"]
    missing = t.not_counted()
    if missing:
        found.append(f"not counted by {c.tool}: " + ", ".join(
            f"{kind} ({n} layer{'s' * (n > 1)})" for kind, n in missing))
    found.append("assumed: " + "; ".join(ASSUMPTIONS))
    if a.model.source_format == "onnx":
        found.append("an ONNX export is not the PyTorch model: exporters fold batch norm into "
                     "the convs and turn modules and functions into the same ops")
    if a.model.partial:
        found.append("PARTIAL: ops cnncost does not know are counted 0 here too")
    if a.fuse != "none":
        found.append("the tools count the model as written: --fuse does not change this table")
    found.append("rules and sources: cnncost docs conventions")
    return tuple(found)


def tool_section(t: Tally) -> dict[str, Any]:
    """The JSON object ``tool_convention``: the figure, its parts and what it means."""
    c = t.convention
    return {
        "name": c.name, "tool": c.tool, "version": c.version, "call": c.call,
        "counts": c.counts, "source": c.source,
        "figure": t.figure, "mult_adds": t.mult_adds, "difference": t.difference,
        "by_category": [{"category": category, "layers": n, "count": count}
                        for category, n, count in t.by_category()],
        "not_counted": [{"kind": kind, "layers": n} for kind, n in t.not_counted()],
        "assumptions": list(ASSUMPTIONS),
    }


def tool_table(a: Analysis, t: Tally) -> Table:
    """The figure by category, then the figure, cnncost's mult_adds and the difference."""
    c = t.convention
    rows = [{"item": category, "label": category, "layers": n, "count": count}
            for category, n, count in t.by_category()]
    totals = [{"item": "figure", "label": f"{c.tool}'s figure", "count": t.figure},
              {"item": "mult_adds", "label": "cnncost mult_adds", "count": t.mult_adds},
              {"item": "difference", "label": f"difference ({c.tool} - mult_adds)"
               + (f", {t.difference / t.mult_adds:+.2%}" if t.mult_adds else ""),
               "count": t.difference}]
    return Table(
        title=heading(a, counted_by(t)),
        columns=(Column("item", "item", TEXT, human=False),
                 Column("label", "what it counts", TEXT, machine=False),
                 Column("layers", "layers"), Column("count", "count")),
        rows=(*rows, *totals), sections=frozenset({len(rows)}),
        notes=(*notes(a, t), f"itemised by op type and layer: cnncost explain "
                             f"{a.model.label} --convention {c.name}"))


def tool_tally(a: Analysis) -> Tally:
    """The tool's count the analysis was made with (analyze(..., convention=NAME))."""
    if a.tally is None:
        raise ValueError("the analysis was made without a tool convention: "
                         "analyze(..., convention=NAME)")
    return a.tally


def with_tool_figure(text: str, a: Analysis, fmt: str, *,
                     other_tables: bool, terminal: Terminal = Terminal()) -> str:
    """``analyze --convention``: analyze's output (``text``) with the tool's figure added: its
    table after the others, its key in the JSON document, or the CSV of its table alone."""
    t = tool_tally(a)
    if fmt == "json":
        import json

        return render.to_json({**json.loads(text), "tool_convention": tool_section(t)})
    table = tool_table(a, t)
    if fmt == "csv":
        if other_tables:
            raise UsageError("--format csv writes one table: choose --convention, --layers or "
                             "--by")
        return render.to_csv(table)
    if fmt == "markdown":
        return text + "\n" + render.to_markdown([table])
    return text + "\n" + render.to_text([table], terminal)


# -- cnncost explain -------------------------------------------------------------------------

def shown(layer: Layer) -> bool:
    """Layers that move data (concat, flatten, dropout, ...) count 0 in every convention: left
    out of the tables unless the tool counts something for them (upsample)."""
    return layer.family not in (DATA, VIEW, INPUT) or bool(layer.counted or layer.mult_adds)


def kind_rows(t: Tally) -> list[dict[str, Any]]:
    """One row per op kind and rule: largest differences first, then in network order."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for layer in filter(shown, t.layers):
        row = rows.setdefault((layer.kind, layer.rule), {
            "kind": layer.kind, "rule": layer.rule, "layers": 0, "mult_adds": 0,
            "counted": 0, "difference": 0})
        row["layers"] += 1
        row["mult_adds"] += layer.mult_adds
        row["counted"] += layer.counted
        row["difference"] += layer.difference
    return sorted(rows.values(), key=lambda row: -abs(row["difference"]))


def layer_rows(t: Tally) -> list[dict[str, Any]]:
    return [{"name": layer.name, "kind": layer.kind, "mult_adds": layer.mult_adds,
             "counted": layer.counted, "difference": layer.difference, "rule": layer.rule,
             "items": {item.category: item.count for item in layer.items if item.count}}
            for layer in filter(shown, t.layers)]


def explain_tables(a: Analysis, t: Tally, layers: bool) -> list[Table]:
    c = t.convention
    paper = c.name == "paper"
    counted = Column("counted", "papers" if paper else
                     f"{c.tool}\n({c.version}{', ' + c.setting if c.setting else ''})")
    how = "what the papers count" if paper else f"how {c.tool} counts it"
    kept = [layer for layer in t.layers if shown(layer)]
    hidden = len(t.layers) - len(kept)
    left_out = (f"not shown: {hidden} layer{'s' * (hidden > 1)} that only move data (concat, "
                f"flatten, dropout, ...), 0 in every convention",) if hidden else ()
    total = {"layers": len(kept), "mult_adds": t.mult_adds, "counted": t.figure,
             "difference": t.difference}
    by_kind = Table(
        title=heading(a, f"{counted_by(t)}, against mult_adds, by op type"),
        columns=(Column("kind", "op", TEXT), Column("layers", "layers", optional=2),
                 Column("mult_adds", MULT_ADDS, optional=1), counted,
                 Column("difference", DIFFERENCE),
                 Column("rule", how, TEXT)),
        rows=tuple(kind_rows(t)), totals={"kind": "total", **total},
        notes=(*left_out, *notes(a, t)))
    if not layers:
        return [by_kind]
    by_layer = Table(
        title=heading(a, f"{counted_by(t)}, against mult_adds, by layer"),
        columns=(Column("name", "layer", TEXT, wrap=False),
                 Column("kind", "op", TEXT, optional=2),
                 Column("mult_adds", MULT_ADDS, optional=1), counted,
                 Column("difference", DIFFERENCE),
                 Column("rule", how, TEXT),
                 Column("items", "items", TEXT, human=False, machine=False)),
        rows=tuple(layer_rows(t)),
        totals={"name": f"total ({len(kept)} layers)", **total},
        notes=left_out)
    return [by_kind, by_layer]


def explain_document(a: Analysis, t: Tally) -> dict[str, Any]:
    """``cnncost explain --format json``."""
    return {**envelope("explain", analysis_convention(a)), **model_fields(a),
            "tool_convention": tool_section(t), "by_op": kind_rows(t),
            "layers": layer_rows(t)}


def explain_text(a: Analysis, fmt: str, *, layers: bool = False,
                 terminal: Terminal = Terminal()) -> str:
    t = tool_tally(a)
    if fmt == "json":
        return render.to_json(explain_document(a, t))
    tables = explain_tables(a, t, layers)
    if fmt == "csv":
        return render.to_csv(tables[-1])
    if fmt == "markdown":
        return render.to_markdown(tables)
    return render.to_text(tables, terminal)
