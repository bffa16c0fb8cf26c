"""The command line: each command parses options, calls the library, prints, picks an exit
code. Exit codes: 0 done, 1 a check failed, 2 could not run (bad spec or option), 3 a bug."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from enum import Enum
from typing import Annotated, Any, Optional

import typer

from cnncost.errors import EXIT_ERROR, CnncostError, UsageError

EXIT_BUG = 3

app = typer.Typer(
    add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
    help="What a CNN architecture costs, from a YAML spec: params, mult-adds "
         "(multiply-accumulates), mem_access (memory access cost), activation memory.")


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"


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


def parse_sets(items: list[str]) -> dict[str, Any]:
    """``["alpha=0.75", "resolution=128"]`` -> {"alpha": 0.75, "resolution": 128}."""
    import yaml

    values: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise UsageError(f"--set {item!r}: expected name=value, e.g. --set alpha=0.75")
        try:
            values[key] = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            values[key] = raw
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


SetOption = Annotated[list[str], typer.Option(
    "--set", metavar="NAME=VALUE", help="Override a spec variable, e.g. --set alpha=0.75.")]
FormatOption = Annotated[Format, typer.Option("--format", "-f", help="Output format.")]


@app.command()
def analyze(
    spec: Annotated[str, typer.Argument(help="Spec file (.yaml).")],
    sets: SetOption = [],
    format: FormatOption = Format.table,
    layers: Annotated[bool, typer.Option("--layers", help="One row per layer.")] = False,
    by: Annotated[Optional[By], typer.Option("--by", help="Roll up by op type or by block.")] = None,
    depth: Annotated[int, typer.Option("--depth", min=1,
                                       help="Block depth for --by block (dotted-name parts).")] = 1,
    dtype: Annotated[Dtype, typer.Option("--dtype", help="Bytes per element.")] = Dtype.fp32,
    fuse: Annotated[Fuse, typer.Option(
        "--fuse", help="none: every op its own kernel (the paper's setting); "
                       "bn-act: BN folded and activations fused into the conv.")] = Fuse.none,
) -> None:
    """Analyze one architecture: totals, and per layer, op type or block."""

    def body() -> str:
        from cnncost.analysis import analyze as run_analysis
        from cnncost.report.views import analysis_text
        from cnncost.spec import load_graph

        graph = load_graph(spec, parse_sets(sets))
        result = run_analysis(graph, fuse=fuse.value, dtype=dtype.value, depth=depth)
        return analysis_text(result, format.value, layers=layers,
                             by=by.value if by else None)

    run(body)


@app.command()
def ops(format: FormatOption = Format.table) -> None:
    """List the ops a spec can use, with their attributes."""

    def body() -> str:
        from cnncost.report.views import ops_table, table_text
        return table_text(ops_table(), format.value)

    run(body)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
