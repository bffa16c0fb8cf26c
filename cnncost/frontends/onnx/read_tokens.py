"""Readers of the ONNX ops and patterns of vision transformers' token plumbing: Gather,
Expand, Tile, Where and ReduceMax on activations, and the node patterns PyTorch's exporter
writes for torch.roll (Slice, Slice, Concat per axis), Swin's window partition and reverse
(Reshape, Transpose, Reshape), its relative position bias (a Gather of the table, Reshape,
Transpose, Unsqueeze, then Add) and ViT's class token (Expand of the token, Concat).

A Gather, Expand or Where whose inputs are all constants is folded by the core (FOLDABLE);
only those on activations reach the readers here."""

from __future__ import annotations

import math
from typing import Any

from cnncost.core.errors import RuleError
from cnncost.core.ir import Shape
from cnncost.frontends.builder import make_op
from cnncost.frontends.onnx.reading import (Reader, axis_index, handles, node_attrs, pattern,
                                           reader_of, reduced_axes)
from cnncost.ops.tokens import WINDOW_PERM


@handles("Gather")
def _gather(r: Reader, node: Any) -> None:
    """Elements of an activation picked by constant indices (x[:, 0], qkv[0])."""
    indices = r.const(node.input[1])
    if indices is None:
        raise RuleError("its indices are computed by the network; cnncost reads a Gather by "
                        "constant indices", hint="an embedding lookup has no cnncost op yet")
    shape = r.shape(node.input[0])
    axis = axis_index(node_attrs(node).get("axis", 0), len(shape))
    picked = {"indices": list(indices.shape)} if indices.ndim else {}
    r.add(node, make_op("gather", axis=axis, **picked), [r.activation(node.input[0])])


@handles("Expand")
def _expand(r: Reader, node: Any) -> None:
    target = [int(d) for d in r.operand(node, 1, "shape")]
    op = make_op("expand", shape=target)
    shape = r.shape(node.input[0])
    if op.infer((shape,)) == shape:
        r.alias(node.output[0], node.input[0])  # nothing to broadcast
        return
    r.add(node, op, [r.activation(node.input[0])])


@handles("Tile")
def _tile(r: Reader, node: Any) -> None:
    repeats = [int(d) for d in r.operand(node, 1, "repeats")]
    if all(d == 1 for d in repeats):
        r.alias(node.output[0], node.input[0])
        return
    r.add(node, make_op("tile", repeats=repeats), [r.activation(node.input[0])])


@handles("Where")
def _where(r: Reader, node: Any) -> None:
    constants = [i for i in node.input if i not in r.nodes and r.const(i) is not None]
    if constants:
        raise RuleError(f"a Where with {len(constants)} constant operand(s) has no cnncost "
                        f"op yet (cnncost's where selects between activations)")
    r.add(node, make_op("where"), [r.activation(i) for i in node.input])


@handles("ReduceMax")
def _reduce_max(r: Reader, node: Any) -> None:
    """ReduceMax, its axes an attribute (up to opset 17) or an input (from 18)."""
    rank = len(r.shape(node.input[0]))
    r.add(node, make_op("reduce_max", axes=reduced_axes(r, node, rank),
                        keepdims=bool(node_attrs(node).get("keepdims", 1))),
          [r.activation(node.input[0])])


# -- patterns of several nodes ---------------------------------------------------------------

def _reshaped(shape: Shape, given: Any) -> list[int]:
    """The shape a Reshape to ``given`` makes of ``shape`` (a 0 copies the input's size, one
    -1 takes the rest)."""
    target = [shape[i] if d == 0 and i < len(shape) else int(d) for i, d in enumerate(given)]
    if -1 in target:
        known = math.prod(d for d in target if d != -1)
        target = [math.prod(shape) // known if d == -1 else d for d in target]
    return target


def _reshape_to(r: Reader, node: Any, shape: Shape) -> list[int] | None:
    """What the Reshape ``node`` makes of a tensor of ``shape``; None if not a Reshape by a
    constant shape."""
    if node is None or node.op_type != "Reshape":
        return None
    given = r.const(node.input[1], ahead=True)
    return None if given is None else _reshaped(shape, given)


def _window_transpose(r: Reader, tensor: str) -> Any | None:
    """The Transpose (0, 1, 3, 2, 4, 5) that alone reads ``tensor``, and the Reshape that
    alone reads its output: (transpose, reshape), or None."""
    turn = reader_of(r, tensor, "Transpose")
    if turn is None or tuple(node_attrs(turn).get("perm", ())) != WINDOW_PERM:
        return None
    back = reader_of(r, turn.output[0], "Reshape")
    return (turn, back) if back is not None else None


@pattern("Reshape")
def _window_pattern(r: Reader, node: Any) -> bool:
    """Reshape, Transpose (0, 1, 3, 2, 4, 5), Reshape: Swin's window partition, (N, H, W, C)
    -> (N, H/w, w, W/w, w, C) -> (N * H/w * W/w, w*w, C), or its reverse."""
    x = node.input[0]
    if x not in r.nodes:
        return False
    shape = r.shape(x)
    grid = _reshape_to(r, node, shape)
    found = _window_transpose(r, node.output[0]) if grid and len(grid) == 6 else None
    if found is None:
        return False
    turn, back = found
    final = _reshape_to(r, back, tuple(grid[p] for p in WINDOW_PERM))
    n, c = grid[0], grid[5]
    if len(shape) == 4 and grid[2] == grid[4] and \
            grid == [n, shape[1] // grid[2], grid[2], shape[2] // grid[4], grid[4], c] and \
            (n, c) == (shape[0], shape[3]) and final == [n * grid[1] * grid[3], grid[2] ** 2, c]:
        op = make_op("window_partition", window=grid[2])
    elif len(shape) == 3 and grid[3] == grid[4] and grid[3] ** 2 == shape[1] and \
            n * grid[1] * grid[2] == shape[0] and c == shape[2] and \
            final == [n, grid[1] * grid[3], grid[2] * grid[4], c]:
        op = make_op("window_reverse", window=grid[3], height=final[1], width=final[2])
    else:
        return False
    r.done.update({id(turn), id(back)})
    r.add(node, op, [r.activation(x)], output=back.output[0])
    return True


def _slice_bounds(r: Reader, node: Any, size_of: Any) -> tuple[int, int, int, int] | None:
    """(start, stop, axis, start as written) of a one-axis, step-1 Slice with constant
    bounds (opset 10 and newer), its bounds clamped into the axis; None otherwise."""
    if node is None or node.op_type != "Slice" or len(node.input) < 4:
        return None
    values = [r.const(i, ahead=True) if i else None for i in node.input[1:5]]
    steps = values[3] if len(values) > 3 and node.input[4] else None
    if any(v is None or v.size != 1 for v in values[:3]) or \
            (steps is not None and steps.reshape(-1).tolist() != [1]):
        return None
    start, end, axis = (int(v.reshape(-1)[0]) for v in values[:3])
    size = size_of(axis)
    return (min(max(start + size if start < 0 else start, 0), size),
            min(max(end + size if end < 0 else end, 0), size), axis, start)


def _one_roll(r: Reader, node: Any, shape: Shape) -> tuple[Any, Any, int, int] | None:
    """The axis of torch.roll that the Slice ``node`` belongs to, as PyTorch exports it:
    Slice [size - s, end) and Slice [0, size - s) of one tensor, each read only by a Concat
    of the two on that axis. (the other Slice, the Concat, the shift s, the axis), or None."""
    concat = r.only_reader(node.output[0])
    if concat is None or concat.op_type != "Concat" or len(concat.input) != 2:
        return None
    tail, head = (r.producer.get(i) for i in concat.input)
    other = head if node is tail else tail
    if node not in (tail, head) or other is None or r.only_reader(other.output[0]) is not concat \
            or tail.input[0] != head.input[0]:
        return None
    rank = len(shape)

    def size_of(axis: int) -> int:
        return shape[axis_index(axis, rank)]

    first, second = _slice_bounds(r, tail, size_of), _slice_bounds(r, head, size_of)
    if first is None or second is None:
        return None
    axis = axis_index(first[2], rank)
    size, cut = shape[axis], first[0]
    if axis_index(second[2], rank) != axis or first[1] != size or second[:2] != (0, cut) or \
            not 0 < cut < size or axis_index(node_attrs(concat).get("axis", 0), rank) != axis:
        return None
    # PyTorch writes the tail's start as -shift: a shift back (negative) starts it at -shift > 0
    return other, concat, size - cut if first[3] < 0 else -cut, axis


@pattern("Slice")
def _roll(r: Reader, node: Any) -> bool:
    """torch.roll along one axis or several, read as one roll: each axis's two Slices and
    Concat, the next axis reading the Concat."""
    x = node.input[0]
    if x not in r.nodes:
        return False
    shape = r.shape(x)
    found = _one_roll(r, node, shape)
    shifts: list[int] = []
    axes: list[int] = []
    used: list[Any] = []
    while found is not None:
        other, concat, shift, axis = found
        shifts.append(shift)
        axes.append(axis)
        used += [other, concat]
        following = r.readers.get(concat.output[0], [])
        found = None
        if len(following) == 2 and concat.output[0] not in r.outputs:
            after = _one_roll(r, following[0], shape)
            if after is not None and after[0] is following[1] and after[3] not in axes:
                used.append(following[0])
                found = after
    if not shifts:
        return False
    r.done.update(id(n) for n in used)
    r.add(node, make_op("roll", shifts=shifts, axes=axes), [r.activation(x)],
          output=used[-1].output[0])
    return True


@pattern("Concat")
def _class_token(r: Reader, node: Any) -> bool:
    """Concat of a constant token (1 or N, 1, C) (an initializer, or its Expand to the batch,
    folded) before tokens (N, L, C) on axis 1: ViT's class token."""
    if len(node.input) != 2 or node.input[1] not in r.nodes or node.input[0] in r.nodes:
        return False
    token = r.const(node.input[0])
    shape = r.shape(node.input[1])
    if token is None or len(shape) != 3 or \
            axis_index(node_attrs(node).get("axis", 0), 3) != 1 or \
            tuple(token.shape) not in ((1, 1, shape[2]), (shape[0], 1, shape[2])):
        return False
    r.add(node, make_op("class_token"), [r.activation(node.input[1])])
    return True


_BIAS_STEPS = ("Unsqueeze", "Transpose", "Reshape")  # from the Add back to the Gather


@pattern("Add")
def _rel_pos_bias(r: Reader, node: Any) -> bool:
    """Add of attention logits (M, heads, w*w, w*w) and a constant computed as Gather of a
    table ((2w - 1)^2, heads) by a constant index, Reshape, Transpose, Unsqueeze: Swin's
    relative position bias (the constant chain is folded; its table is the parameters)."""
    if len(node.input) != 2 or node.input[0] not in r.nodes or node.input[1] in r.nodes:
        return False
    shape = r.shape(node.input[0])
    step = r.producer.get(node.input[1])
    for op_type in _BIAS_STEPS:
        if step is None or step.op_type != op_type or (
                op_type == "Transpose" and list(node_attrs(step).get("perm", [])) != [2, 0, 1]):
            return False
        step = r.producer.get(step.input[0])
    if step is None or step.op_type != "Gather" or len(shape) != 4:
        return False
    table = r.dims(step.input[0])
    window = math.isqrt(shape[2])
    if table is None or window * window != shape[2] or shape[2] != shape[3] or \
            table != ((2 * window - 1) ** 2, shape[1]):
        return False
    r.add(node, make_op("rel_pos_bias", window=window, heads=shape[1]),
          [r.activation(node.input[0])])
    return True
