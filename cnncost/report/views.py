"""What each command prints, per format: the tables chosen from an analysis, as text."""

from __future__ import annotations

from cnncost.analysis import Analysis
from cnncost.errors import UsageError
from cnncost.ops import registered
from cnncost.ops.base import aliases_of
from cnncost.report import render
from cnncost.report.document import document
from cnncost.report.tables import BYTES, SHARE, TEXT, Column, Table, blocks_table, \
    findings_table, guidelines_table, kinds_table, layers_table, summary_table


def analysis_text(a: Analysis, fmt: str, *, layers: bool = False, by: str | None = None) -> str:
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
    return tables_text(tables, fmt, csv=tables[0] if len(tables) == 2 else tables[-1])


def guidelines_text(a: Analysis, fmt: str, top: int) -> str:
    """`cnncost guidelines`: the verdicts, then the findings."""
    if fmt == "json":
        from cnncost.report.document import guidelines, thresholds
        return render.to_json({"model": a.graph.name, "variant": a.graph.variant or None,
                               "convention": {"fuse": a.fuse, "block_depth": a.depth},
                               "thresholds": thresholds(a), "guidelines": guidelines(a)})
    return tables_text([guidelines_table(a), findings_table(a, top)], fmt)


def ops_table() -> Table:
    rows = []
    for name, cls in registered().items():
        attributes = []
        for info in cls.attributes():
            default = "required" if info.required else f"default {info.default!r}"
            attributes.append(f"{info.name} ({info.kind}, {default}): {info.doc}")
        rows.append({"op": name, "aliases": ", ".join(aliases_of(name)), "family": cls.family,
                     "summary": cls.summary, "attributes": "; ".join(attributes)})
    return Table(title="ops", columns=(
        Column("op", "op", TEXT), Column("aliases", "aliases", TEXT),
        Column("family", "family", TEXT), Column("summary", "what it is", TEXT),
        Column("attributes", "attributes", TEXT)), rows=tuple(rows))


def tables_text(tables: list[Table], fmt: str, csv: Table | None = None) -> str:
    """Tables as table, markdown or CSV text; CSV holds one table (``csv``, or the last)."""
    if fmt == "csv":
        return render.to_csv(csv or tables[-1])
    if fmt == "markdown":
        return render.to_markdown(tables)
    return render.to_rich(tables)


def table_text(table: Table, fmt: str) -> str:
    if fmt == "json":
        return render.to_json({"title": table.title, "rows": list(table.rows)})
    return tables_text([table], fmt)


def library_table(figures: bool = False) -> Table:
    """The bundled specs; with ``figures``, one row per variant with its headline figures."""
    from cnncost.analysis import analyze
    from cnncost.library import catalog
    from cnncost.spec.build import build_graph

    rows = []
    for entry in catalog():
        if not figures:
            rows.append({
                "spec": entry.name, "description": entry.description,
                "variables": ", ".join(f"{k}={v}" for k, v in entry.variables.items()),
                "variants": ", ".join(entry.variants)})
            continue
        if entry.name.startswith("bench/"):
            continue  # the micro-benchmarks have their own tables in docs/guidelines.md
        for variant in entry.variants or (None,):
            a = analyze(build_graph(entry.doc, str(entry.path), variant=variant))
            t = a.totals
            rows.append({
                "spec": entry.name, "variant": variant or "", "params": t.params,
                "mult_adds": t.mult_adds, "mem_access": t.mem_access,
                "peak_activation_bytes": a.memory.peak_elements * a.bytes_per_element,
                "elementwise_mem_access_share": a.network.elementwise_share,
                "kernels": a.network.kernels,
                "warnings": " ".join(v.guideline for v in a.guidelines if not v.passed)})
    if not figures:
        return Table(title="bundled specs (cnncost analyze NAME, NAME@variant, NAME@k=v)",
                     columns=(Column("spec", "spec", TEXT),
                              Column("description", "description", TEXT),
                              Column("variables", "variables (defaults)", TEXT),
                              Column("variants", "variants", TEXT)),
                     rows=tuple(rows))
    return Table(
        title="architecture library",
        columns=(Column("spec", "spec", TEXT), Column("variant", "variant", TEXT),
                 Column("params", "params"),
                 Column("mult_adds", "mult-adds\n(multiply-accumulates)"),
                 Column("mem_access", "mem_access\n(memory access cost, elements)"),
                 Column("peak_activation_bytes", "peak activation\nmemory", BYTES),
                 Column("elementwise_mem_access_share", "element-wise\nshare of\nmem_access",
                        SHARE),
                 Column("kernels", "kernels"),
                 Column("warnings", "guidelines\nbroken", TEXT)),
        rows=tuple(rows),
        notes=("every spec with its default variables, or each named variant; fuse=none, "
               "fp32, batch 1; definitions: docs/metrics.md; the sources each spec reproduces: "
               "its header and tests/test_specs_*.py; guidelines broken: the G1-G4 verdicts "
               "under the default thresholds (docs/guidelines.md)",
               "made by: cnncost specs --figures --format markdown > docs/architectures.md"))


def compare_text(models: list, fmt: str, *, baseline: str | None, sort: str | None,
                 columns: str | None) -> str:
    from cnncost.report.gate import compare_document, compare_table

    table = compare_table(models, baseline=baseline, sort=sort, columns=columns)
    if fmt == "json":
        return render.to_json(compare_document(models, table))
    return table_text(table, fmt)


def check_text(outcomes: list, models: list, fmt: str) -> str:
    from cnncost.report.gate import check_document, check_table, junit_xml

    if fmt == "junit":
        return junit_xml(outcomes, models)
    if fmt == "json":
        return render.to_json(check_document(outcomes, models))
    return table_text(check_table(outcomes, models), fmt)
