"""Readers of what PyTorch's exporters write for Swin V2's attention (torchvision's
ShiftedWindowAttentionV2): its continuous position bias and its cosine attention.

- The continuous position bias: an MLP (Linear(2, hidden), ReLU, Linear(hidden, heads)) on
  the constant table of a window's relative coordinates, Reshape (-1, heads), Gather (the
  new exporter: GatherND) by the relative index, Reshape, Transpose (2, 0, 1), Unsqueeze,
  Sigmoid, Mul 16, then Add to the attention logits: one cpb_bias. The legacy exporter writes
  the first layer (MatMul of the table by the weight, Add of the bias); the new one folds the
  table's product by the weight into one constant, leaving the Add of the bias. The MLP runs
  on constants, before the logits exist: its first node (that MatMul, or the ReLU of the
  folded constant) is read ahead, up to the Add, which is read as the cpb_bias on the logits
  when the walk reaches it.
- F.normalize (ReduceL2 over one axis, Clip to eps, Expand to the input's shape, Div): one
  l2_normalize.

The logit scale (a learned (heads, 1, 1) parameter, clamped and exponentiated) is computed
before the network runs: folded (the new exporter folds it itself), then its Mul into the
logits is a learned constant (cnncost.frontends.onnx.read_cnn), of heads parameters."""

from __future__ import annotations

import math
from typing import Any

from cnncost.frontends.builder import make_op
from cnncost.frontends.onnx.reading import (Reader, axis_index, node_attrs, other_input,
                                           pattern, reader_of, scalar_value)
from cnncost.ops.tokens import CPB_COORDINATES, CPB_SCALE, relative_index

# what follows the MLP's ReLU, each node alone reading the one before
_CPB_STEPS = ("MatMul", "Reshape", "Gather", "Reshape", "Transpose", "Unsqueeze", "Sigmoid",
              "Mul", "Add")
_SAME = {"Gather": ("GatherND",)}  # the new exporter's gather by (w^4, 1) indices


# -- the continuous position bias -----------------------------------------------------------

@pattern("MatMul", "Relu")
def _cpb_mlp(r: Reader, node: Any) -> bool:
    """The first node of the MLP on constants: the legacy exporter's MatMul of the table by
    the first weight (then Add of its bias, Relu), or the Relu of the new exporter's folded
    first layer. The rest of the chain is marked read; its Add, reached later, is the op."""
    if any(i in r.nodes for i in node.input if i):
        return False  # on activations: not the MLP on constants
    first = _first_layer(r, node)
    if first is None:
        return False
    nodes, relu, positions, hidden = first
    found = _after_relu(r, relu, positions, hidden)
    if found is None:
        return False
    chain, add, op = found
    r.done.update(id(n) for n in (*nodes, *chain) if n is not node)
    r.ahead[add.output[0]] = op
    return True


def _first_layer(r: Reader, node: Any) -> tuple[list[Any], Any, int, int] | None:
    """(the nodes of the first layer and its ReLU, the ReLU, the positions, the hidden
    width): MatMul(table (..., 2), W (2, hidden)), Add of b (hidden,), Relu; or Relu of a
    constant (..., hidden) that is the Add of a constant and b (hidden,), folded."""
    if node.op_type == "Relu":
        add = r.producer.get(node.input[0])
        folded = r.dims(node.input[0])
        if add is None or add.op_type != "Add" or not folded:
            return None
        hidden = folded[-1]
        return ([node], node, math.prod(folded[:-1]), hidden) if _bias_of(r, add, hidden) \
            else None
    table, weight = (r.dims(i) for i in node.input[:2])
    if table is None or weight is None or len(weight) != 2 or \
            weight[0] != CPB_COORDINATES or table[-1] != CPB_COORDINATES:
        return None
    add = reader_of(r, node.output[0], "Add")
    relu = add and reader_of(r, add.output[0], "Relu")
    if not relu or not _bias_of(r, add, weight[1]):
        return None
    return [node, add, relu], relu, math.prod(table[:-1]), weight[1]


def _bias_of(r: Reader, add: Any, hidden: int) -> bool:
    """Whether one input of ``add`` is a constant bias of ``hidden`` values."""
    return any(i not in r.nodes and r.dims(i) == (hidden,) for i in add.input)


def _after_relu(r: Reader, relu: Any, positions: int, hidden: int
                ) -> tuple[list[Any], Any, Any] | None:
    """The nodes from the second layer to the Add to the logits (_CPB_STEPS, each alone
    reading the one before; the Gather, or GatherND, by Swin's relative index of a w x w
    window), checked against the first layer's (2w - 1)^2 positions: (the nodes before the
    Add, the Add, the cpb_bias), or None."""
    import numpy as np

    chain, tensor = [], relu.output[0]
    for op_type in _CPB_STEPS:
        step = r.only_reader(tensor)
        if step is None or step.op_type not in {op_type, *_SAME.get(op_type, ())}:
            return None
        chain.append(step)
        tensor = step.output[0]
    second, _, gather, _, turn, _, _, scale, add = chain
    weight = r.dims(second.input[1]) if second.input[0] == relu.output[0] else None
    index = r.const(gather.input[1])
    if weight is None or len(weight) != 2 or weight[0] != hidden or index is None or \
            list(node_attrs(turn).get("perm", ())) != [2, 0, 1] or \
            scalar_value(r, other_input(scale, chain[6].output[0])) != CPB_SCALE:
        return None
    window = math.isqrt(math.isqrt(index.size))
    along = node_attrs(gather).get("axis" if gather.op_type == "Gather" else "batch_dims", 0)
    if positions != (2 * window - 1) ** 2 or along != 0 or \
            not np.array_equal(index.reshape(-1), relative_index(window)):
        return None
    return chain[:-1], add, make_op("cpb_bias", window=window, heads=weight[1], hidden=hidden)


@pattern("Add")
def _cpb_add(r: Reader, node: Any) -> bool:
    """The Add of the position bias an MLP read ahead (_cpb_mlp) to the logits."""
    op = r.ahead.pop(node.output[0], None)
    if op is None:
        return False
    logits = [i for i in node.input if i in r.nodes]
    if len(logits) != 1:
        return False
    r.add(node, op, [r.activation(logits[0])], label="cpb_bias")
    return True


# -- F.normalize -----------------------------------------------------------------------------

@pattern("ReduceL2")
def _l2_normalize(r: Reader, node: Any) -> bool:
    """ReduceL2 of x over one axis (keepdims), Clip(min eps), [Expand to x's shape], Div of x
    by it: x / max(||x||, eps), F.normalize."""
    x = node.input[0]
    if x not in r.nodes:
        return False
    shape = r.shape(x)
    given = r.operand(node, 1, "axes")
    axes = node_attrs(node).get("axes", []) if given is None else given
    clip = reader_of(r, node.output[0], "Clip")
    if len(axes) != 1 or not node_attrs(node).get("keepdims", 1) or clip is None or \
            len(clip.input) < 2 or scalar_value(r, clip.input[1]) is None or \
            (len(clip.input) > 2 and clip.input[2]):
        return False
    spread = reader_of(r, clip.output[0], "Expand")
    if spread is not None:
        target = r.const(spread.input[1], ahead=True)
        if target is None or [int(d) for d in target] != list(shape):
            return False
    divide = reader_of(r, (spread or clip).output[0], "Div")
    if divide is None or divide.input[0] != x:
        return False
    axis = axis_index(axes[0], len(shape))
    r.done.update(id(n) for n in (clip, spread, divide) if n is not None)
    r.add(node, make_op("l2_normalize", axis=axis - len(shape)), [r.activation(x)],
          output=divide.output[0], label="l2_normalize")
    return True
