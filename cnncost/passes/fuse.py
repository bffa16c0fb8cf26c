"""Kernel fusion: which nodes run inside another node's kernel, and what that changes.

``none``: every op is its own kernel, reading its inputs and writing its output (the
ShuffleNet V2 paper's setting). ``bn-act``: as deployed by inference engines, a batch norm
directly after a conv or linear layer is folded into its weights (the conv gains a
per-channel bias), and one activation after it runs in the same kernel. Fusion changes
memory traffic and element-wise work; it never changes mult_adds or the parameter count.
"""

from __future__ import annotations

from cnncost.core.ir import Cost, Graph, numel
from cnncost.ops.base import ACTIVATION, CONV, INPUT, LINEAR, NORM, VIEW

def fusion_hosts(graph: Graph, mode: str) -> tuple[int, ...]:
    """For each node, the node whose kernel computes it: itself, or the conv it joins."""
    host = list(range(len(graph.nodes)))
    if mode == "none":
        return tuple(host)
    if mode != "bn-act":
        raise ValueError(f"unknown fuse mode {mode!r}")
    consumers = graph.consumers()
    outputs = set(graph.outputs)
    has_activation: set[int] = set()
    for index, node in enumerate(graph.nodes):
        family = node.op.family
        if family not in (NORM, ACTIVATION) or len(node.inputs) != 1:
            continue
        source = node.inputs[0]
        if len(consumers[source]) != 1 or source in outputs:
            continue  # the intermediate tensor is needed elsewhere: it must be written
        root = host[source]
        if graph.nodes[root].op.family not in (CONV, LINEAR) or root in has_activation:
            continue
        if family == NORM and root != source:
            continue  # a norm folds only into the conv that directly precedes it
        if family == ACTIVATION:
            has_activation.add(root)
        host[index] = root
    return tuple(host)


def fused_costs(graph: Graph, costs: tuple[Cost, ...], host: tuple[int, ...]) -> tuple[Cost, ...]:
    """Costs with fused nodes' traffic removed and folded norms' bias added to their conv."""
    result = list(costs)
    for index, root in enumerate(host):
        if root == index:
            continue
        node = graph.nodes[index]
        if node.op.family == NORM:
            result[index] = costs[index]._replace(elementwise_ops=0, input_reads=0,
                                    param_reads=0, output_writes=0)
            if not getattr(graph.nodes[root].op, "bias", False):
                conv = result[root]  # folding creates a bias: read once, added per element
                result[root] = conv._replace(param_reads=conv.param_reads + node.shape[1],
                                       elementwise_ops=conv.elementwise_ops + numel(node.shape))
        else:
            result[index] = costs[index]._replace(input_reads=0, output_writes=0)
    return tuple(result)


def is_kernel(graph: Graph, host: tuple[int, ...], index: int) -> bool:
    """Whether the node launches a kernel of its own (not a view, not fused, not the input)."""
    return host[index] == index and graph.nodes[index].op.family not in (VIEW, INPUT)
