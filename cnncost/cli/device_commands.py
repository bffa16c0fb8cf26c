"""Devices: list the bundled profiles, time a model on this machine, fit a profile to it."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import replace
from typing import Annotated, Optional

import typer

from cnncost.cli.app import diagnose, run, terminal, write_to
from cnncost.cli.options import Options, command
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
        from cnncost.estimate.measure import measure as time_model
        from cnncost.estimate.measure import runtime
        from cnncost.frontends.library import load_model
        from cnncost.pipeline import analyze
        from cnncost.report.latency_views import measure_text

        ort = runtime()
        model = load_model(spec, **o.loading())
        profile = o.profile()  # a bad profile is said before the runs
        is_onnx = model.source_format == "onnx" and o.input_shape is None and o.batch is None
        timing = time_model(model, as_read=is_onnx, threads=threads, runs=runs,
                            warmup=warmup, seconds=seconds)
        return measure_text(analyze(model, device=profile), timing,
                            f"onnxruntime {ort.__version__} (CPU)", o.format, terminal())

    run(body)


@command("output", "threads", "name")
def calibrate(
    output: Optional[str],
    threads: int,
    name: Annotated[Optional[str], typer.Option(
        "--name", help="The profile's name (default: calibrated (this processor)).")] = None,
) -> None:
    """Fit a device profile to this machine from measured micro-benchmarks (under a minute)."""

    def body() -> str:
        from cnncost.estimate.calibrate import calibrate as fit_profile
        from cnncost.estimate.devices import device_yaml

        if output:
            check_writable(output)  # before a minute of measuring, not after
        device, _ = fit_profile(threads=threads, progress=_progress())
        if sys.stderr.isatty():
            sys.stderr.write("\r" + " " * 50 + "\r")
        if name:
            device = replace(device, name=name)
        diagnose(f"fitted '{device.name}' in {device.calibration['seconds']} s: "
                 f"micro-benchmarks fitted to {device.calibration['rms_log_error']:.3f} "
                 f"root-mean-square log error")
        return write_to(output, device_yaml(device))

    run(body)


def _progress() -> Callable[[str], None]:
    """Say each micro-benchmark as it is measured, on standard error when it is a terminal."""
    count = 0

    def progress(bench: str) -> None:
        nonlocal count
        count += 1
        if sys.stderr.isatty():
            sys.stderr.write(f"\rmeasuring {count}: {bench:<28}")
            sys.stderr.flush()

    return progress
