"""Speed, not only FLOPs: a device profile and a layer-by-layer latency estimate.

Each kernel a network launches (after the device's fusion) takes

    compute = sum over its work of mult_adds / throughput(kind) + elementwise_ops / vector_rate
    memory  = bytes it moves / bandwidth   (the cache's bandwidth when they fit in the cache)
    time    = max(compute, memory) + (1 - overlap) * min(compute, memory) + launch

a roofline (``overlap`` 1: compute and memory traffic overlap fully) with partial overlap, plus
the fixed cost of launching a kernel. ``throughput(kind)`` is the device's peak multiply-add
rate for the dtype times its efficiency for the kind of layer (a depthwise conv reaches a far
smaller share of peak than a dense one). A layer is compute- or memory-bound by the larger term.

Three properties of a profile change the terms, never the counts: ``compute_dtype`` (an fp32
model computed in fp16: its peak, its bytes), ``winograd`` (3x3 stride-1 dense convs computed
as F(m x m, 3x3): fewer multiplies plus the transforms' element-wise work) and ``threads``
(each kernel split over as many threads as its work fills, each extra one adding
``efficiency`` of a core, plus a synchronisation cost per extra thread).
docs/latency.md states the model, its sources and its limits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from cnncost.core.ir import Cost, Graph, is_vector
from cnncost.core.settings import DTYPES, LAYER_KINDS
from cnncost.ops.base import POOL
from cnncost.passes.fuse import is_kernel

KINDS = LAYER_KINDS  # each has its own efficiency in a profile

# Winograd F(m x m, 3x3) by output tile m: operations per tile of its input transform (per input
# channel) and of its output transform (per output channel), one per nonzero entry after the
# first in each row of B^T and A^T of Lavin & Gray, "Fast Algorithms for Convolutional Neural
# Networks" (CVPR 2016), applied to columns then rows; the filter transform is done once, when
# the weights are loaded. F(2x2): 4 x (4 + 4) = 32 and 4 x 4 + 2 x 4 = 24; F(4x4): 6 x (16 +
# 16) = 192 and 6 x 14 + 4 x 14 = 140.
WINOGRAD_TRANSFORMS = {2: (32, 24), 4: (192, 140)}


@dataclass(frozen=True)
class Threads:
    """How a CPU runtime splits each kernel over threads: a kernel of ``work`` (multiply-adds,
    element-wise operations and bytes moved) runs on clamp(work / grain, 1, count) threads,
    each one past the first adding ``efficiency`` of a core to the compute rate and to the
    bandwidths (main memory up to ``bandwidth``, which all threads share), and costing ``sync``
    seconds per kernel."""

    count: int = 1  # threads the runtime runs on
    efficiency: float = 1.0  # the share of a core each thread past the first adds
    grain: float = 0.0  # work per thread below which a kernel is not split further (0: always)
    sync: float = 0.0  # seconds per kernel per thread past the first it is split over
    bandwidth: float = 0.0  # main memory all threads together reach (0: the one-thread figure)


@dataclass(frozen=True)
class Device:
    """A device profile: rates in operations or bytes per second, times in seconds."""

    name: str
    peak_mult_adds: dict[str, float]  # per dtype: multiply-accumulates per second
    bandwidth: float  # bytes per second, main memory
    launch: float = 0.0  # seconds per kernel launched
    setup: float = 0.0  # seconds more per conv-like kernel (one with a latency kind: a conv,
    # linear, matmul or pooling window: its primitive's dispatch, packing), whatever its size
    overhead: float = 0.0  # seconds per inference, whatever the network (a runtime's call)
    vector_ops: float = 0.0  # element-wise operations per second (0: as peak_mult_adds)
    cache_bytes: float = 0.0  # a faster level: its size (0: none) ...
    cache_bandwidth: float = 0.0  # ... and bandwidth
    overlap: float = 1.0  # 1: compute and memory overlap fully (a pure roofline)
    im2col: bool = False  # convs (not 1x1 stride 1, not depthwise) copy their input to a
    # column matrix first, written then read (CPU runtimes); GPUs' implicit GEMM does not
    fuse: str = "none"  # what the runtime fuses: none, or bn-act
    efficiency: dict[str, float] = field(default_factory=dict)  # per layer kind, of peak
    threads: Threads | None = None  # a CPU runtime's threads (None: one, not to be changed)
    compute_dtype: str = ""  # the dtype an fp32 model is computed and stored in ("": fp32)
    winograd: int = 0  # output tile m of Winograd F(m x m, 3x3) for 3x3 stride-1 convs (0: none)
    description: str = ""
    sources: tuple[str, ...] = ()
    calibration: dict[str, Any] = field(default_factory=dict)  # how a profile was fitted
    file: str = ""

    def throughput(self, kind: str, dtype: str) -> float:
        peak = self.peak_mult_adds.get(dtype) or self.peak_mult_adds["fp32"]
        return peak * self.efficiency.get(kind, 1.0)

    def vector_rate(self, dtype: str) -> float:
        return self.vector_ops or self.peak_mult_adds.get(dtype) or self.peak_mult_adds["fp32"]

    def computes_in(self, dtype: str) -> str:
        """The dtype the device computes a model of ``dtype`` in: its ``compute_dtype`` for an
        fp32 model (ARM runtimes run "fp32" models in fp16), otherwise ``dtype`` itself."""
        return self.compute_dtype if dtype == "fp32" and self.compute_dtype else dtype


class Kernel(NamedTuple):
    """What one launched kernel does: the node that launches it, the kind of its multiply-adds
    ("" for none), and its work summed over the nodes fused into it. (A named tuple: one is
    made per kernel, each time a latency is estimated.)"""

    node: int
    kind: str
    mult_adds: int
    elementwise_ops: int
    bytes: int
    im2col_bytes: int = 0  # the column matrix an im2col conv writes and then reads
    winograd: int = 0  # a 3x3 stride-1 dense conv's own mult_adds (0: not such a conv) ...
    winograd_in: int = 0  # ... its output positions x input channels ...
    winograd_out: int = 0  # ... and its output elements (output positions x out channels)
    window_ops: int = 0  # a pooling's window operations, run at its kind's rate (depthwise)


@dataclass(frozen=True)
class Estimate:
    """Seconds per node (0 for nodes that launch no kernel: fused, views, the input), whether
    its kernel is compute- or memory-bound, and the per-inference overhead."""

    device: Device
    seconds: tuple[float, ...]
    bound: tuple[str, ...]  # "compute", "memory" or "" per node
    dtype: str  # the dtype the device computes in (Device.computes_in of the analysis's)
    host: tuple[int, ...] = ()  # per node, the node whose kernel runs it under the device's
    # fusion: itself, or the conv it is fused into (whose time includes its work)
    kernels: tuple[Kernel, ...] = ()  # the kernels launched, with their work (the roofline)

    @property
    def total(self) -> float:
        return sum(self.seconds) + self.device.overhead

    def fused_into(self, index: int) -> int | None:
        """The node whose kernel runs node ``index`` under the device's fusion, when another."""
        host = self.host[index] if self.host else index
        return None if host == index else host


def layer_kind(op: Any, in_channels: int) -> str:
    """What sets a layer's share of the peak: the op's own declaration (``latency_kind``,
    one of LAYER_KINDS, or "" for layers without multiply-adds of their own)."""
    kind = op.latency_kind(in_channels)
    if kind and kind not in LAYER_KINDS:
        raise ValueError(f"{op.op_name}: latency kind {kind!r} is not one of {LAYER_KINDS}")
    return kind


def kernel_work(graph: Graph, host: tuple[int, ...], costs: tuple[Cost, ...],
                dtype: str = "fp32") -> tuple[Kernel, ...]:
    """The kernels ``graph`` launches under the fusion ``host`` (cnncost.passes.fuse), in
    order, with their work; ``costs``: the node costs under that fusion. (cnncost.pipeline
    runs the passes before it: pipeline.kernels(graph, fuse) for a graph alone.)"""
    n = len(graph.nodes)
    mult_adds, elementwise, moved = [0] * n, [0] * n, [0] * n
    for index, root in enumerate(host):  # a kernel does the work of the nodes fused into it
        c = costs[index]
        mult_adds[root] += c.mult_adds
        elementwise[root] += c.elementwise_ops
        moved[root] += c.mem_access
    size = DTYPES[dtype]
    nodes = graph.nodes
    result = []
    for index, node in enumerate(nodes):
        if not is_kernel(graph, host, index):
            continue
        source = nodes[node.inputs[0]].shape if node.inputs else ()
        in_channels = source[1] if len(source) > 1 else 0
        kind = layer_kind(node.op, in_channels)
        windowed = bool(kind) and node.op.family == POOL  # a pooling window, as depthwise
        window = elementwise[index] if windowed else 0
        result.append(Kernel(index, kind, mult_adds[index], 0 if windowed else elementwise[index],
                             size * moved[index], size * _column_matrix(node, kind, in_channels),
                             *_winograd_work(node, kind, in_channels), window_ops=window))
    return tuple(result)


def _winograd_work(node: Any, kind: str, in_channels: int) -> tuple[int, int, int]:
    """What Winograd F(m x m, 3x3) would change in a dense 3x3 conv of stride and dilation 1
    (not grouped, not depthwise): its mult_adds, output positions x input channels, output
    elements; zeros for any other kernel (runtimes compute those directly)."""
    op = node.op
    if kind != "conv" or op.op_name != "conv2d" or tuple(op.kernel) != (3, 3) or \
            tuple(op.stride) != (1, 1) or tuple(op.dilation) != (1, 1):
        return 0, 0, 0
    n, out_channels, h, w = node.shape
    positions = n * h * w
    return 9 * positions * in_channels * out_channels, positions * in_channels, \
        positions * out_channels


def _column_matrix(node: Any, kind: str, in_channels: int) -> int:
    """Elements an im2col conv writes to its column matrix and reads back: output positions
    x input channels x kernel window, twice; 0 where the input is used as it is."""
    if kind not in ("conv", "grouped", "pointwise"):
        return 0
    kh, kw = node.op.kernel
    if (kh, kw) == (1, 1) and tuple(node.op.stride) == (1, 1):
        return 0
    n, _, h, w = node.shape
    return 2 * n * h * w * in_channels * kh * kw


def kernel_terms(k: Kernel, device: Device, dtype: str) -> tuple[float, float]:
    """Seconds of compute and seconds of memory traffic of one kernel, ``dtype`` being the one
    the device computes in (Device.computes_in). In a sweep the counts hold one value per
    configuration (cnncost.core.vector), and so do the terms."""
    compute, memory, _ = _terms(k, device, dtype)
    return compute, memory


def kernel_bytes(k: Kernel, device: Device) -> Any:
    """The bytes one kernel moves on ``device``: its mem_access, plus the column matrix of an
    im2col conv on a device that builds one (not for a conv it runs as Winograd)."""
    if not device.im2col or (device.winograd and k.winograd):
        return k.bytes
    return k.bytes + k.im2col_bytes


def _terms(k: Kernel, device: Device, dtype: str) -> tuple[Any, Any, Any]:
    """Compute seconds, memory seconds and the kernel's fixed seconds beyond its launch: its
    threads' synchronisation, and the setup of a conv-like call (one with a latency kind)."""
    mult_adds, transforms = k.mult_adds, 0
    if device.winograd and k.winograd:  # F(m x m, 3x3): (m + 2)^2 multiplies per m^2 outputs
        m = device.winograd
        mult_adds = k.mult_adds - k.winograd + k.winograd * (m + 2) ** 2 / (9 * m * m)
        per_in, per_out = WINOGRAD_TRANSFORMS[m]
        transforms = (k.winograd_in * per_in + k.winograd_out * per_out) / (m * m)
    compute = ((k.elementwise_ops + transforms) / device.vector_rate(dtype) +
               (mult_adds + k.window_ops) / device.throughput(k.kind, dtype))
    moved = kernel_bytes(k, device)
    bandwidth, cache_bandwidth, sync = device.bandwidth, device.cache_bandwidth, 0.0
    t = device.threads
    if t is not None and t.count > 1:
        work = mult_adds + k.window_ops + k.elementwise_ops + transforms + moved
        used = _clamp(work / t.grain if t.grain else t.count, 1, t.count)
        speedup = 1 + (used - 1) * t.efficiency
        compute = compute / speedup
        bandwidth = _clamp(bandwidth * speedup, 0, t.bandwidth or device.bandwidth)
        cache_bandwidth = cache_bandwidth * speedup
        sync = (used - 1) * t.sync
    rate = bandwidth
    if device.cache_bytes:
        in_cache = k.bytes <= device.cache_bytes
        if is_vector(in_cache) or is_vector(bandwidth) or is_vector(cache_bandwidth):
            from cnncost.core.vector import select

            rate = select(in_cache, cache_bandwidth, bandwidth)
        elif in_cache:
            rate = cache_bandwidth
    return compute, moved / rate, sync + (device.setup if k.kind else 0.0)


def _clamp(value: Any, low: float, high: float) -> Any:
    """``value`` within [low, high]; per configuration in a sweep."""
    if is_vector(value):
        from cnncost.core.vector import larger, smaller

        return smaller(larger(value, low), high)
    return min(max(value, low), high)


def combine(compute: Any, memory: Any, device: Device) -> Any:
    """A kernel's time from its terms: the larger, the part of the smaller that does not
    overlap it, and the launch."""
    if is_vector(compute) or is_vector(memory):
        from cnncost.core.vector import larger, smaller

        high, low = larger(compute, memory), smaller(compute, memory)
    else:
        high, low = max(compute, memory), min(compute, memory)
    return high + (1 - device.overlap) * low + device.launch


def kernel_seconds(k: Kernel, device: Device, dtype: str) -> float:
    """The kernel's time (combine() of its terms, plus its fixed seconds: synchronisation
    and setup)."""
    compute, memory, fixed = _terms(k, device, dtype)
    return combine(compute, memory, device) + fixed


def kernel_time(k: Kernel, device: Device, dtype: str) -> tuple[float, str]:
    """Seconds for one kernel, and what bounds it: compute or memory ("" in a sweep, where
    it differs between configurations)."""
    compute, memory, fixed = _terms(k, device, dtype)
    seconds = combine(compute, memory, device) + fixed
    if is_vector(compute) or is_vector(memory):
        return seconds, ""
    return seconds, "compute" if compute >= memory else "memory"


def estimate_of(graph: Graph, device: Device, dtype: str, host: tuple[int, ...],
                costs: tuple[Cost, ...]) -> Estimate:
    """The estimate of every node of ``graph`` on ``device``: ``host`` and ``costs`` are the
    fusion pass's result under the device's fusion (cnncost.pipeline runs it)."""
    seconds, bound = [0.0] * len(graph.nodes), [""] * len(graph.nodes)
    dtype = device.computes_in(dtype)  # its bytes and its peak
    work = kernel_work(graph, host, costs, dtype)
    for k in work:
        seconds[k.node], bound[k.node] = kernel_time(k, device, dtype)
    return Estimate(device, tuple(seconds), tuple(bound), dtype, host, work)
