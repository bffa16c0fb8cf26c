"""What each command prints, per format: the tables chosen from an analysis, as text."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from cnncost.pipeline import Analysis
from cnncost.core.errors import UsageError
from cnncost.ops import registered
from cnncost.ops.base import aliases_of
from cnncost.report import render
from cnncost.report.document import convention, document, envelope, guidelines_document
from cnncost.report.render import Terminal
from cnncost.report.tables import BYTES, SHARE, TEXT, Column, Table, blocks_table, \
    findings_table, guidelines_table, kinds_table, layers_table, summary_table


def analysis_text(a: Analysis, fmt: str, *, layers: bool = False, by: str | None = None,
                  terminal: Terminal = Terminal()) -> str:
    if fmt == "json":
        return render.to_json(document(a))
    tables = [summary_table(a), guidelines_table(a)]
    if layers:
        tables.append(layers_table(a))
    if by == "op":
        tables.append(kinds_table(a))
    elif by == "block":
        tables.append(blocks_table(a))
    if fmt == "csv" and layers and by:
        raise UsageError("--format csv writes one table: choose --layers or --by, not both")
    return tables_text(tables, fmt, terminal,
                       csv=tables[0] if len(tables) == 2 else tables[-1])


def guidelines_text(a: Analysis, fmt: str, top: int, terminal: Terminal = Terminal()) -> str:
    """`cnncost guidelines`: the verdicts, then the findings."""
    if fmt == "json":
        return render.to_json(guidelines_document(a))
    return tables_text([guidelines_table(a), findings_table(a, top)], fmt, terminal)


def yaml_value(value: Any) -> str:
    """A default as a spec writes it: true, [1, 1], same, null."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(yaml_value(v) for v in value) + "]"
    return str(value)


def _attributes(cls: type) -> list[dict[str, Any]]:
    return [{"name": info.name, "kind": info.kind, "required": info.required,
             "default": list(info.default) if isinstance(info.default, tuple) else info.default,
             "choices": list(info.choices), "doc": info.doc} for info in cls.attributes()]


def ops_text(fmt: str, terminal: Terminal = Terminal()) -> str:
    """`cnncost ops`: every op with its aliases, family and attributes."""
    ops = [{"op": name, "aliases": list(aliases_of(name)), "family": cls.family,
            "summary": cls.summary, "attributes": _attributes(cls)}
           for name, cls in registered().items()]
    if fmt == "json":
        return render.to_json({**envelope("ops", convention()), "ops": ops})
    rows, sections = [], []
    for op in ops:  # one row for the op, then one per attribute
        sections.append(len(rows))
        aliases = f" (also: {', '.join(op['aliases'])})" if op["aliases"] else ""
        rows.append({"op": op["op"], "attribute": "", "kind": op["family"],
                     "default": "", "doc": op["summary"] + aliases})
        for info in op["attributes"]:
            rows.append({"op": "", "attribute": info["name"], "kind": info["kind"],
                         "default": "required" if info["required"] else
                         yaml_value(info["default"]), "doc": info["doc"]})
    table = Table(title="ops (an op's first row: its family and what it is)", columns=(
        Column("op", "op", TEXT, wrap=False), Column("attribute", "attribute", TEXT, wrap=False),
        Column("kind", "family or kind", TEXT, optional=1),
        Column("default", "default", TEXT), Column("doc", "what it is", TEXT)),
        rows=tuple(rows), sections=frozenset(sections[1:]))
    return tables_text([table], fmt, terminal)


def tables_text(tables: list[Table], fmt: str, terminal: Terminal = Terminal(),
                csv: Table | None = None) -> str:
    """Tables as table, markdown or CSV text; CSV holds one table (``csv``, or the last)."""
    if fmt == "csv":
        return render.to_csv(csv or tables[-1])
    if fmt == "markdown":
        return render.to_markdown(tables)
    return render.to_text(tables, terminal)


def specs_text(fmt: str, analyses: Iterable[Analysis] | None = None,
               terminal: Terminal = Terminal()) -> str:
    """`cnncost specs`: the bundled specs; with ``analyses`` (cnncost.jobs.survey.
    analyze_library()), every variant's figures."""
    rows = library_rows() if analyses is None else figures_rows(analyses)
    if fmt == "json":
        return render.to_json({**envelope("specs", convention()), "specs": rows})
    return tables_text([library_table(rows, analyses is not None)], fmt, terminal)


def library_rows() -> list[dict[str, Any]]:
    """The bundled specs."""
    from cnncost.frontends.library import catalog

    return [{"spec": entry.name, "model": entry.model, "description": entry.description,
             "variables": entry.variables, "variants": list(entry.variants)}
            for entry in catalog()]


def figures_rows(analyses: Iterable[Analysis]) -> list[dict[str, Any]]:
    """One row per analysed spec variant, with its headline figures."""
    rows = []
    for a in analyses:
        t = a.totals
        rows.append({
            "spec": a.model.spec, "variant": a.model.variant or None, "params": t.params,
            "mult_adds": t.mult_adds, "mem_access": t.mem_access,
            "peak_activation_bytes": a.memory.peak_elements * a.bytes_per_element,
            "elementwise_mem_access_share": a.network.elementwise_share,
            "kernels": a.network.kernels,
            "guidelines_broken": [v.guideline for v in a.guidelines if not v.passed]})
    return rows


def library_table(rows: list[dict[str, Any]], figures: bool) -> Table:
    if not figures:
        shown = tuple({**row, "variables": ", ".join(f"{k}={yaml_value(v)}"
                                                     for k, v in row["variables"].items()),
                       "variants": ", ".join(row["variants"])} for row in rows)
        return Table(title="bundled specs (cnncost analyze NAME, NAME@variant, NAME@k=v)",
                     # narrow tables keep what a spec is and its variants (NAME@variant)
                     # before its variables
                     columns=(Column("spec", "spec", TEXT),
                              Column("description", "description", TEXT),
                              Column("variables", "variables (defaults)", TEXT, optional=1),
                              Column("variants", "variants", TEXT)),
                     rows=shown)
    shown = tuple({**row, "variant": row["variant"] or "",
                   "guidelines_broken": " ".join(row["guidelines_broken"])} for row in rows)
    return Table(
        title="architecture library",
        columns=(Column("spec", "spec", TEXT), Column("variant", "variant", TEXT),
                 Column("params", "params"),
                 Column("mult_adds", "mult-adds\n(multiply-accumulates)"),
                 Column("mem_access", "mem_access\n(memory access cost, elements)"),
                 Column("peak_activation_bytes", "peak activation\nmemory", BYTES),
                 Column("elementwise_mem_access_share", "element-wise\nshare of\nmem_access",
                        SHARE, optional=1),
                 Column("kernels", "kernels", optional=2),
                 Column("guidelines_broken", "guidelines\nbroken", TEXT)),
        rows=shown,
        notes=("every spec with its default variables, or each named variant; fuse=none, "
               "fp32, batch 1; definitions: cnncost docs metrics; the sources each spec "
               "reproduces: its header and tests/test_specs_*.py; guidelines broken: the G1-G4 "
               "verdicts under the default thresholds (cnncost docs guidelines)",
               "made by: cnncost specs --figures --format markdown > docs/architectures.md"))


def compare_text(models: list, fmt: str, *, baseline: str | None, sort: str | None,
                 columns: str | None, terminal: Terminal = Terminal()) -> str:
    from cnncost.report.check_views import compare_document, compare_table

    table = compare_table(models, baseline=baseline, sort=sort, columns=columns)
    if fmt == "json":
        return render.to_json(compare_document(models, table))
    return tables_text([table], fmt, terminal)


def check_text(outcomes: list, models: list, fmt: str, not_given: list[str] = (),
               terminal: Terminal = Terminal()) -> str:
    from cnncost.report.check_views import check_document, check_table, junit_xml

    if fmt == "junit":
        return junit_xml(outcomes, models)
    if fmt == "json":
        return render.to_json(check_document(outcomes, models, not_given))
    return tables_text([check_table(outcomes, models, not_given)], fmt, terminal)
