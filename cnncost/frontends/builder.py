"""Graph assembly for every front end: the YAML expander, importers, and code.

``GraphBuilder`` adds a node by op and inputs and infers its shape, or raises a RuleError that
says what is wrong (the caller adds where); ``make_op`` builds an op from its registered name
and attribute values; ``check_graph`` checks a finished graph. The bounds that keep a network
analysable (tensor sizes, node count) live here, once.

    >>> from cnncost.frontends.builder import GraphBuilder, make_op
    >>> b = GraphBuilder("tiny", (1, 3, 32, 32))
    >>> conv = b.add("conv", make_op("conv2d", out_channels=16, kernel=3, stride=2), [0])
    >>> b.shape(conv)
    (1, 16, 16, 16)
    >>> b.add("relu", make_op("relu"), [conv])
    2
    >>> b.graph().outputs
    (2,)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from cnncost.core.errors import RuleError, shown, suggest
from cnncost.core.ir import Graph, Loc, Node, Shape, numel
from cnncost.ops import Input, Op, lookup, op_names

MAX_GRAPH_NODES = 1_000_000
MAX_DIM = 1 << 24
MAX_ELEMENTS = 1 << 44


class GraphTooLarge(RuleError):
    """The graph would pass MAX_GRAPH_NODES: nothing more can be added."""


def check_size(shape: Shape) -> None:
    """A RuleError if a tensor of this shape is beyond what cnncost analyses."""
    # one comparison per size: in a sweep, sizes hold one value per configuration
    if not shape or any(d < 1 for d in shape):
        raise RuleError(f"tensor shape {list(shape)} must have positive sizes")
    if any(d > MAX_DIM for d in shape) or numel(shape) > MAX_ELEMENTS:
        raise RuleError(f"tensor of shape {list(shape)} is too large (limits: {MAX_DIM:,} per "
                        f"dimension, {MAX_ELEMENTS:,} elements)",
                        hint="check the input size, the channel counts and the multipliers")


class GraphBuilder:
    """Nodes in the order they are added (a topological order); node 0 is the input."""

    def __init__(self, name: str, input_shape: Shape, loc: Loc | None = None):
        shape = tuple(input_shape)
        if len(shape) not in (2, 3, 4):
            raise RuleError(f"input shape must be (N, C, H, W), tokens (N, L, C) or "
                            f"(N, features), got {list(shape)}")
        check_size(shape)
        self.name = name
        self.nodes: list[Node] = [Node("input", Input(shape=shape), (), shape, loc)]
        self.names: dict[str, int] = {"input": 0}

    def __len__(self) -> int:
        return len(self.nodes)

    def shape(self, index: int) -> Shape:
        return self.nodes[index].shape

    def index(self, name: str) -> int:
        """The node a name was given to (KeyError if none)."""
        return self.names[name]

    def add(self, name: str, op: Op, inputs: Iterable[int], loc: Loc | None = None) -> int:
        """Add ``op`` reading the nodes ``inputs``; its index. RuleError (key "inputs" when the
        inputs are wrong) if it cannot be added; GraphTooLarge past MAX_GRAPH_NODES."""
        sources = tuple(inputs)
        if len(self.nodes) >= MAX_GRAPH_NODES:
            raise GraphTooLarge(f"the network would have more than {MAX_GRAPH_NODES:,} layers",
                                hint="check repeat counts")
        if name in self.names:
            raise RuleError(f"duplicate layer name '{shown(name)}'", key="name")
        if any(not 0 <= s < len(self.nodes) for s in sources):
            raise RuleError(f"inputs {list(sources)} must be earlier nodes (0 to "
                            f"{len(self.nodes) - 1})", key="inputs")
        low, high = op.min_inputs, op.max_inputs
        if len(sources) < low or (high is not None and len(sources) > high):
            wanted = f"{low}" if low == high else f"at least {low}" if high is None \
                else f"{low} to {high}"
            raise RuleError(f"{op.op_name} takes {wanted} input(s), got {len(sources)}",
                            key="inputs")
        shape = op.infer(tuple(self.nodes[s].shape for s in sources))
        check_size(shape)
        self.nodes.append(Node(name, op, sources, shape, loc))
        self.names[name] = len(self.nodes) - 1
        return len(self.nodes) - 1

    def graph(self, outputs: Iterable[int] | None = None) -> Graph:
        """The finished graph; its outputs default to the last node added."""
        chosen = tuple(outputs) if outputs is not None else (len(self.nodes) - 1,)
        if any(not 0 <= o < len(self.nodes) for o in chosen):
            raise RuleError(f"outputs {list(chosen)} must be nodes of the graph")
        return Graph(name=self.name, nodes=tuple(self.nodes), outputs=chosen)


def _literal(text: str) -> Any:
    raise RuleError(f"{shown(repr(text))} is text; give a number (expressions are for specs)")


def make_op(name: str, **attributes: Any) -> Op:
    """The op registered as ``name`` (or an alias), with attribute values read as a spec
    reads them (``kernel=3`` is (3, 3), ``padding="same"``). RuleError names an unknown op,
    an unknown or missing attribute, or a bad value."""
    from cnncost.ops.attrs import read

    cls = lookup(name)
    if cls is None:
        raise RuleError(f"unknown op '{shown(name)}'", hint=suggest(name, op_names()))
    infos = {info.name: info for info in cls.attributes()}
    values = {}
    for key, raw in attributes.items():
        info = infos.get(key)
        if info is None:
            raise RuleError(f"{cls.op_name} has no attribute '{shown(key)}'",
                            hint=suggest(key, infos), key=key)
        if isinstance(raw, tuple):
            raw = list(raw)
        values[key] = read(info.kind, raw, _literal, info.choices)
    missing = [info.name for info in infos.values() if info.required and info.name not in values]
    if missing:
        raise RuleError(f"{cls.op_name} needs {', '.join(missing)}")
    return cls(**values)


def check_graph(graph: Graph) -> list[str]:
    """What is wrong with a graph built by hand or imported (empty when nothing is): the input
    first, inputs that come earlier, shapes its ops infer, unique names, valid outputs."""
    problems = []
    if not graph.nodes or not isinstance(graph.nodes[0].op, Input):
        return ["node 0 must be the input"]
    names: set[str] = set()
    for index, node in enumerate(graph.nodes):
        if node.name in names:
            problems.append(f"node {index}: duplicate name '{node.name}'")
        names.add(node.name)
        if index == 0:
            continue
        if any(not 0 <= s < index for s in node.inputs):
            problems.append(f"node {index} ({node.name}): inputs {list(node.inputs)} are not "
                            f"earlier nodes")
            continue
        try:
            shape = node.op.infer(graph.in_shapes(index))
        except RuleError as exc:
            problems.append(f"node {index} ({node.name}): {exc.message}")
            continue
        if tuple(shape) != tuple(node.shape):
            problems.append(f"node {index} ({node.name}): shape {list(node.shape)}, but its op "
                            f"gives {list(shape)}")
    if not graph.outputs or any(not 0 <= o < len(graph.nodes) for o in graph.outputs):
        problems.append(f"outputs {list(graph.outputs)} must be nodes of the graph")
    return problems
