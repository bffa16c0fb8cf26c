"""What ``cnncost sweep`` writes: CSV, JSON lines or a table, streamed block by block; the
budget filter and the Pareto front."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cnncost.core.errors import Problem, UsageError, shown, suggest
from cnncost.report.render import spreadsheet_safe
from cnncost.report.views import tables_text
from cnncost.jobs.sweep import MAX_CONFIGS, Sweep, front_directions, pareto_mask, value_text

TABLE_ROWS = 1000  # a table longer than this is cut (CSV and JSON lines write every row)
TABLE_GRID = 10**5  # the table is for people: larger grids go to a file (about 0.1 s)
STDOUT_GRID = 10**7  # rows on standard output: about a GB of text; larger grids go to -o FILE


def size_limit(fmt: str, front: bool, to_file: bool) -> tuple[int, str]:
    """The most configurations a sweep evaluates for a format, and why: what is written
    must stay readable (the table) or reasonable to stream (standard output). A Pareto front
    is short, whatever the grid."""
    if front or (to_file and fmt != "table"):
        return MAX_CONFIGS, "a sweep"
    if fmt == "table":
        return TABLE_GRID, "the table format (for people)"
    return STDOUT_GRID, f"--format {fmt} on standard output"


def check_size(sweep: Sweep, fmt: str, front: bool, to_file: bool) -> None:
    """Refuse up front a grid too large for its format, before anything is evaluated."""
    limit, what = size_limit(fmt, front, to_file)
    if sweep.size > limit:
        raise UsageError(Problem(
            f"{sweep.size:,} configurations: {what} takes at most {limit:,}",
            hint="write every row to a file: --format csv -o rows.csv (or jsonl), up to "
                 f"{MAX_CONFIGS:,}; or keep the front with --pareto X,Y"))


def _text(values: Any) -> Any:
    """Numbers as text, each as Python writes it (shortest round-trip for floats)."""
    return np.asarray(values).astype(str)


def budget_mask(block: dict[str, Any], limits: list[Any]) -> Any:
    """Rows within every limit (exact: counts as integers, latency as seconds)."""
    keep = np.ones(len(next(iter(block.values()))), dtype=bool)
    for limit in limits:
        values = block[limit.metric]
        bound = float(limit.value) if limit.metric == "latency" else int(limit.value)
        keep &= values <= bound
    return keep


def sweep_names(sweep: Sweep) -> list[str]:
    """What a budget file may call the swept spec: its reference, its file's stem, its name."""
    spec = sweep.ref.spec
    stem = Path(spec).stem if spec.endswith((".yaml", ".yml")) else spec
    return list(dict.fromkeys((spec, stem, sweep.base.name)))


def sweep_limits(sweep: Sweep, budget: Any) -> list[Any]:
    """The limits that filter a sweep: the budget file's common ones and its entry for the
    spec, and the spec's own; a limit on a figure the sweep does not compute is refused."""
    from cnncost.jobs.check import unknown_entries

    chosen = {limit.metric: limit for limit in sweep.base.budget}
    if budget is not None:
        names = sweep_names(sweep)
        unknown = unknown_entries(budget, names, "swept")
        if unknown:
            raise UsageError(unknown)
        chosen.update({limit.metric: limit for limit in budget.common})
        for name in names:
            if name in budget.models:
                chosen.update({limit.metric: limit for limit in budget.models[name]})
                break
    unknown = [m for m in chosen if m not in sweep.metrics]
    if unknown:
        raise UsageError(Problem(
            f"the budget limits {', '.join(sorted(unknown))}, which a sweep does not compute",
            chosen[unknown[0]].loc,
            hint=f"a sweep filters on {', '.join(sweep.metrics)}" +
                 ("" if "latency" in sweep.metrics else " (latency with --device)")))
    return list(chosen.values())


@dataclass(frozen=True)
class Front:
    """The Pareto front a sweep keeps: two columns, and which of them are maximised."""

    x: str
    y: str
    maximize: tuple[bool, bool] = (False, False)

    def __str__(self) -> str:
        return " and ".join(f"{name} ({'max' if up else 'min'})"
                            for name, up in zip((self.x, self.y), self.maximize))


def pareto_axes(sweep: Sweep, text: str, maximize: list[str] | tuple[str, ...] = ()) -> Front:
    """``--pareto X,Y`` and ``--maximize COLUMN``: the front to keep, or a UsageError."""
    keys = [k.strip() for k in text.split(",")]
    if len(keys) != 2 or keys[0] == keys[1]:
        raise UsageError(Problem(f"--pareto {shown(text)}: name two columns",
                                 hint="e.g. --pareto latency,mult_adds --maximize mult_adds"))
    for key in keys:
        if key not in sweep.columns:
            raise UsageError(Problem(f"--pareto: unknown column '{shown(key)}'",
                                     hint=suggest(key, sweep.columns) or
                                     "columns: " + ", ".join(sweep.columns)))
    return Front(keys[0], keys[1], front_directions((keys[0], keys[1]), maximize))


def rows(sweep: Sweep, limits: list[Any], front: Front | None,
         progress: Callable[[int], None] | None = None) -> Iterator[dict[str, Any]]:
    """Blocks of the rows to write, in the grid's order: within the limits; with ``front``,
    only the Pareto front (kept as it grows, so memory stays bounded by the front's size)."""
    best: dict[str, Any] | None = None
    for block in sweep.blocks(progress):
        if limits:
            keep = budget_mask(block, limits)
            block = {k: v[keep] for k, v in block.items()}
        if front is None:
            if len(block[sweep.metrics[0]]):
                yield block
            continue
        if best is not None:
            block = {k: np.concatenate([best[k], np.asarray(block[k])]) for k in block}
        if len(block[sweep.metrics[0]]):
            chosen = pareto_mask(block[front.x], block[front.y], front.maximize)
            best = {k: np.asarray(v)[chosen] for k, v in block.items()}
    if front is not None and best is not None:
        yield best


def _value_texts(sweep: Sweep, block: dict[str, Any]) -> list[list[str]]:
    """Each swept variable's values as written on the grid (0.35, not 0.35000000000000003),
    whatever the order of the values (--grid resolution=224,128)."""
    texts = []
    for axis in sweep.axes:
        values = np.asarray(axis.values)
        written = np.asarray([value_text(v) for v in axis.values])
        order = np.argsort(values, kind="stable")
        index = np.searchsorted(values, block[axis.name], sorter=order)
        texts.append(written[order[np.clip(index, 0, len(written) - 1)]].tolist())
    return texts


def labels(sweep: Sweep, block: dict[str, Any]) -> list[str]:
    """Each row's configuration as cnncost names it (mobilenet_v2@width=0.5,resolution=160)."""
    template = sweep.label_template()
    return [template.format(*row) for row in zip(*_value_texts(sweep, block))]


def csv_text(sweep: Sweep, block: dict[str, Any], header: bool) -> str:
    """CSV lines: the quoted label (spreadsheet-safe), the variables as written on the grid,
    the figures (one format per line: the label's template fields are the variables'
    columns)."""
    label = '"' + spreadsheet_safe(sweep.label_template()).replace('"', '""') + '"'
    fields = len(sweep.axes) + len(sweep.metrics)
    line = ",".join([label, *(f"{{{i}}}" for i in range(fields))])
    columns = _value_texts(sweep, block) + [_text(block[m]).tolist() for m in sweep.metrics]
    text = "\n".join(line.format(*row) for row in zip(*columns))
    if header:
        text = ",".join(("label", *sweep.columns)) + "\n" + text
    return text + "\n" if text else ""


def jsonl_text(sweep: Sweep, block: dict[str, Any]) -> str:
    names = ["label", *sweep.columns]
    columns = [labels(sweep, block)] + [np.asarray(block[name]).tolist()
                                        for name in sweep.columns]
    return "".join(json.dumps(dict(zip(names, row))) + "\n" for row in zip(*columns))


def table_rows(sweep: Sweep, blocks: Iterator[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    kept: list[dict[str, Any]] = []
    total = 0
    for block in blocks:
        n = len(block[sweep.metrics[0]])
        total += n
        room = TABLE_ROWS - len(kept)
        if room > 0:
            names = sweep.columns
            values = [np.asarray(block[k])[:room].tolist() for k in names]
            kept += [dict(zip(names, row)) for row in zip(*values)]
    return kept, total


def table(sweep: Sweep, rows_shown: list[dict[str, Any]], total: int, front: Any) -> Any:
    from cnncost.core import metrics
    from cnncost.report.tables import COLUMN_KIND, NUMBER, Column, Table

    columns = [Column(a.name, a.name, NUMBER) for a in sweep.axes] + [
        Column(m, metrics.BY_NAME[m].header, COLUMN_KIND[metrics.BY_NAME[m].unit])
        for m in sweep.metrics]
    what = f"Pareto front of {front}" if front else "sweep"
    notes = []
    if total > len(rows_shown):
        notes.append(f"the first {len(rows_shown)} of {total:,} rows; --format csv or jsonl "
                     f"writes them all")
    r = sweep.result
    notes.append(f"{r.configurations:,} configurations, {r.expansions} expansion"
                 f"{'s' if r.expansions != 1 else ''} of the spec ({len(r.topologies)} "
                 f"topolog{'ies' if len(r.topologies) != 1 else 'y'})")
    if r.invalid:
        notes.append(f"{r.invalid:,} configurations cannot be built (first: {r.first_error})")
    return Table(title=f"{sweep.title}: {what}", columns=tuple(columns),
                 rows=tuple(rows_shown), notes=tuple(notes))


def sweep_text(sweep: Sweep, fmt: str, blocks: Iterator[dict[str, Any]], front: Front | None,
               terminal: Any) -> Iterator[str]:
    """What ``cnncost sweep`` writes, in chunks: the table (its first TABLE_ROWS rows) made
    whole at once, CSV and JSON lines a block at a time as the blocks come."""
    if fmt == "table":
        shown_rows, total = table_rows(sweep, blocks)
        return iter([tables_text([table(sweep, shown_rows, total, front)], "table", terminal)])
    if fmt == "csv":
        return (csv_text(sweep, block, i == 0) for i, block in enumerate(blocks))
    return (jsonl_text(sweep, block) for block in blocks)


def summary(sweep: Sweep, seconds: float, output: str | None, written: int) -> str:
    """The line on standard error after a sweep: how many configurations, how fast, how many
    could not be built, what was written."""
    r = sweep.result
    invalid = (f"; {r.invalid:,} could not be built (first: {r.first_error})"
               if r.invalid else "")
    return (f"swept {r.configurations:,} configurations in {seconds:.2f} s "
            f"({r.expansions} expansion{'s' if r.expansions != 1 else ''}){invalid}" +
            (f"; wrote {output} ({written:,} bytes)" if output else ""))
