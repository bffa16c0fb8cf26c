"""The one place that knows the order of the passes: ``counts()`` runs the passes every
figure starts from (cost rules, fusion, the latency estimate on a device), for a graph of
numbers or a sweep's graph of Vecs; ``analyze()`` runs them, then the passes that read them
(roll-ups, liveness, guidelines, wiring, a tool's convention). The sweep, the latency
conveniences below, the conventions, the charts and the reports all read what these give."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cnncost.core.gcpause import paused_gc
from cnncost.core.ir import Cost, Graph, numel
from cnncost.core.model import Model
from cnncost.core.settings import CONVENTIONS, DTYPES, FUSE_MODES
from cnncost.passes.costs import node_costs, node_kinds
from cnncost.passes.fuse import fused_costs, fusion_hosts
from cnncost.passes.guidelines import Thresholds, Verdict, evaluate
from cnncost.passes.latency import Device, Estimate, Kernel, estimate_of, kernel_work
from cnncost.passes.memory import Memory, live_totals, liveness
from cnncost.passes.rollup import (Group, at_depth, elementwise_layers, fragment_depths,
                                   network_group, prefixes, rollup)
from cnncost.passes.wiring import wiring_warnings

if TYPE_CHECKING:
    from cnncost.conventions.tools import Tally


@dataclass(frozen=True)
class Counts:
    """What the first passes give for one graph: every node's cost by its op's rule
    (``raw``), the fusion (``host``: per node, the node whose kernel computes it) and the
    costs under it, and the latency estimate on the device asked for. In a sweep every
    count holds one value per configuration (cnncost.core.vector)."""

    raw: tuple[Cost, ...]
    host: tuple[int, ...]
    costs: tuple[Cost, ...]
    latency: Estimate | None = None


def counts(graph: Graph, fuse: str = "none", dtype: str = "fp32",
           device: Device | None = None) -> Counts:
    """The cost rules, the fusion under ``fuse``, and with ``device`` the latency estimate
    (under the device's own fusion), in this order."""
    raw = node_costs(graph)
    host = fusion_hosts(graph, fuse)
    costs = fused_costs(graph, raw, host)
    latency = None
    if device is not None:  # the runtime fuses as it does, whatever the figures assume
        on_device = host if device.fuse == fuse else fusion_hosts(graph, device.fuse)
        latency = estimate_of(graph, device, dtype, on_device, costs if on_device is host
                              else fused_costs(graph, raw, on_device))
    return Counts(raw, host, costs, latency)


def peak_elements(graph: Graph, c: Counts) -> Any:
    """The peak activation memory in elements, for a graph of numbers or a sweep's graph of
    Vecs (per configuration: a numpy array); ``analyze`` keeps liveness()'s whole answer."""
    import numpy as np

    from cnncost.core.vector import array_of

    peak: Any = 0
    for _, live in live_totals(graph, c.host, lambda i: array_of(numel(graph.nodes[i].shape))):
        peak = np.maximum(peak, live)
    return peak


def kernels(graph: Graph, fuse: str, dtype: str = "fp32") -> tuple[Kernel, ...]:
    """The kernels ``graph`` launches under ``fuse``, in order, with their work (what a
    device profile is fitted to)."""
    c = counts(graph, fuse, dtype)
    return kernel_work(graph, c.host, c.costs, dtype)


def estimate(graph: Graph, device: Device, dtype: str = "fp32") -> Estimate:
    """The latency estimate of every node of ``graph`` on ``device``, under its fusion."""
    return counts(graph, device.fuse, dtype, device).latency


@dataclass(frozen=True)
class Analysis:
    model: Model
    graph: Graph
    fuse: str
    dtype: str
    depth: int
    costs: tuple[Cost, ...]  # per node, after fusion
    kinds: tuple[str, ...]  # per node, the --by op label
    host: tuple[int, ...]  # per node, the node whose kernel computes it
    memory: Memory
    network: Group  # totals, kernels, fragments, branching of the whole network
    groups: dict[str, Group]  # rolled up by every dotted-name prefix (blocks and layers)
    by_kind: tuple[Group, ...]  # rolled up by op kind
    thresholds: Thresholds
    guidelines: tuple[Verdict, ...]  # G1-G4
    warnings: tuple[str, ...] = ()  # layers that feed nothing (passes/wiring.py)
    latency: Estimate | None = None  # on the device asked for
    tally: Tally | None = None  # the network as the tool convention asked for counts it

    @property
    def blocks(self) -> tuple[Group, ...]:
        """The blocks at the display depth (``depth``)."""
        return self.blocks_at(self.depth)

    def blocks_at(self, depth: int) -> tuple[Group, ...]:
        return at_depth(self.graph, self.groups, depth)

    @property
    def bytes_per_element(self) -> int:
        return DTYPES[self.dtype]

    @property
    def totals(self) -> Cost:
        return self.network.cost


def analyze(model: Model | Graph, *, fuse: str = "none", dtype: str = "fp32", depth: int = 1,
            thresholds: Thresholds | None = None, device: Device | None = None,
            convention: str | None = None) -> Analysis:
    """All the passes, in order. With ``device`` (a cnncost.passes.latency.Device), the latency
    estimate too: per layer, rolled up like the counts, and in the totals; with
    ``convention`` (one of cnncost.core.settings.CONVENTIONS), how that tool counts it."""
    if fuse not in FUSE_MODES:
        raise ValueError(f"fuse must be one of {tuple(FUSE_MODES)}, got {fuse!r}")
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {tuple(DTYPES)}, got {dtype!r}")
    if depth < 1:
        raise ValueError(f"depth must be at least 1, got {depth}")
    if convention is not None and convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {CONVENTIONS}, got {convention!r}")
    if isinstance(model, Graph):
        model = Model(model)
    with paused_gc():
        return _run_passes(model, fuse, dtype, depth, thresholds or Thresholds(), device,
                           convention)


def _run_passes(model: Model, fuse: str, dtype: str, depth: int, thresholds: Thresholds,
                device: Device | None, convention: str | None) -> Analysis:
    graph = model.graph
    c = counts(graph, fuse, dtype, device)
    extra = {"latency": c.latency.seconds} if c.latency is not None else None
    costs, host = c.costs, c.host
    kinds = node_kinds(graph)
    depths = fragment_depths(graph)
    elementwise = elementwise_layers(graph)
    network = network_group(graph, costs, host, depths, elementwise, extra)
    groups = rollup(graph, costs, host, [prefixes(node.name) for node in graph.nodes], depths,
                    elementwise, extra)
    return Analysis(
        model=model, graph=graph, fuse=fuse, dtype=dtype, depth=depth, costs=costs, kinds=kinds,
        host=host,
        memory=liveness(graph, host), network=network, groups=groups,
        by_kind=tuple(rollup(graph, costs, host, [(k,) for k in kinds], depths,
                             elementwise, extra).values()),
        thresholds=thresholds,  # guideline findings are per top-level block, whatever depth
        guidelines=evaluate(graph, costs, network, at_depth(graph, groups, 1), thresholds),
        warnings=wiring_warnings(graph), latency=c.latency,
        tally=_tally(model, convention, c.raw, kinds) if convention is not None else None,
    )


def _tally(model: Model, convention: str, raw: tuple[Cost, ...],
           kinds: tuple[str, ...]) -> Tally:
    """How the tool counts the model, from the unfused costs and labels computed here."""
    from cnncost.conventions.tools import tally

    return tally(model, convention, raw, kinds)


def figures(a: Analysis) -> dict[str, Any]:
    """The headline figures by metric name: the JSON ``totals``, what budgets limit."""
    t, net, mem, b = a.totals, a.network, a.memory, a.bytes_per_element
    latency = {"latency": a.latency.total} if a.latency is not None else {}
    return {
        "params": t.params,
        "weights": t.weights,
        "biases": t.biases,
        "norm_params": t.norm_params,
        "buffers": t.buffers,
        "mult_adds": t.mult_adds,
        "flops": t.flops,
        "elementwise_ops": t.elementwise_ops,
        "mem_access": t.mem_access,
        "mem_access_bytes": t.mem_access * b,
        "param_bytes": t.params * b,
        "peak_activation_elements": mem.peak_elements,
        "peak_activation_bytes": mem.peak_elements * b,
        "peak_activation_at": a.graph.nodes[mem.peak_node].name,
        "activation_elements": sum(mem.buffer_elements),
        "layers": net.layers,
        "kernels": net.kernels,
        "fragments": net.fragments,
        "max_parallel_branches": net.branches,
        "elementwise_mem_access": net.elementwise_mem_access,
        "elementwise_mem_access_share": net.elementwise_share,
        **latency,
    }
