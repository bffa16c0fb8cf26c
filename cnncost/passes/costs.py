"""Per-node costs, straight from each op's cost rule (every op is its own kernel)."""

from __future__ import annotations

from cnncost.core.ir import Cost, Graph


def node_costs(graph: Graph) -> tuple[Cost, ...]:
    return graph.node_costs()


def node_kinds(graph: Graph) -> tuple[str, ...]:
    """The roll-up label of each node: ``conv2d 1x1``, ``conv2d depthwise 3x3``, ``relu``..."""
    return tuple(node.op.kind(graph.in_shapes(i)) for i, node in enumerate(graph.nodes))
