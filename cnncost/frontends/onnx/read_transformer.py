"""Readers of what PyTorch's exporters write for transformers and modern CNNs (ConvNeXt, Swin,
ViT, MaxViT): GELU written out with Erf or Tanh, layer norm written out (ReduceMean, Sub, Pow,
ReduceMean, Add, Sqrt, Div, Mul, Add), the relative position bias and the attention mask added
to attention logits, and Gather of an activation by its own order (a view).

Each pattern is read from its first node (``pattern``) and marks the rest of its nodes done;
a node that is not the start of a pattern goes to its op's reader."""

from __future__ import annotations

import math
from typing import Any

from cnncost.core.ir import Shape
from cnncost.frontends.builder import make_op
from cnncost.frontends.onnx.reading import (FOLDABLE, Reader, axis_index, node_attrs,
                                           other_input, pattern, reader_of, reduced_axes,
                                           scalar_value)

ELEMENTWISE = {"Add", "Sub", "Mul", "Div", "Pow", "Sqrt", "Erf", "Tanh"}
MAX_ISLAND = 16  # nodes of one written-out activation (GELU's tanh form has 9)
SAMPLE = (-3.0, -1.5, -0.5, -0.1, 0.0, 0.2, 0.7, 1.3, 2.9)  # where a written-out GELU is checked


# -- GELU written out: x * 0.5 * (1 + erf(x / sqrt 2)), or the tanh form, in any order ---------

@pattern("Div", "Mul", "Pow")
def _gelu(r: Reader, node: Any) -> bool:
    """The element-wise nodes computed from one activation x alone (and scalar constants),
    whose one result leaves them, read as gelu when they compute GELU: checked by computing
    them on sample values, so that every order an exporter writes them in is read."""
    for x in node.input:
        if x not in r.nodes:
            continue
        island = _island(r, x)
        if island is None or node not in island or not {n.op_type for n in island} & {"Erf",
                                                                                       "Tanh"}:
            continue
        approximate = _gelu_kind(r, x, island)
        if approximate is None:
            continue
        last = island[-1]
        r.done.update(id(n) for n in island if n is not node)
        r.add(last, make_op("gelu", approximate=approximate), [r.activation(x)],
              output=last.output[0], label="gelu")
        return True
    return False


def _island(r: Reader, x: str) -> list[Any] | None:
    """The element-wise nodes not read yet that compute from ``x``, scalar constants and each
    other alone, in an order that computes each after its inputs, when exactly one of them,
    the last, is read from outside (its result); None otherwise."""
    inside = {x}
    island: list[Any] = []
    waiting = list(r.readers.get(x, ()))
    seen: set[int] = set()
    looked = 0  # bounded, so that a tensor read by many nodes costs no quadratic time
    while waiting and len(island) <= MAX_ISLAND and looked < 4 * MAX_ISLAND:
        n = waiting.pop(0)
        looked += 1
        if id(n) in seen or n.op_type not in ELEMENTWISE or id(n) in r.done or \
                n.output[0] in r.nodes:
            continue
        if not all(i in inside or scalar_value(r, i) is not None for i in n.input):
            continue  # another input may join the island later: seen again from it
        seen.add(id(n))
        island.append(n)
        inside.add(n.output[0])
        waiting += r.readers.get(n.output[0], ())
    if not island or len(island) > MAX_ISLAND:
        return None
    leaving = [n for n in island if n.output[0] in r.outputs or any(
        id(reader) not in seen for reader in r.readers.get(n.output[0], ()))]
    return island if leaving == [island[-1]] else None


def _gelu_kind(r: Reader, x: str, island: list[Any]) -> str | None:
    """"none" or "tanh" when ``island`` computes that GELU of ``x`` (to 1e-5), else None."""
    import numpy as np

    values = {x: np.array(SAMPLE)}
    try:
        with np.errstate(all="raise"):
            for n in island:
                args = [values[i] if i in values else np.array(scalar_value(r, i))
                        for i in n.input]
                values[n.output[0]] = _compute(n.op_type, args)
    except (ArithmeticError, ValueError):
        return None
    got, sample = values[island[-1].output[0]], np.array(SAMPLE)
    erf = np.vectorize(math.erf)
    exact = 0.5 * sample * (1 + erf(sample / math.sqrt(2.0)))
    tanh = 0.5 * sample * (1 + np.tanh(math.sqrt(2 / math.pi) * (sample + 0.044715 * sample**3)))
    kinds = {n.op_type for n in island}
    if "Erf" in kinds and np.allclose(got, exact, atol=1e-5):
        return "none"
    if "Tanh" in kinds and np.allclose(got, tanh, atol=1e-5):
        return "tanh"
    return None


def _compute(op: str, args: list[Any]) -> Any:
    import numpy as np

    if op == "Erf":
        return np.vectorize(math.erf)(args[0])
    if op == "Tanh":
        return np.tanh(args[0])
    return FOLDABLE[op]({}, *args)[0]


# -- layer norm written out ---------------------------------------------------------------------

@pattern("ReduceMean")
def _layer_norm(r: Reader, node: Any) -> bool:
    """mean = ReduceMean(x); d = x - mean; var = ReduceMean(d^2); d / Sqrt(var + eps), then
    optionally * gamma + beta (gamma before or after the division): one layer_norm over the
    last axis, or over the channels of a map (axis 1)."""
    x = node.input[0]
    if x not in r.nodes:
        return False
    shape = r.shape(x)
    axes = reduced_axes(r, node, len(shape))
    axis = ("last" if axes == [len(shape) - 1] else
            "channels" if axes == [1] and len(shape) >= 3 else None)
    if axis is None or not node_attrs(node).get("keepdims", 1):
        return False
    sub = reader_of(r, node.output[0], "Sub")
    if sub is None or list(sub.input) != [x, node.output[0]]:
        return False
    d = sub.output[0]
    square = next((n for n in r.readers.get(d, ()) if _is_square(r, n, d)), None)
    mean2 = square and reader_of(r, square.output[0], "ReduceMean")
    if mean2 is None or reduced_axes(r, mean2, len(shape)) != axes:
        return False
    eps = reader_of(r, mean2.output[0], "Add")
    root = eps and scalar_value(r, other_input(eps, mean2.output[0])) is not None and \
        reader_of(r, eps.output[0], "Sqrt")
    if not root:
        return False
    tail = _norm_tail(r, d, square, root.output[0], shape[1 if axis == "channels" else -1])
    if tail is None:
        return False
    nodes, affine = tail
    last = nodes[-1]
    r.done.update(id(n) for n in (sub, square, mean2, eps, root, *nodes))
    r.add(last, make_op("layer_norm", axis=axis, affine=affine), [r.activation(x)],
          output=last.output[0], label="layer_norm")
    return True


def _norm_tail(r: Reader, d: str, square: Any, root: str, size: int
               ) -> tuple[list[Any], bool] | None:
    """The chain after the centred x ``d``: the Div by the root, and a Mul by gamma and an Add
    of beta (both or neither: cnncost's layer_norm has both or neither), in the orders
    PyTorch writes; (its nodes, whether it has gamma and beta), or None."""
    first = [n for n in r.readers.get(d, ()) if n is not square]
    if len(first) != 1 or d in r.outputs:
        return None
    chain, current, tensor = [], first[0], d
    while current is not None and len(chain) < 3:
        role = _tail_role(r, current, tensor, root, size)
        if role is None or role in [c[0] for c in chain]:
            break
        chain.append((role, current))
        tensor = current.output[0]
        current = r.only_reader(tensor)
    roles = [role for role, _ in chain]
    if "div" not in roles:
        return None
    if roles[:3] in (["div", "gamma", "beta"], ["gamma", "div", "beta"]):
        return [n for _, n in chain[:3]], True
    if roles[0] == "div":
        return [chain[0][1]], False
    return None


def _tail_role(r: Reader, node: Any, tensor: str, root: str, size: int) -> str | None:
    other = other_input(node, tensor)
    if node.op_type == "Div" and node.input[0] == tensor and other == root:
        return "div"
    dims = r.dims(other) if other and other not in r.nodes else None
    if dims is None or math.prod(dims) != size:
        return None
    return {"Mul": "gamma", "Add": "beta"}.get(node.op_type)


def _is_square(r: Reader, node: Any, d: str) -> bool:
    if node.op_type == "Mul":
        return list(node.input) == [d, d]
    return node.op_type == "Pow" and node.input[0] == d and scalar_value(r, node.input[1]) == 2.0


# -- constants added to attention logits: the relative position bias, the attention mask ------

@pattern("Add")
def _logits_bias(r: Reader, node: Any) -> bool:
    """An Add of a constant to attention logits (a tensor that reaches a Softmax over its last
    axis through Reshapes and Adds): of shape (1, heads, w*w, w*w), Swin's and MaxViT's
    relative position bias (the exporters fold the gather from its learned table, of
    (2w - 1)^2 x heads values: rel_pos_bias counts the table; MaxViT's logits have one more
    leading dimension, its windows); of any other shape, a mask
    (Swin's shifted windows), a constant that is not a parameter."""
    live = [i for i in node.input if i in r.nodes]
    const = [i for i in node.input if i not in r.nodes]
    if len(live) != 1 or len(const) != 1 or not _reaches_softmax(r, node.output[0]):
        return False
    value = r.const(const[0])
    dims = tuple(value.shape) if value is not None else None
    if dims is None:
        return False
    logits = r.shape(live[0])
    heads, tokens = logits[-3:-1] if len(logits) >= 4 else (0, 0)
    window = math.isqrt(tokens)
    if len(logits) >= 4 and tuple(d for d in dims[:-3] if d != 1) == () and \
            dims[-3:] == (heads, tokens, tokens) and logits[-1] == tokens and \
            window * window == tokens:
        _rel_pos_bias(r, node, live[0], logits, window)
        return True
    r.add(node, make_op("const", fn="add", shape=list(dims) or [1], learned=False),
          [r.activation(live[0])], label="mask")
    return True


def _rel_pos_bias(r: Reader, node: Any, x: str, logits: Shape, window: int) -> None:
    """rel_pos_bias on logits (M, heads, w*w, w*w); on logits with more leading dimensions
    (MaxViT's (N, windows, heads, w*w, w*w)), between two reshapes (views) to that and back."""
    source = r.activation(x)
    if len(logits) > 4:
        source = r.builder.add(r.name(node, "view"), make_op(
            "reshape", shape=[math.prod(logits[:-3]), *logits[-3:]]), [source],
            r.loc(node.name or node.op_type))
    biased = r.builder.add(r.name(node, "rel_pos_bias"), make_op(
        "rel_pos_bias", window=window, heads=logits[-3]), [source],
        r.loc(node.name or node.op_type))
    if len(logits) > 4:
        biased = r.builder.add(r.name(node, "view"), make_op("reshape", shape=list(logits)),
                               [biased], r.loc(node.name or node.op_type))
    r.nodes[node.output[0]] = biased


def _reaches_softmax(r: Reader, tensor: str) -> bool:
    """Whether ``tensor`` goes on (through at most 3 Reshapes or Adds) to a Softmax over the
    last axis, alone: attention logits."""
    for _ in range(4):
        node = r.only_reader(tensor)
        if node is None or node.op_type not in ("Reshape", "Add", "Softmax"):
            return False
        if node.op_type == "Softmax":
            return int(node_attrs(node).get("axis", -1 if r.opset >= 13 else 1)) == -1
        tensor = node.output[0]
    return False


# -- Gather of an activation by its own order: a view (the new exporter's as_strided) ---------

@pattern("Gather")
def _gather_in_order(r: Reader, node: Any) -> bool:
    """Gather whose constant indices are 0, 1, ... n - 1 (the whole axis, in order), in any
    shape: the same elements in another shape, a reshape (a view)."""
    import numpy as np

    if node.input[0] not in r.nodes:
        return False
    indices = r.const(node.input[1])
    shape = r.shape(node.input[0])
    if indices is None or indices.size < 2:
        return False
    axis = axis_index(node_attrs(node).get("axis", 0), len(shape))
    if indices.size != shape[axis] or not np.array_equal(indices.reshape(-1),
                                                         np.arange(indices.size)):
        return False
    out = (*shape[:axis], *indices.shape, *shape[axis + 1:])
    if out == shape:
        r.alias(node.output[0], node.input[0])
    else:
        r.add(node, make_op("reshape", shape=list(out)), [r.activation(node.input[0])])
    return True
