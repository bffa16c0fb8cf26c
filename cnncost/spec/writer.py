"""A model as a readable spec: one line per layer, only the attributes that differ from their
defaults, ``inputs`` only where a layer does not read the one before it (``cnncost import``).
"""

from __future__ import annotations

import re
from typing import Any

from cnncost.errors import Problem, SpecError
from cnncost.model import Model
from cnncost.spec.variables import NAME

_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")


def yaml_scalar(value: Any) -> str:
    """A value as YAML 1.1 reads it back exactly: floats keep a dot (1.0e-05, not 1e-05)."""
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
    if isinstance(value, str) and not _PLAIN.match(value):
        return "'" + value.replace("'", "''") + "'"
    return str(value)


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


def layer_names(model: Model) -> list[str]:
    """A spec name for every node: letters, digits, _ and -, unique."""
    names, seen = [], set()
    for node in model.graph.nodes:
        base = re.sub(r"[^A-Za-z0-9_\-]", "_", node.name).strip("_") or node.op.op_name
        if not NAME.match(base):
            base = "l_" + base
        name, n = base, 1
        while name in seen:
            n += 1
            name = f"{base}_{n}"
        seen.add(name)
        names.append(name)
    return names


def spec_text(model: Model, origin: str = "") -> str:
    """The spec of a model built from any front end; SpecError if an op has no spec form."""
    graph = model.graph
    unsupported = [n.name for n in graph.nodes if n.op.op_name == "unsupported"]
    if unsupported:
        raise SpecError(Problem(f"{len(unsupported)} node(s) of unsupported ops cannot be "
                                f"written as a spec (first: {unsupported[0]})",
                                hint="import needs every op supported; analyze the model "
                                     "with --allow-unknown instead"))
    names = layer_names(model)
    shape = graph.nodes[0].shape
    lines = []
    if origin:
        lines.append(f"# {origin}")
    lines += [f"name: {yaml_scalar(names[0] if not graph.name else graph.name)}",
              f"description: {yaml_scalar(model.description or 'imported by cnncost')}",
              f"input: {{shape: {yaml_scalar(list(shape[1:]))}"
              + (f", batch: {shape[0]}}}" if shape[0] != 1 else "}"),
              "layers:"]
    for index, node in enumerate(graph.nodes[1:], start=1):
        fields = [("name", names[index]), ("op", node.op.op_name), *_attributes(node.op)]
        if node.inputs != (index - 1,):
            sources = [names[i] for i in node.inputs]
            fields.append(("inputs", sources[0] if len(sources) == 1 else sources))
        lines.append("  - {" + ", ".join(f"{k}: {yaml_scalar(v)}" for k, v in fields) + "}")
    if graph.outputs != (len(graph.nodes) - 1,):
        lines.append("outputs: " + yaml_scalar([names[i] for i in graph.outputs]))
    return "\n".join(lines) + "\n"
