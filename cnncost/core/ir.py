"""The layer-graph IR: shapes, source locations, nodes, graphs and per-node costs.

Everything here is a frozen value. A graph is built once by ``cnncost.frontends.yamlspec`` and never
changed afterwards; analysis passes read it and return new data. This module imports
nothing else of ours.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

Shape = tuple[int, ...]
"""A tensor shape with the batch first: (N, C, H, W) for feature maps, (N, F) for vectors."""

_NUMBERS = (int, float, bool)


def is_vector(value: Any) -> bool:
    """Whether ``value`` is a sweep's cnncost.core.vector.Vec, one value per configuration (known
    by a marker, so that nothing here imports numpy; plain numbers answer at once)."""
    return value.__class__ not in _NUMBERS and \
        getattr(value, "__cnncost_vector__", False) is True


def numel(shape: Shape) -> int:
    """Number of elements of a tensor of this shape."""
    total = 1
    for dim in shape:
        total *= dim
    return total


class Loc(NamedTuple):
    """Where something was written: file, 1-based line and column, and its key path.

    A named tuple rather than a dataclass: a spec of 100,000 layers makes half a million of
    them, and tuples are built several times faster.
    """

    file: str
    line: int
    column: int
    path: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


class Node(NamedTuple):
    """One named single-output operation. ``inputs`` index earlier nodes of the graph."""

    name: str
    op: Any  # an op from cnncost.ops: a frozen dataclass with infer() and cost()
    inputs: tuple[int, ...]
    shape: Shape
    loc: Loc | None = None


@dataclass(frozen=True, slots=True)
class Graph:
    """Nodes in topological order (node 0 is the network input) and the output nodes."""

    name: str
    nodes: tuple[Node, ...]
    outputs: tuple[int, ...]

    def in_shapes(self, index: int) -> tuple[Shape, ...]:
        return tuple(self.nodes[i].shape for i in self.nodes[index].inputs)

    def node_costs(self) -> tuple[Cost, ...]:
        """Each node's cost by its op's own rule (every op its own kernel)."""
        return tuple(node.op.cost(self.in_shapes(i), node.shape)
                     for i, node in enumerate(self.nodes))

    def consumers(self) -> tuple[tuple[int, ...], ...]:
        """For every node, the nodes that read its output, in order."""
        users: list[list[int]] = [[] for _ in self.nodes]
        for index, node in enumerate(self.nodes):
            for source in node.inputs:
                users[source].append(index)
        return tuple(tuple(u) for u in users)


class Cost(NamedTuple):
    """What one node costs. Every field is an exact count of elements or operations.

    ``mem_access`` is the ShuffleNet V2 memory access cost: the activation elements the
    op reads, the parameter (and running statistic) elements it reads, and the elements it
    writes. Parameters are ``weights + biases + norm_params``; ``buffers`` (BN running
    statistics) are state, not parameters. (A named tuple: one is made per node, often.)
    """

    weights: int = 0
    biases: int = 0
    norm_params: int = 0
    buffers: int = 0
    mult_adds: int = 0
    elementwise_ops: int = 0
    input_reads: int = 0
    param_reads: int = 0
    output_writes: int = 0

    @property
    def params(self) -> int:
        return self.weights + self.biases + self.norm_params

    @property
    def mem_access(self) -> int:
        return self.input_reads + self.param_reads + self.output_writes

    @property
    def flops(self) -> int:
        return 2 * self.mult_adds


ZERO_COST = Cost()


def total_cost(costs: Iterable[Cost]) -> Cost:
    """Sum of costs, field by field (exact integers)."""
    sums = [sum(column) for column in zip(*costs)]
    return Cost(*sums) if sums else ZERO_COST
