"""Ops that move or relabel data: concat, channel split and slice, shuffle, flatten, identity.

Views (split, slice, flatten, dropout at inference, identity) reuse their input's memory:
no kernel, no memory access. Concat and channel shuffle copy: they read and write every
element once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cnncost.core.errors import RuleError
from cnncost.core.ir import Cost, Shape, ZERO_COST, numel
from cnncost.ops.base import (BOOL, CHOICE, DATA, FLOAT, INPUT, INT, PAIR, SHAPE, VIEW, Op, attr,
                              feature_map, fmt_shape, io_cost, positive, register)
from cnncost.ops.counting import (ATEN_NOT_COUNTED, UPSAMPLING, Counting, Item, NotCounted,
                                  Site, TorchCalls, counts, elements_out, no_tool_counts,
                                  not_counted_by, per_element, ptflops_no_hook,
                                  thop_no_rule, thop_not_a_module, thop_zero_rule,
                                  torchinfo_no_weight)
from cnncost.ops.elementwise import broadcast


# -- what the peer tools count for these ops (cnncost.ops.counting) ---------------------------
# Ops that only move data count 0 in every tool: each table says where the tool shows it.

def _moved(code: str, aten: str, *, thop: NotCounted | None = None) -> Counting:
    """An op that moves data, written ``code`` in PyTorch: fvcore ignores ``aten``; thop sees
    no module unless ``thop`` gives its module's rule."""
    return no_tool_counts(code, aten, ignored=True, thop=thop or thop_not_a_module(code))


# fvcore's upsampling handles, per output element (no handle for aten::upsample_bicubic2d)
_FVCORE_UPSAMPLE = {"nearest": (1, "upsample_nearest2d"), "linear": (4, "upsample_bilinear2d"),
                    "cubic": None}


def _fvcore_upsample(s: Site) -> tuple[Item, ...]:
    handle = _FVCORE_UPSAMPLE[s.op.mode]
    if handle is None:
        return ()
    per, aten = handle
    return (Item(UPSAMPLING, per * elements_out(s), f"{per} per output element (aten::{aten})"),)


def _thop_upsample(s: Site) -> tuple[Item, ...]:
    """thop's count_upsample: per output element, nearest 1, bilinear 11, bicubic 259."""
    per = {"nearest": 1, "linear": 11, "cubic": 259}[s.op.mode]
    return (Item(UPSAMPLING, per * elements_out(s), f"{per} per output element ({s.op.mode})"),)


_PER_OUTPUT = per_element(UPSAMPLING, 1, elements_out, "1 per output element")


class View(Op):
    """An op that relabels its input without copying it."""

    __slots__ = ()
    family = VIEW

    def cost(self, inputs: tuple[Shape, ...], out: Shape) -> Cost:
        return ZERO_COST


@register("concat", aliases=("cat",))
@dataclass(frozen=True, slots=True)
class Concat(Op):
    """Join tensors along the channels (dimension 1, or ``axis``); every other dimension must
    match."""

    family = DATA
    summary = "concatenation along channels (a copy)"
    counting = _moved("torch.cat", "aten::cat")
    onnx_op = "Concat"
    onnx_attrs = {"axis": "axis"}
    min_inputs = 1
    max_inputs = None
    axis: int = attr(1, kind=INT, doc="the dimension joined (1: channels)")

    def infer(self, inputs: tuple[Shape, ...]) -> Shape:
        first = inputs[0]
        a = after_batch(self.axis, first)
        for shape in inputs[1:]:
            if len(shape) != len(first) or shape[:a] + shape[a + 1:] != first[:a] + first[a + 1:]:
                shapes = ", ".join(fmt_shape(s) for s in inputs)
                along = "channels" if a == 1 else f"dimension {a}"
                raise RuleError(f"concat needs inputs that differ only in {along}; got {shapes}",
                                hint="branches must end at the same spatial size: check their "
                                     "strides and paddings")
        return (*first[:a], sum(s[a] for s in inputs), *first[a + 1:])

    def cost(self, inputs: tuple[Shape, ...], out: Shape) -> Cost:
        return io_cost(inputs, out)


@register("split", aliases=("chunk",))
@dataclass(frozen=True, slots=True)
class Split(View):
    """One of ``parts`` equal groups of the channels (ShuffleNet V2's channel split), or of
    dimension ``axis`` (x.chunk(3, dim=-1): a transformer's q, k, v); a view."""

    summary = "one of `parts` equal groups along channels or `axis` (a view)"
    counting = _moved("x.chunk, torch.split", "aten::chunk, aten::split")
    index: int = attr(kind=INT, doc="which part, from 0")
    parts: int = attr(2, kind=INT, doc="number of equal parts")
    axis: int = attr(1, kind=INT, doc="the dimension split (1: channels; -1: the last)")

    def __post_init__(self) -> None:
        positive(self.parts, "parts")
        if not 0 <= self.index < self.parts:
            raise RuleError(f"index={self.index} must be in 0..{self.parts - 1}", key="index")

    def infer(self, inputs: tuple[Shape, ...]) -> Shape:
        shape = inputs[0]
        a = after_batch(self.axis, shape)
        if shape[a] % self.parts:
            what = "channels" if a == 1 else f"elements of dimension {a}"
            raise RuleError(f"parts={self.parts} must divide the {shape[a]} {what}",
                            hint="use slice with start and stop for unequal parts", key="parts")
        return (*shape[:a], shape[a] // self.parts, *shape[a + 1:])

    def to_onnx(self, w: Any) -> None:
        a = after_batch(self.axis, w.in_shapes[0])
        size = w.in_shapes[0][a] // self.parts
        write_slice(w, self.index * size, (self.index + 1) * size, a)


def after_batch(axis: int, shape: Shape) -> int:
    """``axis`` of ``shape`` as an index after the batch (a negative one counts from the end);
    RuleError (key axis) otherwise."""
    a = axis + len(shape) if axis < 0 else axis
    if not 0 < a < len(shape):
        raise RuleError(f"axis={axis} must be a dimension of {fmt_shape(shape)} after the "
                        f"batch", key="axis")
    return a


@register("slice")
@dataclass(frozen=True, slots=True)
class Slice(View):
    """Channels start..stop-1 of the input (or of dimension ``axis``); a view."""

    summary = "channels [start, stop) of the input (a view)"
    counting = _moved("x[:, start:stop]", "aten::slice")
    start: int = attr(kind=INT, doc="first channel, from 0")
    stop: int = attr(kind=INT, doc="one past the last channel")
    axis: int = attr(1, kind=INT, doc="the dimension sliced (1: channels)")

    def infer(self, inputs: tuple[Shape, ...]) -> Shape:
        shape = inputs[0]
        a = after_batch(self.axis, shape)
        if not 0 <= self.start < self.stop <= shape[a]:
            what = "channels" if a == 1 else f"elements of dimension {a}"
            raise RuleError(f"slice [{self.start}, {self.stop}) is not inside the "
                            f"{shape[a]} {what}", hint="need 0 <= start < stop <= size")
        return (*shape[:a], self.stop - self.start, *shape[a + 1:])

    def to_onnx(self, w: Any) -> None:
        write_slice(w, self.start, self.stop, self.axis)


def write_slice(w: Any, start: int, stop: int, axis: int) -> None:
    """ONNX Slice of [start, stop) along ``axis``, its bounds as inputs (opset 10 and newer)."""
    w.emit("Slice", [w.inputs[0], w.ints("starts", [start]), w.ints("ends", [stop]),
                     w.ints("axes", [axis])])


@register("channel_shuffle", aliases=("shuffle",))
@dataclass(frozen=True, slots=True)
class ChannelShuffle(Op):
    """ShuffleNet's channel shuffle: reshape (g, C/g), transpose, flatten; one copy."""

    family = DATA
    summary = "channel shuffle across groups (a copy)"
    counting = _moved("x.view, x.transpose, x.contiguous",
                      "aten::view, aten::transpose, aten::contiguous")
    groups: int = attr(kind=INT, doc="number of groups to interleave")

    def __post_init__(self) -> None:
        positive(self.groups, "groups")

    def infer(self, inputs: tuple[Shape, ...]) -> Shape:
        _, c, _, _ = feature_map(inputs[0], "channel_shuffle")
        if c % self.groups:
            raise RuleError(f"groups={self.groups} must divide the {c} channels", key="groups")
        return inputs[0]

    def to_onnx(self, w: Any) -> None:
        """Reshape (N, g, C/g, H, W), Transpose (0, 2, 1, 3, 4), Reshape back, as PyTorch
        writes it (read back as one channel shuffle)."""
        n, c, h, wd = w.in_shapes[0]
        grouped = w.step("Reshape", [w.inputs[0], w.ints("shape", [n, self.groups,
                                                                   c // self.groups, h, wd])],
                         "view")
        turned = w.step("Transpose", [grouped], "transpose", perm=[0, 2, 1, 3, 4])
        w.emit("Reshape", [turned, w.ints("shape", [n, c, h, wd])])

    def cost(self, inputs: tuple[Shape, ...], out: Shape) -> Cost:
        return io_cost(inputs, out)


@register("flatten")
@dataclass(frozen=True, slots=True)
class Flatten(View):
    """(N, C, H, W) -> (N, C*H*W); a view."""

    summary = "(N, C, H, W) -> (N, C*H*W) (a view)"
    counting = no_tool_counts("nn.Flatten, torch.flatten", "aten::flatten", ignored=True)
    onnx_op = "Flatten"
    onnx_fixed = {"axis": 1}

    def infer(self, inputs: tuple[Shape, ...]) -> Shape:
        shape = inputs[0]
        return (shape[0], numel(shape[1:]))


@register("dropout")
@dataclass(frozen=True, slots=True)
class Dropout(View):
    """The identity at inference; kept so specs read like the paper."""

    summary = "identity at inference"
    counting = _moved("nn.Dropout", "aten::dropout", thop=thop_zero_rule("nn.Dropout"))
    onnx_op = "Dropout"  # p only matters in training: not written
    p: float = attr(0.5, kind=FLOAT, doc="drop probability in training (no effect on cost)")

    def __post_init__(self) -> None:
        if not 0.0 <= self.p < 1.0:
            raise RuleError(f"p={self.p} must be in [0, 1)", key="p")

    def infer(self, inputs: tuple[Shape, ...]) -> Shape:
        return inputs[0]


@register("identity", aliases=("stochastic_depth", "drop_path"))
@dataclass(frozen=True, slots=True)
class Identity(View):
    """Passes its input through; useful to name a tensor. Stochastic depth (drop path) is the
    identity at inference: torchvision's StochasticDepth returns its input in eval mode."""

    summary = "passes its input through"
    counting = counts(
        fvcore=not_counted_by("fvcore", "nn.Identity, and torchvision's StochasticDepth in "
                              "eval mode (torchvision/ops/stochastic_depth.py: `if not "
                              "training: return input`), run no aten op: nothing to count",
                              "fvcore/nn/jit_analysis.py"),
        ptflops=ptflops_no_hook("nn.Identity, StochasticDepth"), ptflops_aten=ATEN_NOT_COUNTED,
        thop=thop_no_rule("nn.Identity, StochasticDepth"),
        torchinfo=torchinfo_no_weight("nn.Identity, StochasticDepth"))
    onnx_op = "Identity"

    def infer(self, inputs: tuple[Shape, ...]) -> Shape:
        return inputs[0]


@register("reshape")
@dataclass(frozen=True, slots=True)
class Reshape(View):
    """The same elements with another shape (batch first; one -1 is inferred); a view."""

    summary = "the same elements in another shape (a view)"
    counting = _moved("x.reshape, x.view", "aten::reshape, aten::view")
    shape: tuple[int, ...] = attr(kind=SHAPE,
                                  doc="the new shape, batch first; one -1 is inferred")

    def __post_init__(self) -> None:
        if sum(1 for d in self.shape if d == -1) > 1 or any(
                d < 1 and d != -1 for d in self.shape):
            raise RuleError(f"shape {list(self.shape)} must hold positive sizes and at most "
                            f"one -1", key="shape")

    def infer(self, inputs: tuple[Shape, ...]) -> Shape:
        total, known = numel(inputs[0]), numel(tuple(d for d in self.shape if d != -1))
        if -1 in self.shape:
            if total % known:
                raise RuleError(f"cannot reshape {fmt_shape(inputs[0])} to {list(self.shape)}")
            return tuple(total // known if d == -1 else d for d in self.shape)
        if known != total:
            raise RuleError(f"cannot reshape {fmt_shape(inputs[0])} ({total:,} elements) to "
                            f"{list(self.shape)} ({known:,})", key="shape")
        return tuple(self.shape)

    def to_onnx(self, w: Any) -> None:
        w.emit("Reshape", [w.inputs[0], w.ints("shape", list(w.out_shape))])  # no -1 left


@register("transpose")
@dataclass(frozen=True, slots=True)
class Transpose(Op):
    """Dimensions reordered (``perm``, the batch dimension included); a copy."""

    family = DATA
    summary = "dimensions reordered (a copy)"
    counting = _moved("x.permute", "aten::permute")
    onnx_op = "Transpose"
    onnx_attrs = {"perm": "perm"}
    perm: tuple[int, ...] = attr(kind=SHAPE, doc="the input dimension of each output one")

    def infer(self, inputs: tuple[Shape, ...]) -> Shape:
        shape = inputs[0]
        if sorted(self.perm) != list(range(len(shape))):
            raise RuleError(f"perm {list(self.perm)} is not an order of the {len(shape)} "
                            f"dimensions of {fmt_shape(shape)}", key="perm")
        return tuple(shape[p] for p in self.perm)

    def cost(self, inputs: tuple[Shape, ...], out: Shape) -> Cost:
        return io_cost(inputs, out)


@register("pad")
@dataclass(frozen=True, slots=True)
class Pad(Op):
    """Zeros (or a constant) added around the height and width, of an (N, C, H, W) map or,
    ``channels_last``, of an (N, H, W, C) one (Swin pads its map to whole windows); a copy."""

    family = DATA
    summary = "padding added around the feature map (a copy)"
    counting = _moved("nn.ZeroPad2d, F.pad", "aten::constant_pad_nd",
                      thop=thop_zero_rule("nn.ZeroPad2d"))
    pads: tuple[int, ...] = attr(kind=SHAPE, doc="[top, left, bottom, right] elements added")
    channels_last: bool = attr(False, kind=BOOL,
                               doc="the map is (N, H, W, C): pad its dimensions 1 and 2")

    def __post_init__(self) -> None:
        if len(self.pads) != 4 or min(self.pads) < 0:
            raise RuleError(f"pads must be [top, left, bottom, right] of at least 0, got "
                            f"{list(self.pads)}", key="pads")

    def infer(self, inputs: tuple[Shape, ...]) -> Shape:
        shape = feature_map(inputs[0], "pad")
        top, left, bottom, right = self.pads
        h, w = (1, 2) if self.channels_last else (2, 3)
        out = list(shape)
        out[h] += top + bottom
        out[w] += left + right
        return tuple(out)

    def to_onnx(self, w: Any) -> None:
        """Pad with ONNX's pads (every dimension's starts, then every dimension's ends)."""
        top, left, bottom, right = self.pads
        pads = [0, top, left, 0, 0, bottom, right, 0] if self.channels_last else \
            [0, 0, top, left, 0, 0, bottom, right]
        w.emit("Pad", [w.inputs[0], w.ints("pads", pads)])

    def cost(self, inputs: tuple[Shape, ...], out: Shape) -> Cost:
        return io_cost(inputs, out)


@register("upsample", aliases=("resize",))
@dataclass(frozen=True, slots=True)
class Upsample(Op):
    """Resize of the height and width. Per output element: nearest copies one input element
    (no arithmetic), linear weighs 4 neighbours (4 operations), cubic 16."""

    family = DATA
    summary = "resize of height and width (nearest, linear or cubic)"
    counting = counts(fvcore=_fvcore_upsample,
                      ptflops=TorchCalls(UPSAMPLING, "nn.Upsample", "F.interpolate",
                                         hook=_PER_OUTPUT, call=_PER_OUTPUT,
                                         module_calls_it=True),
                      ptflops_aten=ATEN_NOT_COUNTED, thop=_thop_upsample,
                      torchinfo=torchinfo_no_weight("nn.Upsample"))
    size: tuple[int, int] = attr(kind=PAIR, doc="output size, s or [h, w]")
    mode: str = attr("nearest", kind=CHOICE, choices=("nearest", "linear", "cubic"),
                     doc="interpolation")

    def __post_init__(self) -> None:
        for v in self.size:
            positive(v, "size")

    def infer(self, inputs: tuple[Shape, ...]) -> Shape:
        n, c, _, _ = feature_map(inputs[0], "upsample")
        return (n, c, *self.size)

    def cost(self, inputs: tuple[Shape, ...], out: Shape) -> Cost:
        per = {"nearest": 0, "linear": 4, "cubic": 16}[self.mode]
        return io_cost(inputs, out, elementwise_ops=per * numel(out))

    def to_onnx(self, w: Any) -> None:
        """Resize to the output's sizes (no roi, no scales)."""
        w.emit("Resize", [w.inputs[0], "", "", w.ints("sizes", list(w.out_shape))],
               mode=self.mode)


def dimension(axis: int, shape: Shape, key: str = "axis") -> int:
    """``axis`` of ``shape`` as an index (a negative one counts from the end); RuleError
    naming ``key`` otherwise."""
    a = axis + len(shape) if axis < 0 else axis
    if not 0 <= a < len(shape):
        raise RuleError(f"{key}={axis} is not a dimension of {fmt_shape(shape)}", key=key)
    return a


@register("gather")
@dataclass(frozen=True, slots=True)
class Gather(Op):
    """Elements picked along ``axis`` by a constant index tensor of shape ``indices``:
    out = in[:axis] + indices + in[axis+1:] (a single index, the default, drops the axis:
    ViT's class token x[:, 0]). A copy of the picked elements: it reads them and the indices
    once and writes them."""

    family = DATA
    summary = "elements picked along an axis by constant indices (a copy)"
    counting = counts(
        fvcore=not_counted_by("fvcore", "aten::select and aten::index are in _IGNORED_OPS; "
                              "aten::index_select has no handle",
                              "fvcore/nn/jit_analysis.py _IGNORED_OPS, "
                              "fvcore/nn/flop_count.py _DEFAULT_SUPPORTED_OPS"),
        ptflops=ptflops_no_hook("x[:, index], torch.index_select"),
        ptflops_aten=ATEN_NOT_COUNTED, thop=thop_not_a_module("x[:, index]"),
        torchinfo=torchinfo_no_weight("x[:, index]"))
    axis: int = attr(1, kind=INT, doc="the dimension indexed (negative: from the end)")
    indices: tuple[int, ...] = attr((), kind=SHAPE,
                                    doc="the shape of the index tensor; left out: a single "
                                        "index, the axis disappears")

    def __post_init__(self) -> None:
        for d in self.indices:
            positive(d, "indices")

    def infer(self, inputs: tuple[Shape, ...]) -> Shape:
        shape = inputs[0]
        a = dimension(self.axis, shape)
        out = (*shape[:a], *self.indices, *shape[a + 1:])
        if not out:
            raise RuleError(f"a single index of {fmt_shape(shape)} leaves a scalar",
                            hint="cnncost's tensors have a batch dimension", key="indices")
        return out

    def cost(self, inputs: tuple[Shape, ...], out: Shape) -> Cost:
        return Cost(input_reads=numel(out), param_reads=numel(self.indices),
                    output_writes=numel(out))

    def to_onnx(self, w: Any) -> None:
        """Gather with a constant index initializer of shape ``indices`` (0, 1, 2, ...
        wrapped to the axis's size)."""
        shape = w.in_shapes[0]
        a = dimension(self.axis, shape)
        w.emit("Gather", [w.inputs[0], w.ints("indices", index_values(self.indices,
                                                                     shape[a]))], axis=a)


def index_values(shape: tuple[int, ...], size: int) -> Any:
    """0, 1, 2, ... (wrapped to ``size``) as nested lists of ``shape``; an int for ()."""
    flat = [i % size for i in range(numel(shape))]
    for d in reversed(shape[1:]):
        flat = [flat[i:i + d] for i in range(0, len(flat), d)]
    return flat[0] if not shape else flat


@register("expand")
@dataclass(frozen=True, slots=True)
class Expand(Op):
    """The input broadcast to ``shape`` (ONNX's and NumPy's rules: dimensions aligned from
    the last, each equal or 1); written out, a copy."""

    family = DATA
    summary = "the input broadcast to a shape (a copy)"
    counting = _moved("x.expand", "aten::expand")
    shape: tuple[int, ...] = attr(kind=SHAPE, doc="the target shape, batch first")

    def __post_init__(self) -> None:
        for d in self.shape:
            positive(d, "shape")

    def infer(self, inputs: tuple[Shape, ...]) -> Shape:
        x, target = inputs[0], tuple(self.shape)
        rank = max(len(x), len(target))
        try:
            return broadcast(((1,) * (rank - len(x)) + x,
                              (1,) * (rank - len(target)) + target), "expand")
        except RuleError as exc:
            raise RuleError(f"cannot expand {fmt_shape(x)} to {list(target)}",
                            hint="each dimension must match or be 1 in the input",
                            key="shape") from exc

    def cost(self, inputs: tuple[Shape, ...], out: Shape) -> Cost:
        return io_cost(inputs, out)

    def to_onnx(self, w: Any) -> None:
        w.emit("Expand", [w.inputs[0], w.ints("shape", list(self.shape))])


@register("tile")
@dataclass(frozen=True, slots=True)
class Tile(Op):
    """The input repeated ``repeats`` times along each dimension (x.repeat); a copy."""

    family = DATA
    summary = "the input repeated along each dimension (a copy)"
    counting = no_tool_counts("x.repeat", "aten::repeat", thop=thop_not_a_module("x.repeat"))
    repeats: tuple[int, ...] = attr(kind=SHAPE, doc="copies along each dimension, batch first")

    def __post_init__(self) -> None:
        for d in self.repeats:
            positive(d, "repeats")

    def infer(self, inputs: tuple[Shape, ...]) -> Shape:
        shape = inputs[0]
        if len(self.repeats) != len(shape):
            raise RuleError(f"repeats {list(self.repeats)} needs one count for each of the "
                            f"{len(shape)} dimensions of {fmt_shape(shape)}", key="repeats")
        return tuple(d * r for d, r in zip(shape, self.repeats))

    def cost(self, inputs: tuple[Shape, ...], out: Shape) -> Cost:
        return io_cost(inputs, out)

    def to_onnx(self, w: Any) -> None:
        w.emit("Tile", [w.inputs[0], w.ints("repeats", list(self.repeats))])


ONNX_END = 2**63 - 1  # "to the end" in a Slice's ends, as PyTorch writes it (sys.maxsize)


@register("roll")
@dataclass(frozen=True, slots=True)
class Roll(Op):
    """A cyclic shift by ``shifts`` along ``axes`` (torch.roll: Swin's shifted windows); a
    copy. Exported as PyTorch writes it: per axis, the last ``shift`` elements and the others
    (two Slices), concatenated."""

    family = DATA
    summary = "a cyclic shift along dimensions (a copy)"
    counting = _moved("torch.roll", "aten::roll")
    shifts: tuple[int, ...] = attr(kind=SHAPE, doc="the shift along each axis (negative: back)")
    axes: tuple[int, ...] = attr(kind=SHAPE, doc="the dimensions shifted")

    def __post_init__(self) -> None:
        if len(self.shifts) != len(self.axes):
            raise RuleError(f"{len(self.shifts)} shifts for {len(self.axes)} axes: give one "
                            f"shift an axis", key="shifts")

    def infer(self, inputs: tuple[Shape, ...]) -> Shape:
        shape = inputs[0]
        axes = [dimension(a, shape, "axes") for a in self.axes]
        if len(set(axes)) != len(axes):
            raise RuleError(f"axes {list(self.axes)} name a dimension twice", key="axes")
        return shape

    def cost(self, inputs: tuple[Shape, ...], out: Shape) -> Cost:
        return io_cost(inputs, out)

    def to_onnx(self, w: Any) -> None:
        shape = w.in_shapes[0]
        current = w.inputs[0]
        for number, (shift, axis) in enumerate(zip(self.shifts, self.axes), start=1):
            a = dimension(axis, shape, "axes")
            if not shift % shape[a]:
                w.refuse(f"a shift of {shift} along a dimension of {shape[a]} moves nothing; "
                         f"ONNX's form (two Slices) would have an empty part")
            parts = [w.step("Slice", [current, w.ints("starts", [start]), w.ints("ends", [end]),
                                      w.ints("axes", [a])], f"{number}.{what}")
                     for what, start, end in (("tail", -shift, ONNX_END), ("head", 0, -shift))]
            if number == len(self.shifts):
                w.emit("Concat", parts, axis=a)
            else:
                current = w.step("Concat", parts, f"{number}.concat", axis=a)


@dataclass(frozen=True, slots=True)
class Input(Op):
    """The network input (node 0); not written as a layer but from the spec's ``input``."""

    op_name = "input"
    family = INPUT
    no_onnx = "the network input is the ONNX graph's input, not a node"
    min_inputs = 0
    max_inputs = 0
    shape: tuple[int, ...] = attr(kind=SHAPE,
                                  doc="(N, C, H, W), tokens (N, L, C) or features (N, F)")

    def infer(self, inputs: tuple[Shape, ...]) -> Shape:
        return self.shape

    def cost(self, inputs: tuple[Shape, ...], out: Shape) -> Cost:
        return ZERO_COST
