"""Tables as text: one renderer per output format, all over the same rows.

Every renderer returns the whole text; the CLI writes it only once everything has been
computed, so a failure never leaves half an output behind. Text that comes from a spec or
the command line (names, paths, variants) is data, never markup: control characters are
escaped in every format, rich never parses it, and markdown escapes its own syntax.
"""

from __future__ import annotations

import io
import numbers
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cnncost.core.errors import printable
from cnncost.report import fmt
from cnncost.report.tables import (BYTES, COUNT, RATIO, SECONDS, SHAPE, SHARE, TEXT, VERDICT,
                                   Column,
                                   Table)

TEXT_KINDS = (TEXT, SHAPE, VERDICT)  # left-aligned; numbers are right-aligned
TEXT_WIDTH = 72  # text columns wrap beyond this many characters
TEXT_MIN = 16  # ... and a table too narrow to give each that many is drawn another way
VERDICT_STYLES = {"pass": "green", "warn": "yellow", "fail": "bold red", "FAIL": "bold red"}


@dataclass(frozen=True)
class Terminal:
    """How the table format is drawn: its width in columns, and whether to use colour."""

    width: int = 80
    color: bool = False


def cell(column: Column, value: Any, *, short: bool = False) -> str:
    """A value as people read it; ``short`` writes counts with SI prefixes (569M)."""
    if value is None:
        return ""
    if column.kind == COUNT:
        return fmt.human(value) if short else fmt.grouped(value)
    if column.kind == SHARE:
        return fmt.percent(value)
    if column.kind == SHAPE:
        return fmt.shape(value)
    if column.kind == BYTES:
        return fmt.human_bytes(value)
    if column.kind == RATIO:
        return f"{value:.2f}x"
    if column.kind == SECONDS:
        return fmt.seconds(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return printable(str(value))


def machine_cell(column: Column, value: Any) -> Any:
    """A value as programs read it: exact integers, fractions to 6 places."""
    if column.kind in (SHARE, RATIO) and value is not None:
        return f"{value:.6f}"
    if column.kind == SECONDS and value is not None:
        return f"{value:.6g}"
    if column.kind == SHAPE:
        return fmt.shape(value)
    if isinstance(value, str):
        return printable(value)
    return "" if value is None else value


# -- markdown and CSV -------------------------------------------------------------------------

_MARKDOWN = re.compile(r"([\\`*\[\]<|~])|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")


def markdown_text(text: str) -> str:
    """Text shown literally in markdown: its syntax characters backslash-escaped (an
    underscore only where it could start or end emphasis, not inside a word)."""
    return _MARKDOWN.sub(lambda m: "\\" + m.group(), printable(text)).replace("\n", " ")


def grouped(table: Table) -> Table:
    """For people: the ``group_by`` column's value as a heading row over each run of rows
    that share it, and the run's first fields indented below it."""
    if not table.group_by:
        return table
    from dataclasses import replace

    columns = tuple(c for c in table.columns if c.key != table.group_by)
    first = next(c.key for c in columns if c.human)
    rows: list[dict[str, Any]] = []
    sections = set()
    last = object()
    for row in table.rows:
        value = row.get(table.group_by)
        if value != last:
            last = value
            if rows:
                sections.add(len(rows))
            if value:  # rows outside any group stand as they are
                rows.append({first: value})
        rows.append({**row, first: ("  " if value else "") + str(row.get(first, ""))})
    return replace(table, columns=columns, rows=tuple(rows), sections=frozenset(sections),
                   group_by="")


def nested(table: Table) -> Table:
    """A narrow drawing of a table of dotted names (``table.nest``): each block's name heads
    its rows, which show their names within it (``expand.conv`` under ``stage2.block1``)."""
    if not table.nest:
        return table
    from dataclasses import replace

    block, short = table.nest
    first = next(c.key for c in table.columns if c.human)
    rows = tuple({**row, first: row[short]} if row.get(block) else row for row in table.rows)
    return grouped(replace(table, rows=rows, group_by=block, nest=()))


def to_markdown(tables: Sequence[Table]) -> str:
    parts = []
    for table in map(grouped, tables):
        columns = [c for c in table.columns if c.human]
        lines = [f"### {markdown_text(table.title)}", ""]
        lines.append("| " + " | ".join(markdown_text(c.header) for c in columns) + " |")
        lines.append("|" + "|".join("---" if c.kind in TEXT_KINDS else "---:"
                                    for c in columns) + "|")
        for row in (*table.rows, *([table.totals] if table.totals else [])):
            lines.append("| " + " | ".join(
                cell(c, row.get(c.key)) if c.markdown else markdown_text(cell(c, row.get(c.key)))
                for c in columns) + " |")
        lines.extend(["", *(f"_{markdown_text(note)}_  " for note in table.notes)])
        parts.append("\n".join(lines).rstrip())
    return "\n\n".join(parts) + "\n"


def to_csv(table: Table) -> str:
    import csv

    out = io.StringIO()
    columns = [c for c in table.columns if c.machine]
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([c.key for c in columns])
    for row in table.rows:
        writer.writerow([csv_cell(c, row.get(c.key)) for c in columns])
    return out.getvalue()


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what makes a spreadsheet cell a formula


def spreadsheet_safe(text: str) -> str:
    """Text that a spreadsheet opening the CSV shows, never runs (CSV injection): a leading
    =, +, -, @, tab or carriage return gets a single quote before it, as spreadsheet
    exporters do. The one place cnncost does it: every CSV it writes comes through here."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_cell(column: Column, value: Any) -> Any:
    """A CSV cell: machine_cell, with text (names, labels, notes) made spreadsheet-safe;
    numbers such as -3 stay numbers."""
    cell = machine_cell(column, value)
    if isinstance(cell, str) and not isinstance(value, numbers.Number):
        return spreadsheet_safe(cell)
    return cell


def to_json(document: dict[str, Any]) -> str:
    """Indented JSON, except that a list of objects (layers, blocks) has one object per line:
    readable, easy to diff, and fast, since json's C encoder is not used when indenting.
    The pieces are joined once: for 100,000 layers the text is tens of megabytes. Control
    characters are escaped by JSON itself; NaN and infinity, which JSON lacks, are refused."""
    import json

    def dumps(value: Any, **options: Any) -> str:
        return json.dumps(value, allow_nan=False, **options)

    pieces = ["{"]
    for number, (key, value) in enumerate(document.items()):
        pieces.append(("\n  " if number == 0 else ",\n  ") + dumps(key) + ": ")
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            pieces.append("[")
            for row_number, row in enumerate(value):
                pieces.append(("\n    " if row_number == 0 else ",\n    ") + dumps(row))
            pieces.append("\n  ]")
        else:
            pieces.append(dumps(value, indent=2).replace("\n", "\n  "))
    pieces.append("\n}\n")
    return "".join(pieces)


# -- tables for people ------------------------------------------------------------------------

def to_text(tables: Sequence[Table], terminal: Terminal = Terminal()) -> str:
    """Tables drawn to fit ``terminal.width`` columns. Each table is tried as it is; then with
    counts abbreviated (4.21M); then without its optional columns, least important first; and
    when nothing fits, as a stack of records, one field a line."""
    from rich.console import Console

    console = Console(file=io.StringIO(), width=terminal.width, highlight=False,
                      color_system="standard" if terminal.color else None,
                      force_terminal=terminal.color, no_color=not terminal.color,
                      emoji=False, markup=False, soft_wrap=False)
    for number, table in enumerate(tables):
        if number:
            console.print()
        console.print(_fitted(grouped(table), terminal.width))
    text = console.file.getvalue()
    return "\n".join(line.rstrip() for line in text.splitlines()) + "\n"


def _fitted(table: Table, width: int) -> Any:
    """The first drawing of ``table`` that fits: as it is; compact (counts with SI prefixes,
    headers without their explanations, which move to a note); compact with names nested
    under their blocks (``table.nest``); that without optional columns, least important
    first; else a stack of records."""
    human = [c for c in table.columns if c.human]
    levels = sorted({c.optional for c in human if c.optional}, reverse=True)
    narrow = nested(table)
    attempts = [(table, False, None), (table, True, None), *(
        [(narrow, True, None)] if narrow is not table else []), *(
        (narrow, True, level) for level in levels)]
    for drawn, compact, drop in attempts:
        shown = [c for c in human if not (drop and c.optional >= drop)]
        widths = _layout(drawn, shown, compact, width)
        if widths is None:
            continue
        notes = list(table.notes)
        if compact:
            legend = [f"{short.replace(chr(10), ' ')}: {long}" for short, long in
                      dict(_split_header(c.header) for c in shown).items() if long]
            notes += ["; ".join(legend)] if legend else []
        if len(shown) < len(human):
            left = [c.header.replace("\n", " ") for c in human if c not in shown]
            notes.append("not shown at this width: " + ", ".join(left) +
                         " (widen the terminal, or set COLUMNS)")
        return _rich_table(drawn, shown, compact, widths, notes)
    if table.transpose:  # one column per model; as many models a table as fit, at least two
        from dataclasses import replace

        from rich.console import Group

        count = len(table.rows)
        for compact, per_table in [(c, k) for k in range(count, 1, -1) for c in (False, True)]:
            parts = []
            for start in range(0, count, per_table):
                part = replace(table, rows=table.rows[start:start + per_table])
                if per_table < count:
                    part = replace(part, title=f"{table.title} ({start + 1}-"
                                   f"{min(start + per_table, count)} of {count})",
                                   notes=table.notes if start + per_table >= count else ())
                turned = _transposed(part, compact)
                widths = _layout(turned, list(turned.columns), False, width)
                if widths is None:
                    break
                parts.append(_rich_table(turned, list(turned.columns), False, widths,
                                         list(turned.notes)))
            else:
                return Group(*[item for number, drawn in enumerate(parts)
                               for item in ([_text("")] if number else []) + [drawn]])
    return _stacked(table)


def _fields(table: Table, row: dict[str, Any], compact: bool = False) -> list[tuple[str, str]]:
    """A row as (header, shown value) pairs, the first column left out; an attached column's
    value joins the one before it: ``568,740,352 (1.00x)``."""
    fields: list[tuple[str, str]] = []
    for c in [c for c in table.columns if c.human][1:]:
        value = cell(c, row.get(c.key), short=compact)
        if c.attach and fields:
            if value:
                fields[-1] = (fields[-1][0], f"{fields[-1][1]} ({value})")
            continue
        header = _split_header(c.header)[0] if compact else c.header
        fields.append((header.replace("\n", " "), value))
    return fields


def _transposed(table: Table, compact: bool) -> Table:
    """One column per row of ``table`` (headed by its first field), one row per field."""
    first = next(c for c in table.columns if c.human)
    names = [cell(first, row.get(first.key)) for row in table.rows]
    keys = [f"r{i}" for i in range(len(table.rows))]
    records = [_fields(table, row, compact) for row in table.rows]
    rows = []
    for number, (header, _) in enumerate(records[0] if records else []):
        rows.append({"field": header, **{k: rec[number][1] for k, rec in zip(keys, records)}})
    notes = list(table.notes)
    if compact:
        legend = [f"{short.replace(chr(10), ' ')}: {long}" for short, long in
                  dict(_split_header(c.header) for c in table.columns if c.human).items()
                  if long]
        notes += ["; ".join(legend)] if legend else []
    return Table(table.title, (Column("field", first.header, TEXT), *(
        Column(k, name, TEXT, wrap=False) for k, name in zip(keys, names))), tuple(rows),
                 tuple(notes))


def _split_header(header: str) -> tuple[str, str]:
    """``"mult-adds\n(multiply-accumulates)"`` -> ("mult-adds", "multiply-accumulates"): a
    header without its explanation in parentheses, and the explanation ("" if none)."""
    name, paren, rest = header.partition("\n(")
    return name, rest.rstrip(")").replace("\n", " ") if paren else ""


def _wraps(column: Column) -> bool:
    return column.kind in (TEXT, VERDICT) and column.wrap


def _layout(table: Table, columns: list[Column], compact: bool,
            width: int) -> list[int] | None:
    """Column widths that fit ``width``, or None. Numbers, names and shapes keep their width;
    text columns wrap at spaces down to TEXT_MIN characters (or their longest word); headers
    wrap at spaces."""
    from rich.cells import cell_len

    rows = (*table.rows, *([table.totals] if table.totals else []))
    natural, least = [], []
    for c in columns:
        header = _split_header(c.header)[0] if compact else c.header
        texts = [cell(c, row.get(c.key), short=compact) for row in rows]
        longest = max((cell_len(t) for t in texts), default=0)
        header_line = max(cell_len(line) for line in header.split("\n"))
        header_word = max((cell_len(w) for w in header.split()), default=0)
        if _wraps(c):
            word = max((cell_len(w) for t in texts for w in t.split()), default=0)
            natural.append(min(max(longest, header_line), TEXT_WIDTH))
            least.append(max(min(longest, TEXT_MIN), word, header_word))
        else:
            natural.append(max(longest, header_line))
            least.append(max(longest, header_word))
    gaps = 2 * len(columns) - 1  # one space of padding after each column, one between columns
    least = [max(m, 1) for m in least]
    if sum(least) + gaps > width:
        return None
    widths = [max(n, m, 1) for n, m in zip(natural, least)]
    excess = sum(widths) + gaps - width
    while excess > 0:  # narrow the column with the most room to give, one character at a time
        room, index = max((w - m, i) for i, (w, m) in enumerate(zip(widths, least)))
        widths[index] -= 1
        excess -= 1
    return widths


def _text(value: str, column: Column | None = None) -> Any:
    from rich.text import Text

    verdict = value.split(maxsplit=1)[:1]  # "FAIL +1 (+0.0%)" is styled as FAIL
    style = VERDICT_STYLES.get(verdict[0], "") if verdict and column and \
        column.kind == VERDICT else ""
    return Text(printable(value), style=style)


def _rich_table(table: Table, columns: list[Column], compact: bool, widths: list[int],
                notes: list[str]) -> Any:
    import textwrap

    from rich import box
    from rich.table import Table as RichTable

    drawn = RichTable(title=_text(table.title), box=box.SIMPLE_HEAD, title_justify="left",
                      caption=_text("\n".join(notes)) if notes else None,
                      caption_justify="left", show_edge=False, padding=(0, 1, 0, 0))
    for c, width in zip(columns, widths):
        header = _split_header(c.header)[0] if compact else c.header
        header = "\n".join(textwrap.fill(line, width, break_on_hyphens=False)
                           for line in header.split("\n"))
        justify = "left" if c.kind in TEXT_KINDS else "right"
        drawn.add_column(_text(header), justify=justify, width=width, no_wrap=not _wraps(c))
    for index, row in enumerate(table.rows):
        if index in table.sections:
            drawn.add_section()
        drawn.add_row(*(_text(cell(c, row.get(c.key), short=compact), c) for c in columns))
    if table.totals:
        drawn.add_section()
        drawn.add_row(*(_text(cell(c, table.totals.get(c.key), short=compact), c)
                        for c in columns))
    return drawn


def _stacked(table: Table) -> Any:
    """One record per row: its first field as a heading, then one field a line."""
    from rich.console import Group
    from rich.table import Table as RichTable

    first = next(c for c in table.columns if c.human)
    parts: list[Any] = [_text(table.title)]
    for row in (*table.rows, *([table.totals] if table.totals else [])):
        record = RichTable(box=None, show_header=False, pad_edge=False, padding=(0, 1))
        record.add_column(justify="left", no_wrap=True)
        record.add_column(justify="left")
        for header, value in _fields(table, row):
            if value:
                record.add_row(_text("  " + header), _text(value, Column("", "", VERDICT)))
        parts += [_text(""), _text(cell(first, row.get(first.key))), record]
    if table.notes:
        parts += [_text(""), _text("\n".join(table.notes))]
    return Group(*parts)
