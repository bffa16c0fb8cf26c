"""Ops of vision transformers that move tokens: Swin's window partition and reverse and its
relative position bias, ViT's class token.

Each is written to ONNX as PyTorch's exporter writes torchvision's code for it (a few nodes),
and the ONNX importer reads that pattern back as the op (cnncost.frontends.onnx.read_tokens).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cnncost.core.errors import RuleError
from cnncost.core.ir import Cost, Shape, numel
from cnncost.ops.base import (DATA, ELEMENTWISE, INT, LINEAR, Op, attr, fmt_shape, io_cost,
                              positive, register)
from cnncost.ops.counting import (ACTIVATIONS, ATEN_NOT_COUNTED, BIASES, PRODUCTS, Item, Site,
                                  TorchCalls, counts, no_tool_counts, not_counted_by,
                                  ptflops_no_hook, thop_not_a_module)

# The perm of the (N, H/w, w, W/w, w, C) <-> (N, H/w, W/w, w, w, C) transpose, both ways.
WINDOW_PERM = (0, 1, 3, 2, 4, 5)


def _not_a_leaf(owner: str, what: str) -> Any:
    """torchinfo sums the MACs of leaf modules only; ``what`` belongs to ``owner``, which has
    children."""
    return not_counted_by("torchinfo", f"{what} belongs to {owner}, which has child modules: "
                          f"only leaf layers' MACs are summed",
                          "torchinfo/model_statistics.py ModelStatistics, "
                          "torchinfo/layer_info.py LayerInfo.calculate_macs")


def _windows(height: Any, width: Any, window: int) -> Any:
    """How many windows of w x w an H x W map holds; RuleError unless w divides both."""
    if height % window or width % window:
        raise RuleError(f"window={window} must divide the height {height} and the width "
                        f"{width}", hint="torchvision's Swin pads the map to a multiple of the "
                                         "window first (a pad op)", key="window")
    return (height // window) * (width // window)


def _window_onnx(w: Any, grid: list[Any], out: list[Any]) -> None:
    """Reshape to the 6-D ``grid``, Transpose WINDOW_PERM, Reshape to ``out``, as PyTorch
    exports x.view(...).permute(0, 1, 3, 2, 4, 5).reshape(...)."""
    six = w.step("Reshape", [w.inputs[0], w.ints("shape", grid)], "view")
    turned = w.step("Transpose", [six], "permute", perm=list(WINDOW_PERM))
    w.emit("Reshape", [turned, w.ints("shape", out)])


_WINDOW_COUNTING = no_tool_counts("x.view, x.permute, x.reshape",
                                  "aten::view, aten::permute, aten::reshape", ignored=True,
                                  thop=thop_not_a_module("x.view, x.permute, x.reshape"))


@register("window_partition")
@dataclass(frozen=True, slots=True)
class WindowPartition(Op):
    """Swin's window partition: a channels-last map (N, H, W, C) cut into windows of
    w x w tokens, (N * H/w * W/w, w*w, C); a copy (a transpose)."""

    family = DATA
    summary = "(N, H, W, C) cut into w x w windows of tokens (a copy)"
    counting = _WINDOW_COUNTING
    window: int = attr(kind=INT, doc="the window's side w, in tokens")

    def __post_init__(self) -> None:
        positive(self.window, "window")

    def infer(self, inputs: tuple[Shape, ...]) -> Shape:
        shape = inputs[0]
        if len(shape) != 4:
            raise RuleError(f"window_partition needs a channels-last map (N, H, W, C); got "
                            f"{fmt_shape(shape)}", hint="a transpose with perm [0, 2, 3, 1] "
                                                        "turns (N, C, H, W) channels last")
        n, h, wd, c = shape
        return (n * _windows(h, wd, self.window), self.window * self.window, c)

    def cost(self, inputs: tuple[Shape, ...], out: Shape) -> Cost:
        return io_cost(inputs, out)

    def to_onnx(self, w: Any) -> None:
        n, h, wd, c = w.in_shapes[0]
        s = self.window
        _window_onnx(w, [n, h // s, s, wd // s, s, c], list(w.out_shape))


@register("window_reverse")
@dataclass(frozen=True, slots=True)
class WindowReverse(Op):
    """Swin's window reverse: windows of w x w tokens (N * H/w * W/w, w*w, C) put back into
    a channels-last map (N, H, W, C); a copy (a transpose)."""

    family = DATA
    summary = "w x w windows of tokens put back into (N, H, W, C) (a copy)"
    counting = _WINDOW_COUNTING
    window: int = attr(kind=INT, doc="the window's side w, in tokens")
    height: int = attr(kind=INT, doc="H, the map's height")
    width: int = attr(kind=INT, doc="W, the map's width")

    def __post_init__(self) -> None:
        for value, key in ((self.window, "window"), (self.height, "height"),
                           (self.width, "width")):
            positive(value, key)

    def infer(self, inputs: tuple[Shape, ...]) -> Shape:
        shape = inputs[0]
        if len(shape) != 3 or shape[1] != self.window * self.window:
            raise RuleError(f"window_reverse needs windows of tokens (N * windows, "
                            f"{self.window * self.window}, C) for window={self.window}; got "
                            f"{fmt_shape(shape)}")
        windows = _windows(self.height, self.width, self.window)
        if shape[0] % windows:
            raise RuleError(f"{shape[0]} windows are not a whole number of {self.height} x "
                            f"{self.width} maps ({windows} windows each)", key="height")
        return (shape[0] // windows, self.height, self.width, shape[2])

    def cost(self, inputs: tuple[Shape, ...], out: Shape) -> Cost:
        return io_cost(inputs, out)

    def to_onnx(self, w: Any) -> None:
        n, h, wd, c = w.out_shape
        s = self.window
        _window_onnx(w, [n, h // s, wd // s, s, s, c], [n, h, wd, c])


def relative_index(window: int) -> list[int]:
    """Swin's relative position index of a w x w window, flattened (w^4 values): for tokens
    i and j at (hi, wi) and (hj, wj), (hi - hj + w - 1) * (2w - 1) + (wi - wj + w - 1), as
    torchvision's define_relative_position_index computes it."""
    coords = [(h, x) for h in range(window) for x in range(window)]
    side = 2 * window - 1
    return [(hi - hj + window - 1) * side + (wi - wj + window - 1)
            for hi, wi in coords for hj, wj in coords]


def window_logits(op: Any, shape: Shape) -> Shape:
    """``shape`` if it is the attention logits (M, heads, w*w, w*w) of ``op``'s windows
    (rel_pos_bias, cpb_bias), else RuleError."""
    tokens = op.window * op.window
    if len(shape) != 4 or shape[1] != op.heads or shape[2] != tokens or shape[3] != tokens:
        raise RuleError(f"{op.op_name} needs attention logits (M, {op.heads}, {tokens}, "
                        f"{tokens}) for heads={op.heads}, window={op.window}; got "
                        f"{fmt_shape(shape)}", hint="it follows the Q.K^T matmul of a "
                                                    "window's attention")
    return shape


def gathered_bias(w: Any, table: str, window: int, heads: int) -> str:
    """The ONNX steps of torchvision's _get_relative_position_bias on a ((2w - 1)^2, heads)
    table: Gather by the relative index, Reshape (w*w, w*w, heads), Transpose (2, 0, 1),
    Unsqueeze 0; the (1, heads, w*w, w*w) bias."""
    tokens = window * window
    picked = w.step("Gather", [table, w.ints("relative_position_index",
                                             relative_index(window))], "gather", axis=0)
    square = w.step("Reshape", [picked, w.ints("shape", [tokens, tokens, heads])], "view")
    heads_first = w.step("Transpose", [square], "permute", perm=[2, 0, 1])
    return w.step("Unsqueeze", [heads_first, w.ints("axes", [0])], "unsqueeze")


@register("rel_pos_bias")
@dataclass(frozen=True, slots=True)
class RelPosBias(Op):
    """Swin's relative position bias, added to the attention logits (M, heads, w*w, w*w): a
    learned table of (2w - 1)^2 entries a head (its parameters), gathered into a w*w x w*w
    bias a head by a constant index. One addition per output element; the gathered bias
    (heads * w^4 elements) is read once."""

    family = ELEMENTWISE
    summary = "Swin's learned relative position bias added to attention logits"
    counting = counts(
        fvcore=not_counted_by("fvcore", "aten::index is in _IGNORED_OPS and aten::add has no "
                              "handle", "fvcore/nn/jit_analysis.py _IGNORED_OPS, "
                              "fvcore/nn/flop_count.py _DEFAULT_SUPPORTED_OPS"),
        ptflops=ptflops_no_hook("table[index] and the + operator"),
        ptflops_aten=ATEN_NOT_COUNTED, thop=thop_not_a_module("table[index] + the + operator"),
        torchinfo=_not_a_leaf("ShiftedWindowAttention", "relative_position_bias_table"))
    window: int = attr(kind=INT, doc="the window's side w, in tokens")
    heads: int = attr(kind=INT, doc="attention heads, one table each")

    def __post_init__(self) -> None:
        positive(self.window, "window")
        positive(self.heads, "heads")

    def infer(self, inputs: tuple[Shape, ...]) -> Shape:
        return window_logits(self, inputs[0])

    def cost(self, inputs: tuple[Shape, ...], out: Shape) -> Cost:
        table = (2 * self.window - 1) ** 2 * self.heads
        gathered = self.heads * self.window ** 4
        return Cost(biases=table, elementwise_ops=numel(out), input_reads=numel(inputs[0]),
                    param_reads=gathered, output_writes=numel(out))

    def to_onnx(self, w: Any) -> None:
        """Gather of the table by the constant index, Reshape (w*w, w*w, heads), Transpose
        (2, 0, 1), Unsqueeze 0, Add: torchvision's _get_relative_position_bias exported."""
        s = self.window
        table = w.weight("relative_position_bias_table", ((2 * s - 1) ** 2, self.heads))
        w.emit("Add", [w.inputs[0], gathered_bias(w, table, s, self.heads)])


# -- Swin V2's continuous position bias ------------------------------------------------------

CPB_COORDINATES = 2  # the MLP's input: a relative position (dy, dx) in the window
CPB_SCALE = 16  # torchvision's 16 * sigmoid(bias)


def _cpb_sizes(op: Any) -> tuple[int, int, int]:
    """(positions, hidden, heads): the (2w - 1)^2 relative positions the MLP runs on, its
    hidden and output widths."""
    return (2 * op.window - 1) ** 2, op.hidden, op.heads


def _cpb_products(s: Site) -> tuple[Item, ...]:
    """The MLP's two linear layers: positions x (2 + heads) x hidden multiply-accumulates."""
    return (Item(PRODUCTS, s.cost.mult_adds, "cpb_mlp's two linear layers"),)


def _cpb_first_bias(s: Site) -> tuple[Item, ...]:
    positions, hidden, _ = _cpb_sizes(s.op)
    return (Item(BIASES, positions * hidden, "cpb_mlp.0's bias: 1 per output element"),)


def _cpb_relu(s: Site) -> tuple[Item, ...]:
    positions, hidden, _ = _cpb_sizes(s.op)
    return (Item(ACTIVATIONS, positions * hidden, "cpb_mlp.1 (ReLU): 1 per element"),)


def _ptflops_cpb(s: Site) -> tuple[Item, ...]:
    """ptflops' hooks on the MLP's modules (ptflops/pytorch_ops.py): linear_flops_counter_hook
    on cpb_mlp.0 and .2, (in x out + out bias) x the positions, and relu_flops_counter_hook
    on cpb_mlp.1, 1 per output element (the hooks' sum is divided by the batch, although the
    MLP runs once a forward)."""
    return (*_cpb_products(s), *_cpb_first_bias(s), *_cpb_relu(s))


def _torchinfo_cpb(s: Site) -> tuple[Item, ...]:
    """torchinfo (torchinfo/layer_info.py LayerInfo.calculate_macs): each leaf nn.Linear's
    weight and bias elements x its output's first dimension, which is 1 here (the MLP runs on
    the table (1, 2w - 1, 2w - 1, 2), not on the batch)."""
    return (Item(PRODUCTS, s.cost.weights, "cpb_mlp's weights x 1 (the table's first "
                                           "dimension)"),
            Item(BIASES, s.cost.biases, "cpb_mlp.0's bias x 1"))


@register("cpb_bias")
@dataclass(frozen=True, slots=True)
class CpbBias(Op):
    """Swin V2's continuous position bias, added to the attention logits (M, heads, w*w, w*w):
    an MLP (Linear(2, hidden), ReLU, Linear(hidden, heads) without bias) on the (2w - 1)^2
    relative coordinates of a window (a constant table), gathered into a w*w x w*w bias a head
    by the relative index, then 16 * sigmoid of it, added.

    Parameters: the MLP's, 2 hidden + hidden (bias) + hidden heads. mult_adds: the MLP's,
    (2w - 1)^2 (2 + heads) hidden, once a forward whatever the batch (it runs on constants).
    Element-wise: the first layer's bias and the ReLU ((2w - 1)^2 hidden each), the sigmoid and
    the scale of the gathered bias (heads w^4 each) and the add (1 per output element).
    Memory access as one kernel: the logits, the table and the weights read once, the output
    written once."""

    family = LINEAR  # it has multiply-adds (its MLP's)
    summary = "Swin V2's continuous position bias (an MLP on relative coordinates) added to " \
              "attention logits"
    # torchvision's ShiftedWindowAttentionV2.get_relative_position_bias: the MLP's modules are
    # nn.Linear, nn.ReLU, nn.Linear (hooked by the tools that hook modules); the gather, the
    # sigmoid, the * 16 and the + are functions or operators no tool counts
    counting = counts(
        fvcore=_cpb_products,  # aten::linear (linear_flop_jit), the bias left out
        ptflops=TorchCalls(PRODUCTS, "cpb_mlp (nn.Linear, nn.ReLU, nn.Linear)", "F.relu",
                           hook=_ptflops_cpb, call=_cpb_relu, module_calls_it=True),
        # backend aten: the first layer's addmm adds its bias per output element, the second
        # is an mm (ptflops/aten_ops.py ATEN_OPS_MAPPING)
        ptflops_aten=lambda s: (*_cpb_products(s), *_cpb_first_bias(s)),
        thop=_cpb_products,  # count_linear: in_features x output elements; nn.ReLU zero_ops
        torchinfo=_torchinfo_cpb)
    window: int = attr(kind=INT, doc="the window's side w, in tokens")
    heads: int = attr(kind=INT, doc="attention heads (the MLP's outputs)")
    hidden: int = attr(512, kind=INT, doc="the MLP's hidden width (torchvision: 512)")

    def __post_init__(self) -> None:
        for name in ("window", "heads", "hidden"):
            positive(getattr(self, name), name)

    def latency_kind(self, in_channels: int) -> str:
        return "linear"  # its MLP's GEMMs

    def infer(self, inputs: tuple[Shape, ...]) -> Shape:
        return window_logits(self, inputs[0])

    def cost(self, inputs: tuple[Shape, ...], out: Shape) -> Cost:
        positions, hidden, heads = _cpb_sizes(self)
        weights = (CPB_COORDINATES + heads) * hidden
        gathered = heads * self.window ** 4
        return Cost(weights=weights, biases=hidden,
                    mult_adds=positions * weights,
                    elementwise_ops=2 * positions * hidden + 2 * gathered + numel(out),
                    input_reads=numel(inputs[0]),
                    param_reads=weights + hidden + CPB_COORDINATES * positions,
                    output_writes=numel(out))

    def to_onnx(self, w: Any) -> None:
        """As PyTorch's exporter writes get_relative_position_bias (opset 17): the table
        (1, 2w - 1, 2w - 1, 2) MatMul the first weight, Add its bias, Relu, MatMul the second,
        Reshape (-1, heads), Gather by the relative index, Reshape (w*w, w*w, heads),
        Transpose (2, 0, 1), Unsqueeze 0, Sigmoid, Mul 16, then Add to the logits. (The
        table is written as a weight: its values change no count.)"""
        side = 2 * self.window - 1
        table = w.weight("relative_coords_table", (1, side, side, CPB_COORDINATES))
        first = w.step("MatMul", [table, w.weight("w1", (CPB_COORDINATES, self.hidden))],
                       "cpb_mlp.0.matmul")
        first = w.step("Add", [w.weight("b1", (self.hidden,)), first], "cpb_mlp.0")
        hidden = w.step("Relu", [first], "cpb_mlp.1")
        table_bias = w.step("MatMul", [hidden, w.weight("w2", (self.hidden, self.heads))],
                            "cpb_mlp.2")
        rows = w.step("Reshape", [table_bias, w.ints("shape", [-1, self.heads])], "rows")
        bias = gathered_bias(w, rows, self.window, self.heads)
        scaled = w.step("Mul", [w.step("Sigmoid", [bias], "sigmoid"),
                                w.scalar("scale", float(CPB_SCALE))], "scale")
        w.emit("Add", [w.inputs[0], scaled])


@register("class_token")
@dataclass(frozen=True, slots=True)
class ClassToken(Op):
    """ViT's class token: a learned token of C values (its parameters) put before the
    tokens, (N, L, C) -> (N, L + 1, C); a copy (a concatenation) that reads the token once."""

    family = DATA
    summary = "a learned token prepended to the tokens (N, L, C) -> (N, L+1, C)"
    counting = counts(
        fvcore=not_counted_by("fvcore", "aten::expand and aten::cat are in _IGNORED_OPS",
                              "fvcore/nn/jit_analysis.py _IGNORED_OPS"),
        ptflops=ptflops_no_hook("class_token.expand, torch.cat"),
        ptflops_aten=ATEN_NOT_COUNTED, thop=thop_not_a_module("torch.cat"),
        torchinfo=_not_a_leaf("VisionTransformer", "class_token"))

    def infer(self, inputs: tuple[Shape, ...]) -> Shape:
        shape = inputs[0]
        if len(shape) != 3:
            raise RuleError(f"class_token needs tokens (N, L, C); got {fmt_shape(shape)}",
                            hint="ViT flattens its patch embedding to (N, L, C) first")
        n, length, c = shape
        return (n, length + 1, c)

    def cost(self, inputs: tuple[Shape, ...], out: Shape) -> Cost:
        c = inputs[0][2]
        return Cost(weights=c, input_reads=numel(inputs[0]), param_reads=c,
                    output_writes=numel(out))

    def to_onnx(self, w: Any) -> None:
        """Expand of the token (1, 1, C) to the batch, then Concat on axis 1, as PyTorch
        exports torch.cat([class_token.expand(n, -1, -1), x], dim=1)."""
        n, _, c = w.in_shapes[0]
        token = w.weight("class_token", (1, 1, c))
        batch = w.step("Expand", [token, w.ints("shape", [n, 1, c])], "expand")
        w.emit("Concat", [batch, w.inputs[0]], axis=1)
