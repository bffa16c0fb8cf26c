"""Fit a device profile: to this machine's micro-benchmarks (``cnncost calibrate``), or to
the user's own timings of whole networks (``cnncost calibrate --timings FILE``).

A short, fixed set of micro-benchmarks, single layers and short chains of the layers CNNs are
made of (dense, pointwise, depthwise and grouped convs, linear layers, pooling, element-wise
ops) at the sizes real networks use them, is built in code, exported to ONNX and timed with
onnxruntime (cnncost.estimate.measure). A timings file (cnncost.estimate.timings) gives
measured times of whole networks instead, from any device.

Either way one fit (fit()) starts from a prior profile and changes only the parameters the
data determines (throughput per kind of layer, element-wise rate, memory and cache bandwidth,
launch and per-inference overhead, overlap): those with enough leverage on the measured times,
judged from the Jacobian at the prior. scipy's bounded least_squares fits them in log space,
within limits (nothing overflows), with a robust loss on the log errors. The estimate of a
network is a sum of the same per-kernel terms (cnncost.passes.latency), so a profile fitted
on its parts predicts the whole. scipy is an optional extra (``cnncost[calibrate]``).
"""

from __future__ import annotations

import math
import os
import platform
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cnncost.core.errors import Problem, SpecError, UsageError, optional_module
from cnncost.frontends.builder import GraphBuilder, make_op
from cnncost.core.ir import Graph
from cnncost.passes.latency import KINDS, Device, Kernel, kernel_seconds, kernel_work
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

# The parameters a fit may change: the multiply-add rate of each kind of layer (at fp32; the
# profile's other dtypes keep their ratio to fp32), the element-wise rate, both bandwidths and
# the launch and overhead times, each fitted as its logarithm, and the overlap, a share, as it
# is. Each stays within its limits (read_device's ranges), so exp() never overflows and every
# fitted profile reads back.
PARAMETERS = (*KINDS, "vector_ops", "bandwidth", "cache_bandwidth", "launch", "setup",
              "overhead", "overlap")
_KIND_RATE = (1e6, 1e17)  # mult-adds per second (an efficiency of at least 1e-11)
_PER_SECOND = (1e3, 1e17)  # element-wise ops or bytes per second
_TIME = (1e-9, 1.0)  # seconds
LIMITS = {**dict.fromkeys(KINDS, _KIND_RATE),
          **dict.fromkeys(("vector_ops", "bandwidth", "cache_bandwidth"), _PER_SECOND),
          "launch": _TIME, "setup": _TIME, "overhead": _TIME, "overlap": (0.0, 1.0)}
SHARES = ("overlap",)  # fitted as they are; the rest as logarithms
# Which parameters the data determines (determined()): a parameter's elasticity, the change
# of a row's log time per change of its log (of itself, for a share), root-mean-square over
# the rows, is at least MIN_INFLUENCE (one that moves every time by under 2% per e-fold
# cannot be told from the noise of a timing); and what it adds beyond the parameters of
# larger leverage (the pivoted QR's diagonal) is at least 1/MAX_CONDITION of the first's.
# And each fitted parameter rests on ROWS_PER_PARAMETER rows at least (at least one is fitted
# from 2 rows): on this machine, fits to 10 networks that changed every parameter the rows
# could tell apart (4 to 7) matched those 10 closely and predicted the other networks worse
# than the prior did (benchmarks/bench_calibrate.py).
MIN_INFLUENCE = 0.02
MAX_CONDITION = 30.0
ROWS_PER_PARAMETER = 3
F_SCALE = 0.1  # the robust loss (soft_l1): log errors beyond about 10% count linearly
_STEP = 1e-3  # the finite-difference step of the elasticities
_TINY = 1e-300  # a network with no work and no overhead: never log(0)


class NotDetermined(UsageError):
    """Timings that determine none of a profile's parameters."""


def applicable(prior: Device) -> tuple[str, ...]:
    """The parameters a fit from ``prior`` may change (a cache's bandwidth needs a cache)."""
    return tuple(p for p in PARAMETERS if p != "cache_bandwidth" or prior.cache_bytes)


def parameters_of(device: Device) -> dict[str, float]:
    """The fit's parameters of a profile, by name, in their own units."""
    values = {kind: device.throughput(kind, "fp32") for kind in KINDS}
    values.update(vector_ops=device.vector_rate("fp32"), bandwidth=device.bandwidth,
                  cache_bandwidth=device.cache_bandwidth, launch=device.launch,
                  setup=device.setup, overhead=device.overhead, overlap=device.overlap)
    return values


def with_parameters(prior: Device, values: Mapping[str, float]) -> Device:
    """``prior`` with the parameters ``values`` names changed, the others as they are. The
    peak is the fastest conv's rate; a linear layer at batch 1 is bound by streaming its
    weights, so its own fitted rate is capped at the peak, not left to run off."""
    changes: dict[str, Any] = {k: v for k, v in values.items() if k not in KINDS}
    if any(kind in values for kind in KINDS):
        rates = {kind: values.get(kind, prior.throughput(kind, "fp32")) for kind in KINDS}
        peak = max(rate for kind, rate in rates.items()  # a kept linear rate stays as it is
                   if kind != "linear" or "linear" not in values)
        scale = peak / prior.peak_mult_adds["fp32"]
        changes["peak_mult_adds"] = {dtype: peak if dtype == "fp32" else rate * scale
                                     for dtype, rate in prior.peak_mult_adds.items()}
        changes["efficiency"] = {kind: min(rate / peak, 1.0) for kind, rate in rates.items()}
    if "bandwidth" in values and prior.threads is not None and prior.threads.bandwidth:
        # what all threads reach together keeps its ratio to one thread's bandwidth
        changes["threads"] = replace(prior.threads, bandwidth=prior.threads.bandwidth *
                                     values["bandwidth"] / prior.bandwidth)
    return replace(prior, **changes)


def predict(work: Sequence[tuple[Kernel, ...]], device: Device,
            dtypes: Sequence[str] | None = None,
            whole: Sequence[bool] | None = None) -> list[float]:
    """Estimated seconds of each network or benchmark (its kernels' times and the overhead),
    each in its dtype (fp32 by default). A row ``whole`` says is False is one layer's
    kernels, timed by a profiler: their times without the per-inference overhead."""
    dtypes = dtypes or ("fp32",) * len(work)
    whole = whole or (True,) * len(work)
    return [sum(kernel_seconds(k, device, dtype) for k in ks) +
            (device.overhead if entire else 0.0)
            for ks, dtype, entire in zip(work, dtypes, whole)]


def _log_times(work: Sequence[tuple[Kernel, ...]], device: Device,
               dtypes: Sequence[str], whole: Sequence[bool] | None = None) -> Any:
    import numpy as np

    return np.log(np.maximum(predict(work, device, dtypes, whole), _TINY))


def _to_x(name: str, value: float) -> float:
    low, high = LIMITS[name]
    value = min(max(value, low), high)
    return value if name in SHARES else math.log(value)


def _from_x(name: str, x: float) -> float:
    low, high = LIMITS[name]
    if name in SHARES:
        return float(min(max(x, low), high))
    return math.exp(min(max(x, math.log(low)), math.log(high)))  # bounded: never overflows


def elasticities(work: Sequence[tuple[Kernel, ...]], prior: Device,
                 dtypes: Sequence[str] | None = None,
                 names: Sequence[str] | None = None,
                 whole: Sequence[bool] | None = None) -> Any:
    """The Jacobian at ``prior``: per row and parameter, the change of the row's log time per
    change of the parameter's log (of the parameter, for a share), by central differences."""
    import numpy as np

    dtypes = dtypes or ("fp32",) * len(work)
    names = applicable(prior) if names is None else names
    start = parameters_of(prior)
    columns = []
    for name in names:
        value = start[name]
        if name in SHARES:
            low, high = max(value - _STEP, 0.0), min(value + _STEP, 1.0)
            span = high - low
        else:
            low, high, span = value * math.exp(-_STEP), value * math.exp(_STEP), 2 * _STEP
        columns.append((_log_times(work, with_parameters(prior, {name: high}), dtypes, whole) -
                        _log_times(work, with_parameters(prior, {name: low}), dtypes, whole))
                       / span)
    return np.array(columns).T.reshape(len(work), len(names))


def determined(work: Sequence[tuple[Kernel, ...]], prior: Device,
               dtypes: Sequence[str] | None = None,
               whole: Sequence[bool] | None = None) -> tuple[str, ...]:
    """The parameters these networks' times determine, largest leverage first: those the
    rows can tell apart (determinable()), one per ROWS_PER_PARAMETER rows and at most one
    fewer than the rows (so that every fit has a row to spare); () when none is."""
    rows = len(work)
    if rows < 2:
        return ()
    most = min(max(1, rows // ROWS_PER_PARAMETER), rows - 1)
    return determinable(work, prior, dtypes, whole)[:most]


def determinable(work: Sequence[tuple[Kernel, ...]], prior: Device,
                 dtypes: Sequence[str] | None = None,
                 whole: Sequence[bool] | None = None) -> tuple[str, ...]:
    """The parameters the rows' times can tell apart, however few the rows, largest leverage
    first: those with enough influence (MIN_INFLUENCE), in the order of a QR factorisation
    with column pivoting of the elasticities at the prior while each adds enough of its own
    (MAX_CONDITION)."""
    import numpy as np
    from scipy.linalg import qr

    rows = len(work)
    if not rows:
        return ()
    names = applicable(prior)
    jacobian = elasticities(work, prior, dtypes, names, whole)
    scale = math.sqrt(rows)
    strong = [j for j in range(len(names))
              if np.linalg.norm(jacobian[:, j]) / scale >= MIN_INFLUENCE]
    if not strong:
        return ()
    r, order = qr(jacobian[:, strong], mode="r", pivoting=True)
    diagonal = np.abs(np.diag(r))
    chosen: list[str] = []
    for i, size in enumerate(diagonal):
        if size < diagonal[0] / MAX_CONDITION or size / scale < MIN_INFLUENCE:
            break
        chosen.append(names[strong[order[i]]])
    return tuple(chosen)


@dataclass(frozen=True)
class Fit:
    """A fitted profile, which of its parameters were fitted and which kept at the prior's
    figures, and the root-mean-square log error of the fitted times."""

    device: Device
    fitted: tuple[str, ...]
    kept: tuple[str, ...]
    rms_log_error: float


def fit(work: Sequence[tuple[Kernel, ...]], seconds: Sequence[float], prior: Device,
        dtypes: Sequence[str] | None = None, whole: Sequence[bool] | None = None) -> Fit:
    """The profile nearest the measured ``seconds`` of the networks or benchmarks ``work``
    (their kernels; each row in its dtype; a row ``whole`` says is False is one layer's
    kernels, without the per-inference overhead), starting from ``prior`` and changing only the
    parameters the data determines (determined()): scipy's bounded least_squares on the log
    errors with a robust loss (soft_l1), the parameters in log space within LIMITS.
    NotDetermined when the data determines none; ValueError unless there is one positive,
    finite time per row."""
    if not seconds or len(seconds) != len(work) or \
            not all(0 < s < math.inf for s in seconds):
        raise ValueError("fit() needs one time per row, each positive and finite")
    optional_module("scipy", "fitting a profile needs scipy", "calibrate")
    import numpy as np
    from scipy.optimize import least_squares

    dtypes = tuple(dtypes or ("fp32",) * len(work))
    whole = tuple(whole or (True,) * len(work))
    names = determined(work, prior, dtypes, whole)
    if not names:
        few = len(work) < 2
        raise NotDetermined(Problem(
            f"{len(work)} timing{'s determine' if len(work) != 1 else ' determines'} none "
            f"of the profile's parameters: " +
            ("a fit needs a row more than the parameters it fits" if few else
             f"none changes these estimated times by {MIN_INFLUENCE:.0%} per e-fold"),
            hint="time at least 2 networks of different kinds and sizes (10 or more make a "
                 "good fit), or use the prior profile as it is"))
    logs = np.log(np.asarray(seconds, dtype=float))
    start = parameters_of(prior)
    x0 = np.array([_to_x(name, start[name]) for name in names])
    bounds = [[_to_x(name, LIMITS[name][side]) for name in names] for side in (0, 1)]

    def values(x: Sequence[float]) -> dict[str, float]:
        return {name: _from_x(name, v) for name, v in zip(names, x)}

    def residuals(x: Sequence[float]) -> Any:
        return _log_times(work, with_parameters(prior, values(x)), dtypes, whole) - logs

    result = least_squares(residuals, x0, bounds=bounds, loss="soft_l1", f_scale=F_SCALE)
    device = replace(with_parameters(prior, values(result.x)), file="", calibration={})
    error = residuals(result.x)
    return Fit(device, names, tuple(p for p in applicable(prior) if p not in names),
               float(np.sqrt(np.mean(error ** 2))))


# -- how well a fit predicts rows it has not seen ---------------------------------------------

@dataclass(frozen=True)
class HeldOut:
    """Leave-one-out: each row predicted by a fit to the others; the median of |predicted /
    measured - 1| and the Spearman rank correlation of the predictions with the measured
    times (None when undefined: fewer than 2 rows or all alike)."""

    predictions: tuple[float, ...]
    median_error: float
    spearman: float | None


def spearman(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Spearman's rank correlation (ties at their mean rank), None when undefined."""
    from scipy.stats import spearmanr

    if len(a) < 2:
        return None
    value = float(spearmanr(a, b)[0])
    return value if math.isfinite(value) else None


def held_out(seconds: Sequence[float],
             predict_one: Callable[[list[int], int], float]) -> HeldOut | None:
    """Leave-one-out figures of a predictor: ``predict_one(train, i)`` predicts row ``i``
    from the rows ``train``; None when a fit to one fewer row is refused (NotDetermined)."""
    import statistics

    predictions = []
    for i in range(len(seconds)):
        try:
            predictions.append(predict_one([j for j in range(len(seconds)) if j != i], i))
        except NotDetermined:
            return None
    errors = [abs(p / s - 1) for p, s in zip(predictions, seconds)]
    return HeldOut(tuple(predictions), statistics.median(errors),
                   spearman(predictions, seconds))


def profile_predictor(work: Sequence[tuple[Kernel, ...]], seconds: Sequence[float],
                      prior: Device, dtypes: Sequence[str] | None = None,
                      whole: Sequence[bool] | None = None,
                      also: tuple[Sequence[tuple[Kernel, ...]], Sequence[float]] = ((), ())
                      ) -> Callable[[list[int], int], float]:
    """held_out's predictor for the fit: fit() to the training rows (and the whole-network
    rows ``also``, in every fit), then estimate row i."""
    dtypes = dtypes or ("fp32",) * len(work)
    whole = whole or (True,) * len(work)
    extra = len(also[0])

    def predict_one(train: list[int], i: int) -> float:
        result = fit([*(work[j] for j in train), *also[0]],
                     [*(seconds[j] for j in train), *also[1]], prior,
                     [*(dtypes[j] for j in train), *("fp32",) * extra],
                     [*(whole[j] for j in train), *(True,) * extra])
        return predict([work[i]], result.device, [dtypes[i]], [whole[i]])[0]

    return predict_one


def scaled_predictor(counts: Sequence[float], seconds: Sequence[float]
                     ) -> Callable[[list[int], int], float]:
    """held_out's predictor for a count (mult_adds) times one fitted constant: the median of
    the training rows' seconds per count."""
    import statistics

    def predict_one(train: list[int], i: int) -> float:
        ratios = [seconds[j] / counts[j] for j in train if counts[j] > 0]
        if not ratios:
            raise NotDetermined(Problem("no training row has multiply-adds"))
        return statistics.median(ratios) * counts[i]

    return predict_one


# -- a profile from the user's own timings -----------------------------------------------------

def layer_kernels(graph: Graph, layer: str, fuse: str, dtype: str = "fp32"
                  ) -> tuple[Kernel, ...] | None:
    """The kernels that run the layer ``layer`` of ``graph`` (a node's name, or a dotted
    prefix: every node of a block) under ``fuse``: a fused node's time is its host kernel's.
    None when no node has that name; () when its nodes launch no kernel (views, the input)."""
    from cnncost.pipeline import counts

    nodes = [i for i, node in enumerate(graph.nodes)
             if node.name == layer or node.name.startswith(layer + ".")]
    if not nodes:
        return None
    c = counts(graph, fuse, dtype)
    hosts = {c.host[i] for i in nodes}
    return tuple(k for k in kernel_work(graph, c.host, c.costs, dtype) if k.node in hosts)


def _row_work(rows: Sequence[Any], graphs: Sequence[Graph], fuse: str,
              dtypes: Sequence[str]) -> list[tuple[Kernel, ...]]:
    """Each row's kernels: its network's, or those of its layer (a per-layer row); SpecError
    with every unknown layer (with a did-you-mean) or one that launches no kernel."""
    from cnncost.core.errors import Problems, suggest

    problems = Problems()
    work = []
    for row, graph, dtype in zip(rows, graphs, dtypes):
        if not row.layer:
            work.append(kernels(graph, fuse, dtype))
            continue
        found = layer_kernels(graph, row.layer, fuse, dtype)
        if found is None:
            problems.add(f"{row.model} has no layer '{row.layer}'", row.where("layer"),
                         hint=suggest(row.layer, [n.name for n in graph.nodes[1:]],
                                      listing=False) or
                         f"a layer as cnncost names it (cnncost analyze {row.model})")
        elif not found:
            problems.add(f"layer '{row.layer}' of {row.model} launches no kernel under "
                         f"fusion {fuse} (a view, or the input): it has no time of its own",
                         row.where("layer"), hint="leave out the rows of such layers")
        work.append(found or ())
    if problems:
        raise SpecError(problems)
    return work


def _prior_of(rows: Sequence[Any], prior: Device | None) -> tuple[Device, str]:
    """The prior and where it came from: ``prior`` (--prior), else the rows' ``device``
    column (a bundled class profile, every row the same), else desktop_cpu."""
    from cnncost.estimate.devices import load_device

    named = {row.device for row in rows}
    if len(named) > 1:
        first = rows[0].device or "none"
        odd = next(row for row in rows if (row.device or "none") != first)
        raise SpecError(Problem(
            f"this row's device is {odd.device or 'not given'} and the first's {first}: "
            f"the rows of a fit are timed on one device", odd.where("device"),
            hint="give every row the same device, or fit one profile per device"))
    if prior is not None:
        return prior, "--prior"
    if named != {""}:
        return load_device(rows[0].device), "the timings' device column"
    return load_device("desktop_cpu"), "the default"


def from_timings(path: str, prior: Device | None = None, *, leave_one_out: bool = True,
                 also: tuple[Sequence[tuple[Kernel, ...]], Sequence[float]] = ((), ())
                 ) -> tuple[Device, dict[str, Any]]:
    """A profile fitted to the timings file ``path`` (cnncost.estimate.timings) from
    ``prior`` (None: the file's ``device`` column, else desktop_cpu), and a report: the
    prior and where it came from, what was fitted and kept, the fit's error, and (with
    ``leave_one_out``) the held-out error and rank correlation of the fit and of mult_adds
    times one constant. Rows with a ``layer`` are that layer's kernels' times (without the
    per-inference overhead), residuals of the same fit. ``also``: more rows always in the fit
    and never held out (this machine's micro-benchmarks: their kernels and seconds; the prior
    then runs as onnxruntime does here, machine_prior). SpecError for a bad file (an unknown
    layer among them), NotDetermined when the rows determine no parameter."""
    import time

    from cnncost.core.version import __version__
    from cnncost.estimate.timings import read_timings, timed_graphs

    rows = read_timings(path)
    for row in rows[1:]:
        if row.threads != rows[0].threads:
            raise SpecError(Problem(
                f"this row was timed on {row.threads} threads and the first on "
                f"{rows[0].threads}: a profile is for one thread count", row.where("threads"),
                hint="fit one profile per thread count, from the rows timed with it"))
    prior, prior_from = _prior_of(rows, prior)
    if also[0]:  # timed on this machine, as the micro-benchmarks: its cache
        prior = machine_prior(prior, cache_size())
    graphs = timed_graphs(rows, Path(path).parent)
    if prior.threads is not None:  # the prior's threads model, at the rows' thread count
        prior = replace(prior, threads=replace(prior.threads, count=rows[0].threads))
    dtypes = [prior.computes_in(row.dtype) for row in rows]  # as the estimate computes them
    work = _row_work(rows, graphs, prior.fuse, dtypes)
    whole = [not row.layer for row in rows]
    seconds = [row.seconds for row in rows]
    extra = len(also[0])
    try:
        result = fit([*work, *also[0]], [*seconds, *also[1]], prior,
                     [*dtypes, *("fp32",) * extra], [*whole, *(True,) * extra])
    except NotDetermined as exc:
        raise NotDetermined(Problem(f"{path}: {exc.problems[0].message}", rows[0].loc,
                                    exc.problems[0].hint)) from None
    mult_adds = [sum(k.mult_adds for k in ks) for ks in work]
    checks = {}
    if leave_one_out:
        checks = {"profile": held_out(seconds, profile_predictor(work, seconds, prior, dtypes,
                                                                 whole, also)),
                  "mult_adds": held_out(seconds, scaled_predictor(mult_adds, seconds))}
    fitted = predict(work, result.device, dtypes, whole)
    layers = sum(1 for row in rows if row.layer)
    report: dict[str, Any] = {
        "timings": str(path), "rows": len(rows), "layer_rows": layers,
        "micro_benchmarks": extra, "prior": prior.name,
        "prior_from": prior_from,
        "fitted": list(result.fitted), "kept": list(result.kept),
        "rms_log_error": result.rms_log_error,
        "leave_one_out": {name: None if check is None else
                          {"median_error": check.median_error, "spearman": check.spearman}
                          for name, check in checks.items()},
        "models": [{"model": row.label, "measured": row.seconds, "fitted": guess,
                    **({"held_out": checks["profile"].predictions[i]}
                       if checks.get("profile") else {})}
                   for i, (row, guess) in enumerate(zip(rows, fitted))]}
    record: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d"), "timings": str(path), "rows": len(rows),
        "threads": rows[0].threads, "prior": prior.name, "prior_from": prior_from,
        **({"layer_rows": layers} if layers else {}),
        **({"micro_benchmarks": extra} if extra else {}),
        "fitted": ", ".join(result.fitted), "kept": ", ".join(result.kept) or "none",
        "rms_log_error": round(result.rms_log_error, 4)}
    for name, check in checks.items():
        if check is not None:
            record[f"{name}_loo_median_error"] = round(check.median_error, 4)
            if check.spearman is not None:
                record[f"{name}_loo_spearman"] = round(check.spearman, 4)
    record["models"] = "; ".join(f"{row.label} {row.seconds:.4g} s" for row in rows)
    device = replace(
        result.device, name=f"calibrated from {Path(path).name}",
        description=f"{prior.name} fitted by cnncost {__version__} calibrate --timings to "
                    f"{len(rows) - layers} measured networks" +
                    (f" and {layers} layers" if layers else "") +
                    (f" and {extra} micro-benchmarks timed here" if extra else ""),
        sources=(f"fitted ({', '.join(result.fitted)}) to the {len(rows)} timings of "
                 f"{path}, listed under calibration" +
                 (f", and {extra} micro-benchmarks timed on this machine" if extra else ""),
                 f"kept from the prior profile {prior.name}: {', '.join(result.kept) or 'none'}",
                 *(f"prior {prior.name}: {s}" for s in prior.sources)),
        calibration=record)
    return device, report


def describe(report: dict[str, Any]) -> str:
    """The report of a fit to timings, as lines for standard error."""

    def check(name: str, what: str) -> str:
        figures = report["leave_one_out"].get(name)
        if figures is None:
            return f"  {what}: leave-one-out needs more rows"
        rank = "n/a" if figures["spearman"] is None else f"{figures['spearman']:.3f}"
        return f"  {what}: median error {figures['median_error']:.1%}, Spearman {rank}"

    layers = f" ({report['layer_rows']} of single layers)" if report.get("layer_rows") else ""
    if report.get("micro_benchmarks"):
        layers += f" and {report['micro_benchmarks']} micro-benchmarks timed here"
    lines = [f"fitted {', '.join(report['fitted'])} to {report['rows']} timings{layers} "
             f"(root-mean-square log error {report['rms_log_error']:.3f}); kept from "
             f"{report['prior']} (the prior, from {report['prior_from']}): "
             f"{', '.join(report['kept']) or 'none'}"]
    if report["leave_one_out"]:
        lines.append("leave-one-out (each row predicted by a fit to the others):")
        lines.append(check("profile", "the fitted profile"))
        lines.append(check("mult_adds", "mult_adds x one constant"))
    return "\n".join(lines)


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


def machine_prior(prior: Device, cache_bytes: float) -> Device:
    """``prior`` as onnxruntime on this CPU runs it: BN folded and activations fused, im2col,
    and the machine's cache (its bandwidth the prior's, or 3x the memory's: an assumption)."""
    bandwidth = prior.cache_bandwidth or 3 * prior.bandwidth
    return replace(prior, fuse=FUSE, im2col=True, cache_bytes=cache_bytes,
                   cache_bandwidth=bandwidth if cache_bytes else 0.0)


def calibrate(*, threads: int = 1, seconds_per_bench: float = 0.25,
              progress: Callable[[str], None] | None = None,
              prior: Device | None = None) -> tuple[Device, dict[str, Any]]:
    """Measure the micro-benchmarks on this machine and fit a profile to them, from ``prior``
    (desktop_cpu by default); the profile and a record of what was measured (name: measured
    and fitted seconds)."""
    import time

    from cnncost.core.version import __version__
    from cnncost.estimate.devices import load_device

    ort = _measuring()
    prior = machine_prior(prior or load_device("desktop_cpu"), cache_size())
    started = time.perf_counter()
    benches = micro_benchmarks()
    work, measured = time_micro_benchmarks(benches, threads, seconds_per_bench, progress)
    result = fit(work, measured, prior)
    fitted = predict(work, result.device)
    name = f"calibrated ({processor()}, {threads} thread{'s' if threads > 1 else ''})"
    kept = ", ".join(result.kept) or "none"
    device = replace(
        result.device, name=name,
        description=f"fitted by cnncost {__version__} calibrate on {processor()}, "
                    f"onnxruntime {ort.__version__}, {threads} thread(s), "
                    f"{len(benches)} micro-benchmarks",
        sources=(f"fitted ({', '.join(result.fitted)}) to {len(benches)} micro-benchmarks "
                 f"timed on this machine; cache size: its last-level cache",
                 f"kept from the prior profile {prior.name}: {kept}"),
        calibration={"date": time.strftime("%Y-%m-%d"), "runtime": f"onnxruntime {ort.__version__}",
                     "threads": threads, "micro_benchmarks": len(benches),
                     "prior": prior.name, "fitted": ", ".join(result.fitted), "kept": kept,
                     "rms_log_error": round(result.rms_log_error, 4),
                     "seconds": round(time.perf_counter() - started, 1)})
    record = {b.name: {"measured": m, "fitted": f} for b, m, f in zip(benches, measured, fitted)}
    return device, record


def _measuring() -> Any:
    """onnxruntime, once it and scipy are known to be installed: a missing one is said before
    any work."""
    from cnncost.estimate.measure import runtime

    ort = runtime()
    optional_module("scipy", "fitting a profile needs scipy", "calibrate")
    return ort


def time_micro_benchmarks(benches: Sequence[Bench], threads: int = 1,
                          seconds_per_bench: float = 0.25,
                          progress: Callable[[str], None] | None = None
                          ) -> tuple[list[tuple[Kernel, ...]], list[float]]:
    """Each micro-benchmark's kernels (under onnxruntime's fusion) and its time on this
    machine with onnxruntime: 3 warm-up runs, then the fastest of at least 10 runs and
    ``seconds_per_bench``."""
    from cnncost.estimate.measure import model_source, session, time_session

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
    return work, measured


def run_calibration(*, timings: str | None, prior: str | None, threads: int = 1,
                    name: str | None = None, progress: Callable[[str], None] | None = None,
                    micro: bool = False) -> tuple[Device, dict[str, Any], str]:
    """What ``cnncost calibrate`` fits: to the ``timings`` file, or else to this machine's
    micro-benchmarks timed on ``threads``, starting from the profile ``prior`` names
    (desktop_cpu by default). The profile (named ``name`` when given), the fit's report (as
    ``--json`` writes it) and its summary for standard error."""
    from cnncost.estimate.devices import load_device

    if timings and threads != 1:
        raise UsageError("--threads is for timing micro-benchmarks here; with --timings "
                         "the rows say how many threads each was timed on")
    if micro and not timings:
        raise UsageError("--micro-benchmarks adds this machine's micro-benchmarks to a fit to "
                         "--timings FILE; without --timings they are the fit already")
    start = load_device(prior) if prior else None
    if timings:
        also: tuple[Sequence[tuple[Kernel, ...]], Sequence[float]] = ((), ())
        if micro:  # timings of this machine: fitted with its micro-benchmarks
            from cnncost.estimate.timings import read_timings

            _measuring()
            rows = read_timings(timings)  # a bad file is said before a minute of timing
            also = time_micro_benchmarks(micro_benchmarks(), rows[0].threads,
                                         progress=progress)
        device, report = from_timings(timings, start, also=also)
        message = describe(report)
    else:
        device, record = calibrate(threads=threads, progress=progress, prior=start)
        report = {"calibration": device.calibration, "micro_benchmarks": record}
        message = describe_machine_fit(device)
    return (replace(device, name=name) if name else device), report, message


def describe_machine_fit(device: Device) -> str:
    """The report of a fit to this machine's micro-benchmarks, as a line for standard error."""
    c = device.calibration
    return (f"fitted '{device.name}' in {c['seconds']} s: micro-benchmarks fitted to "
            f"{c['rms_log_error']:.3f} root-mean-square log error; fitted {c['fitted']}; "
            f"kept from {c['prior']}: {c['kept']}")
