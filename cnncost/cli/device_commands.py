"""Devices: list the bundled profiles, time a model on this machine, fit a profile to it."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Optional

import typer

from cnncost.cli.app import diagnose, run, terminal, write_file, write_to
from cnncost.cli.options import Options, command
from cnncost.core.errors import UsageError
from cnncost.core.files import check_writable


@command("format")
def devices(o: Options) -> None:
    """List the bundled device profiles that --device NAME estimates latency on."""

    def body() -> str:
        from cnncost.estimate.devices import bundled_devices, load_device
        from cnncost.report.latency_views import devices_text

        return devices_text({name: load_device(name) for name in bundled_devices()},
                            o.format, terminal())

    run(body)


@command("spec", "sets", "variant", "batch", "input_shape", "threads", "runs", "warmup",
         "seconds", "device", "format")
def measure(
    o: Options,
    spec: Annotated[str, typer.Argument(
        metavar="SPEC|MODEL.onnx",
        help="A spec (exported with random weights) or an ONNX model, with @settings.")],
    threads: int,
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
) -> None:
    """Time a model on this machine with onnxruntime: minimum and median of many runs."""

    def body() -> str:
        from cnncost.estimate.devices import on_threads
        from cnncost.estimate.measure import measure as time_model
        from cnncost.estimate.measure import runtime
        from cnncost.frontends.library import load_model
        from cnncost.pipeline import analyze
        from cnncost.report.latency_views import measure_text

        ort = runtime()
        model = load_model(spec, **o.loading())
        profile = o.profile()  # a bad profile is said before the runs
        if profile is not None:  # estimated on the threads the runs are timed on
            profile = on_threads(profile, threads)
        is_onnx = model.source_format == "onnx" and o.input_shape is None and o.batch is None
        timing = time_model(model, as_read=is_onnx, threads=threads, runs=runs,
                            warmup=warmup, seconds=seconds)
        return measure_text(analyze(model, device=profile), timing,
                            f"onnxruntime {ort.__version__} (CPU)", o.format, terminal())

    run(body)


@command("timings", "micro", "prior", "output", "threads", "name", "as_json")
def calibrate(
    timings: Annotated[Optional[str], typer.Option(
        "--timings", metavar="FILE",
        help="Fit to your own measured times of whole networks (CSV or YAML rows: model, "
             "seconds, and batch, dtype, threads, device; with layer, one layer's time from a "
             "profiler), e.g. from the target phone or GPU, instead of timing "
             "micro-benchmarks here.")] = None,
    micro: Annotated[bool, typer.Option(
        "--micro-benchmarks",
        help="With --timings measured on this machine: also time the micro-benchmarks here "
             "and fit both together (more of the profile determined, a steadier fit).")
    ] = False,
    prior: Annotated[Optional[str], typer.Option(
        "--prior", metavar="NAME|FILE",
        help="The profile the fit starts from and keeps what the data cannot determine "
             "(default: the timings' device column, else desktop_cpu; cnncost devices lists "
             "them).")] = None,
    output: Optional[str] = None,
    threads: int = 1,
    name: Annotated[Optional[str], typer.Option(
        "--name", help="The profile's name (default: calibrated (this processor), or "
                       "calibrated from FILE).")] = None,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Write the fit's report as JSON to standard output (the profile then "
                       "goes to -o FILE).")] = False,
) -> None:
    """Fit a device profile: to this machine's micro-benchmarks (under a minute), or with
    --timings to your own timings of networks on any device. Writes the profile (YAML); the
    fit's report goes to standard error, or as JSON to standard output with --json."""

    def body() -> str:
        from cnncost.estimate.calibrate import run_calibration
        from cnncost.estimate.devices import device_yaml

        if as_json and not output:
            raise UsageError("--json writes the report to standard output: give -o FILE for "
                             "the profile")
        if output:
            check_writable(output)  # before a minute of measuring, not after
        with _progress() as progress:
            device, report, message = run_calibration(timings=timings, prior=prior,
                                                      threads=threads, name=name,
                                                      progress=progress, micro=micro)
        if as_json:
            write_file(output, device_yaml(device))
            return json.dumps(report, indent=2) + "\n"
        diagnose(message)
        return write_to(output, device_yaml(device))

    run(body)


@contextmanager
def _progress() -> Iterator[Callable[[str], None]]:
    """Say each micro-benchmark as it is measured, on standard error when it is a terminal,
    and clear the line after the last."""
    count = 0

    def progress(bench: str) -> None:
        nonlocal count
        count += 1
        if sys.stderr.isatty():
            sys.stderr.write(f"\rmeasuring {count}: {bench:<28}")
            sys.stderr.flush()

    try:
        yield progress
    finally:
        if count and sys.stderr.isatty():
            sys.stderr.write("\r" + " " * 50 + "\r")
