"""The command line: each command parses options, calls the library, prints, picks an exit
code. Exit codes: 0 done, 1 a check failed, 2 could not run (bad spec or option), 3 a bug."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import Enum
from typing import Annotated, Any, Optional

import typer

from cnncost.core.errors import EXIT_ERROR, CnncostError, UsageError
from cnncost.core.files import refuse_overwrite, write_whole

EXIT_BUG = 3

app = typer.Typer(
    add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
    help="What a CNN architecture costs, from a YAML spec: params, mult-adds "
         "(multiply-accumulates), mem_access (memory access cost), activation memory.")


def _version(value: bool) -> None:
    if value:
        from cnncost.core.version import __version__
        typer.echo(f"cnncost {__version__}")
        raise typer.Exit()


@app.callback()
def _main(version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True, help="Show the version and exit.")]
          = False) -> None:
    """Options that come before the command."""


def _formats(name: str, *extra: str) -> Any:
    """The --format choices: every command's four, and ``check``'s JUnit XML."""
    return Enum(name, {f: f for f in ("table", "json", "csv", "markdown", *extra)}, type=str)


Format = _formats("Format")
CheckFormat = _formats("CheckFormat", "junit")


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


class ToolConvention(str, Enum):  # cnncost.conventions.tools.NAMES
    fvcore = "fvcore"
    ptflops = "ptflops"
    ptflops_aten = "ptflops-aten"
    thop = "thop"
    torchinfo = "torchinfo"
    paper = "paper"


def terminal() -> Any:
    """The width and colours of the table format: the terminal's width (or COLUMNS) and
    colour when standard output is a terminal; 80 columns and no colour when it is piped.
    NO_COLOR (no-color.org) turns colour off, FORCE_COLOR on."""
    import shutil

    from cnncost.report.render import Terminal

    width = max(shutil.get_terminal_size((80, 24)).columns, 40)
    env = os.environ
    try:
        tty = sys.stdout is not None and sys.stdout.isatty()
    except (ValueError, OSError):
        tty = False
    color = (tty and env.get("TERM") != "dumb") or bool(env.get("FORCE_COLOR"))
    if env.get("NO_COLOR"):
        color = False
    return Terminal(width=width, color=color)


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
    from cnncost.core.gcpause import paused_gc

    try:
        with paused_gc():  # a short-lived process building one large structure
            text = body()
    except CnncostError as exc:
        diagnose(exc.format())
        raise typer.Exit(exc.exit_code)
    except (typer.Exit, typer.Abort):
        raise
    except Exception as exc:  # a bug: say so plainly; CNNCOST_DEBUG=1 shows the traceback
        if os.environ.get("CNNCOST_DEBUG"):
            raise
        diagnose(f"internal error (a bug in cnncost, please report it): "
                 f"{type(exc).__name__}: {exc}")
        raise typer.Exit(EXIT_BUG)
    write_output(text)


def diagnose(text: str) -> None:
    """A message on standard error (control characters escaped); nothing if it is closed."""
    from cnncost.core.errors import printable

    try:
        typer.echo(printable(text), err=True)
    except (OSError, ValueError):
        pass


def write_output(text: str) -> None:
    """Write the output; a closed, broken or full standard output is one line on standard
    error and exit code 2, never a traceback."""
    stream = sys.stdout
    if stream is None:  # started with standard output closed (>&-)
        diagnose("error: cannot write the output: standard output is closed")
        raise typer.Exit(EXIT_ERROR)
    try:
        for start in range(0, len(text), 1 << 16):  # in pieces: a reader that goes away is
            stream.write(text[start:start + (1 << 16)])  # noticed at the next one
            stream.flush()
    except (OSError, ValueError) as exc:  # BrokenPipeError, ENOSPC (/dev/full), closed file
        reason = ("the reader closed the pipe" if isinstance(exc, BrokenPipeError) else
                  getattr(exc, "strerror", None) or str(exc))
        _discard_stdout()
        diagnose(f"error: cannot write the output: {reason}")
        raise typer.Exit(EXIT_ERROR)


def _discard_stdout() -> None:
    """Point standard output at /dev/null, so that Python's final flush of what could not be
    written fails silently instead of printing "Exception ignored ..."."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
    except (OSError, ValueError, AttributeError):  # no file descriptor (tests)
        pass


SpecArgument = Annotated[str, typer.Argument(
    metavar="SPEC",
    help="A spec file or bundled spec name, optionally with @variant and/or @name=value,... "
         "(e.g. mobilenet_v1@alpha=0.5,resolution=160).")]
SetOption = Annotated[list[str], typer.Option(
    "--set", metavar="NAME=VALUE", help="Override a spec variable, e.g. --set alpha=0.75.")]
VariantOption = Annotated[Optional[str], typer.Option(
    "--variant", help="Use one of the spec's named variants (cnncost specs lists them).")]
BatchOption = Annotated[Optional[int], typer.Option(
    "--batch", min=1, max=1 << 24,
    help="Batch size of the input, instead of the spec's (default 1).")]
InputShapeOption = Annotated[Optional[str], typer.Option(
    "--input-shape", metavar="NxCxHxW",
    help="ONNX models: the input's sizes where the file leaves them symbolic.")]
AllowUnknownOption = Annotated[bool, typer.Option(
    "--allow-unknown", help="ONNX models: keep ops cnncost does not know with no cost, and "
                            "mark every total as partial.")]
StrictOption = Annotated[bool, typer.Option(
    "--strict", help="Treat warnings (layers that feed nothing) as errors: exit 2.")]
FormatOption = Annotated[Format, typer.Option("--format", "-f", help="Output format.")]
ConfigOption = Annotated[Optional[str], typer.Option(
    "--config", metavar="FILE",
    help="YAML file with guideline thresholds (cnncost docs guidelines).")]
ThresholdOption = Annotated[list[str], typer.Option(
    "--threshold", metavar="NAME=VALUE",
    help="Set a guideline threshold, e.g. --threshold g4.max_share=0.7 (or 70%).")]
DepthOption = Annotated[int, typer.Option(
    "--depth", min=1, max=64,
    help="Block depth (dotted-name parts) for --by block.")]
DtypeOption = Annotated[Dtype, typer.Option(
    "--dtype", help="Bytes per element of the byte figures.")]
FuseOption = Annotated[Fuse, typer.Option(
    "--fuse", help="none: every op its own kernel (the paper's setting); "
                   "bn-act: BN folded and activations fused into the conv.")]
DeviceOption = Annotated[Optional[str], typer.Option(
    "--device", metavar="NAME|FILE",
    help="Estimate latency on a device profile: a bundled one (cnncost devices) or a "
         "profile file (cnncost calibrate writes one).")]


@app.command()
def analyze(
    spec: SpecArgument,
    sets: SetOption = [],
    variant: VariantOption = None,
    batch: BatchOption = None,
    input_shape: InputShapeOption = None,
    allow_unknown: AllowUnknownOption = False,
    format: FormatOption = Format.table,
    layers: Annotated[bool, typer.Option("--layers", help="One row per layer.")] = False,
    convention: Annotated[Optional[ToolConvention], typer.Option(
        "--convention", help="Add the figure another tool reports for this network, by its "
                             "rules (cnncost docs conventions).")] = None,
    by: Annotated[Optional[By], typer.Option(
        "--by", help="Roll up by op type or by block.")] = None,
    depth: DepthOption = 1,
    dtype: DtypeOption = Dtype.fp32,
    fuse: FuseOption = Fuse.none,
    device: DeviceOption = None,
    config: ConfigOption = None,
    thresholds: ThresholdOption = [],
    strict: StrictOption = False,
    output: Annotated[Optional[str], typer.Option(
        "--output", "-o", metavar="FILE",
        help="Write to FILE (whole or not at all) instead of standard output, e.g. a "
             "baseline for cnncost check --against.")] = None,
) -> None:
    """Analyze one architecture: totals, guideline summary, per layer, op type or block."""

    def body() -> str:
        from cnncost.report.views import analysis_text

        result = _analysis(spec, _loading(sets, variant, batch, input_shape, allow_unknown),
                           fuse, dtype, depth, config, thresholds, strict, format, device)
        if output:
            refuse_overwrite(result.model.file or spec, output)
        text = analysis_text(result, format.value, layers=layers,
                             by=by.value if by else None, terminal=terminal())
        if convention is not None:
            from cnncost.report.explain_views import with_tool_figure
            text = with_tool_figure(text, result, convention.value, format.value,
                                    other_tables=layers or by is not None, terminal=terminal())
        return write_file(output, text) if output else text

    run(body)


@app.command()
def guidelines(
    spec: SpecArgument,
    sets: SetOption = [],
    variant: VariantOption = None,
    batch: BatchOption = None,
    input_shape: InputShapeOption = None,
    allow_unknown: AllowUnknownOption = False,
    format: FormatOption = Format.table,
    top: Annotated[int, typer.Option(
        "--top", min=0, help="Findings per guideline, costliest first (0: all).")] = 5,
    fuse: FuseOption = Fuse.none,
    config: ConfigOption = None,
    thresholds: ThresholdOption = [],
    strict: StrictOption = False,
) -> None:
    """Where the architecture breaks the ShuffleNet V2 guidelines G1-G4, and what it costs."""

    def body() -> str:
        from cnncost.report.views import guidelines_text

        result = _analysis(spec, _loading(sets, variant, batch, input_shape, allow_unknown),
                           fuse, Dtype.fp32, 1, config, thresholds, strict, format)
        return guidelines_text(result, format.value, top, terminal())

    run(body)


@app.command()
def compare(
    specs: Annotated[list[str], typer.Argument(
        metavar="SPEC...",
        help="Specs to compare: files or bundled names, each with optional @variant and "
             "@name=value,... settings.")],
    sets: SetOption = [],
    variant: VariantOption = None,
    batch: BatchOption = None,
    input_shape: InputShapeOption = None,
    allow_unknown: AllowUnknownOption = False,
    format: FormatOption = Format.table,
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
    dtype: DtypeOption = Dtype.fp32,
    fuse: FuseOption = Fuse.none,
    device: DeviceOption = None,
    config: ConfigOption = None,
    thresholds: ThresholdOption = [],
    strict: StrictOption = False,
) -> None:
    """Compare architectures side by side: one row per model."""

    def body() -> str:
        from cnncost.report.views import compare_text

        models = _models(specs, _loading(sets, variant, batch, input_shape, allow_unknown), fuse,
                         dtype, config, thresholds, strict, format, device)
        return compare_text(models, format.value, baseline=baseline, sort=sort,
                            columns=columns, terminal=terminal())

    run(body)


@app.command()
def check(
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
    sets: SetOption = [],
    variant: VariantOption = None,
    batch: BatchOption = None,
    input_shape: InputShapeOption = None,
    allow_unknown: AllowUnknownOption = False,
    format: Annotated[CheckFormat, typer.Option(
        "--format", "-f", help="table, json, csv, markdown (CI job summaries) or junit.")]
    = CheckFormat.table,
    dtype: DtypeOption = Dtype.fp32,
    fuse: FuseOption = Fuse.none,
    device: DeviceOption = None,
    config: ConfigOption = None,
    thresholds: ThresholdOption = [],
    strict: StrictOption = False,
) -> None:
    """Gate CI on cost budgets: exit 0 all hold, 1 one exceeded, 2 could not run."""
    from cnncost.core.errors import EXIT_FAILED

    failed = False

    def body() -> str:
        nonlocal failed
        from cnncost.jobs.check import (parse_increase, read_baseline, read_budget_file, run_check,
                                  unchecked_entries)
        from cnncost.report.views import check_text

        increase = parse_increase(max_increase)
        budgets = read_budget_file(budget) if budget else None
        saved = read_baseline(against) if against else None
        models = _models(specs, _loading(sets, variant, batch, input_shape, allow_unknown), fuse,
                         dtype, config, thresholds, strict, format, device)
        outcomes = run_check(models, budgets, saved, increase, against or "")
        if not outcomes and budgets is None:  # with a budget file, specs it does not name pass
            raise UsageError("nothing to check: no budget in the specs, no --budget file and "
                             "no --against baseline")
        failed = not all(o.passed for o in outcomes)
        return check_text(outcomes, models, format.value, unchecked_entries(models, budgets),
                          terminal())

    run(body)
    if failed:
        raise typer.Exit(EXIT_FAILED)


def _warn(warnings: tuple[str, ...], strict: bool, format: Any) -> None:
    """Warnings are errors with --strict; they go to standard error when the format has no
    place for them (CSV)."""
    if not warnings:
        return
    if strict:
        from cnncost.core.errors import Problem, SpecError

        raise SpecError([Problem(w.removeprefix("warning: ") + " (--strict)")
                         for w in warnings])
    if format.value == "csv":
        diagnose("\n".join(warnings))


def _loading(sets: list[str], variant: str | None, batch: int | None, input_shape: str | None,
             allow_unknown: bool) -> dict[str, Any]:
    """How to load each model: load_model's arguments from the command line's options."""
    shape = None
    if input_shape is not None:
        from cnncost.frontends.onnx.onnx_import import parse_shape
        shape = parse_shape(input_shape)
    return {"settings": parse_sets(sets), "variant": variant, "batch": batch,
            "input_shape": shape, "allow_unknown": allow_unknown}


def _device(device: str | None) -> Any:
    if device is None:
        return None
    from cnncost.estimate.devices import load_device

    return load_device(device)


def _analysis(spec: str, loading: dict[str, Any], fuse: Fuse, dtype: Dtype, depth: int,
              config: str | None, thresholds: list[str], strict: bool, format: Any,
              device: str | None = None) -> Any:
    from cnncost.pipeline import analyze as run_analysis
    from cnncost.jobs.thresholds import load_thresholds
    from cnncost.frontends.library import load_model

    limits = load_thresholds(config, thresholds)
    profile = _device(device)
    model = load_model(spec, **loading)
    result = run_analysis(model, fuse=fuse.value, dtype=dtype.value, depth=depth,
                          thresholds=limits, device=profile)
    _warn(result.warnings, strict, format)
    return result


def _models(specs: list[str], loading: dict[str, Any], fuse: Fuse, dtype: Dtype,
            config: str | None, thresholds: list[str], strict: bool, format: Any,
            device: str | None = None) -> list[Any]:
    from cnncost.jobs.thresholds import load_thresholds
    from cnncost.jobs.check import analyse_all

    options = dict(loading)
    limits = load_thresholds(config, thresholds)
    models = analyse_all(specs, options.pop("settings"), options.pop("variant"), fuse=fuse.value,
                         dtype=dtype.value, thresholds=limits, device=_device(device),
                         **options)
    _warn(tuple(w for m in models for w in m.analysis.warnings), strict, format)
    return models


OutputOption = Annotated[Optional[str], typer.Option(
    "--output", "-o", metavar="FILE", help="Write to FILE (whole or not at all) instead of "
                                           "standard output.")]


@app.command("import")
def import_(
    model: Annotated[str, typer.Argument(metavar="MODEL.onnx", help="An ONNX model.")],
    output: OutputOption = None,
    input_shape: InputShapeOption = None,
    batch: BatchOption = None,
) -> None:
    """Write an ONNX model as a cnncost spec (one readable line per layer)."""

    def body() -> str:
        from cnncost.core.version import __version__
        from cnncost.frontends.library import load_model
        from cnncost.frontends.yamlspec.writer import spec_text

        if not model.lower().endswith(".onnx"):
            raise UsageError(f"{model}: cnncost imports ONNX models (.onnx)")
        if output:
            refuse_overwrite(model, output)
        loading = _loading([], None, batch, input_shape, False)
        text = spec_text(load_model(model, **{k: v for k, v in loading.items()
                                              if k not in ("settings", "variant")}),
                         origin=f"imported from {model} by cnncost {__version__}")
        return write_file(output, text) if output else text

    run(body)


def write_file(path: str, text: str | bytes) -> str:
    """Write a whole file, or nothing (write_whole). The message that says so goes to
    standard error; nothing to standard output."""
    write_whole(path, [text])
    diagnose(f"wrote {path}")
    return ""


@app.command()
def export(
    spec: SpecArgument,
    output: Annotated[str, typer.Option("--output", "-o", metavar="FILE.onnx",
                                        help="The ONNX file to write.")],
    sets: SetOption = [],
    variant: VariantOption = None,
    batch: BatchOption = None,
    weights: Annotated[str, typer.Option(
        "--weights", help="random (small normal values) or zeros.")] = "random",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the random weights.")] = 0,
) -> None:
    """Write a spec as a runnable ONNX model (opset 17), to measure it on a device."""

    def body() -> str:
        from cnncost.frontends.library import load_model
        from cnncost.frontends.onnx.onnx_export import export_onnx

        if weights not in ("random", "zeros"):
            raise UsageError(f"--weights {weights}: random or zeros")
        model = load_model(spec, parse_sets(sets), variant, batch)
        refuse_overwrite(model.file or spec, output)
        proto = export_onnx(model, weights=weights, seed=seed)
        return write_file(output, proto.SerializeToString())

    run(body)


MaximizeOption = Annotated[list[str], typer.Option(
    "--maximize", metavar="COLUMN|x|y",
    help="Larger is better for this column of the Pareto front (by default smaller is), e.g. "
         "mult_adds or an accuracy column; x and y name the first and second.")]


class SweepFormat(str, Enum):
    table = "table"
    csv = "csv"
    jsonl = "jsonl"


@app.command()
def sweep(
    spec: SpecArgument,
    grid: Annotated[list[str], typer.Option(
        "--grid", metavar="NAME=START:STOP:STEP|A,B,C",
        help="A variable's values (stop included): --grid width=0.35:1.4:0.05; repeat for "
             "each variable swept.")] = [],
    sets: SetOption = [],
    variant: VariantOption = None,
    batch: BatchOption = None,
    device: DeviceOption = None,
    dtype: DtypeOption = Dtype.fp32,
    fuse: FuseOption = Fuse.none,
    budget: Annotated[Optional[str], typer.Option(
        "--budget", metavar="FILE", help="Keep the configurations within this budget file's "
                                         "limits (and the spec's own).")] = None,
    pareto: Annotated[Optional[str], typer.Option(
        "--pareto", metavar="X,Y", help="Keep the Pareto front of two columns, each "
                                        "minimised unless --maximize names it, e.g. "
                                        "latency,mult_adds.")] = None,
    maximize: MaximizeOption = [],
    format: Annotated[SweepFormat, typer.Option(
        "--format", "-f", help="table (the first 1000 rows; grids up to 10^5), csv or jsonl "
                               "(every row; up to 10^7 without -o).")]
    = SweepFormat.table,
    output: OutputOption = None,
) -> None:
    """Evaluate every combination of variable values: one row per configuration."""

    def body() -> str:
        import time

        from cnncost.jobs.check import read_budget_file
        from cnncost.report import sweep_views as views
        from cnncost.report.views import tables_text
        from cnncost.jobs.sweep import Sweep, parse_axis

        started = time.perf_counter()
        axes = [parse_axis(text) for text in grid]
        budgets = read_budget_file(budget) if budget else None
        job = Sweep(spec, axes, variant=variant, settings=parse_sets(sets), batch=batch,
                    fuse=fuse.value, dtype=dtype.value, device=_device(device))
        limits = views.sweep_limits(job, budgets)
        if maximize and not pareto:
            raise UsageError("--maximize names a column of --pareto X,Y; give --pareto too")
        front = views.pareto_axes(job, pareto, maximize) if pareto else None
        views.check_size(job, format.value, front is not None, output is not None)

        def built() -> Any:  # the rows; none built at all is an error, before anything is written
            yielded = False
            for block in views.rows(job, limits, front, advance):
                yielded = True
                yield block
            if not yielded and job.result.invalid == job.result.configurations:
                raise UsageError(f"no configuration of {spec} could be built: "
                                 f"{job.result.first_error}")

        with _progress(job.size) as advance, _sigterm_exits():
            blocks = built()
            if format == SweepFormat.table:
                shown, total = views.table_rows(job, blocks)
                text = tables_text([views.table(job, shown, total, front)], "table",
                                   terminal())
                chunks: Any = iter([text])
            elif format == SweepFormat.csv:
                chunks = (views.csv_text(job, b, i == 0) for i, b in enumerate(blocks))
            else:
                chunks = (views.jsonl_text(job, b) for b in blocks)
            written = _stream(chunks, output)
        r = job.result
        invalid = (f"; {r.invalid:,} could not be built (first: {r.first_error})"
                   if r.invalid else "")
        diagnose(f"swept {r.configurations:,} configurations in "
                 f"{time.perf_counter() - started:.2f} s ({r.expansions} expansion"
                 f"{'s' if r.expansions != 1 else ''}){invalid}" +
                 (f"; wrote {output} ({written:,} bytes)" if output else ""))
        return ""

    run(body)


@contextmanager
def _sigterm_exits() -> Iterator[None]:
    """While a sweep runs, SIGTERM ends it as SIGINT does: by an exception, so that a file
    being written with -o is removed on the way out (write_whole); the exit code is the
    shell's for a signal, 128 + 15 = 143."""
    import signal

    def stop(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    try:
        previous = signal.signal(signal.SIGTERM, stop)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


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


def _stream(chunks: Any, output: str | None) -> int:
    """Write text chunks to standard output as they come, or to a file whole or not at all
    (write_whole); the bytes written."""
    if output is not None:
        return write_whole(output, chunks)
    size = 0
    for chunk in chunks:
        write_output(chunk)
        size += len(chunk)
    return size


@app.command()
def devices(format: FormatOption = Format.table) -> None:
    """List the bundled device profiles that --device NAME estimates latency on."""

    def body() -> str:
        from cnncost.estimate.devices import bundled_devices, load_device
        from cnncost.report.latency_views import devices_text

        return devices_text({name: load_device(name) for name in bundled_devices()},
                            format.value, terminal())

    run(body)


@app.command()
def measure(
    spec: Annotated[str, typer.Argument(
        metavar="SPEC|MODEL.onnx",
        help="A spec (exported with random weights) or an ONNX model, with @settings.")],
    sets: SetOption = [],
    variant: VariantOption = None,
    batch: BatchOption = None,
    input_shape: InputShapeOption = None,
    threads: Annotated[int, typer.Option(
        "--threads", min=1, max=1024, help="onnxruntime intra-op threads.")] = 1,
    runs: Annotated[Optional[int], typer.Option(
        "--runs", min=1, max=100_000, show_default=False,
        help="Exactly this many timed runs after the warm-up. With --seconds too: at least "
             "this many, and for at least that long. Neither: 20 runs and at least 1 s.")] = None,
    warmup: Annotated[int, typer.Option("--warmup", min=0, max=10_000,
                                        help="Untimed runs first.")] = 3,
    seconds: Annotated[Optional[float], typer.Option(
        "--seconds", min=0.0, max=3600.0, show_default=False,
        help="Time runs until this many seconds have passed (at least 1 run, at most "
             "100,000). With --runs too: see --runs.")] = None,
    device: DeviceOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Time a model on this machine with onnxruntime: minimum and median of many runs."""

    def body() -> str:
        from cnncost.pipeline import analyze as run_analysis
        from cnncost.frontends.library import load_model
        from cnncost.estimate.measure import measure as time_model
        from cnncost.estimate.measure import runtime
        from cnncost.report.latency_views import measure_text

        ort = runtime()
        loading = _loading(sets, variant, batch, input_shape, False)
        model = load_model(spec, **loading)
        profile = _device(device)  # a bad profile is said before the runs
        is_onnx = model.source_format == "onnx" and input_shape is None and batch is None
        timing = time_model(model.file if is_onnx else model, threads=threads, runs=runs,
                            warmup=warmup, seconds=seconds)
        a = run_analysis(model, device=profile)
        return measure_text(a, timing, f"onnxruntime {ort.__version__} (CPU)", format.value,
                            terminal())

    run(body)


@app.command()
def calibrate(
    output: OutputOption = None,
    threads: Annotated[int, typer.Option(
        "--threads", min=1, max=1024, help="onnxruntime intra-op threads.")] = 1,
    name: Annotated[Optional[str], typer.Option(
        "--name", help="The profile's name (default: calibrated (this processor)).")] = None,
) -> None:
    """Fit a device profile to this machine from measured micro-benchmarks (under a minute)."""

    def body() -> str:
        from dataclasses import replace

        from cnncost.estimate.calibrate import calibrate as fit_profile
        from cnncost.core.files import check_writable
        from cnncost.estimate.devices import device_yaml

        if output:
            check_writable(output)  # before a minute of measuring, not after
        count = [0]

        def progress(bench: str) -> None:
            count[0] += 1
            if sys.stderr.isatty():
                sys.stderr.write(f"\rmeasuring {count[0]}: {bench:<28}")
                sys.stderr.flush()

        device, _ = fit_profile(threads=threads, progress=progress)
        if sys.stderr.isatty():
            sys.stderr.write("\r" + " " * 50 + "\r")
        if name:
            device = replace(device, name=name)
        diagnose(f"fitted '{device.name}' in {device.calibration['seconds']} s: "
                 f"micro-benchmarks fitted to {device.calibration['rms_log_error']:.3f} "
                 f"root-mean-square log error")
        text = device_yaml(device)
        return write_file(output, text) if output else text

    run(body)


@app.command()
def ops(format: FormatOption = Format.table) -> None:
    """List the ops a spec can use, with their attributes."""

    def body() -> str:
        from cnncost.report.views import ops_text
        return ops_text(format.value, terminal())

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
        from cnncost.report.views import specs_text
        return specs_text(format.value, figures, terminal())

    run(body)


@app.command()
def docs(topic: Annotated[Optional[str], typer.Argument(
        metavar="[TOPIC|METRIC]",
        help="A document (metrics, cli, spec-format, guidelines, ci, ...) or a metric name "
             "(mult_adds, mem_access, ...).")] = None) -> None:
    """Read the documentation that comes with cnncost: a document, or a metric's definition."""

    def body() -> str:
        from cnncost.report.docs_pages import docs_text
        return docs_text(topic)

    run(body)


@app.command()
def explain(
    spec: SpecArgument,
    convention: Annotated[ToolConvention, typer.Option(
        "--convention", help="The tool whose figure to explain (cnncost docs conventions).")],
    sets: SetOption = [],
    variant: VariantOption = None,
    batch: BatchOption = None,
    input_shape: InputShapeOption = None,
    allow_unknown: AllowUnknownOption = False,
    format: FormatOption = Format.table,
    layers: Annotated[bool, typer.Option("--layers", help="One row per layer.")] = False,
    strict: StrictOption = False,
) -> None:
    """Why another tool's figure differs from mult_adds: by op type, or layer by layer."""

    def body() -> str:
        from cnncost.pipeline import analyze as run_analysis
        from cnncost.frontends.library import load_model
        from cnncost.report.explain_views import explain_text

        result = run_analysis(load_model(spec, **_loading(sets, variant, batch, input_shape,
                                                           allow_unknown)))
        _warn(result.warnings, strict, format)
        return explain_text(result, convention.value, format.value, layers=layers,
                            terminal=terminal())

    run(body)


# -- charts and the HTML report: matplotlib, the plot extra ------------------------------------

plot_app = typer.Typer(no_args_is_help=True, help="Draw a chart as PNG or SVG: a roofline, "
                       "per-layer costs, or a scatter of models or sweep rows (needs "
                       "matplotlib: pip install 'cnncost\\[plot]').")
app.add_typer(plot_app, name="plot")

ChartOutput = Annotated[str, typer.Option(
    "--output", "-o", metavar="FILE.png|FILE.svg",
    help="The chart to write, whole or not at all: PNG or SVG, by the file's extension.")]


def _chart_format(output: str) -> str:
    """png or svg, by the output file's extension; and matplotlib, or a message saying how
    to install it, before anything is analysed."""
    from cnncost.core.errors import Problem
    from cnncost.report.charts import FORMATS, matplotlib_module

    kind = output.rsplit(".", 1)[-1].lower() if "." in output else ""
    if kind not in FORMATS:
        raise UsageError(Problem(f"--output {output}: a chart is a .png or .svg file",
                                 hint="e.g. -o chart.svg"))
    matplotlib_module()
    return kind


@plot_app.command("roofline")
def plot_roofline(
    spec: SpecArgument,
    output: ChartOutput,
    device: DeviceOption = None,
    sets: SetOption = [],
    variant: VariantOption = None,
    batch: BatchOption = None,
    input_shape: InputShapeOption = None,
    allow_unknown: AllowUnknownOption = False,
    dtype: DtypeOption = Dtype.fp32,
    strict: StrictOption = False,
) -> None:
    """Each kernel of a model on a device's roofline: mult-adds per byte against per second."""

    def body() -> str:
        from cnncost.core.errors import Problem
        from cnncost.report.charts import roofline_figure

        if device is None:
            raise UsageError(Problem("a roofline needs a device profile",
                                     hint="add --device NAME (cnncost devices lists them)"))
        kind = _chart_format(output)
        a = _analysis(spec, _loading(sets, variant, batch, input_shape, allow_unknown),
                      Fuse.none, dtype, 1, None, [], strict, Format.table, device)
        return write_file(output, roofline_figure(a, kind))

    run(body)


@plot_app.command("layers")
def plot_layers(
    spec: SpecArgument,
    output: ChartOutput,
    device: DeviceOption = None,
    sets: SetOption = [],
    variant: VariantOption = None,
    batch: BatchOption = None,
    input_shape: InputShapeOption = None,
    allow_unknown: AllowUnknownOption = False,
    dtype: DtypeOption = Dtype.fp32,
    fuse: FuseOption = Fuse.none,
    strict: StrictOption = False,
) -> None:
    """mult-adds and mem_access (and latency, with --device) per layer, along the network."""

    def body() -> str:
        from cnncost.report.charts import layers_figure

        kind = _chart_format(output)
        a = _analysis(spec, _loading(sets, variant, batch, input_shape, allow_unknown), fuse,
                      dtype, 1, None, [], strict, Format.table, device)
        return write_file(output, layers_figure(a, kind))

    run(body)


@plot_app.command("scatter")
def plot_scatter(
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
    maximize: MaximizeOption = [],
    title: Annotated[Optional[str], typer.Option("--title", help="The chart's title.")] = None,
    sets: SetOption = [],
    variant: VariantOption = None,
    batch: BatchOption = None,
    input_shape: InputShapeOption = None,
    allow_unknown: AllowUnknownOption = False,
    dtype: DtypeOption = Dtype.fp32,
    fuse: FuseOption = Fuse.none,
    device: DeviceOption = None,
    strict: StrictOption = False,
) -> None:
    """Two metrics of models or sweep rows against each other, with the Pareto front."""

    def body() -> str:
        from cnncost.report.charts import scatter_figure
        from cnncost.report.points import model_rows, read_rows
        from cnncost.jobs.sweep import front_directions

        if bool(specs) == bool(rows):
            raise UsageError("give either SPECs to compare or --rows FILE, one of the two")
        directions = front_directions((x, y), maximize)
        kind = _chart_format(output)
        if rows:
            found = read_rows(rows)
        else:
            found = model_rows(_models(specs or [], _loading(sets, variant, batch, input_shape,
                                                             allow_unknown),
                                       fuse, dtype, None, [], strict, Format.table, device))
        return write_file(output, scatter_figure(
            found, x, y, label=label, pareto=pareto, title=title or "",
            maximize=directions, fmt=kind))

    run(body)


@app.command("report")
def html_report(
    spec: SpecArgument,
    output: OutputOption = None,
    device: DeviceOption = None,
    sets: SetOption = [],
    variant: VariantOption = None,
    batch: BatchOption = None,
    input_shape: InputShapeOption = None,
    allow_unknown: AllowUnknownOption = False,
    dtype: DtypeOption = Dtype.fp32,
    fuse: FuseOption = Fuse.none,
    config: ConfigOption = None,
    thresholds: ThresholdOption = [],
    strict: StrictOption = False,
    charts: Annotated[bool, typer.Option(
        "--charts/--no-charts", help="Draw the charts (needs matplotlib).")] = True,
) -> None:
    """A self-contained HTML report: summary, guidelines, charts, sortable layer table."""

    def body() -> str:
        from cnncost.report.html import report_html

        if charts:
            _report_charts()
        a = _analysis(spec, _loading(sets, variant, batch, input_shape, allow_unknown), fuse,
                      dtype, 1, config, thresholds, strict, Format.table, device)
        page = report_html(a, charts=charts)
        return write_file(output, page) if output else page

    run(body)


def _report_charts() -> None:
    from cnncost.core.errors import Problem
    from cnncost.report.charts import matplotlib_module

    try:
        matplotlib_module()
    except UsageError:
        raise UsageError(Problem("the report's charts need matplotlib",
                                 hint="pip install 'cnncost[plot]', or leave the charts out: "
                                      "--no-charts")) from None


def main() -> None:
    app()


if __name__ == "__main__":
    main()
