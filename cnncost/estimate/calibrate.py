"""Fit a device profile to the machine it runs on (``cnncost calibrate``).

A short, fixed set of micro-benchmarks, single layers and short chains of the layers CNNs are
made of (dense, pointwise, depthwise and grouped convs, linear layers, pooling, element-wise
ops) at the sizes real networks use them, is built in code, exported to ONNX and timed with
onnxruntime (cnncost.estimate.measure). The profile's free parameters (throughput per kind of layer,
element-wise rate, memory and cache bandwidth, launch and per-inference overhead, overlap)
are then fitted to the measured minimum times by Nelder-Mead on the squared log error: the
estimate of a network is a sum of the same per-kernel terms (cnncost.passes.latency), so a profile
fitted on its parts predicts the whole. Nothing here is fitted to the bundled architectures
(benchmarks/bench_latency.py validates against them).
"""

from __future__ import annotations

import math
import os
import platform
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from cnncost.frontends.builder import GraphBuilder, make_op
from cnncost.core.ir import Graph
from cnncost.passes.latency import KINDS, Device, Kernel, kernel_seconds
from cnncost.pipeline import kernels
from cnncost.core.model import Model

FUSE = "bn-act"  # onnxruntime's default optimisations fold BN and fuse activations into convs


@dataclass(frozen=True)
class Bench:
    name: str
    graph: Graph


def _conv_chain(name: str, channels: int, out: int, size: int, kernel: int = 1, stride: int = 1,
                groups: int = 1, layers: int = 1, act: str = "relu") -> Bench:
    """``layers`` convs (the first ``channels`` -> ``out``, the rest ``out`` -> ``out``), each
    with BN and an activation, as networks use them."""
    b = GraphBuilder(name, (1, channels, size, size))
    last = 0
    for i in range(layers):
        g = out if groups == -1 else groups  # -1: depthwise
        last = b.add(f"conv{i}", make_op("conv2d", out_channels=out, kernel=kernel,
                                          stride=stride if i == 0 else 1, groups=g), [last])
        last = b.add(f"bn{i}", make_op("batchnorm"), [last])
        if act:
            last = b.add(f"act{i}", make_op(act), [last])
    return Bench(name, b.graph())


def _linear(name: str, features: int, out: int) -> Bench:
    b = GraphBuilder(name, (1, features))
    b.add("fc", make_op("linear", out_features=out), [0])
    return Bench(name, b.graph())


def _single(name: str, shape: tuple[int, ...], op: str, arity: int = 1, **attrs: Any) -> Bench:
    """One layer of ``op`` (with ``arity`` inputs: the input and relus of it)."""
    b = GraphBuilder(name, shape)
    sources = [0] + [b.add(f"branch{i}", make_op("relu"), [0]) for i in range(arity - 1)]
    b.add(op, make_op(op, **attrs), sources)
    return Bench(name, b.graph())


def micro_benchmarks() -> tuple[Bench, ...]:
    """The calibration set: layers at the sizes of the stages of ImageNet CNNs."""
    c = _conv_chain
    return (
        # dense convs: the stem and VGG/ResNet-like stages, and large kernels
        c("conv3x3_stem", 3, 32, 224, kernel=3, stride=2),
        c("conv3x3_64_56", 64, 64, 56, kernel=3, layers=2),
        c("conv3x3_128_28", 128, 128, 28, kernel=3, layers=2),
        c("conv3x3_256_14", 256, 256, 14, kernel=3, layers=2),
        c("conv3x3_512_7", 512, 512, 7, kernel=3, layers=2),
        c("conv3x3_24_112", 24, 24, 112, kernel=3),
        c("conv7x7_stem", 3, 64, 224, kernel=7, stride=2),
        c("conv5x5_64_28", 64, 96, 28, kernel=5),
        c("conv11x11_stem", 3, 64, 227, kernel=11, stride=4),
        # pointwise convs: expansions, projections, bottlenecks
        c("pw_16_96_112", 16, 96, 112),
        c("pw_96_24_56", 96, 24, 56),
        c("pw_24_144_56", 24, 144, 56),
        c("pw_144_32_28", 144, 32, 28, act=""),
        c("pw_64_256_56", 64, 256, 56),
        c("pw_256_64_56", 256, 64, 56),
        c("pw_256_256_28", 256, 256, 28, layers=2),
        c("pw_384_64_14", 384, 64, 14),
        c("pw_512_512_14", 512, 512, 14, layers=2),
        c("pw_1024_256_14", 1024, 256, 14),
        c("pw_960_160_7", 960, 160, 7, act=""),
        c("pw_320_1280_7", 320, 1280, 7),
        c("pw_2048_512_7", 2048, 512, 7),
        c("pw_8_8_56", 8, 8, 56, layers=4),
        # depthwise convs
        c("dw3x3_32_112", 32, 32, 112, kernel=3, groups=-1),
        c("dw3x3_96_112_s2", 96, 96, 112, kernel=3, stride=2, groups=-1),
        c("dw3x3_144_56", 144, 144, 56, kernel=3, groups=-1),
        c("dw3x3_192_28", 192, 192, 28, kernel=3, groups=-1, layers=2),
        c("dw3x3_384_14", 384, 384, 14, kernel=3, groups=-1, layers=2),
        c("dw3x3_960_7", 960, 960, 7, kernel=3, groups=-1, layers=2),
        c("dw5x5_240_14", 240, 240, 14, kernel=5, groups=-1),
        c("dw5x5_672_7", 672, 672, 7, kernel=5, groups=-1),
        c("dw7x7_192_28", 192, 192, 28, kernel=7, groups=-1),
        # grouped convs: ShuffleNet, ResNeXt, AlexNet
        c("gpw_240_240_28_g3", 240, 240, 28, groups=3, layers=2),
        c("gpw_384_384_14_g8", 384, 384, 14, groups=8, layers=2),
        c("gpw_136_544_28_g4", 136, 544, 28, groups=4, act=""),
        c("gpw_192_48_28_g8", 192, 48, 28, groups=8),
        c("g5x5_96_256_27_g2", 96, 256, 27, kernel=5, groups=2),
        # linear layers
        _linear("fc_1280_1000", 1280, 1000),
        _linear("fc_2048_1000", 2048, 1000),
        _linear("fc_4096_4096", 4096, 4096),
        _linear("fc_9216_4096", 9216, 4096),
        # element-wise and data-movement layers
        _single("relu_64_112", (1, 64, 112, 112), "relu"),
        _single("add_256_56", (1, 256, 56, 56), "add", arity=2),
        _single("concat_128_28", (1, 128, 28, 28), "concat", arity=2),
        _single("maxpool_64_112", (1, 64, 112, 112), "maxpool", kernel=3, stride=2),
        _single("avgpool_1280_7", (1, 1280, 7, 7), "global_avgpool"),
        _single("bn_128_56", (1, 128, 56, 56), "batchnorm"),
        _single("hswish_96_56", (1, 96, 56, 56), "hardswish"),
        _single("shuffle_232_14", (1, 232, 14, 14), "channel_shuffle", groups=2),
        # what a kernel launch and an inference cost beyond their work: tiny layers
        _single("tiny_relu", (1, 8, 8, 8), "relu"),
        _chain("tiny_relu_x32", (1, 8, 8, 8), "relu", 32),
        c("tiny_dw_x16", 16, 16, 7, kernel=3, groups=-1, layers=16),
        c("tiny_pw_x16", 16, 16, 7, layers=16),
    )


def _chain(name: str, shape: tuple[int, ...], op: str, layers: int) -> Bench:
    b = GraphBuilder(name, shape)
    last = 0
    for i in range(layers):
        last = b.add(f"{op}{i}", make_op(op), [last])
    return Bench(name, b.graph())


# -- fitting ---------------------------------------------------------------------------------

# the free parameters, in log space: kind throughputs, element-wise rate, bandwidths, times
PARAMETERS = (*KINDS, "vector_ops", "bandwidth", "cache_bandwidth", "launch", "overhead",
              "overlap")
# where each may go (the overlap as a logit): the simplex roams freely, but the device it
# stands for is clamped into these bounds before math.exp, so it never overflows and every
# fitted profile reads back (cnncost.passes.latency.read_device's ranges)
_KIND_RATE = (math.log(1e6), math.log(1e17))  # mult-adds per second (efficiency >= 1e-11)
_PER_SECOND = (math.log(1e3), math.log(1e17))  # element-wise ops or bytes per second
_TIME = (math.log(1e-9), 0.0)  # seconds
BOUNDS = (_KIND_RATE,) * len(KINDS) + (_PER_SECOND,) * 3 + (_TIME, _TIME, (-30.0, 30.0))


def bounded(x: Sequence[float]) -> list[float]:
    """``x`` clamped into BOUNDS."""
    return [min(max(v, low), high) for v, (low, high) in zip(x, BOUNDS)]


def _device(x: Sequence[float], cache_bytes: float, im2col: bool) -> Device:
    x = bounded(x)
    rates = {kind: math.exp(x[i]) for i, kind in enumerate(KINDS)}
    # the peak is the fastest conv's rate; a linear layer at batch 1 is bound by streaming its
    # weights, so its own rate is capped at the peak, not left to run off
    peak = max(rate for kind, rate in rates.items() if kind != "linear")
    rates["linear"] = min(rates["linear"], peak)
    n = len(KINDS)
    return Device(
        name="calibrated", peak_mult_adds={"fp32": peak},
        efficiency={kind: rate / peak for kind, rate in rates.items()},
        vector_ops=math.exp(x[n]), bandwidth=math.exp(x[n + 1]),
        cache_bytes=cache_bytes, cache_bandwidth=math.exp(x[n + 2]) if cache_bytes else 0.0,
        launch=math.exp(x[n + 3]), overhead=math.exp(x[n + 4]),
        overlap=1 / (1 + math.exp(-x[n + 5])), fuse=FUSE, im2col=im2col)


def predict(work: Sequence[tuple[Kernel, ...]], device: Device) -> list[float]:
    """Estimated seconds of each benchmark (its kernels' times and the overhead)."""
    return [sum(kernel_seconds(k, device, "fp32") for k in ks) + device.overhead
            for ks in work]


def fit(work: Sequence[tuple[Kernel, ...]], seconds: Sequence[float],
        cache_bytes: float = 0.0, im2col: bool = True) -> tuple[Device, float]:
    """The device whose estimates are nearest the measured ``seconds`` (squared log error),
    and the root-mean-square of the log errors. ``seconds`` are positive and finite."""
    if not seconds or not all(0 < s < math.inf for s in seconds):
        raise ValueError("fit() needs at least one time, each positive and finite")
    logs = [math.log(s) for s in seconds]

    def loss(x: Sequence[float]) -> float:
        device = _device(x, cache_bytes, im2col)  # bounded: every guess positive and finite
        return sum((math.log(guess) - real) ** 2
                   for guess, real in zip(predict(work, device), logs))

    start = [math.log(3e10)] * len(KINDS) + [math.log(2e10), math.log(2e10), math.log(1e11),
                                             math.log(2e-6), math.log(2e-5), 0.0]
    best, value = nelder_mead(loss, start, step=1.0)
    for step in (0.5, 0.25, 0.1):  # restarts: Nelder-Mead stalls in ridges
        best, value = nelder_mead(loss, best, step=step)
    return _device(best, cache_bytes, im2col), math.sqrt(value / len(seconds))


def nelder_mead(f: Callable[[list[float]], float], start: Sequence[float], step: float = 0.5,
                iterations: int = 1500, tolerance: float = 1e-10) -> tuple[list[float], float]:
    """The minimum of ``f`` near ``start`` by the Nelder-Mead simplex method."""
    n = len(start)
    points = [list(start)] + [[v + (step if i == j else 0.0) for j, v in enumerate(start)]
                              for i in range(n)]
    values = [f(p) for p in points]
    for _ in range(iterations):
        order = sorted(range(n + 1), key=values.__getitem__)
        points, values = [points[i] for i in order], [values[i] for i in order]
        if values[-1] - values[0] <= tolerance * (abs(values[0]) + tolerance):
            break
        centre = [sum(p[j] for p in points[:-1]) / n for j in range(n)]
        worst = points[-1]

        def towards(t: float) -> list[float]:
            return [c + t * (c - w) for c, w in zip(centre, worst)]

        reflected = towards(1.0)
        fr = f(reflected)
        if fr < values[0]:
            expanded = towards(2.0)
            fe = f(expanded)
            points[-1], values[-1] = (expanded, fe) if fe < fr else (reflected, fr)
        elif fr < values[-2]:
            points[-1], values[-1] = reflected, fr
        else:
            contracted = towards(-0.5)
            fc = f(contracted)
            if fc < values[-1]:
                points[-1], values[-1] = contracted, fc
            else:  # shrink towards the best
                points = [points[0]] + [[b + 0.5 * (v - b) for b, v in zip(points[0], p)]
                                        for p in points[1:]]
                values = [values[0]] + [f(p) for p in points[1:]]
    i = min(range(n + 1), key=values.__getitem__)
    return points[i], values[i]


# -- the machine -----------------------------------------------------------------------------

def cache_size() -> int:
    """The last-level cache in bytes (Linux sysfs), 0 when unknown: what a single thread's
    activations and weights stay in between layers (shared with other cores, but the others
    are idle while calibrating, as when measuring)."""
    root = "/sys/devices/system/cpu/cpu0/cache"
    units = {"K": 1024, "M": 1 << 20, "G": 1 << 30}
    best = 0
    try:
        entries = sorted(os.listdir(root))
    except OSError:
        return 0
    for entry in entries:
        try:
            with open(f"{root}/{entry}/type") as f:
                if f.read().strip() == "Instruction":
                    continue
            with open(f"{root}/{entry}/size") as f:
                text = f.read().strip()
            size = int(text[:-1]) * units[text[-1]] if text[-1] in units else int(text)
        except (OSError, ValueError):
            continue
        best = max(best, size)
    return best


def processor() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def calibrate(*, threads: int = 1, seconds_per_bench: float = 0.25,
              progress: Callable[[str], None] | None = None) -> tuple[Device, dict[str, Any]]:
    """Measure the micro-benchmarks on this machine and fit a profile to them; the profile
    and a record of what was measured (name: measured and fitted seconds)."""
    import time

    from cnncost.core.version import __version__
    from cnncost.estimate.measure import model_source, runtime, session, time_session

    ort = runtime()  # first: a missing onnxruntime is said before any work
    started = time.perf_counter()
    benches = micro_benchmarks()
    measured, work = [], []
    for bench in benches:
        if progress:
            progress(bench.name)
        what = f"calibration micro-benchmark {bench.name}"
        sess = session(model_source(Model(bench.graph)), threads, what)
        timing = time_session(sess, warmup=3, runs=10, seconds=seconds_per_bench,
                              threads=threads, name=what)
        measured.append(max(timing.min, 1e-9))  # never 0, below the clock's resolution
        work.append(kernels(bench.graph, FUSE))
    cache = cache_size()
    device, error = fit(work, measured, cache)
    fitted = predict(work, device)
    name = f"calibrated ({processor()}, {threads} thread{'s' if threads > 1 else ''})"
    device = replace(
        device, name=name,
        description=f"fitted by cnncost {__version__} calibrate on {processor()}, "
                    f"onnxruntime {ort.__version__}, {threads} thread(s), "
                    f"{len(benches)} micro-benchmarks",
        calibration={"date": time.strftime("%Y-%m-%d"), "runtime": f"onnxruntime {ort.__version__}",
                     "threads": threads, "micro_benchmarks": len(benches),
                     "rms_log_error": round(error, 4),
                     "seconds": round(time.perf_counter() - started, 1)})
    record = {b.name: {"measured": m, "fitted": f} for b, m, f in zip(benches, measured, fitted)}
    return device, record
