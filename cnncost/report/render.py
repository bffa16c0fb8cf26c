"""Tables as text: one renderer per output format, all over the same rows.

Every renderer returns the whole text; the CLI writes it only once everything has been
computed, so a failure never leaves half an output behind.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from cnncost.report import fmt
from cnncost.report.tables import BYTES, COUNT, RATIO, SHAPE, SHARE, TEXT, Column, Table

FORMATS = ("table", "json", "csv", "markdown")
TEXT_KINDS = (TEXT, SHAPE)  # left-aligned; numbers are right-aligned
TEXT_WIDTH = 72  # text columns wrap beyond this many characters


def cell(column: Column, value: Any) -> str:
    """A value as people read it."""
    if value is None:
        return ""
    if column.kind == COUNT:
        return fmt.grouped(value)
    if column.kind == SHARE:
        return fmt.percent(value)
    if column.kind == SHAPE:
        return fmt.shape(value)
    if column.kind == BYTES:
        return fmt.human_bytes(value)
    if column.kind == RATIO:
        return f"{value:.2f}x"
    return str(value)


def machine_cell(column: Column, value: Any) -> Any:
    """A value as programs read it: exact integers, fractions to 6 places."""
    if column.kind in (SHARE, RATIO) and value is not None:
        return f"{value:.6f}"
    if column.kind == SHAPE:
        return fmt.shape(value)
    return "" if value is None else value


def to_markdown(tables: Sequence[Table]) -> str:
    parts = []
    for table in tables:
        columns = [c for c in table.columns if c.human]
        lines = [f"### {table.title}", ""]
        lines.append("| " + " | ".join(c.header.replace("\n", " ") for c in columns) + " |")
        lines.append("|" + "|".join("---" if c.kind in TEXT_KINDS else "---:"
                                    for c in columns) + "|")
        for row in table.rows:
            lines.append("| " + " | ".join(cell(c, row.get(c.key)).replace("|", "\\|")
                                           for c in columns) + " |")
        lines.extend(["", *(f"_{note}_  " for note in table.notes)])
        parts.append("\n".join(lines).rstrip())
    return "\n\n".join(parts) + "\n"



def to_csv(table: Table) -> str:
    import csv

    out = io.StringIO()
    columns = [c for c in table.columns if c.machine]
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([c.key for c in columns])
    for row in table.rows:
        writer.writerow([machine_cell(c, row.get(c.key)) for c in columns])
    return out.getvalue()


def to_json(document: dict[str, Any]) -> str:
    """Indented JSON, except that a list of objects (layers, blocks) has one object per line:
    readable, easy to diff, and fast, since json's C encoder is not used when indenting.
    The pieces are joined once: for 100,000 layers the text is tens of megabytes."""
    import json

    pieces = ["{"]
    for number, (key, value) in enumerate(document.items()):
        pieces.append(("\n  " if number == 0 else ",\n  ") + json.dumps(key) + ": ")
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            pieces.append("[")
            for row_number, row in enumerate(value):
                pieces.append(("\n    " if row_number == 0 else ",\n    ") + json.dumps(row))
            pieces.append("\n  ]")
        else:
            pieces.append(json.dumps(value, indent=2).replace("\n", "\n  "))
    pieces.append("\n}\n")
    return "".join(pieces)


def to_rich(tables: Sequence[Table]) -> str:
    """Rich tables, rendered to a string (rich is imported only when this format is used)."""
    from rich import box
    from rich.console import Console
    from rich.table import Table as RichTable

    # wide enough never to wrap a number; tables take only the width they need
    console = Console(file=io.StringIO(), width=1000, color_system=None,
                      highlight=False)
    for number, table in enumerate(tables):
        if number:
            console.print()
        columns = [c for c in table.columns if c.human]
        rich_table = RichTable(title=table.title, box=box.SIMPLE_HEAD, title_justify="left",
                               caption="\n".join(table.notes) or None, caption_justify="left")
        for c in columns:
            if c.kind in TEXT_KINDS:  # long text wraps; numbers never do
                rich_table.add_column(c.header, justify="left", max_width=TEXT_WIDTH)
            else:
                rich_table.add_column(c.header, justify="right", no_wrap=True)
        for row in table.rows:
            rich_table.add_row(*(cell(c, row.get(c.key)) for c in columns))
        console.print(rich_table)
    return "\n".join(line.rstrip() for line in console.file.getvalue().splitlines()) + "\n"
