"""What each command prints, per format: the tables chosen from an analysis, as text."""

from __future__ import annotations

from cnncost.analysis import Analysis
from cnncost.errors import UsageError
from cnncost.ops import registered
from cnncost.ops.base import aliases_of
from cnncost.report import render
from cnncost.report.document import document
from cnncost.report.tables import TEXT, Column, Table, blocks_table, kinds_table, layers_table, \
    summary_table


def analysis_text(a: Analysis, fmt: str, *, layers: bool = False, by: str | None = None) -> str:
    if fmt == "json":
        return render.to_json(document(a))
    tables = [summary_table(a)]
    if layers:
        tables.append(layers_table(a))
    if by == "op":
        tables.append(kinds_table(a))
    elif by == "block":
        tables.append(blocks_table(a))
    if fmt == "csv":
        if layers and by:
            raise UsageError("--format csv writes one table: choose --layers or --by, not both")
        return render.to_csv(tables[-1])
    if fmt == "markdown":
        return render.to_markdown(tables)
    return render.to_rich(tables)


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


def table_text(table: Table, fmt: str) -> str:
    if fmt == "json":
        return render.to_json({"title": table.title, "rows": list(table.rows)})
    if fmt == "csv":
        return render.to_csv(table)
    if fmt == "markdown":
        return render.to_markdown([table])
    return render.to_rich([table])
