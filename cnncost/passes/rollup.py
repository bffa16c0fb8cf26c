"""Roll per-node figures up by block (every dotted-name prefix, at once) or by op kind, with
fragmentation. Besides the exact counts, a roll-up can carry other per-layer columns, such as
a latency in seconds, summed the same way.

Fragments are the ops the ShuffleNet V2 paper counts as fragments: convolutions, linear
layers and pooling. A block's ``width`` is its widest parallel branching: the largest
number of its fragments at the same depth, where a node's depth is the number of fragments
on the longest path from the network input to it. Element-wise layers are those the paper
counts under G4: activations, add, mul, batch norm, LRN, and depthwise convs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cnncost.core.ir import ZERO_COST, Cost, Graph, total_cost
from cnncost.ops.base import CONV, ELEMENTWISE_FAMILIES, FRAGMENT_FAMILIES, INPUT
from cnncost.passes.fuse import is_kernel


@dataclass(frozen=True, slots=True)
class Group:
    key: str
    layers: int
    kernels: int
    fragments: int
    branches: int  # the widest parallel branching: most fragments at one depth
    cost: Cost
    elementwise_mem_access: int  # of element-wise layers, depthwise convs included
    elementwise_work: int  # their operations: element-wise ops + depthwise mult-adds
    extra: tuple[tuple[str, float], ...] = ()  # other per-layer columns, summed

    def column(self, name: str) -> float | None:
        """An extra per-layer column's sum (None when the analysis has no such column)."""
        return dict(self.extra).get(name)

    @property
    def elementwise_share(self) -> float:
        total = self.cost.mem_access
        return self.elementwise_mem_access / total if total else 0.0

    @property
    def elementwise_work_share(self) -> float:
        """Their share of all operations (mult-adds + element-wise ops)."""
        total = self.cost.mult_adds + self.cost.elementwise_ops
        return self.elementwise_work / total if total else 0.0


def is_depthwise(op: Any, in_channels: int) -> bool:
    return op.family == CONV and op.depthwise(in_channels)


def elementwise_layers(graph: Graph) -> tuple[bool, ...]:
    """Per node: counted as element-wise (G4), depthwise convs included."""
    return tuple(node.op.family in ELEMENTWISE_FAMILIES or (
        node.op.family == CONV and is_depthwise(node.op, graph.nodes[node.inputs[0]].shape[1]))
        for node in graph.nodes)


def prefixes(name: str) -> list[str]:
    """``a.b.c`` -> [a, a.b, a.b.c]: every block a layer belongs to, and the layer itself."""
    parts = name.split(".")
    return [".".join(parts[:depth]) for depth in range(1, len(parts) + 1)]


def block_key(name: str, depth: int) -> str:
    return ".".join(name.split(".")[:depth])


def fragment_depths(graph: Graph) -> tuple[int, ...]:
    depth = [0] * len(graph.nodes)
    for index, node in enumerate(graph.nodes):
        before = max((depth[s] for s in node.inputs), default=0)
        depth[index] = before + (1 if node.op.family in FRAGMENT_FAMILIES else 0)
    return tuple(depth)


def rollup(graph: Graph, costs: tuple[Cost, ...], host: tuple[int, ...],
           keys: Sequence[Iterable[str]], depths: Sequence[int], elementwise: Sequence[bool],
           extra: Mapping[str, Sequence[float]] | None = None) -> dict[str, Group]:
    """One Group per key, in order of first appearance: ``keys[i]`` are the keys node i rolls
    up under (its op kind; or every prefix of its name). ``depths`` are the fragment depths,
    ``elementwise`` flags the element-wise layers, ``extra`` other per-node columns to sum.
    The input node is left out."""
    members: dict[str, list[int]] = {}
    for index, node in enumerate(graph.nodes):
        if node.op.family != INPUT:
            for key in keys[index]:
                members.setdefault(key, []).append(index)
    columns = dict(extra or {})
    groups = {}
    for name, indices in members.items():
        fragments = [i for i in indices if graph.nodes[i].op.family in FRAGMENT_FAMILIES]
        widths = Counter(depths[i] for i in fragments)
        groups[name] = Group(
            key=name,
            layers=len(indices),
            kernels=sum(1 for i in indices if is_kernel(graph, host, i)),
            fragments=len(fragments),
            branches=max(widths.values(), default=0),
            cost=total_cost(costs[i] for i in indices),
            elementwise_mem_access=sum(costs[i].mem_access for i in indices if elementwise[i]),
            elementwise_work=sum(costs[i].elementwise_ops + costs[i].mult_adds
                                 for i in indices if elementwise[i]),
            extra=tuple((column, sum(map(values.__getitem__, indices)))
                        for column, values in columns.items()),
        )
    return groups


def at_depth(graph: Graph, groups: Mapping[str, Group], depth: int) -> tuple[Group, ...]:
    """The blocks ``depth`` parts deep (a layer with a shorter name is its own block), in
    order of appearance: a view of the roll-up by every prefix, computed once."""
    seen: dict[str, Group] = {}
    for node in graph.nodes[1:]:
        key = block_key(node.name, depth)
        if key not in seen and key in groups:
            seen[key] = groups[key]
    return tuple(seen.values())


def network_group(graph: Graph, costs: tuple[Cost, ...], host: tuple[int, ...],
                  depths: Sequence[int], elementwise: Sequence[bool],
                  extra: Mapping[str, Sequence[float]] | None = None) -> Group:
    """The whole network as one group (its branching is the widest anywhere)."""
    name = graph.name or "network"
    groups = rollup(graph, costs, host, [(name,)] * len(graph.nodes), depths, elementwise,
                    extra)
    return groups.get(name, Group(name, 0, 0, 0, 0, ZERO_COST, 0, 0))
