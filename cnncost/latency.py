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

import math
from dataclasses import dataclass, field
from pathlib import Path, PurePath
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
    host: tuple[int, ...] = ()  # per node, the node whose kernel runs it under the device's
    # fusion: itself, or the conv it is fused into (whose time includes its work)

    @property
    def total(self) -> float:
        return sum(self.seconds) + self.device.overhead

    def fused_into(self, index: int) -> int | None:
        """The node whose kernel runs node ``index`` under the device's fusion, when another."""
        host = self.host[index] if self.host else index
        return None if host == index else host


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
    from cnncost.passes.fuse import fusion_hosts

    seconds, bound = [0.0] * len(graph.nodes), [""] * len(graph.nodes)
    for k in kernels(graph, device.fuse, dtype, node_costs):
        seconds[k.node], bound[k.node] = kernel_time(k, device, dtype)
    return Estimate(device, tuple(seconds), tuple(bound), dtype,
                    fusion_hosts(graph, device.fuse))


# -- profiles ----------------------------------------------------------------------------------

def devices_root() -> Path:
    return Path(__file__).resolve().parent / "devices"


def bundled_devices() -> dict[str, Path]:
    root = devices_root()
    return {p.stem: p for p in sorted(root.glob("*.yaml"))} if root.is_dir() else {}


def load_device(ref: str) -> Device:
    """A bundled profile by name (``cnncost devices``) or a profile file."""
    from cnncost.files import is_file

    if not isinstance(ref, (str, PurePath)) or not str(ref):
        raise UsageError(Problem(f"a device is a profile name or a file, not {shown(repr(ref))}",
                                 hint="cnncost devices lists the bundled profiles"))
    text = str(ref)
    if is_file(text) or "/" in text or text.endswith((".yaml", ".yml")):
        return read_device(Path(text))  # a file, or a path that names none: read_text says
    path = bundled_devices().get(text)
    if path is None:
        raise UsageError(Problem(f"no such device profile: {shown(text)}",
                                 hint=(suggest(text, bundled_devices(), listing=True) +
                                       " (cnncost devices lists them)").strip()))
    return read_device(path)


FIGURE_HINT = "write a plain number in SI units (per second, seconds, bytes): 484e9, 5e-6"


def figure(raw: Any) -> float:
    """A profile's figure as a float, or ValueError saying why it is none: a finite number,
    written as YAML reads numbers (``1.5e9``) or as text Python reads (``484e9``)."""
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        raise ValueError(f"expected a plain number, not {_kind(raw)}")
    try:
        value = float(raw.strip() if isinstance(raw, str) else raw)
    except (ValueError, OverflowError):
        raise ValueError(f"expected a plain number, not {shown(repr(raw))}") from None
    if not math.isfinite(value):
        raise ValueError(f"expected a finite number, not {shown(repr(raw))}")
    return value


class _Reader:
    """The figures of one profile document, every problem collected with its key path."""

    def __init__(self, problems: Any):
        self.problems = problems

    def section(self, doc: Any, key: str, known: tuple[str, ...], what: str) -> Any:
        """The mapping under ``key`` (None when absent or not a mapping: a problem)."""
        value = doc.get(key)
        if value is None and key not in doc:
            return None
        if not isinstance(value, dict):
            self.problems.add(f"expected a mapping of {what}, not {_kind(value)}",
                              doc.where(key), hint=f"e.g. {key}: {{{known[0]}: ...}}")
            return None
        self.problems.unknown_keys(value, known)
        return value

    def number(self, section: Any, key: str, *, low: float = 0.0, high: float = 1e18,
               positive: bool = False, required: bool = False, default: float = 0.0) -> float:
        """``section[key]`` as a float: 0 (unless ``positive``) or from ``low`` to ``high``."""
        if key not in section:
            if required:
                self.problems.add(f"missing '{key}'", section.loc,
                                  hint="cnncost docs latency lists a profile's figures")
            return default
        where = section.where(key)
        try:
            value = figure(section[key])
        except ValueError as exc:
            self.problems.add(str(exc), where, hint=FIGURE_HINT)
            return default
        if value < 0:
            self.problems.add(f"cannot be negative: {value:g}", where)
        elif positive and value == 0:
            self.problems.add("must be more than 0", where,
                              hint="a rate or size of 0 would make every time infinite")
        elif 0 < value < low:
            self.problems.add(f"must be at least {low:g}, not {value:g}", where)
        elif value > high:
            self.problems.add(f"must be at most {high:g}, not {value:g}", where)
        else:
            return value
        return default

    def text(self, doc: Any, key: str, default: str) -> str:
        value = doc.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            self.problems.add(f"expected text, not {_kind(value)}", doc.where(key))
            return default
        return str(value)

    def texts(self, doc: Any, key: str) -> tuple[str, ...]:
        value = doc.get(key)
        if value is None:
            return ()
        if not isinstance(value, list):
            self.problems.add(f"expected a list of text, not {_kind(value)}", doc.where(key))
            return ()
        for index, item in enumerate(value):
            if not isinstance(item, str):
                self.problems.add(f"expected text, not {_kind(item)}", value.where(index))
        return tuple(str(item) for item in value)

    def record(self, doc: Any, key: str) -> dict[str, Any]:
        """A mapping of names to plain values (how a profile was fitted)."""
        value = doc.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.problems.add(f"expected a mapping of names to values, not {_kind(value)}",
                              doc.where(key))
            return {}
        for name, item in value.items():
            if isinstance(item, (dict, list)) or item is None:
                self.problems.add(f"a plain value (text or a number), not {_kind(item)}",
                                  value.where(name))
        return dict(value)


def _kind(value: Any) -> str:
    """What a wrong value is, in a message."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return shown(repr(value))


DTYPE_KEYS = ("fp32", "fp16", "bf16", "int8")
PEAK_HINT = ("peak_mult_adds is a mapping of dtype: multiply-accumulates per second, with fp32 "
             "at least: peak_mult_adds: {fp32: 5.67e12}")


def read_device(path: Path) -> Device:
    """A profile file, or SpecError with every problem at its file, line and key path."""
    from cnncost.errors import Problems
    from cnncost.ir import Loc
    from cnncost.passes.fuse import FUSE_MODES
    from cnncost.spec.yamldoc import Map, load

    doc = load(path, "device profile")
    if not isinstance(doc, Map):
        raise SpecError(Problem(f"a device profile is a mapping, not {_kind(doc)}",
                                getattr(doc, "loc", None) or Loc(str(path), 1, 1, ""),
                                hint="see: cnncost docs latency"))
    problems = Problems()
    problems.unknown_keys(doc, PROFILE_KEYS)
    read = _Reader(problems)
    rates = dict(low=1.0, positive=True)  # per second (or bytes): at least one
    raw_peak = read.section(doc, "peak_mult_adds", DTYPE_KEYS,
                            "dtype: multiply-accumulates per second, with fp32 at least")
    if "peak_mult_adds" not in doc:
        problems.add("missing 'peak_mult_adds'", doc.loc, hint=PEAK_HINT)
    elif raw_peak is not None and "fp32" not in raw_peak:
        problems.add("peak_mult_adds needs fp32 at least", raw_peak.loc, hint=PEAK_HINT)
    peak = {k: read.number(raw_peak, k, default=1.0, **rates) for k in raw_peak or ()
            if k in DTYPE_KEYS}
    shares = dict(low=1e-12, high=1.0, positive=True)  # of the peak
    raw_efficiency = read.section(doc, "efficiency", KINDS, "layer kind: share of the peak")
    efficiency = {k: read.number(raw_efficiency, k, default=1.0, **shares)
                  for k in raw_efficiency or () if k in KINDS}
    cache = read.section(doc, "cache", ("bytes", "bandwidth"), "bytes and bandwidth")
    if cache is not None:
        cache_bytes = read.number(cache, "bytes", required=True, **rates)
        cache_bandwidth = read.number(cache, "bandwidth", required=True, **rates)
    im2col = doc.get("im2col", False)
    if not isinstance(im2col, bool):
        problems.add(f"expected true or false, not {_kind(im2col)}", doc.where("im2col"))
    fuse = doc.get("fuse", "none")
    if fuse not in FUSE_MODES:
        problems.add(f"fuse is none or bn-act, not {_kind(fuse)}", doc.where("fuse"),
                     hint=suggest(str(fuse), FUSE_MODES))
    calibration = read.record(doc, "calibration")
    device = Device(
        name=read.text(doc, "name", path.stem), peak_mult_adds=peak,
        bandwidth=read.number(doc, "bandwidth", required=True, default=1.0, **rates),
        launch=read.number(doc, "launch", high=1.0), overhead=read.number(doc, "overhead",
                                                                           high=1.0),
        vector_ops=read.number(doc, "vector_ops", low=1.0),  # 0: as peak_mult_adds
        cache_bytes=cache_bytes if cache is not None else 0.0,
        cache_bandwidth=cache_bandwidth if cache is not None else 0.0,
        overlap=read.number(doc, "overlap", high=1.0, default=1.0), fuse=str(fuse),
        im2col=im2col is True, efficiency=efficiency,
        description=read.text(doc, "description", ""), sources=read.texts(doc, "sources"),
        calibration=calibration, file=str(path))
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
