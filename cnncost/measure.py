"""Timing a model on this machine with onnxruntime (``cnncost measure``): the direct metric.

The model is exported (cnncost.onnx_export) or read as it is (an .onnx file), run on random
input with a stated number of threads, warmed up, then run many times; the minimum and median
are reported with the spread. onnxruntime is an optional extra (``cnncost[measure]``).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any

from cnncost.errors import Problem, UsageError, optional_module
from cnncost.model import Model


@dataclass(frozen=True)
class Timing:
    """Seconds per inference."""

    min: float
    median: float
    max: float
    runs: int
    threads: int
    warmup: int

    @property
    def spread(self) -> float:
        """(median - min) / min: how noisy the runs were."""
        return (self.median - self.min) / self.min if self.min else 0.0


def runtime() -> Any:
    """onnxruntime, or a clear message when it is not installed."""
    return optional_module("onnxruntime", "measuring needs onnxruntime", "measure")


def session(source: bytes | str, threads: int = 1) -> Any:
    """An onnxruntime CPU session with ``threads`` intra-op threads and its default graph
    optimisations (which fold BN and fuse activations into convs)."""
    ort = runtime()
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime's own errors: a model it cannot run
        raise UsageError(Problem(f"onnxruntime cannot run this model: "
                                 f"{str(exc).splitlines()[0][:200]}")) from None


def model_source(model: Model | str) -> bytes | str:
    """What onnxruntime loads: an .onnx file's path as it is (its external data beside it),
    any other model exported (random weights)."""
    if isinstance(model, str):
        return model
    from cnncost.onnx_export import export_onnx

    return export_onnx(model).SerializeToString()


def time_session(sess: Any, *, warmup: int = 3, runs: int = 20, min_seconds: float = 0.5,
                 max_runs: int = 1000, threads: int = 1) -> Timing:
    """Run ``sess`` on random input: ``warmup`` runs, then at least ``runs`` and at least
    ``min_seconds`` of runs (at most ``max_runs``)."""
    import numpy as np

    feed = {}
    for value in sess.get_inputs():
        shape = [d if isinstance(d, int) and d > 0 else 1 for d in value.shape]
        feed[value.name] = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    for _ in range(warmup):
        sess.run(None, feed)
    times: list[float] = []
    started = time.perf_counter()
    while len(times) < max_runs and (len(times) < runs or
                                     time.perf_counter() - started < min_seconds):
        start = time.perf_counter()
        sess.run(None, feed)
        times.append(time.perf_counter() - start)
    return Timing(min(times), statistics.median(times), max(times), len(times), threads, warmup)


def measure(model: Model | str, *, threads: int = 1, **options: Any) -> Timing:
    """Time ``model`` (a Model, or the path of an .onnx file) on this machine."""
    return time_session(session(model_source(model), threads), threads=threads, **options)
