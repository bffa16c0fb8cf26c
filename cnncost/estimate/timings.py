"""A file of measured times of whole networks (``cnncost calibrate --timings FILE``).

CSV with a header row, or YAML: a list of mappings. Each row is one network timed on the
device a profile is to be fitted to:

    model,batch,dtype,threads,seconds
    mobilenet_v2,1,fp32,4,6.1ms
    resnet18@torchvision,1,fp32,4,0.0213
    models/mine.onnx,1,fp32,4,12.5ms

``model`` and ``seconds`` are required; ``batch`` (1), ``dtype`` (fp32) and ``threads`` (1) are
optional, ``note`` is free text. ``model`` is a bundled spec (with @variant or @name=value), or
the path of a spec or an ONNX file, relative to the timings file. ``seconds`` is a plain
number of seconds or a time with its unit (``6.1ms``, ``850us``). Blank lines and lines that
start with ``#`` are skipped in CSV. Every problem of every row is reported at once, each at
its file, line and column.

A row with a ``layer`` is one layer's time from a profiler's per-layer export, not the whole
network's: ``layer`` names a layer of the model as cnncost names it (a node, or a dotted
prefix: a block). ``device`` names the bundled class profile the rows were timed on (every
row the same), the prior of the fit when ``--prior`` is not given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cnncost.core.errors import Problem, Problems, SpecError, shown, suggest
from cnncost.core.ir import Graph, Loc
from cnncost.core.settings import DTYPES

COLUMNS = ("model", "layer", "batch", "dtype", "threads", "device", "seconds", "note")
REQUIRED = ("model", "seconds")
MAX_BATCH, MAX_THREADS = 1 << 24, 1024
HINT = ("a timings file is CSV with a header (model,batch,dtype,threads,seconds) or a YAML "
        "list of rows: - {model: mobilenet_v2, seconds: 6.1ms}")


@dataclass(frozen=True)
class TimingRow:
    """One measured network: what was timed, how, and how long it took."""

    model: str
    seconds: float
    batch: int = 1
    dtype: str = "fp32"
    threads: int = 1
    layer: str = ""  # one layer's time (a profiler's per-layer row); "": the whole network's
    device: str = ""  # the bundled class profile it was timed on, when the file says
    loc: Loc | None = None  # the row
    cells: dict[str, Loc] = field(default_factory=dict)  # where each column was written

    def where(self, column: str) -> Loc | None:
        return self.cells.get(column, self.loc)

    @property
    def label(self) -> str:
        """The row as a report names it: the model, and how it was run unless by default."""
        how = [f"batch {self.batch}"] if self.batch != 1 else []
        how += [self.dtype] if self.dtype != "fp32" else []
        how += [f"{self.threads} threads"] if self.threads != 1 else []
        what = f"{self.model}: {self.layer}" if self.layer else self.model
        return what + (f" ({', '.join(how)})" if how else "")


def read_timings(path: str | Path) -> tuple[TimingRow, ...]:
    """The rows of a timings file (CSV, or YAML by its suffix .yaml/.yml), or SpecError with
    every problem at its file, line and column."""
    from cnncost.core.files import read_text

    file = str(path)
    text = read_text(file, hint=HINT)
    problems = Problems()
    if file.lower().endswith((".yaml", ".yml")):
        rows = _yaml_rows(text, file, problems)
    else:
        rows = _csv_rows(text, file, problems)
    if not rows and not problems:
        problems.add("no timings in the file", Loc(file, 1, 1, ""), hint=HINT)
    if problems:
        raise SpecError(problems)
    return tuple(rows)


# -- one cell ----------------------------------------------------------------------------------

def _cell(column: str, raw: Any) -> Any:
    """A cell's value, or ValueError saying what is wrong with it. ``raw``: CSV text, or the
    YAML scalar."""
    if column == "note":
        return None
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        raise ValueError(f"'{column}' is empty")
    if isinstance(raw, str):
        raw = raw.strip()
    if column in ("model", "layer"):
        if not isinstance(raw, str):
            what = "a spec name or a file" if column == "model" else "a layer's name"
            raise ValueError(f"a {column} is {what}, not {shown(repr(raw))}")
        return raw
    if column == "device":
        from cnncost.estimate.devices import bundled_devices

        names = bundled_devices()
        if not isinstance(raw, str) or raw not in names:
            raise ValueError(f"unknown device {shown(repr(raw))}: a bundled class profile "
                             f"({suggest(str(raw), names)})")
        return raw
    if column in ("batch", "threads"):
        high = MAX_BATCH if column == "batch" else MAX_THREADS
        value = raw
        if isinstance(raw, str):
            try:
                value = int(raw)
            except ValueError:
                value = None
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
            raise ValueError(f"{column} is a whole number from 1 to {high:,}, not "
                             f"{shown(repr(raw))}")
        return value
    if column == "dtype":
        if raw not in DTYPES:
            raise ValueError(f"unknown dtype {shown(repr(raw))} ({suggest(str(raw), DTYPES)})")
        return raw
    return _seconds(raw)


def _seconds(raw: Any) -> float:
    """A positive, finite time: a plain number of seconds, or a number with s, ms, us or ns."""
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        raise ValueError(f"seconds is a time such as 0.0061 or 6.1ms, not {shown(repr(raw))}")
    try:
        value = float(raw)
    except (ValueError, OverflowError):
        value = _with_unit(str(raw))
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"seconds must be a positive, finite time, not {shown(repr(raw))}")
    return value


def _with_unit(text: str) -> float:
    """``6.1ms`` in seconds (-1 for a negative time: refused by the caller)."""
    from cnncost.core.budget import parse_quantity
    from cnncost.core.metrics import SECONDS

    if text.startswith("-"):
        return -1.0
    try:
        return float(parse_quantity(text, SECONDS))
    except ValueError:
        raise ValueError(f"seconds is a time such as 0.0061 or 6.1ms (units s, ms, us, ns), "
                         f"not {shown(repr(text))}") from None


def _row(values: dict[str, Any], cells: dict[str, Loc], loc: Loc,
         problems: Problems) -> TimingRow | None:
    """A row from its cells (raw values by column), each problem added at its cell."""
    good = True
    parsed: dict[str, Any] = {}
    for column in REQUIRED:
        if column not in values:
            problems.add(f"missing '{column}'", loc, hint=HINT)
            good = False
    for column, raw in values.items():
        try:
            parsed[column] = _cell(column, raw)
        except ValueError as exc:
            problems.add(str(exc), cells.get(column, loc))
            good = False
    if not good:
        return None
    parsed.pop("note", None)
    return TimingRow(loc=loc, cells=cells, **parsed)


# -- CSV -----------------------------------------------------------------------------------------

def _starts(line: str) -> list[int]:
    """The 1-based column where each comma-separated field of ``line`` starts (commas inside
    double quotes do not separate)."""
    starts, quoted = [1], False
    for i, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            starts.append(i + 2)
    return starts


def _csv_rows(text: str, file: str, problems: Problems) -> list[TimingRow]:
    import csv

    lines = text.splitlines()
    records = csv.reader(lines)
    header: list[str] | None = None
    rows = []
    try:
        for fields in records:
            number = records.line_num  # the record's last line; a row is one line
            line = lines[number - 1] if number <= len(lines) else ""
            if not any(f.strip() for f in fields) or line.lstrip().startswith("#"):
                continue
            starts = _starts(line)

            def at(index: int, column: str = "") -> Loc:
                start = starts[index] if index < len(starts) else 1
                return Loc(file, number, start, column)

            if header is None:
                header = [f.strip().lower() for f in fields]
                for index, name in enumerate(header):
                    if name not in COLUMNS:
                        problems.add(f"unknown column '{shown(name)}'", at(index),
                                     hint=suggest(name, COLUMNS))
                    elif header.index(name) != index:
                        problems.add(f"column '{name}' is given twice", at(index))
                for name in REQUIRED:
                    if name not in header:
                        problems.add(f"the header has no '{name}' column", at(0), hint=HINT)
                if problems:
                    return rows
                continue
            if len(fields) != len(header):
                problems.add(f"{len(fields)} fields, but the header names {len(header)}",
                             at(0), hint="a value that holds a comma goes in double quotes")
                continue
            values = {name: raw for name, raw in zip(header, fields) if raw.strip() or
                      name in REQUIRED}
            cells = {name: at(i, name) for i, name in enumerate(header)}
            row = _row(values, cells, at(0), problems)
            if row is not None:
                rows.append(row)
    except csv.Error as exc:
        problems.add(f"not valid CSV: {exc}", Loc(file, records.line_num or 1, 1, ""),
                     hint=HINT)
    return rows


# -- YAML ----------------------------------------------------------------------------------------

def _yaml_rows(text: str, file: str, problems: Problems) -> list[TimingRow]:
    from cnncost.core.yamldoc import Map, Seq, parse

    doc = parse(text, file, "timings file")
    if not isinstance(doc, Seq):
        problems.add("a timings file is a list of rows", getattr(doc, "loc", None) or
                     Loc(file, 1, 1, ""), hint=HINT)
        return []
    rows = []
    for index, item in enumerate(doc):
        loc = doc.where(index)
        if not isinstance(item, Map):
            problems.add(f"a row is a mapping of column: value, not {shown(repr(item))}", loc,
                         hint=HINT)
            continue
        problems.unknown_keys(item, COLUMNS)
        values = {k: v for k, v in item.items() if k in COLUMNS}
        cells = {k: item.where(k) for k in values}
        row = _row(values, cells, loc, problems)
        if row is not None:
            rows.append(row)
    return rows


# -- the models ----------------------------------------------------------------------------------

def model_ref(model: str, folder: Path) -> str:
    """The reference load_model reads: ``model`` as written, with a path made relative to the
    timings file's ``folder`` when the file is there (a bundled name otherwise)."""
    from cnncost.core.files import is_file
    from cnncost.frontends.library import parse_ref

    if is_file(folder / model):
        return str(folder / model)
    try:
        ref = parse_ref(model)
    except Exception:  # load_model says what is wrong with it
        return model
    if ref.spec != model and is_file(folder / ref.spec):
        return str(folder / ref.spec) + model[len(ref.spec):]
    return model


def timed_graphs(rows: tuple[TimingRow, ...], folder: str | Path) -> list[Graph]:
    """Each row's network (models relative to ``folder``), loaded once per model and batch;
    SpecError with every model that cannot be loaded, at its row's model cell."""
    from cnncost.core.errors import CnncostError
    from cnncost.frontends.library import load_model

    problems = Problems()
    loaded: dict[tuple[str, int], Graph | None] = {}
    graphs = []
    for row in rows:
        key = (row.model, row.batch)
        if key not in loaded:
            loaded[key] = None
            try:
                loaded[key] = load_model(model_ref(row.model, Path(folder)),
                                         batch=row.batch).graph
            except CnncostError as exc:
                first: Problem = exc.problems[0]
                where = f" ({first.loc}{': ' + first.loc.path if first.loc.path else ''})" \
                    if first.loc else ""
                more = f"; and {len(exc.problems) - 1} more" if len(exc.problems) > 1 else ""
                problems.add(f"cannot load model {shown(row.model, 120)}: "
                             f"{first.message}{where}{more}", row.where("model"),
                             hint=first.hint or "a bundled spec name (cnncost specs), or a "
                                                "spec or ONNX file relative to the timings file")
        graphs.append(loaded[key])
    if problems:
        raise SpecError(problems)
    return graphs
