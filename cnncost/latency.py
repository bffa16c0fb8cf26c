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
from pathlib import Path
from typing import Any, NamedTuple

from cnncost.errors import Problem, SpecError, UsageError, shown, suggest
from cnncost.ir import Cost, Graph, is_vector

KINDS = ("conv", "pointwise", "depthwise", "grouped", "linear")
PROFILE_KEYS = ("name", "description", "sources", "peak_mult_adds", "vector_ops", "bandwidth",
                "cache", "launch", "overhead", "overlap", "im2col", "fuse", "efficiency",
                "calibration")


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

    @property
    def total(self) -> float:
        return sum(self.seconds) + self.device.overhead


def layer_kind(op: Any, in_channels: int) -> str:
    """conv, pointwise, depthwise, grouped or linear: what sets a layer's share of the peak;
    "" for layers without multiply-adds of their own."""
    family = op.family
    if family == "linear" or op.op_name == "matmul":
        return "linear"
    if family != "conv":
        return ""
    groups = getattr(op, "groups", 1)
    if groups > 1:
        return "depthwise" if groups == in_channels else "grouped"
    return "pointwise" if tuple(op.kernel) == (1, 1) else "conv"


def kernels(graph: Graph, fuse: str, dtype: str = "fp32",
            node_costs: tuple[Cost, ...] | None = None) -> tuple[Kernel, ...]:
    """The kernels ``graph`` launches under ``fuse``, in order, with their work;
    ``node_costs``: the graph's unfused costs when already computed."""
    from cnncost.analysis import DTYPES
    from cnncost.passes import costs as passes
    from cnncost.passes.fuse import fused_costs, fusion_hosts, is_kernel

    host = fusion_hosts(graph, fuse)
    costs = fused_costs(graph, node_costs or passes.node_costs(graph), host)
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
    hold one value per configuration (cnncost.vector), and so do the terms."""
    compute = (k.elementwise_ops / device.vector_rate(dtype) +
               k.mult_adds / device.throughput(k.kind, dtype))
    moved = k.bytes + (k.im2col_bytes if device.im2col else 0)
    rate = device.bandwidth
    if device.cache_bytes:
        in_cache = k.bytes <= device.cache_bytes
        if is_vector(in_cache):
            from cnncost.vector import select

            rate = select(in_cache, device.cache_bandwidth, device.bandwidth)
        elif in_cache:
            rate = device.cache_bandwidth
    return compute, moved / rate


def combine(compute: Any, memory: Any, device: Device) -> Any:
    """A kernel's time from its terms: the larger, the part of the smaller that does not
    overlap it, and the launch."""
    if is_vector(compute) or is_vector(memory):
        from cnncost.vector import larger, smaller

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


def estimate(graph: Graph, device: Device, dtype: str = "fp32",
             node_costs: tuple[Cost, ...] | None = None) -> Estimate:
    """The estimate of every node of ``graph`` on ``device``, under the device's fusion."""
    seconds, bound = [0.0] * len(graph.nodes), [""] * len(graph.nodes)
    for k in kernels(graph, device.fuse, dtype, node_costs):
        seconds[k.node], bound[k.node] = kernel_time(k, device, dtype)
    return Estimate(device, tuple(seconds), tuple(bound), dtype)


# -- profiles ----------------------------------------------------------------------------------

def devices_root() -> Path:
    return Path(__file__).resolve().parent / "devices"


def bundled_devices() -> dict[str, Path]:
    root = devices_root()
    return {p.stem: p for p in sorted(root.glob("*.yaml"))} if root.is_dir() else {}


def load_device(ref: str) -> Device:
    """A bundled profile by name (``cnncost devices``) or a profile file."""
    from cnncost.files import is_file

    path = Path(ref) if is_file(ref) else bundled_devices().get(ref)
    if path is None:
        raise UsageError(Problem(f"no such device profile: {ref}",
                                 hint=(suggest(ref, bundled_devices(), listing=True) +
                                       " (cnncost devices lists them)").strip()))
    return read_device(path)


def read_device(path: Path) -> Device:
    from cnncost.errors import Problems
    from cnncost.spec.budget import split_quantity
    from cnncost.spec.yamldoc import Map, load

    doc = load(path, "device profile")
    problems = Problems()
    if not isinstance(doc, Map):
        raise SpecError(Problem("a device profile is a mapping (see: cnncost docs latency)",
                                getattr(doc, "loc", None)))
    problems.unknown_keys(doc, PROFILE_KEYS)

    def number(key: str, section: Any = doc, required: bool = False, at_most: float = 1e18,
               default: float = 0.0) -> float:
        if key not in section:
            if required:
                problems.add(f"missing '{key}'", section.loc)
            return default
        raw = section[key]
        try:
            value, unit = split_quantity(raw)
            if unit:
                raise ValueError(f"{raw!r}: write a plain number (SI units: per second, "
                                 f"seconds, bytes)")
        except ValueError as exc:
            problems.add(str(exc), section.where(key))
            return default
        if value > at_most:
            problems.add(f"{key} must be at most {at_most:g}", section.where(key))
        return float(value)

    peak: dict[str, float] = {}
    raw_peak = doc.get("peak_mult_adds")
    if not isinstance(raw_peak, Map) or "fp32" not in raw_peak:
        problems.add("peak_mult_adds is a mapping of dtype: multiply-accumulates per second, "
                     "with fp32 at least", doc.where("peak_mult_adds") if "peak_mult_adds" in
                     doc else doc.loc)
    else:
        problems.unknown_keys(raw_peak, ("fp32", "fp16", "bf16", "int8"))
        peak = {k: number(k, raw_peak) for k in raw_peak}
    efficiency: dict[str, float] = {}
    if isinstance(doc.get("efficiency"), Map):
        problems.unknown_keys(doc["efficiency"], KINDS)
        efficiency = {k: number(k, doc["efficiency"], at_most=1.0) for k in doc["efficiency"]}
    cache = doc.get("cache")
    if cache is not None and not isinstance(cache, Map):
        problems.add("cache is {bytes: ..., bandwidth: ...}", doc.where("cache"))
        cache = None
    im2col = doc.get("im2col", False)
    if not isinstance(im2col, bool):
        problems.add(f"im2col is true or false, not {shown(repr(im2col))}", doc.where("im2col"))
        im2col = False
    fuse = doc.get("fuse", "none")
    if fuse not in ("none", "bn-act"):
        problems.add(f"fuse is none or bn-act, not {fuse!r}", doc.where("fuse"))
    device = Device(
        name=str(doc.get("name", path.stem)), peak_mult_adds=peak,
        bandwidth=number("bandwidth", required=True),
        launch=number("launch", at_most=1.0), overhead=number("overhead", at_most=1.0),
        vector_ops=number("vector_ops"),
        cache_bytes=number("bytes", cache) if cache else 0.0,
        cache_bandwidth=number("bandwidth", cache) if cache else 0.0,
        overlap=number("overlap", at_most=1.0, default=1.0), fuse=str(fuse), im2col=im2col,
        efficiency=efficiency, description=str(doc.get("description", "")),
        sources=tuple(str(s) for s in doc.get("sources") or ()),
        calibration=dict(doc.get("calibration") or {}), file=str(path))
    if not problems and (min(peak.values(), default=0) <= 0 or device.bandwidth <= 0 or
                         any(v <= 0 for v in efficiency.values())):
        problems.add("peak_mult_adds, bandwidth and efficiencies must be positive", doc.loc)
    if problems:
        raise SpecError(problems)
    return device


def device_yaml(device: Device) -> str:
    """A profile as the YAML ``read_device`` reads."""
    from cnncost.spec.writer import yaml_scalar

    lines = [f"name: {yaml_scalar(device.name)}",
             f"description: {yaml_scalar(device.description)}"]
    if device.sources:
        lines.append("sources:")
        lines += [f"  - {yaml_scalar(s)}" for s in device.sources]
    lines.append("peak_mult_adds: {" + ", ".join(f"{k}: {v:.10g}" for k, v in
                                                  device.peak_mult_adds.items()) + "}")
    if device.vector_ops:
        lines.append(f"vector_ops: {device.vector_ops:.10g}")
    lines.append(f"bandwidth: {device.bandwidth:.10g}")
    if device.cache_bytes:
        lines.append(f"cache: {{bytes: {int(device.cache_bytes)}, "
                     f"bandwidth: {device.cache_bandwidth:.10g}}}")
    lines += [f"launch: {device.launch:.10g}", f"overhead: {device.overhead:.10g}",
              f"overlap: {device.overlap:.10g}",
              f"im2col: {'true' if device.im2col else 'false'}", f"fuse: {device.fuse}"]
    if device.efficiency:
        lines.append("efficiency: {" + ", ".join(f"{k}: {v:.10g}" for k, v in
                                                 device.efficiency.items()) + "}")
    if device.calibration:
        lines.append("calibration:")
        lines += [f"  {k}: {yaml_scalar(v)}" for k, v in device.calibration.items()]
    return "\n".join(lines) + "\n"
