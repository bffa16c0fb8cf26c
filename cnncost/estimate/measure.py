"""Timing a model on this machine with onnxruntime (``cnncost measure``): the direct metric.

The model is exported (cnncost.frontends.onnx.onnx_export) or read as it is (an .onnx file),
run on random input with a stated number of threads, warmed up, then run many times; the
minimum and median are reported with the spread. onnxruntime is an optional extra
(``cnncost[measure]``).
"""

from __future__ import annotations

import re
import statistics
import time
from dataclasses import dataclass
from typing import Any

from cnncost.core.errors import Problem, SpecError, optional_module, shown
from cnncost.core.model import Model


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


def session(source: bytes | str, threads: int = 1, name: str = "the model") -> Any:
    """An onnxruntime CPU session with ``threads`` intra-op threads and its default graph
    optimisations (which fold BN and fuse activations into convs); ``name`` says which model
    in a message."""
    ort = runtime()
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime's own errors: a model it cannot load
        raise runtime_error(exc, name, "load") from None


_STATUS = re.compile(r"^\[ONNXRuntimeError\] : \d+ : \w+ : ")  # its status code
_SOURCE = re.compile(r"/\S+\.(?:cc|cpp|h):\d+ .*?\) (?=[A-Z])")  # where in its C++ it failed
_NODE = re.compile(r"""(?:Name:\s*'([^']*)'|[Nn]ode,?\s*\(\s*"?'?([^"',)]*))""")


def runtime_error(exc: Exception, name: str, doing: str) -> SpecError:
    """onnxruntime's complaint as cnncost's: the model, the node when onnxruntime names it,
    and its first line (after the status prefix)."""
    text = str(exc).strip()
    match = _NODE.search(text)
    node = next((g for g in match.groups() if g), "") if match else ""
    reason = _SOURCE.sub(" ", _STATUS.sub("", text.split("\n")[0]))
    where = f", node '{shown(node)}'" if node else ""
    return SpecError(Problem(f"onnxruntime cannot {doing} {name}{where}: {shown(reason, 300)}",
                             hint="cnncost analyze reads the model without running it"))


def model_source(model: Model, as_read: bool = False) -> bytes | str:
    """What onnxruntime loads: with ``as_read``, the .onnx file the model was read from, as it
    is (its external data beside it); else the model exported (random weights)."""
    if as_read:
        return str(model.file)
    from cnncost.frontends.onnx.onnx_export import export_onnx

    return export_onnx(model).SerializeToString()


DEFAULT_RUNS, DEFAULT_SECONDS = 20, 1.0  # neither --runs nor --seconds: both of these
MAX_RUNS = 100_000  # --seconds alone stops here too


def run_plan(runs: int | None, seconds: float | None) -> tuple[int, float, int]:
    """How many timed runs: at least, for at least how many seconds, and at most.
    ``runs`` alone: exactly that many. ``seconds`` alone: until that long has passed (at least
    one run, at most MAX_RUNS). Both: at least ``runs`` runs and at least ``seconds``.
    Neither: both defaults (20 runs, 1 s)."""
    if runs is None and seconds is None:
        runs, seconds = DEFAULT_RUNS, DEFAULT_SECONDS
    if seconds is None:
        return runs, 0.0, runs
    if runs is None:
        return 1, seconds, MAX_RUNS
    return runs, seconds, max(runs, MAX_RUNS)


def time_session(sess: Any, *, warmup: int = 3, runs: int | None = None,
                 seconds: float | None = None, threads: int = 1,
                 name: str = "the model") -> Timing:
    """Run ``sess`` on random input: ``warmup`` runs, then timed runs as run_plan says."""
    import numpy as np

    least, min_seconds, most = run_plan(runs, seconds)
    feed = {}
    for value in sess.get_inputs():
        shape = [d if isinstance(d, int) and d > 0 else 1 for d in value.shape]
        feed[value.name] = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    times: list[float] = []
    try:
        for _ in range(warmup):
            sess.run(None, feed)
        started = time.perf_counter()
        while len(times) < most and (len(times) < least or
                                     time.perf_counter() - started < min_seconds):
            start = time.perf_counter()
            sess.run(None, feed)
            times.append(time.perf_counter() - start)
    except Exception as exc:  # onnxruntime's own errors: a model that fails when run
        raise runtime_error(exc, name, "run") from None
    return Timing(min(times), statistics.median(times), max(times), len(times), threads, warmup)


def measure(model: Model | str, *, threads: int = 1, as_read: bool = False,
            **options: Any) -> Timing:
    """Time ``model`` on this machine: a Model (exported, or with ``as_read`` the .onnx file it
    was read from as it is), or the path of an .onnx file, read first so that the reader's
    checks (wiring, sizes, external data kept inside the model's folder) come before
    onnxruntime opens it. ``options``: time_session's (warmup, runs, seconds)."""
    if isinstance(model, str):
        from cnncost.frontends.library import load_model

        model, as_read = load_model(model), True
    name = str(model.file) if as_read else model.title
    return time_session(session(model_source(model, as_read), threads, name), threads=threads,
                        name=name, **options)
