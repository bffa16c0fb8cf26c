"""Wiring checks: layers whose output nothing uses.

A layer that no other layer reads and that is not an output of the network usually means a
mis-wired ``inputs:`` (a branch joined to the wrong layer): its cost is still counted, so the
figures are inflated without a sign. The analysis reports such layers as warnings.
"""

from __future__ import annotations

from cnncost.core.ir import Graph


def unused_layers(graph: Graph) -> tuple[int, ...]:
    """Nodes (the input excepted) that nothing reads and that are not outputs."""
    read = {source for node in graph.nodes for source in node.inputs}
    read.update(graph.outputs)
    return tuple(i for i in range(1, len(graph.nodes)) if i not in read)


def wiring_warnings(graph: Graph) -> tuple[str, ...]:
    unused = unused_layers(graph)
    if not unused:
        return ()
    names = [graph.nodes[i].name for i in unused]
    listed = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    where = graph.nodes[unused[0]].loc
    at = f" ({where})" if where else ""
    return (f"warning: {len(names)} layer(s) feed nothing and are not outputs, yet are counted: "
            f"{listed}{at}; check inputs: and outputs:",)
