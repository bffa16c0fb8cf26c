"""A model as a readable spec (``cnncost import``): one line per layer, only the attributes that
differ from their defaults, ``inputs`` only where a layer does not read the one before it, and
the blocks its dotted names show (``layer1.0.conv1.conv``: layer ``conv`` of block instance
``conv1`` of ``layer1.l_0`` of ``layer1``), so that roll-ups by block and the guidelines find
the model's blocks.

A dotted prefix becomes a block where the spec format can say it: its layers follow each other
and at most one of them is read from outside (the block's output). Where it cannot (PyTorch's
one ``relu`` module called twice in a ResNet block, around the add), that level is joined into
the layer names (``relu_relu``, ``relu_relu_2``). A name part that is not a spec name is made
one (``0`` -> ``l_0``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from cnncost.core.errors import Problem, SpecError
from cnncost.core.ir import Graph
from cnncost.core.model import Model
from cnncost.frontends.yamlspec.variables import NAME

_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")
_STR_TAG = "tag:yaml.org,2002:str"
_RESOLVER = yaml.resolver.Resolver()
MAX_BLOCK_DEPTH = 30  # the spec format allows 32 levels of block calls


def yaml_scalar(value: Any) -> str:
    """A value as YAML 1.1 reads it back exactly: floats keep a dot (1.0e-05, not 1e-05); text
    that YAML would read as something else (``yes``, ``null``, ``1e3``, ``a: b``) quoted, and
    double-quoted with escapes where it holds a line break or a character YAML refuses."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        text = repr(value)
        if "e" in text and "." not in text.split("e")[0]:
            mantissa, exponent = text.split("e")
            text = f"{mantissa}.0e{exponent}"
        return text
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(yaml_scalar(v) for v in value) + "]"
    if isinstance(value, str):
        if _PLAIN.match(value) and _RESOLVER.resolve(yaml.ScalarNode, value,
                                                     (True, False)) == _STR_TAG:
            return value
        if all(_printable(c) for c in value):
            return "'" + value.replace("'", "''") + "'"
        return '"' + escaped(value.replace("\\", "\\\\").replace('"', '\\"')) + '"'
    return str(value)


def _printable(char: str) -> bool:
    """A character YAML keeps as it is inside quotes on one line: not a control character, a
    line break (NEL, LS, PS), a byte-order mark or a lone surrogate."""
    code = ord(char)
    return (0x20 <= code <= 0x7E or 0xA0 <= code <= 0xD7FF and code not in (0x2028, 0x2029)
            or 0xE000 <= code <= 0xFFFD and code != 0xFEFF or 0x10000 <= code <= 0x10FFFF)


def escaped(text: str) -> str:
    """``text`` on one line: every character YAML would not keep as it is written as an escape
    that a double-quoted YAML scalar reads back (``\\n``, ``\\x1b``, ``\\u2028``)."""
    def escape(char: str) -> str:
        code = ord(char)
        return (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000
                else f"\\U{code:08x}")

    return "".join(c if _printable(c) else escape(c) for c in text)


def _attributes(op: Any) -> list[tuple[str, Any]]:
    """An op's attribute values that differ from the defaults; equal pairs as one number."""
    values = []
    for info in op.attributes():
        value = getattr(op, info.name)
        if not info.required and value == info.default:
            continue
        if isinstance(value, tuple) and len(value) == 2 and value[0] == value[1] and \
                info.kind in ("pair", "padding"):
            value = value[0]
        values.append((info.name, value))
    return values


def _spec_name(part: str, fallback: str) -> str:
    """A name part as a spec name: letters, digits, _ and -, not starting with a digit."""
    name = re.sub(r"[^A-Za-z0-9_\-]", "_", part).strip("_") or fallback
    return name if NAME.match(name) else "l_" + name


def _name_parts(graph: Graph) -> list[list[str]]:
    """Every node's dotted name as spec names, at most MAX_BLOCK_DEPTH blocks deep."""
    result = []
    for node in graph.nodes:
        parts = [_spec_name(p, node.op.op_name) for p in node.name.split(".") if p] or \
            [node.op.op_name]
        if len(parts) > MAX_BLOCK_DEPTH:
            parts[MAX_BLOCK_DEPTH:] = ["_".join(parts[MAX_BLOCK_DEPTH:])]
        result.append(parts)
    return result


@dataclass
class _Block:
    """A block instance (the whole network at the top): its items, each a node index (a
    layer) or a block instance, and the nodes outside it that it reads."""

    members: set[int]
    items: list[int | _Block] = field(default_factory=list)
    inputs: list[int] = field(default_factory=list)
    output: int = 0


def _runs(nodes: list[int], depth: int, parts: list[list[str]]) -> list[tuple[str | None,
                                                                               list[int]]]:
    """Consecutive nodes in the same sub-block (key) or one layer each (None)."""
    runs: list[tuple[str | None, list[int]]] = []
    for index in nodes:
        key = parts[index][depth] if len(parts[index]) > depth + 1 else None
        if key is not None and runs and runs[-1][0] == key:
            runs[-1][1].append(index)
        else:
            runs.append((key, [index]))
    return runs


def _read_outside(members: list[int], readers: list[set[int]]) -> list[int]:
    inside = set(members)
    return [i for i in members if readers[i] - inside]


def _unblockable(runs: list[tuple[str | None, list[int]]], parts: list[list[str]], depth: int,
                 readers: list[set[int]]) -> set[str]:
    """Sub-block keys the spec format cannot say: split in several runs, sharing a layer's
    name, or read from outside at more than one layer."""
    seen: dict[str, int] = {}
    for key, members in runs:
        name = key if key is not None else parts[members[0]][depth]
        seen[name] = seen.get(name, 0) + 1
    return {key for key, members in runs if key is not None and (
        seen[key] > 1 or len(_read_outside(members, readers)) > 1)}


def _block(members: list[int], depth: int, parts: list[list[str]], readers: list[set[int]]
           ) -> _Block:
    while True:
        runs = _runs(members, depth, parts)
        joined = _unblockable(runs, parts, depth, readers)
        if not joined:
            break
        for index in members:  # that level joins the names below it
            name = parts[index]
            if len(name) > depth + 1 and name[depth] in joined:
                name[depth:depth + 2] = [f"{name[depth]}_{name[depth + 1]}"]
    block = _Block(set(members))
    for key, run in runs:
        block.items.append(run[0] if key is None else _block(run, depth + 1, parts, readers))
    outside = _read_outside(members, readers)
    block.output = outside[0] if outside else members[-1]
    return block


def _scope_inputs(block: _Block, graph: Graph) -> list[int]:
    """The nodes outside ``block`` its layers read, in the order they are first read."""
    found: dict[int, None] = {}
    for index in sorted(block.members):
        for source in graph.nodes[index].inputs:
            if source not in block.members:
                found.setdefault(source)
    return list(found)


class _Writer:
    """Block definitions (identical ones written once) and the lines of each item."""

    def __init__(self, graph: Graph, parts: list[list[str]]):
        self.graph = graph
        self.parts = parts
        self.definitions: dict[str, str] = {}  # body -> block name

    def layers(self, block: _Block, depth: int, inputs: dict[int, str]
               ) -> tuple[list[str], dict[int, str]]:
        """The layer lines of a block whose inputs (node -> name in the block) are given, and
        the name that reaches each of its nodes (a block instance's, for the nodes in it)."""
        taken = set(inputs.values())
        local: dict[int, str] = {}  # node -> the name that reaches it in this block
        lines = []
        previous = next(iter(inputs.values()))
        for item in block.items:
            if isinstance(item, _Block):
                name = _unique(self.parts[min(item.members)][depth], taken)
                sources = _scope_inputs(item, self.graph)
                fields: list[tuple[str, Any]] = [("name", name),
                                                 ("block", self.definition(item, depth + 1))]
                local.update({index: name for index in item.members})
            else:
                name = _unique(self.parts[item][depth], taken)
                sources = list(self.graph.nodes[item].inputs)
                fields = [("name", name), ("op", self.graph.nodes[item].op.op_name),
                          *_attributes(self.graph.nodes[item].op)]
                local[item] = name
            refs = [local.get(s) or inputs[s] for s in sources]
            if refs != [previous]:
                fields.append(("inputs", refs[0] if len(refs) == 1 else refs))
            lines.append("{" + ", ".join(f"{k}: {yaml_scalar(v)}" for k, v in fields) + "}")
            previous = name
        return lines, local

    def definition(self, block: _Block, depth: int) -> str:
        """The name of the block definition of an instance, written once per distinct body."""
        sources = _scope_inputs(block, self.graph)
        names = ["input"] + [f"input_{n}" for n in range(2, len(sources) + 1)]
        body, local = self.layers(block, depth, dict(zip(sources, names)))
        head = [f"inputs: {yaml_scalar(names)}"] if len(names) > 1 else []
        last = block.items[-1]
        if block.output not in (last.members if isinstance(last, _Block) else {last}):
            head.append(f"output: {yaml_scalar(local[block.output])}")
        text = "\n".join(head + ["layers:"] + [f"  - {line}" for line in body])
        if text not in self.definitions:
            self.definitions[text] = _unique(self.parts[min(block.members)][depth - 1],
                                             set(self.definitions.values()))
        return self.definitions[text]


def _unique(name: str, taken: set[str]) -> str:
    result, n = name, 1
    while result in taken:
        n += 1
        result = f"{name}_{n}"
    taken.add(result)
    return result


def spec_text(model: Model, origin: str = "") -> str:
    """The spec of a model built from any front end; SpecError if an op has no spec form."""
    graph = model.graph
    unsupported = [n.name for n in graph.nodes if n.op.op_name == "unsupported"]
    if unsupported:
        raise SpecError(Problem(f"{len(unsupported)} node(s) of unsupported ops cannot be "
                                f"written as a spec (first: {unsupported[0]})",
                                hint="import needs every op supported; analyze the model "
                                     "with --allow-unknown instead"))
    parts = _name_parts(graph)
    readers: list[set[int]] = [set() for _ in graph.nodes]
    for index, node in enumerate(graph.nodes):
        for source in node.inputs:
            readers[source].add(index)
    for index in graph.outputs:
        readers[index].add(-1)  # read by whoever runs the network
    top = _block(list(range(1, len(graph.nodes))), 0, parts, readers)
    writer = _Writer(graph, parts)
    layers, local = writer.layers(top, 0, {0: "input"})
    shape = graph.nodes[0].shape
    lines = [f"# {escaped(origin)}"] if origin else []
    lines += [f"name: {yaml_scalar(graph.name or 'imported')}",
              f"description: {yaml_scalar(model.description or 'imported by cnncost')}",
              f"input: {{shape: {yaml_scalar(list(shape[1:]))}"
              + (f", batch: {shape[0]}}}" if shape[0] != 1 else "}")]
    if writer.definitions:
        lines.append("blocks:")
        for text, name in writer.definitions.items():
            lines.append(f"  {yaml_scalar(name)}:")
            lines += [f"    {line}" for line in text.splitlines()]
    lines.append("layers:")
    lines += [f"  - {line}" for line in layers]
    if graph.outputs != (len(graph.nodes) - 1,):
        lines.append("outputs: " + yaml_scalar([local[i] for i in graph.outputs]))
    return "\n".join(lines) + "\n"
