"""The command line: each command parses options, calls the library, prints, picks an exit
code. Exit codes: 0 done, 1 a check failed, 2 could not run (bad spec or option), 3 a bug."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from enum import Enum
from typing import Annotated, Any, Optional

import typer

from cnncost.errors import CnncostError, UsageError

EXIT_BUG = 3

app = typer.Typer(
    add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
    help="What a CNN architecture costs, from a YAML spec: params, mult-adds "
         "(multiply-accumulates), mem_access (memory access cost), activation memory.")


def _version(value: bool) -> None:
    if value:
        from cnncost import __version__
        typer.echo(f"cnncost {__version__}")
        raise typer.Exit()


@app.callback()
def _main(version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True, help="Show the version and exit.")]
          = False) -> None:
    """Options that come before the command."""


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"


class CheckFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"
    junit = "junit"


class By(str, Enum):
    op = "op"
    block = "block"


class Dtype(str, Enum):
    fp32 = "fp32"
    fp16 = "fp16"
    bf16 = "bf16"
    int8 = "int8"


class Fuse(str, Enum):
    none = "none"
    bn_act = "bn-act"


def parse_sets(items: list[str]) -> dict[str, str]:
    """``["alpha=0.75", "resolution=128"]`` -> {"alpha": "0.75", "resolution": "128"}; the
    spec reads each value as its variable's type."""
    values: dict[str, str] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise UsageError(f"--set {item!r}: expected name=value, e.g. --set alpha=0.75")
        values[key] = raw.strip()
    return values


def run(body: Callable[[], str]) -> None:
    """Compute the whole output, then write it; errors go to stderr with exit code 2."""
    from cnncost.gcpause import paused_gc

    try:
        with paused_gc():  # a short-lived process building one large structure
            text = body()
    except CnncostError as exc:
        typer.echo(exc.format(), err=True)
        raise typer.Exit(exc.exit_code)
    except (typer.Exit, typer.Abort):
        raise
    except Exception as exc:  # a bug: say so plainly; CNNCOST_DEBUG=1 shows the traceback
        if os.environ.get("CNNCOST_DEBUG"):
            raise
        typer.echo(f"internal error (a bug in cnncost, please report it): "
                   f"{type(exc).__name__}: {exc}", err=True)
        raise typer.Exit(EXIT_BUG)
    sys.stdout.write(text)
    sys.stdout.flush()


SpecArgument = Annotated[str, typer.Argument(
    help="A spec file or bundled spec name, optionally with @variant and/or @name=value,... "
         "(e.g. mobilenet_v1@alpha=0.5,resolution=160).")]
SetOption = Annotated[list[str], typer.Option(
    "--set", metavar="NAME=VALUE", help="Override a spec variable, e.g. --set alpha=0.75.")]
VariantOption = Annotated[Optional[str], typer.Option(
    "--variant", help="Use one of the spec's named variants (cnncost specs lists them).")]
FormatOption = Annotated[Format, typer.Option("--format", "-f", help="Output format.")]
ConfigOption = Annotated[Optional[str], typer.Option(
    "--config", metavar="FILE", help="YAML file with guideline thresholds (docs/guidelines.md).")]
ThresholdOption = Annotated[list[str], typer.Option(
    "--threshold", metavar="NAME=VALUE",
    help="Set a guideline threshold, e.g. --threshold g4.max_share=0.7 (or 70%).")]
DepthOption = Annotated[int, typer.Option(
    "--depth", min=1, help="Block depth (dotted-name parts) for --by block and the guidelines.")]
DtypeOption = Annotated[Dtype, typer.Option(
    "--dtype", help="Bytes per element of the byte figures.")]
FuseOption = Annotated[Fuse, typer.Option(
    "--fuse", help="none: every op its own kernel (the paper's setting); "
                   "bn-act: BN folded and activations fused into the conv.")]


@app.command()
def analyze(
    spec: SpecArgument,
    sets: SetOption = [],
    variant: VariantOption = None,
    format: FormatOption = Format.table,
    layers: Annotated[bool, typer.Option("--layers", help="One row per layer.")] = False,
    by: Annotated[Optional[By], typer.Option(
        "--by", help="Roll up by op type or by block.")] = None,
    depth: DepthOption = 1,
    dtype: DtypeOption = Dtype.fp32,
    fuse: FuseOption = Fuse.none,
    config: ConfigOption = None,
    thresholds: ThresholdOption = [],
) -> None:
    """Analyze one architecture: totals, guideline summary, per layer, op type or block."""

    def body() -> str:
        from cnncost.report.views import analysis_text

        result = _analysis(spec, sets, variant, fuse, dtype, depth, config, thresholds)
        return analysis_text(result, format.value, layers=layers,
                             by=by.value if by else None)

    run(body)


@app.command()
def guidelines(
    spec: SpecArgument,
    sets: SetOption = [],
    variant: VariantOption = None,
    format: FormatOption = Format.table,
    top: Annotated[int, typer.Option(
        "--top", min=0, help="Findings per guideline, costliest first (0: all).")] = 5,
    depth: DepthOption = 1,
    fuse: FuseOption = Fuse.none,
    config: ConfigOption = None,
    thresholds: ThresholdOption = [],
) -> None:
    """Where the architecture breaks the ShuffleNet V2 guidelines G1-G4, and what it costs."""

    def body() -> str:
        from cnncost.report.views import guidelines_text

        result = _analysis(spec, sets, variant, fuse, Dtype.fp32, depth, config, thresholds)
        return guidelines_text(result, format.value, top)

    run(body)


@app.command()
def compare(
    specs: Annotated[list[str], typer.Argument(
        help="Specs to compare: files or bundled names, each with optional @variant and "
             "@name=value,... settings.")],
    sets: SetOption = [],
    variant: VariantOption = None,
    format: FormatOption = Format.table,
    baseline: Annotated[Optional[str], typer.Option(
        "--baseline", help="Add ratios against this model (as written, or its position).")]
    = None,
    sort: Annotated[Optional[str], typer.Option(
        "--sort", help="Sort by a column (e.g. mult_adds; -mult_adds for descending).")] = None,
    columns: Annotated[Optional[str], typer.Option(
        "--columns", help="Comma-separated columns (default: params, mult_adds, mem_access, "
                          "mem_access_bytes, peak_activation_bytes, "
                          "elementwise_mem_access_share, G1-G4).")] = None,
    dtype: DtypeOption = Dtype.fp32,
    fuse: FuseOption = Fuse.none,
    config: ConfigOption = None,
    thresholds: ThresholdOption = [],
) -> None:
    """Compare architectures side by side: one row per model."""

    def body() -> str:
        from cnncost.config import load_thresholds
        from cnncost.gate import analyse_all
        from cnncost.report.views import compare_text

        models = analyse_all(specs, parse_sets(sets), variant, fuse=fuse.value,
                             dtype=dtype.value, thresholds=load_thresholds(config, thresholds))
        return compare_text(models, format.value, baseline=baseline, sort=sort,
                            columns=columns)

    run(body)


@app.command()
def check(
    specs: Annotated[list[str], typer.Argument(
        help="Specs to check: files or bundled names, with optional @settings.")],
    budget: Annotated[Optional[str], typer.Option(
        "--budget", metavar="FILE", help="YAML budget file (docs/ci.md); a spec's own budget: "
                                         "section applies too.")] = None,
    against: Annotated[Optional[str], typer.Option(
        "--against", metavar="FILE",
        help="A saved analysis (cnncost analyze --format json) to compare with.")] = None,
    max_increase: Annotated[str, typer.Option(
        "--max-increase", help="With --against: the increase allowed, e.g. 2% or 0.02.")] = "0%",
    sets: SetOption = [],
    variant: VariantOption = None,
    format: Annotated[CheckFormat, typer.Option(
        "--format", "-f", help="table, json, csv, markdown (CI job summaries) or junit.")]
    = CheckFormat.table,
    dtype: DtypeOption = Dtype.fp32,
    fuse: FuseOption = Fuse.none,
    config: ConfigOption = None,
    thresholds: ThresholdOption = [],
) -> None:
    """Gate CI on cost budgets: exit 0 all hold, 1 one exceeded, 2 could not run."""
    from cnncost.errors import EXIT_FAILED

    failed = False

    def body() -> str:
        nonlocal failed
        from cnncost.config import load_thresholds
        from cnncost.gate import (analyse_all, parse_increase, read_baseline,
                                  read_budget_file, run_check)
        from cnncost.report.views import check_text

        increase = parse_increase(max_increase)
        budgets = read_budget_file(budget) if budget else None
        saved = read_baseline(against) if against else None
        models = analyse_all(specs, parse_sets(sets), variant, fuse=fuse.value,
                             dtype=dtype.value, thresholds=load_thresholds(config, thresholds))
        outcomes = run_check(models, budgets, saved, increase, against or "")
        if not outcomes:
            raise UsageError("nothing to check: no budget in the specs, no --budget file "
                             "limits for them, and no --against baseline")
        failed = not all(o.passed for o in outcomes)
        return check_text(outcomes, models, format.value)

    run(body)
    if failed:
        raise typer.Exit(EXIT_FAILED)


def _analysis(spec: str, sets: list[str], variant: str | None, fuse: Fuse, dtype: Dtype,
              depth: int, config: str | None, thresholds: list[str]) -> Any:
    from cnncost.analysis import analyze as run_analysis
    from cnncost.config import load_thresholds
    from cnncost.library import load_ref, parse_ref

    limits = load_thresholds(config, thresholds)
    graph = load_ref(parse_ref(spec), parse_sets(sets), variant)
    return run_analysis(graph, fuse=fuse.value, dtype=dtype.value, depth=depth,
                        thresholds=limits)


@app.command()
def ops(format: FormatOption = Format.table) -> None:
    """List the ops a spec can use, with their attributes."""

    def body() -> str:
        from cnncost.report.views import ops_table, table_text
        return table_text(ops_table(), format.value)

    run(body)


@app.command()
def specs(
    format: FormatOption = Format.table,
    figures: Annotated[bool, typer.Option(
        "--figures", help="Analyze every variant: params, mult-adds, mem_access, peak "
                          "activation memory (how docs/architectures.md is made).")] = False,
) -> None:
    """List the bundled architecture library: names, variables, variants."""

    def body() -> str:
        from cnncost.report.views import library_table, table_text
        return table_text(library_table(figures), format.value)

    run(body)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
