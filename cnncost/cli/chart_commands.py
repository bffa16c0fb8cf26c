"""Pictures: cnncost plot (a roofline, per-layer costs, a scatter of models or sweep rows) and
the HTML report. Both need matplotlib (the plot extra), asked for before any analysis."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from cnncost.cli.app import run, write_file, write_to
from cnncost.cli.options import Options, command
from cnncost.core.errors import Problem, UsageError
from cnncost.core.settings import CHART_FORMATS

plot_app = typer.Typer(no_args_is_help=True, help="Draw a chart as PNG or SVG: a roofline, "
                       "per-layer costs, or a scatter of models or sweep rows (needs "
                       "matplotlib: pip install 'cnncost\\[plot]').")

ChartOutput = Annotated[str, typer.Option(
    "--output", "-o", metavar="FILE.png|FILE.svg",
    help="The chart to write, whole or not at all: PNG or SVG, by the file's extension.")]
MODEL_OPTIONS = ("sets", "variant", "batch", "input_shape", "allow_unknown")


@plot_app.command("roofline")
@command("spec", "output", "device", *MODEL_OPTIONS, "dtype", "strict")
def plot_roofline(o: Options, spec: str, output: ChartOutput) -> None:
    """Each kernel of a model on a device's roofline: mult-adds per byte against per second."""

    def body() -> str:
        from cnncost.report.charts import roofline_figure

        if o.device is None:
            raise UsageError(Problem("a roofline needs a device profile",
                                     hint="add --device NAME (cnncost devices lists them)"))
        kind = _chart_format(output)
        return write_file(output, roofline_figure(o.analysis(spec), kind))

    run(body)


@plot_app.command("layers")
@command("spec", "output", "device", *MODEL_OPTIONS, "dtype", "fuse", "strict")
def plot_layers(o: Options, spec: str, output: ChartOutput) -> None:
    """mult-adds and mem_access (and latency, with --device) per layer, along the network."""

    def body() -> str:
        from cnncost.report.charts import layers_figure

        kind = _chart_format(output)
        return write_file(output, layers_figure(o.analysis(spec), kind))

    run(body)


@plot_app.command("scatter")
@command("output", "specs", "x", "y", "rows", "label", "pareto", "maximize", "title",
         *MODEL_OPTIONS, "dtype", "fuse", "device", "strict")
def plot_scatter(
    o: Options,
    output: ChartOutput,
    specs: Annotated[Optional[list[str]], typer.Argument(
        metavar="[SPEC...]", help="Models to place, as for compare (or --rows).")] = None,
    x: Annotated[str, typer.Option("--x", help="The metric or column along x.")] = "mult_adds",
    y: Annotated[str, typer.Option("--y", help="The metric or column along y.")] = "mem_access",
    rows: Annotated[Optional[str], typer.Option(
        "--rows", metavar="FILE.csv|FILE.jsonl",
        help="Rows of a sweep (cnncost sweep) instead of SPECs.")] = None,
    label: Annotated[Optional[str], typer.Option(
        "--label", help="The column that names each point (default: label).")] = None,
    pareto: Annotated[bool, typer.Option(
        "--pareto/--no-pareto", help="Mark the Pareto front (smaller is better on both axes "
                                     "unless --maximize).")] = True,
    maximize: list[str] = [],
    title: Annotated[Optional[str], typer.Option("--title", help="The chart's title.")] = None,
) -> None:
    """Two metrics of models or sweep rows against each other, with the Pareto front."""

    def body() -> str:
        from cnncost.jobs.sweep import front_directions
        from cnncost.report.charts import scatter_figure
        from cnncost.report.points import model_rows, read_rows

        if bool(specs) == bool(rows):
            raise UsageError("give either SPECs to compare or --rows FILE, one of the two")
        directions = front_directions((x, y), maximize)
        kind = _chart_format(output)
        found = read_rows(rows) if rows else model_rows(o.models(specs or []))
        return write_file(output, scatter_figure(
            found, x, y, label=label, pareto=pareto, title=title or "",
            maximize=directions, fmt=kind))

    run(body)


@command("spec", "output", "device", *MODEL_OPTIONS, "dtype", "fuse", "config", "thresholds",
         "strict", "charts")
def html_report(
    o: Options,
    spec: str,
    output: Optional[str],
    charts: Annotated[bool, typer.Option(
        "--charts/--no-charts", help="Draw the charts (needs matplotlib).")] = True,
) -> None:
    """A self-contained HTML report: summary, guidelines, charts, sortable layer table."""

    def body() -> str:
        from cnncost.report.html import report_html

        if charts:
            _report_charts()
        return write_to(output, report_html(o.analysis(spec), charts=charts))

    run(body)


def _chart_format(output: str) -> str:
    """png or svg, by the output file's extension; and matplotlib, or a message saying how
    to install it, before anything is analysed."""
    from cnncost.report.charts import matplotlib_module

    kind = output.rsplit(".", 1)[-1].lower() if "." in output else ""
    if kind not in CHART_FORMATS:
        raise UsageError(Problem(f"--output {output}: a chart is a .png or .svg file",
                                 hint="e.g. -o chart.svg"))
    matplotlib_module()
    return kind


def _report_charts() -> None:
    """matplotlib for the report's charts, or a message saying how to do without."""
    from cnncost.report.charts import matplotlib_module

    try:
        matplotlib_module()
    except UsageError:
        raise UsageError(Problem("the report's charts need matplotlib",
                                 hint="pip install 'cnncost[plot]', or leave the charts out: "
                                      "--no-charts")) from None
