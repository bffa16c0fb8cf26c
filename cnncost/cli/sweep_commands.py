"""cnncost sweep: every combination of variable values, one row each, streamed to standard
output or to a file (the work is cnncost.jobs.sweep's, the text cnncost.report.sweep_views')."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Annotated, Any, Optional

import typer

from cnncost.cli.app import diagnose, run, stream, terminal
from cnncost.cli.options import Options, SweepFormat, command, parse_sets
from cnncost.core.errors import UsageError
from cnncost.core.files import sigterm_exits


@command("spec", "grid", "sets", "variant", "batch", "device", "dtype", "fuse", "budget",
         "pareto", "maximize", "format", "output")
def sweep(
    o: Options,
    spec: str,
    grid: Annotated[list[str], typer.Option(
        "--grid", metavar="NAME=START:STOP:STEP|A,B,C",
        help="A variable's values (stop included): --grid width=0.35:1.4:0.05; repeat for "
             "each variable swept.")] = [],
    budget: Annotated[Optional[str], typer.Option(
        "--budget", metavar="FILE", help="Keep the configurations within this budget file's "
                                         "limits (and the spec's own).")] = None,
    pareto: Annotated[Optional[str], typer.Option(
        "--pareto", metavar="X,Y", help="Keep the Pareto front of two columns, each "
                                        "minimised unless --maximize names it, e.g. "
                                        "latency,mult_adds.")] = None,
    maximize: list[str] = [],
    format: Annotated[SweepFormat, typer.Option(
        "--format", "-f", help="table (the first 1000 rows; grids up to 10^5), csv or jsonl "
                               "(every row; up to 10^7 without -o).")]
    = SweepFormat.table,
    output: Optional[str] = None,
) -> None:
    """Evaluate every combination of variable values: one row per configuration."""

    def body() -> str:
        from cnncost.jobs.check import read_budget_file
        from cnncost.jobs.sweep import Sweep, parse_axis, some_built
        from cnncost.report import sweep_views as views

        started = time.perf_counter()
        axes = [parse_axis(text) for text in grid]
        budgets = read_budget_file(budget) if budget else None
        job = Sweep(spec, axes, variant=o.variant, settings=parse_sets(o.sets), batch=o.batch,
                    fuse=o.fuse, dtype=o.dtype, device=o.profile())
        limits = views.sweep_limits(job, budgets)
        if maximize and not pareto:
            raise UsageError("--maximize names a column of --pareto X,Y; give --pareto too")
        front = views.pareto_axes(job, pareto, maximize) if pareto else None
        views.check_size(job, o.format, front is not None, output is not None)
        with _progress(job.size) as advance, sigterm_exits():
            blocks = some_built(job, views.rows(job, limits, front, advance), spec)
            written = stream(views.sweep_text(job, o.format, blocks, front, terminal()), output)
        diagnose(views.summary(job, time.perf_counter() - started, output, written))
        return ""

    run(body)


class _progress:
    """A progress bar on standard error for long sweeps, when it is a terminal."""

    def __init__(self, total: int):
        self.total, self.bar = total, None

    def __enter__(self) -> Callable[[int], None]:
        if self.total >= 1 << 20 and sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import Progress

            self.bar = Progress(transient=True, console=Console(stderr=True))
            self.bar.start()
            task = self.bar.add_task("sweeping", total=self.total)
            return lambda n: self.bar.advance(task, n)
        return lambda n: None

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.stop()
