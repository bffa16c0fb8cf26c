"""What ``cnncost sweep`` writes: CSV, JSON lines or a table, streamed block by block; the
budget filter and the Pareto front."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from cnncost.errors import Problem, UsageError, suggest
from cnncost.sweeps import Sweep, pareto, value_text

TABLE_ROWS = 1000  # a table longer than this is cut (CSV and JSON lines write every row)


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


def sweep_limits(sweep: Sweep, budget: Any) -> list[Any]:
    """The limits that filter a sweep: the budget file's common ones and its entry for the
    spec, and the spec's own; a limit on a figure the sweep does not compute is refused."""
    chosen = {limit.metric: limit for limit in sweep.base.budget}
    if budget is not None:
        chosen.update({limit.metric: limit for limit in budget.common})
        for name in (sweep.ref.spec, sweep.base.name):
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


def pareto_axes(sweep: Sweep, text: str) -> tuple[str, str]:
    keys = [k.strip() for k in text.split(",")]
    if len(keys) != 2 or keys[0] == keys[1]:
        raise UsageError(Problem(f"--pareto {text}: name two columns, e.g. mult_adds,latency"))
    for key in keys:
        if key not in sweep.columns:
            raise UsageError(Problem(f"--pareto: unknown column '{key}'",
                                     hint=suggest(key, sweep.columns) or
                                     "columns: " + ", ".join(sweep.columns)))
    return keys[0], keys[1]


def rows(sweep: Sweep, limits: list[Any], front: tuple[str, str] | None,
         progress: Callable[[int], None] | None = None) -> Iterator[dict[str, Any]]:
    """Blocks of the rows to write: within the limits; with ``front``, only the Pareto front
    (kept as it grows, so memory stays bounded by the front's size)."""
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
            chosen = pareto(np.asarray(block[front[0]], dtype=np.float64),
                            np.asarray(block[front[1]], dtype=np.float64))
            best = {k: np.asarray(v)[chosen] for k, v in block.items()}
    if front is not None and best is not None:
        yield best


def _value_texts(sweep: Sweep, block: dict[str, Any]) -> list[list[str]]:
    """Each swept variable's values as written on the grid (0.35, not 0.35000000000000003)."""
    texts = []
    for axis in sweep.axes:
        written = np.asarray([value_text(v) for v in axis.values])
        index = np.searchsorted(np.asarray(axis.values), block[axis.name])
        texts.append(written[np.clip(index, 0, len(written) - 1)].tolist())
    return texts


def labels(sweep: Sweep, block: dict[str, Any]) -> list[str]:
    """Each row's configuration as cnncost names it (mobilenet_v2@width=0.5,resolution=160)."""
    template = sweep.label_template()
    return [template.format(*row) for row in zip(*_value_texts(sweep, block))]


def csv_text(sweep: Sweep, block: dict[str, Any], header: bool) -> str:
    """CSV lines: the quoted label, the variables as written on the grid, the figures (one
    format per line: the label's template fields are the variables' columns)."""
    label = '"' + sweep.label_template().replace('"', '""') + '"'
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
    shown: list[dict[str, Any]] = []
    total = 0
    for block in blocks:
        n = len(block[sweep.metrics[0]])
        total += n
        room = TABLE_ROWS - len(shown)
        if room > 0:
            names = sweep.columns
            values = [np.asarray(block[k])[:room].tolist() for k in names]
            shown += [dict(zip(names, row)) for row in zip(*values)]
    return shown, total


def table(sweep: Sweep, rows_shown: list[dict[str, Any]], total: int, front: Any) -> Any:
    from cnncost import metrics
    from cnncost.report.tables import COLUMN_KIND, NUMBER, Column, Table

    columns = [Column(a.name, a.name, NUMBER) for a in sweep.axes] + [
        Column(m, metrics.BY_NAME[m].header, COLUMN_KIND[metrics.BY_NAME[m].unit])
        for m in sweep.metrics]
    what = f"Pareto front of {front[0]} and {front[1]}" if front else "sweep"
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
