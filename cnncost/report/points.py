"""Points for a scatter chart: rows (of a sweep file, or of compared models), one numeric
column per axis, and the Pareto front. Plain data; cnncost/plots.py draws it.

A sweep file is CSV with a header line, or JSON lines (``.jsonl``: one flat object per line),
as ``cnncost sweep`` writes them: ``label``, the swept variables, then the metric columns. Any
column whose values are numbers can be an axis.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from typing import Any

from cnncost.core.errors import Problem, UsageError, shown, suggest
from cnncost.core.metrics import BY_NAME
from cnncost.report.render import FORMULA_STARTS

ROWS_HINT = "a sweep's rows: CSV with a header line, or JSON lines (.jsonl), as cnncost sweep " \
            "writes them"


@dataclass(frozen=True)
class Rows:
    """Rows of named values (numbers, text or None), and where each came from."""

    rows: tuple[dict[str, Any], ...]
    source: str = ""  # the file read ("" for models analysed here)
    lines: tuple[int, ...] = ()  # the line of each row in the file

    def where(self, index: int) -> str:
        """A row as a message names it: file:line, or the model's label."""
        if self.source:
            return f"{self.source}:{self.lines[index]}"
        return shown(self.rows[index].get("label", f"row {index + 1}"))

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(key for row in self.rows for key in row))

    def numeric_columns(self) -> tuple[str, ...]:
        return tuple(c for c in self.columns
                     if all(is_number(row.get(c)) or row.get(c) is None for row in self.rows))


@dataclass(frozen=True)
class Points:
    """What a scatter shows: one point per row that has both values."""

    x: tuple[float, ...]
    y: tuple[float, ...]
    labels: tuple[str, ...]
    left_out: int = 0  # rows without a value for x or y


def is_number(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def read_rows(path: str) -> Rows:
    """The rows of a CSV or JSON-lines file, or a UsageError naming the file and line."""
    from cnncost.core.files import MAX_JSON_BYTES, read_text

    text = read_text(path, limit=MAX_JSON_BYTES, hint=ROWS_HINT, error=UsageError)
    if path.lower().endswith((".jsonl", ".ndjson")):
        rows, lines = _json_lines(path, text)
    elif path.lower().endswith(".csv"):
        rows, lines = _csv_rows(path, text)
    else:
        raise UsageError(Problem(f"{path}: cnncost reads rows from .csv or .jsonl files",
                                 hint=ROWS_HINT))
    if not rows:
        raise UsageError(Problem(f"{path} has no rows", hint=ROWS_HINT))
    return Rows(tuple(rows), path, tuple(lines))


def _csv_rows(path: str, text: str) -> tuple[list[dict[str, Any]], list[int]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if not header or any(not name.strip() for name in header):
            raise UsageError(Problem(f"{path}:1: the first line names the columns, none empty",
                                     hint=ROWS_HINT))
        header = [name.strip() for name in header]
        rows, lines = [], []
        for values in reader:
            if not any(v.strip() for v in values):
                continue
            if len(values) != len(header):
                raise UsageError(Problem(f"{path}:{reader.line_num}: {len(values)} values "
                                         f"for {len(header)} columns", hint=ROWS_HINT))
            rows.append({k: _cell(v) for k, v in zip(header, values)})
            lines.append(reader.line_num)
    except csv.Error as exc:
        raise UsageError(Problem(f"{path}:{reader.line_num}: not CSV: {exc}",
                                 hint=ROWS_HINT)) from None
    return rows, lines


def _cell(text: str) -> Any:
    """A CSV value: an int, a float, None when empty, else the text (without the quote that
    made it spreadsheet-safe: cnncost.report.render.spreadsheet_safe)."""
    text = text.strip()
    if not text:
        return None
    if text.startswith("'") and text[1:].startswith(FORMULA_STARTS):
        return text[1:]
    for kind in (int, float):
        try:
            value = kind(text)
        except ValueError:
            continue
        return value if math.isfinite(value) else text
    return text


def _json_lines(path: str, text: str) -> tuple[list[dict[str, Any]], list[int]]:
    rows, lines = [], []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except (ValueError, RecursionError) as exc:
            raise UsageError(Problem(f"{path}:{number}: not JSON: {shown(str(exc))}",
                                     hint=ROWS_HINT)) from None
        if not isinstance(row, dict) or any(isinstance(v, (dict, list)) for v in row.values()):
            raise UsageError(Problem(f"{path}:{number}: each line is one flat JSON object",
                                     hint=ROWS_HINT))
        rows.append(row)
        lines.append(number)
    return rows, lines


def model_rows(models: list[Any]) -> Rows:
    """One row per compared model (cnncost.jobs.check.Model): its label and every figure."""
    from cnncost.report.check_views import compare_row

    return Rows(tuple({"label": m.label, **{k: v for k, v in compare_row(m).items()
                                            if k != "model"}} for m in models))


def column(rows: Rows, name: str, option: str) -> list[float | None]:
    """The values of a numeric column (None where a row has none), or a UsageError: no such
    column (with close names), or a value that is not a number (with its line)."""
    if name not in rows.columns:
        missing = (f"{rows.source} has no column '{shown(name)}'" if rows.source else
                   "no such metric")
        hint = suggest(name, rows.numeric_columns())
        if name in BY_NAME and BY_NAME[name].device:
            missing = f"{name} is estimated on a device profile" + (
                f", and {rows.source} has no such column" if rows.source else "")
            hint = ("a sweep run with --device NAME has it" if rows.source
                    else "add --device NAME (cnncost devices lists them)")
        raise UsageError(Problem(f"{option} {shown(name)}: {missing}", hint=hint))
    values: list[float | None] = []
    for index, row in enumerate(rows.rows):
        value = row.get(name)
        if value is not None and not is_number(value):
            raise UsageError(Problem(f"{option} {name}: {rows.where(index)}: {shown(value)} is "
                                     f"not a number",
                                     hint="an axis is a numeric column; numeric: " +
                                     ", ".join(rows.numeric_columns())))
        values.append(value)
    return values


def points(rows: Rows, x: str, y: str, label: str | None = None) -> Points:
    """The (x, y) of every row that has both, labelled by the ``label`` column (default: the
    column ``label`` if there is one, else the row's number)."""
    xs, ys = column(rows, x, "--x"), column(rows, y, "--y")
    if label is None:
        label = "label" if "label" in rows.columns else None
    elif label not in rows.columns:
        raise UsageError(Problem(f"--label {shown(label)}: no such column",
                                 hint=suggest(label, rows.columns)))
    kept = [i for i in range(len(rows.rows)) if xs[i] is not None and ys[i] is not None]
    if not kept:
        raise UsageError(Problem(f"nothing to plot: no row has both {x} and {y}"))
    names = tuple(_label(rows.rows[i].get(label) if label else None, i) for i in kept)
    return Points(tuple(float(xs[i]) for i in kept), tuple(float(ys[i]) for i in kept), names,
                  len(rows.rows) - len(kept))


def _label(value: Any, index: int) -> str:
    if value is None:
        return str(index + 1)
    return value if isinstance(value, str) else json.dumps(value)


def pareto_front(xs: tuple[float, ...] | list[float], ys: tuple[float, ...] | list[float],
                 maximize: tuple[bool, bool] = (False, False)) -> tuple[bool, ...]:
    """Whether each point is on the Pareto front: no other point is at least as good on both
    axes and better on one. Smaller is better on an axis unless ``maximize`` says otherwise;
    equal points are all on the front or all off it (cnncost.jobs.sweep.pareto_mask)."""
    from cnncost.jobs.sweep import pareto_mask

    return tuple(bool(v) for v in pareto_mask(xs, ys, maximize))
