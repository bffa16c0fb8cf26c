"""Speed, not only FLOPs: a device profile and a layer-by-layer latency estimate.

Each kernel a network launches (after the device's fusion) takes

    compute = sum over its work of mult_adds / throughput(kind) + elementwise_ops / vector_rate
    memory  = bytes it moves / bandwidth   (the cache's bandwidth when they fit in the cache)
    time    = max(compute, memory) + (1 - overlap) * min(compute, memory) + launch

a roofline (``overlap`` 1: compute and memory traffic overlap fully) with partial overlap, plus
the fixed cost of launching a kernel. ``throughput(kind)`` is the device's peak multiply-add
rate for the dtype times its efficiency for the kind of layer (a depthwise conv reaches a far
smaller share of peak than a dense one). A layer is compute- or memory-bound by the larger term.
docs/latency.md states the model, its sources and its limits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from cnncost.core.ir import Cost, Graph, is_vector
from cnncost.core.settings import DTYPES, LAYER_KINDS
from cnncost.passes.fuse import is_kernel

KINDS = LAYER_KINDS  # each has its own efficiency in a profile

@dataclass(frozen=True)
class Device:
    """A device profile: rates in operations or bytes per second, times in seconds."""

    name: str
    peak_mult_adds: dict[str, float]  # per dtype: multiply-accumulates per second
    bandwidth: float  # bytes per second, main memory
    launch: float = 0.0  # seconds per kernel launched
    overhead: float = 0.0  # seconds per inference, whatever the network (a runtime's call)
    vector_ops: float = 0.0  # element-wise operations per second (0: as peak_mult_adds)
    cache_bytes: float = 0.0  # a faster level: its size (0: none) ...
    cache_bandwidth: float = 0.0  # ... and bandwidth
    overlap: float = 1.0  # 1: compute and memory overlap fully (a pure roofline)
    im2col: bool = False  # convs (not 1x1 stride 1, not depthwise) copy their input to a
    # column matrix first, written then read (CPU runtimes); GPUs' implicit GEMM does not
    fuse: str = "none"  # what the runtime fuses: none, or bn-act
    efficiency: dict[str, float] = field(default_factory=dict)  # per layer kind, of peak
    description: str = ""
    sources: tuple[str, ...] = ()
    calibration: dict[str, Any] = field(default_factory=dict)  # how a profile was fitted
    file: str = ""

    def throughput(self, kind: str, dtype: str) -> float:
        peak = self.peak_mult_adds.get(dtype) or self.peak_mult_adds["fp32"]
        return peak * self.efficiency.get(kind, 1.0)

    def vector_rate(self, dtype: str) -> float:
        return self.vector_ops or self.peak_mult_adds.get(dtype) or self.peak_mult_adds["fp32"]


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


@dataclass(frozen=True)
class Estimate:
    """Seconds per node (0 for nodes that launch no kernel: fused, views, the input), whether
    its kernel is compute- or memory-bound, and the per-inference overhead."""

    device: Device
    seconds: tuple[float, ...]
    bound: tuple[str, ...]  # "compute", "memory" or "" per node
    dtype: str
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
        result.append(Kernel(index, kind, mult_adds[index], elementwise[index],
                             size * moved[index], size * _column_matrix(node, kind, in_channels)))
    return tuple(result)


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
    """Seconds of compute and seconds of memory traffic of one kernel. In a sweep the counts
    hold one value per configuration (cnncost.core.vector), and so do the terms."""
    compute = (k.elementwise_ops / device.vector_rate(dtype) +
               k.mult_adds / device.throughput(k.kind, dtype))
    moved = k.bytes + (k.im2col_bytes if device.im2col else 0)
    rate = device.bandwidth
    if device.cache_bytes:
        in_cache = k.bytes <= device.cache_bytes
        if is_vector(in_cache):
            from cnncost.core.vector import select

            rate = select(in_cache, device.cache_bandwidth, device.bandwidth)
        elif in_cache:
            rate = device.cache_bandwidth
    return compute, moved / rate


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
    """The kernel's time (combine() of its terms)."""
    return combine(*kernel_terms(k, device, dtype), device)


def kernel_time(k: Kernel, device: Device, dtype: str) -> tuple[float, str]:
    """Seconds for one kernel, and what bounds it: compute or memory ("" in a sweep, where
    it differs between configurations)."""
    compute, memory = kernel_terms(k, device, dtype)
    seconds = combine(compute, memory, device)
    if is_vector(compute) or is_vector(memory):
        return seconds, ""
    return seconds, "compute" if compute >= memory else "memory"


def estimate_of(graph: Graph, device: Device, dtype: str, host: tuple[int, ...],
                costs: tuple[Cost, ...]) -> Estimate:
    """The estimate of every node of ``graph`` on ``device``: ``host`` and ``costs`` are the
    fusion pass's result under the device's fusion (cnncost.pipeline runs it)."""
    seconds, bound = [0.0] * len(graph.nodes), [""] * len(graph.nodes)
    work = kernel_work(graph, host, costs, dtype)
    for k in work:
        seconds[k.node], bound[k.node] = kernel_time(k, device, dtype)
    return Estimate(device, tuple(seconds), tuple(bound), dtype, host, work)
