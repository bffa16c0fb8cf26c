"""Commands over several models: compare them side by side, check them against budgets and
a saved baseline (exit 1 when one is exceeded)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from cnncost.cli.app import run, terminal
from cnncost.cli.options import CheckFormat, Options, command
from cnncost.core.errors import EXIT_FAILED, UsageError

MODEL_OPTIONS = ("sets", "variant", "batch", "input_shape", "allow_unknown", "format")
ANALYSIS_OPTIONS = ("dtype", "fuse", "device", "config", "thresholds", "strict")


@command("specs", *MODEL_OPTIONS, "baseline", "sort", "columns", *ANALYSIS_OPTIONS)
def compare(
    o: Options,
    specs: Annotated[list[str], typer.Argument(
        metavar="SPEC...",
        help="Specs to compare: files or bundled names, each with optional @variant and "
             "@name=value,... settings.")],
    baseline: Annotated[Optional[str], typer.Option(
        "--baseline", help="Add ratios against this model (as written, or its position).")]
    = None,
    sort: Annotated[Optional[str], typer.Option(
        "--sort", help="Sort by a column (e.g. mult_adds; -mult_adds for descending).")] = None,
    columns: Annotated[Optional[str], typer.Option(
        "--columns", help="Comma-separated columns (default: params, mult_adds, mem_access, "
                          "mem_access_bytes, peak_activation_bytes, "
                          "elementwise_mem_access_share, latency with --device, "
                          "G1-G4).")] = None,
) -> None:
    """Compare architectures side by side: one row per model."""

    def body() -> str:
        from cnncost.report.views import compare_text

        return compare_text(o.models(specs), o.format, baseline=baseline, sort=sort,
                            columns=columns, terminal=terminal())

    run(body)


@command("specs", "budget", "against", "max_increase", *MODEL_OPTIONS, *ANALYSIS_OPTIONS)
def check(
    o: Options,
    specs: Annotated[list[str], typer.Argument(
        metavar="SPEC...",
        help="Specs to check: files or bundled names, with optional @settings.")],
    budget: Annotated[Optional[str], typer.Option(
        "--budget", metavar="FILE", help="YAML budget file (cnncost docs ci); a spec's own "
                                         "budget: section applies too.")] = None,
    against: Annotated[Optional[str], typer.Option(
        "--against", metavar="FILE",
        help="A saved analysis (cnncost analyze --format json) to compare with.")] = None,
    max_increase: Annotated[str, typer.Option(
        "--max-increase", help="With --against: the increase allowed, e.g. 2% or 0.02.")] = "0%",
    format: Annotated[CheckFormat, typer.Option(
        "--format", "-f", help="table, json, csv, markdown (CI job summaries) or junit.")]
    = CheckFormat.table,
) -> None:
    """Gate CI on cost budgets: exit 0 all hold, 1 one exceeded, 2 could not run."""
    failed = False

    def body() -> str:
        nonlocal failed
        from cnncost.jobs.check import (parse_increase, read_baseline, read_budget_file,
                                        run_check, unchecked_entries)
        from cnncost.report.views import check_text

        increase = parse_increase(max_increase)
        budgets = read_budget_file(budget) if budget else None
        saved = read_baseline(against) if against else None
        models = o.models(specs)
        outcomes = run_check(models, budgets, saved, increase, against or "")
        if not outcomes and budgets is None:  # with a budget file, specs it does not name pass
            raise UsageError("nothing to check: no budget in the specs, no --budget file and "
                             "no --against baseline")
        failed = not all(outcome.passed for outcome in outcomes)
        return check_text(outcomes, models, o.format, unchecked_entries(models, budgets),
                          terminal())

    run(body)
    if failed:
        raise typer.Exit(EXIT_FAILED)
