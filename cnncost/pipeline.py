"""``analyze()``: the one place that knows the order of the passes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cnncost.core.gcpause import paused_gc
from cnncost.core.ir import Cost, Graph
from cnncost.core.model import Model
from cnncost.passes.costs import node_costs, node_kinds
from cnncost.core.settings import DTYPES, FUSE_MODES
from cnncost.passes.fuse import fused_costs, fusion_hosts
from cnncost.passes.guidelines import Thresholds, Verdict, evaluate
from cnncost.passes.memory import Memory, liveness
from cnncost.passes.wiring import wiring_warnings
from cnncost.passes.rollup import (Group, at_depth, elementwise_layers, fragment_depths,
                                   network_group, prefixes, rollup)



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
    latency: Any = None  # cnncost.passes.latency.Estimate on the device asked for, or None

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
            thresholds: Thresholds | None = None, device: Any = None) -> Analysis:
    """All the passes, in order. With ``device`` (a cnncost.passes.latency.Device), the latency
    estimate too: per layer, rolled up like the counts, and in the totals."""
    if fuse not in FUSE_MODES:
        raise ValueError(f"fuse must be one of {tuple(FUSE_MODES)}, got {fuse!r}")
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {tuple(DTYPES)}, got {dtype!r}")
    if depth < 1:
        raise ValueError(f"depth must be at least 1, got {depth}")
    if isinstance(model, Graph):
        model = Model(model)
    with paused_gc():
        return _run_passes(model, fuse, dtype, depth, thresholds or Thresholds(), device)


def _run_passes(model: Model, fuse: str, dtype: str, depth: int,
                thresholds: Thresholds, device: Any) -> Analysis:
    graph = model.graph
    raw = node_costs(graph)
    latency = extra = None
    if device is not None:
        from cnncost.passes.latency import estimate

        latency = estimate(graph, device, dtype, raw)
        extra = {"latency": latency.seconds}
    host = fusion_hosts(graph, fuse)
    costs = fused_costs(graph, raw, host)
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
        warnings=wiring_warnings(graph), latency=latency,
    )


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
