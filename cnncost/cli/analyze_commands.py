"""Commands that analyse one model or list what cnncost knows: analyze, guidelines, explain,
ops, specs, docs. (Library modules are imported inside the commands: ``cnncost --help``
starts without them.)"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from cnncost.cli.app import run, terminal, write_to
from cnncost.cli.options import By, Options, ToolConvention, command
from cnncost.core.files import refuse_overwrite

SPEC_OPTIONS = ("spec", "sets", "variant", "batch", "input_shape", "allow_unknown", "format")
LIMIT_OPTIONS = ("config", "thresholds", "strict")


@command(*SPEC_OPTIONS, "layers", "convention", "by", "depth", "dtype", "fuse", "device",
         *LIMIT_OPTIONS, "output")
def analyze(
    o: Options,
    spec: str,
    layers: bool,
    convention: Annotated[Optional[ToolConvention], typer.Option(
        "--convention", help="Add the figure another tool reports for this network, by its "
                             "rules (cnncost docs conventions).")] = None,
    by: Annotated[Optional[By], typer.Option(
        "--by", help="Roll up by op type or by block.")] = None,
    output: Annotated[Optional[str], typer.Option(
        "--output", "-o", metavar="FILE",
        help="Write to FILE (whole or not at all) instead of standard output, e.g. a "
             "baseline for cnncost check --against.")] = None,
) -> None:
    """Analyze one architecture: totals, guideline summary, per layer, op type or block."""

    def body() -> str:
        from cnncost.report.views import analysis_text

        result = o.analysis(spec, convention.value if convention else None)
        if output:
            refuse_overwrite(result.model.file or spec, output)
        text = analysis_text(result, o.format, layers=layers, by=by.value if by else None,
                             terminal=terminal())
        if convention is not None:
            from cnncost.report.explain_views import with_tool_figure
            text = with_tool_figure(text, result, o.format,
                                    other_tables=layers or by is not None, terminal=terminal())
        return write_to(output, text)

    run(body)


@command(*SPEC_OPTIONS, "top", "fuse", *LIMIT_OPTIONS)
def guidelines(
    o: Options,
    spec: str,
    top: Annotated[int, typer.Option(
        "--top", min=0, help="Findings per guideline, costliest first (0: all).")] = 5,
) -> None:
    """Where the architecture breaks the ShuffleNet V2 guidelines G1-G4, and what it costs."""

    def body() -> str:
        from cnncost.report.views import guidelines_text

        return guidelines_text(o.analysis(spec), o.format, top, terminal())

    run(body)


@command("format")
def ops(o: Options) -> None:
    """List the ops a spec can use, with their attributes."""

    def body() -> str:
        from cnncost.report.views import ops_text

        return ops_text(o.format, terminal())

    run(body)


@command("format", "figures")
def specs(
    o: Options,
    figures: Annotated[bool, typer.Option(
        "--figures", help="Analyze every variant: params, mult-adds, mem_access, peak "
                          "activation memory (how docs/architectures.md is made).")] = False,
) -> None:
    """List the bundled architecture library: names, variables, variants."""

    def body() -> str:
        from cnncost.jobs.survey import analyze_library
        from cnncost.report.views import specs_text

        return specs_text(o.format, analyze_library() if figures else None, terminal())

    run(body)


def docs(topic: Annotated[Optional[str], typer.Argument(
        metavar="[TOPIC|METRIC]",
        help="A document (metrics, cli, spec-format, guidelines, ci, ...) or a metric name "
             "(mult_adds, mem_access, ...).")] = None) -> None:
    """Read the documentation that comes with cnncost: a document, or a metric's definition."""

    def body() -> str:
        from cnncost.report.docs_pages import docs_text

        return docs_text(topic)

    run(body)


@command("spec", "convention", *SPEC_OPTIONS[1:], "layers", "strict")
def explain(
    o: Options,
    spec: str,
    convention: Annotated[ToolConvention, typer.Option(
        "--convention", help="The tool whose figure to explain (cnncost docs conventions).")],
    layers: bool,
) -> None:
    """Why another tool's figure differs from mult_adds: by op type, or layer by layer."""

    def body() -> str:
        from cnncost.report.explain_views import explain_text

        return explain_text(o.analysis(spec, convention.value), o.format, layers=layers,
                            terminal=terminal())

    run(body)
