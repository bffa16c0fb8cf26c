"""Readers of the multi-node ONNX forms of attention, group norm and instance norm, as
cnncost.ops writes them (``to_onnx``) and as PyTorch exports them at opset 17:

- attention: Transpose of k (the last two axes swapped), MatMul of q by it, Mul by a scalar
  (the scale), an optional Add (a bias or mask), Softmax over the last axis, MatMul by v;
- group_norm: Reshape to (N, groups, -1), InstanceNormalization, Reshape back to the input's
  shape, then (when affine) Mul by gamma and Add of beta of shape (C, 1, ...);
- instance_norm: InstanceNormalization alone (a scale of ones and a bias of zeros, as PyTorch
  writes a layer without them, read as not affine).
"""

from __future__ import annotations

from typing import Any

from cnncost.core.errors import RuleError
from cnncost.core.ir import numel
from cnncost.frontends.builder import make_op
from cnncost.frontends.onnx.reading import (Reader, axis_index, handles, node_attrs,
                                           other_input, pattern, per_channel, reader_of,
                                           scalar_value)


# -- attention -------------------------------------------------------------------------------

@pattern("Transpose")
def _attention(r: Reader, node: Any) -> bool:
    """Transpose(k), MatMul(q, k^T), Mul(scale), [Add(bias)], Softmax(-1), MatMul(., v)."""
    rank = len(r.shape(node.input[0]))
    perm = list(node_attrs(node).get("perm", ()))
    if rank < 3 or perm != [*range(rank - 2), rank - 1, rank - 2]:
        return False
    product = reader_of(r, node.output[0], "MatMul")
    if product is None or product.input[1] != node.output[0]:
        return False
    scale = reader_of(r, product.output[0], "Mul")
    if scale is None or scalar_value(r, other_input(scale, product.output[0])) is None:
        return False
    logits, bias = scale, None
    added = reader_of(r, scale.output[0], "Add")
    if added is not None:
        bias, logits = other_input(added, scale.output[0]), added
        if bias not in r.nodes:
            return False  # a constant mask: its parts are read as they are
    softmax = reader_of(r, logits.output[0], "Softmax")
    if softmax is None or \
            axis_index(node_attrs(softmax).get("axis", -1), rank) != rank - 1:
        return False
    weighted = reader_of(r, softmax.output[0], "MatMul")
    if weighted is None or weighted.input[0] != softmax.output[0] or \
            product.input[0] not in r.nodes or weighted.input[1] not in r.nodes:
        return False
    inputs = [product.input[0], node.input[0], weighted.input[1], *([bias] if bias else [])]
    r.done.update(id(n) for n in (product, scale, softmax, weighted, added) if n is not None)
    r.add(node, make_op("attention"), [r.activation(i) for i in inputs],
          output=weighted.output[0], label="attention")
    return True


# -- group norm and instance norm ------------------------------------------------------------

@pattern("Reshape")
def _group_norm(r: Reader, node: Any) -> bool:
    """Reshape (N, groups, -1), InstanceNormalization, Reshape back, [Mul gamma, Add beta]."""
    x = node.input[0]
    if x not in r.nodes:
        return False
    shape = r.shape(x)
    target = r.const(node.input[1], ahead=True)
    norm = reader_of(r, node.output[0], "InstanceNormalization")
    if len(shape) < 3 or target is None or len(target) != 3 or norm is None:
        return False
    groups = int(target[1])
    back = reader_of(r, norm.output[0], "Reshape")
    restored = r.const(back.input[1], ahead=True) if back is not None else None
    if groups < 1 or shape[1] % groups or restored is None or \
            [int(d) for d in restored] != list(shape):
        return False
    per_channel(r, norm.input[1:3], (groups,), "groups")
    scale = reader_of(r, back.output[0], "Mul")
    shift = reader_of(r, scale.output[0], "Add") if scale is not None else None
    per = (shape[1], *(1,) * (len(shape) - 2))
    affine = shift is not None and all(
        r.dims(other_input(n, n_in)) == per for n, n_in in
        ((scale, back.output[0]), (shift, scale.output[0])))
    last = shift if affine else back
    r.done.update(id(n) for n in (norm, back, *((scale, shift) if affine else ())))
    r.add(node, make_op("group_norm", groups=groups, affine=affine), [r.activation(x)],
          output=last.output[0], label="group_norm")
    return True


@handles("InstanceNormalization")
def _instance_norm(r: Reader, node: Any) -> None:
    """instance_norm; not affine when its scale is all ones and its bias all zeros."""
    shape = r.shape(node.input[0])
    if len(shape) < 3:
        raise RuleError(f"InstanceNormalization of a {len(shape)}-D tensor; it needs (N, C, "
                        f"...)")
    per_channel(r, node.input[1:3], shape[1:2], "channels")
    scale, bias = (r.const(name) for name in node.input[1:3])
    plain = scale is not None and bias is not None and numel(scale.shape) == shape[1] and \
        bool((scale == 1).all()) and bool((bias == 0).all())
    r.add(node, make_op("instance_norm", affine=not plain), [r.activation(node.input[0])])


# -- the activations whose ONNX form stopped being one-to-one (issue 19) ---------------------

@handles("Softmax")
def _softmax(r: Reader, node: Any) -> None:
    """softmax along the node's axis (ONNX's default: 1 before opset 13, -1 from it). Before
    opset 13 Softmax normalises the axis and every one after it together: read only where
    those after it are of size 1."""
    shape = r.shape(node.input[0])
    axis = int(node_attrs(node).get("axis", -1 if r.opset >= 13 else 1))
    index = axis_index(axis, len(shape))
    if r.opset < 13 and numel(shape[index + 1:]) > 1:
        raise RuleError(f"Softmax (opset {r.opset}) normalises axes {index} to "
                        f"{len(shape) - 1} together; cnncost's softmax normalises one")
    r.add(node, make_op("softmax", axis=axis if axis < 0 else index),
          [r.activation(node.input[0])])


@handles("Gelu")
def _gelu(r: Reader, node: Any) -> None:
    """ONNX Gelu (opset 20): its approximate attribute, none or tanh."""
    approximate = node_attrs(node).get("approximate", b"none")
    approximate = approximate.decode() if isinstance(approximate, bytes) else approximate
    if approximate not in ("none", "tanh"):
        raise RuleError(f"Gelu approximate={approximate!r} is not none or tanh")
    r.add(node, make_op("gelu", approximate=approximate), [r.activation(node.input[0])])
