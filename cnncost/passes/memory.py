"""Activation memory: a liveness pass over the topological order.

Each kernel writes a new buffer; views (split, slice, flatten, dropout, identity) and fused
ops reuse their input's buffer. A buffer is live from the node that creates it to the last
node that reads it or any view of it; the network's outputs stay live to the end. The
peak is the largest sum of live buffers while some node runs (its inputs and its output
both live), the usual model of an inference runtime without in-place ops.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from cnncost.core.ir import Graph, numel
from cnncost.ops.base import VIEW


@dataclass(frozen=True, slots=True)
class Memory:
    peak_elements: int
    peak_node: int  # the node running at the peak
    live_at_peak: tuple[int, ...]  # nodes whose buffers are live then
    buffer_elements: tuple[int, ...]  # per node: elements of the buffer it creates (0 if none)


def buffer_owners(graph: Graph, host: tuple[int, ...]) -> tuple[int, ...]:
    owner = [0] * len(graph.nodes)
    for index, node in enumerate(graph.nodes):
        aliases = node.op.family == VIEW or host[index] != index
        owner[index] = owner[node.inputs[0]] if aliases and node.inputs else index
    return tuple(owner)


def schedule(graph: Graph, host: tuple[int, ...]) -> tuple[tuple[int, ...], list[list[int]],
                                                          list[int]]:
    """Which nodes create a buffer (their indices), the buffers freed after each node runs,
    and each buffer's last use: the liveness of the graph, whatever the tensors' sizes."""
    count = len(graph.nodes)
    owner = buffer_owners(graph, host)
    creators = tuple(i for i in range(count) if owner[i] == i)
    last_use = list(range(count))
    for index, node in enumerate(graph.nodes):
        buffer = owner[index]
        last_use[buffer] = max(last_use[buffer], index)
        for source in node.inputs:
            last_use[owner[source]] = max(last_use[owner[source]], index)
    for out in graph.outputs:
        last_use[owner[out]] = count
    frees: list[list[int]] = [[] for _ in range(count + 1)]
    for index in creators:
        frees[last_use[index]].append(index)
    return creators, frees, last_use


def live_totals(graph: Graph, host: tuple[int, ...],
                size: Callable[[int], Any]) -> Iterator[tuple[int, Any]]:
    """The elements live just after each buffer is created: (its node, the total), in order.
    ``size(node)`` is the buffer's elements (in a sweep, one value per configuration); the
    largest total is the peak, which can only be reached when a buffer is created."""
    creators, frees, _ = schedule(graph, host)
    created = set(creators)
    held: dict[int, Any] = {}
    live: Any = 0
    for index in range(len(graph.nodes)):
        if index in created:
            held[index] = size(index)
            live = live + held[index]
            yield index, live
        for buffer in frees[index]:
            live = live - held.pop(buffer)


def liveness(graph: Graph, host: tuple[int, ...]) -> Memory:
    count = len(graph.nodes)
    creators, _, last_use = schedule(graph, host)
    size = [0] * count
    for index in creators:
        size[index] = numel(graph.nodes[index].shape)
    peak = peak_node = 0
    for index, live in live_totals(graph, host, size.__getitem__):
        if live > peak:
            peak, peak_node = live, index
    live_at_peak = tuple(i for i in range(peak_node + 1)
                         if size[i] and last_use[i] >= peak_node)
    return Memory(peak, peak_node, live_at_peak, tuple(size))
