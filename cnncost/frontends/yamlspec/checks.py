"""Checks of a spec document that need no values: its keys, its blocks, and every layer list,
used or not, so that a mistake in a block no variant calls is reported too."""

from __future__ import annotations

from typing import Any

from cnncost.core.errors import Problems, shown, suggest
from cnncost.core.ir import Loc
from cnncost.ops import lookup, op_names
from cnncost.frontends.yamlspec.variables import NAME
from cnncost.core.yamldoc import Map, Seq

TOP_KEYS = ("name", "description", "source", "notes", "reference", "variables", "variants",
            "let", "input", "blocks", "layers", "outputs", "budget")
COMMON_LAYER_KEYS = ("name", "inputs", "when", "repeat", "doc")
BLOCK_CALL_KEYS = (*COMMON_LAYER_KEYS, "block", "args")
BLOCK_KEYS = ("doc", "args", "let", "inputs", "layers", "output")
# how the reference PyTorch code computes an op layer: only other tools' conventions read it
TORCH_CALLS = ("module", "functional")


def check_document(doc: Map, problems: Problems) -> str:
    """The top-level keys and texts; the spec's name ("" if it has none)."""
    problems.unknown_keys(doc, TOP_KEYS)
    for key in ("name", "input", "layers"):
        if key not in doc:
            problems.add(f"missing '{key}'", doc.loc, "a spec needs name, input and layers")
    name = doc.get("name", "")
    if not isinstance(name, str) or not name:
        if "name" in doc:
            problems.add("name must be text", doc.where("name"))
        name = ""
    for key in ("description", "source", "notes"):
        if key in doc and not isinstance(doc[key], str):
            problems.add(f"{key} must be text", doc.where(key))
    if "reference" in doc and not isinstance(doc["reference"], Map):
        problems.add("reference must be a mapping (figures the source publishes)",
                     doc.where("reference"))
    return name


def valid_names(names: Any) -> bool:
    return isinstance(names, list) and bool(names) and all(
        isinstance(n, str) and NAME.match(n) for n in names)


def read_blocks(doc: Map, problems: Problems) -> dict[str, Map]:
    """The spec's blocks by name, each checked, and the layers of each."""
    raw = doc.get("blocks")
    blocks: dict[str, Map] = {}
    if raw is None:
        return blocks
    if not isinstance(raw, Map):
        problems.add("blocks must be a mapping of block name: definition", doc.where("blocks"))
        return blocks
    for name, body in raw.items():
        loc = raw.where(name)
        if not isinstance(name, str) or not NAME.match(name):
            problems.add(f"'{shown(name)}' cannot be a block name", loc)
            continue
        if not isinstance(body, Map):
            problems.add(f"block '{name}' must be a mapping with layers", loc)
            continue
        problems.unknown_keys(body, BLOCK_KEYS, f" in block '{name}'")
        if not isinstance(body.get("args", Map()), Map):
            problems.add("args must be a mapping of name: default (null = required)",
                         body.where("args"))
        if not valid_names(body.get("inputs", ["input"])):
            problems.add("inputs of a block is a list of names, e.g. [x, skip]",
                         body.where("inputs"))
        if "output" in body and not isinstance(body["output"], str):
            problems.add("output must be the name of a layer of the block", body.where("output"))
        if "layers" not in body:
            problems.add(f"block '{name}' has no layers", body.loc)
        blocks[name] = body
    for body in blocks.values():
        check_layers(body.get("layers"), body.where("layers"), blocks, problems)
    return blocks


def check_layers(layers: Any, loc: Loc | None, blocks: dict[str, Map],
                 problems: Problems) -> None:
    if layers is None:
        return
    if not isinstance(layers, Seq) or not layers:
        problems.add("layers must be a non-empty list", loc,
                     "each item is a mapping like {op: conv2d, out_channels: 32, kernel: 3}")
        return
    for index, item in enumerate(layers):
        if not isinstance(item, Map):
            problems.add("a layer is a mapping like {op: relu}", layers.where(index))
            continue
        check_layer(item, blocks, problems)


def check_layer(item: Map, blocks: dict[str, Map], problems: Problems) -> None:
    has_op, has_block = "op" in item, "block" in item
    if has_op == has_block:
        problems.add("a layer has exactly one of 'op' or 'block'", item.loc,
                     "op names a primitive (conv2d, relu, ...); block names one of blocks:")
        return
    if "name" in item and (not isinstance(item["name"], str) or not NAME.match(item["name"])):
        problems.add(f"name {shown(repr(item['name']))} is not a valid layer name",
                     item.where("name"),
                     "names are letters, digits, _ and -, starting with a letter; dots "
                     "separate blocks and are added for you")
    if "inputs" in item:
        refs = item["inputs"]
        if not (isinstance(refs, str) or (isinstance(refs, list) and refs and all(
                isinstance(r, str) for r in refs))):
            problems.add("inputs is a layer name or a list of layer names", item.where("inputs"))
    if has_op:
        op = item["op"]
        cls = lookup(op) if isinstance(op, str) else None
        if cls is None:
            problems.add(f"unknown op '{shown(op)}'", item.where("op"),
                         suggest(shown(op), op_names()) + " (cnncost ops lists them)")
            return
        problems.unknown_keys(item, (*COMMON_LAYER_KEYS, "op", "torch_call",
                                     *(a.name for a in cls.attributes())), f" for op {op}")
        if item.get("torch_call", "module") not in TORCH_CALLS:
            problems.add(f"torch_call must be module or functional, got "
                         f"'{shown(item['torch_call'])}'", item.where("torch_call"),
                         "functional: the PyTorch code calls a function (F.relu, torch.add) "
                         "where the default is a module or an operator (cnncost docs "
                         "conventions)")
    else:
        block = item["block"]
        if not isinstance(block, str) or block not in blocks:
            problems.add(f"unknown block '{shown(block)}'", item.where("block"),
                         suggest(shown(block), blocks) if blocks
                         else "this spec defines no blocks")
            return
        problems.unknown_keys(item, BLOCK_CALL_KEYS, f" for a block call ({block})")
