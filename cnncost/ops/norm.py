"""Normalisation: batch norm, layer norm and local response norm."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cnncost.core.errors import RuleError
from cnncost.core.ir import Cost, Shape, numel
from cnncost.ops.base import (BOOL, CHOICE, ELEMENTWISE, FLOAT, INT, NORM, Op, attr, fmt_shape,
                              io_cost, positive, register)
from cnncost.ops.counting import NORM as NORMALISATION
from cnncost.ops.counting import (ATEN_NOT_COUNTED, Counting, Item, Rule, Site, TorchCalls,
                                  counts, elements_in, fvcore_no_handle, no_tool_counts,
                                  thop_no_rule, thop_not_a_module, torchinfo_no_weight)


# -- what the peer tools count for these ops (cnncost.ops.counting) ---------------------------

def _per_element(per_affine: int, per_plain: int, why: str = ""):
    """A norm at ``per_affine`` per input element, ``per_plain`` without gamma and beta."""
    def rule(s: Site) -> tuple[Item, ...]:
        per = per_affine if s.op.affine else per_plain
        text = why.format(affine=", affine" if s.op.affine else "")
        return (Item(NORMALISATION, per * elements_in(s), f"{per} per element{text}"),)
    return rule


def _torchinfo_affine(per: str):
    """torchinfo: gamma and beta (``per``: how many), once a sample; nothing without them."""
    def rule(s: Site) -> tuple[Item, ...]:
        return (Item(NORMALISATION, s.cost.norm_params * s.batch,
                     f"gamma and beta ({per}) x batch"),) if s.op.affine else ()
    return rule


def _ptflops_lrn(s: Site) -> tuple[Item, ...]:
    """F.local_response_norm's own calls, module or function: x.mul(x), an average over
    channels of the padded squares, .mul(alpha), .add(k), all patched (the power and the
    division are not)."""
    channels = s.inputs[0][1]
    padded = elements_in(s) // channels * (channels + s.op.size - 1)
    return (Item(NORMALISATION, 3 * elements_in(s) + padded,
                 "F.local_response_norm's mul, mul, add (3 per element) and its channel "
                 "average (1 per padded input element)"),)


@register("batchnorm", aliases=("bn",))
@dataclass(frozen=True, slots=True)
class BatchNorm(Op):
    """Inference-time batch norm over channels (dimension 1).

    Parameters: gamma and beta (2 per channel, when affine). Buffers: the running mean and
    variance (2 per channel). At inference it is a per-channel scale and shift: 2 element-wise
    operations per element, reading the input, gamma, beta, mean and variance.
    """

    family = NORM
    summary = "batch normalisation (inference: per-channel scale and shift)"
    counting = counts(
        fvcore=_per_element(2, 1, " (aten::batch_norm, eval{affine})"),
        ptflops=TorchCalls(NORMALISATION, "nn.BatchNorm2d", "F.batch_norm",
                           hook=_per_element(2, 1)),
        ptflops_aten=ATEN_NOT_COUNTED, thop=_per_element(4, 2),
        torchinfo=_torchinfo_affine("2 per channel"))

    affine: bool = attr(True, kind=BOOL, doc="learned gamma and beta (2 parameters per channel)")

    def infer(self, inputs: tuple[Shape, ...]) -> Shape:
        shape = inputs[0]
        if len(shape) < 2:
            raise RuleError(f"batchnorm needs a channel dimension; got {fmt_shape(shape)}")
        return shape

    def cost(self, inputs: tuple[Shape, ...], out: Shape) -> Cost:
        channels = out[1]
        norm_params = 2 * channels if self.affine else 0
        buffers = 2 * channels
        elements = numel(out)
        return Cost(norm_params=norm_params, buffers=buffers,
                    elementwise_ops=2 * elements,
                    input_reads=elements, param_reads=norm_params + buffers,
                    output_writes=elements)

    def to_onnx(self, w: Any) -> None:
        """BatchNormalization, not folded: gamma and beta (random when affine, else 1 and 0),
        the running mean 0 and variance 1."""
        c = w.in_shapes[0][1]
        w.emit("BatchNormalization",
               [w.inputs[0], w.weight("gamma", (c,), None if self.affine else 1.0),
                w.weight("beta", (c,), None if self.affine else 0.0),
                w.weight("mean", (c,), 0.0), w.weight("var", (c,), 1.0)])


@register("lrn")
@dataclass(frozen=True, slots=True)
class LocalResponseNorm(Op):
    """Local response normalisation across channels (AlexNet, the original GoogLeNet).

    No parameters. Per element: ``size`` multiply-adds for the sum of squares over the channel
    window, then one scale-and-power and one division: ``size + 2`` element-wise operations.
    Its family is element-wise (not norm): it is never folded into a conv.
    """

    family = ELEMENTWISE
    summary = "local response normalisation across channels (no parameters)"
    counting = counts(
        fvcore=fvcore_no_handle("aten::mul, aten::avg_pool3d, aten::add, aten::pow or "
                                "aten::div (what F.local_response_norm calls)"),
        ptflops=_ptflops_lrn, ptflops_aten=ATEN_NOT_COUNTED,
        thop=thop_no_rule("nn.LocalResponseNorm"),
        torchinfo=torchinfo_no_weight("nn.LocalResponseNorm"))
    onnx_op = "LRN"
    onnx_attrs = {"size": "size", "alpha": "alpha", "beta": "beta", "k": "bias"}

    size: int = attr(5, kind=INT, doc="channels in the window")
    alpha: float = attr(1e-4, kind=FLOAT, doc="scale (no effect on cost)")
    beta: float = attr(0.75, kind=FLOAT, doc="exponent (no effect on cost)")
    k: float = attr(1.0, kind=FLOAT, doc="additive constant (no effect on cost)")

    def __post_init__(self) -> None:
        positive(self.size, "size")

    def infer(self, inputs: tuple[Shape, ...]) -> Shape:
        shape = inputs[0]
        if len(shape) < 2:
            raise RuleError(f"lrn needs a channel dimension; got {fmt_shape(shape)}")
        return shape

    def cost(self, inputs: tuple[Shape, ...], out: Shape) -> Cost:
        return io_cost(inputs, out, elementwise_ops=(self.size + 2) * numel(out))


# -- layer norm ------------------------------------------------------------------------------

CHANNELS, LAST = "channels", "last"


def _statistics_cost(inputs: tuple[Shape, ...], out: Shape, affine: bool, channels: int) -> Cost:
    """A norm whose statistics come from the input at inference (layer, group, instance):
    5 operations per element, 7 with gamma and beta (2 for each of ``channels``)."""
    norm_params = 2 * channels if affine else 0
    return io_cost(inputs, out, norm_params=norm_params, param_reads=norm_params,
                   elementwise_ops=(7 if affine else 5) * numel(out))


def _nn_layer_norm(rule: Rule, tool: str) -> Rule:
    """``rule`` for nn.LayerNorm (axis last). Over the channels, PyTorch code is a subclass of
    it (torchvision's and timm's LayerNorm2d: permute, F.layer_norm, permute back), which
    ``tool`` does not match: it looks modules up by their exact type."""
    def layer_norm(s: Site) -> tuple[Item, ...]:
        if s.op.axis == CHANNELS:
            return (Item(NORMALISATION, 0, f"none: LayerNorm2d, a subclass of nn.LayerNorm, is "
                                           f"not matched ({tool} looks up exact types)"),)
        return rule(s)
    return layer_norm


@register("layer_norm")
@dataclass(frozen=True, slots=True)
class LayerNorm(Op):
    """Layer normalisation over one axis, at each position: over the channels of an
    (N, C, H, W) map (``axis: channels``, ConvNeXt's LayerNorm2d), or over the last dimension
    (``axis: last``, nn.LayerNorm on tokens (N, L, C) or on an NHWC map).

    Parameters: gamma and beta (2 per normalised channel, when affine); no buffers: the
    statistics are computed from the input at inference too. Per element: 5 element-wise
    operations for the statistics and the normalisation (the sum for the mean, the subtraction
    of the mean, the square, the sum of squares, the multiplication by the reciprocal standard
    deviation), and 2 more when affine (the scale and the shift, as batch norm's). The work
    done once a position (the two divisions by C, the epsilon, the square root: 1/C as much)
    is left out. Its family is element-wise (not norm): its
    statistics are not known ahead, so it is never folded into a conv.
    """

    family = ELEMENTWISE
    summary = "layer normalisation over the channels or the last axis (per position)"
    counting = counts(
        fvcore=_per_element(5, 4, " (aten::layer_norm{affine}; norm_flop_counter's "
                                  "\"rough estimate\")"),
        ptflops=TorchCalls(NORMALISATION, "nn.LayerNorm", "F.layer_norm",
                           hook=_nn_layer_norm(_per_element(
                               1, 1, " (bn_flops_counter_hook doubles it for an affine "
                                     "attribute, which nn.LayerNorm lacks)"), "ptflops")),
        ptflops_aten=ATEN_NOT_COUNTED,
        thop=_nn_layer_norm(_per_element(4, 2, " (count_normalization{affine})"), "thop"),
        torchinfo=_torchinfo_affine("2 per normalised channel"))
    onnx_opset = 17  # LayerNormalization

    axis: str = attr(CHANNELS, kind=CHOICE, choices=(CHANNELS, LAST),
                     doc="what is normalised at each position: the channels (dimension 1) or "
                         "the last dimension")
    affine: bool = attr(True, kind=BOOL,
                        doc="learned gamma and beta (2 parameters per normalised channel)")

    def dim(self, shape: Shape) -> int:
        """The dimension normalised over."""
        return 1 if self.axis == CHANNELS else len(shape) - 1

    def infer(self, inputs: tuple[Shape, ...]) -> Shape:
        shape = inputs[0]
        if len(shape) < 2:
            raise RuleError(f"layer_norm needs a batch and a dimension to normalise; got "
                            f"{fmt_shape(shape)}")
        return shape

    def cost(self, inputs: tuple[Shape, ...], out: Shape) -> Cost:
        return _statistics_cost(inputs, out, self.affine, out[self.dim(out)])

    def to_onnx(self, w: Any) -> None:
        """LayerNormalization (opset 17) over the last axis: with gamma and beta when affine,
        else with a scale of ones and no bias (which the importer reads as not affine); over
        the channels of a map, between two Transposes (channels last and back), as PyTorch
        exports LayerNorm2d."""
        if self.onnx_opset > w.opset:
            w.refuse(f"layer_norm needs ONNX opset {self.onnx_opset}; cnncost writes opset "
                     f"{w.opset}")
        shape = w.in_shapes[0]
        rank, size = len(shape), shape[self.dim(shape)]
        weights = [w.weight("gamma", (size,)), w.weight("beta", (size,))] if self.affine \
            else [w.weight("scale", (size,), 1.0)]
        if self.dim(shape) == rank - 1:
            w.emit("LayerNormalization", [w.inputs[0], *weights], axis=-1)
            return
        last = w.step("Transpose", [w.inputs[0]], "channels_last",
                      perm=[0, *range(2, rank), 1])
        normed = w.step("LayerNormalization", [last, *weights], "norm", axis=-1)
        w.emit("Transpose", [normed], perm=[0, rank - 1, *range(1, rank - 1)])


# -- group norm and instance norm ------------------------------------------------------------

def _statistics_counting(name: str, module: str, thop: Rule) -> Counting:
    """group_norm's and instance_norm's table: fvcore's aten::<name> handle
    (norm_flop_counter, fvcore/nn/flop_count.py) 5 per element, 4 without affine;
    ptflops' bn_flops_counter_hook (ptflops/pytorch_ops.py MODULES_MAPPING) 2 per element, 1
    without, F.<name> not patched; torchinfo gamma and beta once a sample."""
    return counts(
        fvcore=_per_element(5, 4, f" (aten::{name}{{affine}}; norm_flop_counter's "
                                  f"\"rough estimate\")"),
        ptflops=TorchCalls(NORMALISATION, module, f"F.{name}",
                           hook=_per_element(2, 1, " (bn_flops_counter_hook{affine})")),
        ptflops_aten=ATEN_NOT_COUNTED, thop=thop, torchinfo=_torchinfo_affine("2 per channel"))


def _channels_and_positions(shape: Shape, op: str) -> None:
    if len(shape) < 3:
        raise RuleError(f"{op} needs channels and positions (N, C, ...); got {fmt_shape(shape)}",
                        hint="a map (N, C, H, W) or a sequence (N, C, L)")


@register("group_norm")
@dataclass(frozen=True, slots=True)
class GroupNorm(Op):
    """Group normalisation (nn.GroupNorm): the channels (dimension 1) in ``groups`` groups,
    each normalised over its channels and all positions, per sample. Parameters: gamma and
    beta per channel when affine. Element-wise like layer_norm: 5 operations per element, 7
    when affine (docs/metrics.md). Its family is element-wise: its statistics come from the
    input, so it is never folded into a conv."""

    family = ELEMENTWISE
    summary = "group normalisation over channel groups (per sample)"
    counting = _statistics_counting("group_norm", "nn.GroupNorm", thop_no_rule("nn.GroupNorm"))

    groups: int = attr(kind=INT, doc="channel groups; must divide the channels")
    affine: bool = attr(True, kind=BOOL, doc="learned gamma and beta (2 parameters per channel)")

    def __post_init__(self) -> None:
        positive(self.groups, "groups")

    def infer(self, inputs: tuple[Shape, ...]) -> Shape:
        shape = inputs[0]
        _channels_and_positions(shape, "group_norm")
        if shape[1] % self.groups:
            raise RuleError(f"groups={self.groups} must divide the {shape[1]} channels",
                            key="groups")
        return shape

    def cost(self, inputs: tuple[Shape, ...], out: Shape) -> Cost:
        return _statistics_cost(inputs, out, self.affine, out[1])

    def to_onnx(self, w: Any) -> None:
        """As PyTorch writes nn.GroupNorm at opset 17 (GroupNormalization is opset 18):
        Reshape to (N, groups, -1), InstanceNormalization with a scale of ones and a bias of
        zeros per group, Reshape back; then, when affine, Mul by gamma and Add of beta, each
        (C, 1, ...) to broadcast over the positions."""
        x = w.in_shapes[0]
        grouped = w.step("Reshape", [w.inputs[0], w.ints("groups", [0, self.groups, -1])],
                         "group")
        normed = w.step("InstanceNormalization",
                        [grouped, w.weight("ones", (self.groups,), 1.0),
                         w.weight("zeros", (self.groups,), 0.0)], "norm")
        if not self.affine:
            w.emit("Reshape", [normed, w.ints("shape", list(x))])
            return
        back = w.step("Reshape", [normed, w.ints("shape", list(x))], "back")
        per_channel = (x[1], *(1,) * (len(x) - 2))
        scaled = w.step("Mul", [back, w.weight("gamma", per_channel)], "scale")
        w.emit("Add", [scaled, w.weight("beta", per_channel)])


@register("instance_norm")
@dataclass(frozen=True, slots=True)
class InstanceNorm(Op):
    """Instance normalisation (nn.InstanceNorm2d at inference, track_running_stats off):
    each channel of each sample normalised over its positions. Parameters: gamma and beta per
    channel when affine (nn.InstanceNorm2d's default is not). Element-wise like layer_norm: 5
    operations per element, 7 when affine (docs/metrics.md)."""

    family = ELEMENTWISE
    summary = "instance normalisation: each channel of each sample over its positions"
    counting = _statistics_counting("instance_norm", "nn.InstanceNorm2d",
                                    _per_element(4, 2, " (count_normalization{affine})"))

    affine: bool = attr(False, kind=BOOL,
                        doc="learned gamma and beta (2 parameters per channel)")

    def infer(self, inputs: tuple[Shape, ...]) -> Shape:
        _channels_and_positions(inputs[0], "instance_norm")
        return inputs[0]

    def cost(self, inputs: tuple[Shape, ...], out: Shape) -> Cost:
        return _statistics_cost(inputs, out, self.affine, out[1])

    def to_onnx(self, w: Any) -> None:
        """InstanceNormalization, which always has a scale and a bias: gamma and beta when
        affine, else ones and zeros (as PyTorch writes them; read back as not affine)."""
        c = w.in_shapes[0][1]
        w.emit("InstanceNormalization",
               [w.inputs[0], w.weight("gamma", (c,), None if self.affine else 1.0),
                w.weight("beta", (c,), None if self.affine else 0.0)])


# -- L2 normalisation (F.normalize) ----------------------------------------------------------

L2_EPS = 1e-12  # F.normalize's default eps: the norm is clamped to at least this


@register("l2_normalize")
@dataclass(frozen=True, slots=True)
class L2Normalize(Op):
    """x / max(||x||_2, eps) along one axis (F.normalize(x, dim=axis)): Swin V2's cosine
    attention normalises q and k over their last axis. No parameters. Per element: 3
    element-wise operations (the square, the sum of squares, the division); the square root
    and the clamp to eps, once a row (1/size as much), are left out, as layer_norm's work
    once a position is."""

    family = ELEMENTWISE
    summary = "x / max(||x||_2, eps) along one axis (F.normalize)"
    counting = no_tool_counts("F.normalize", "aten::norm, aten::clamp_min and aten::div",
                              thop=thop_not_a_module("F.normalize"))
    axis: int = attr(-1, kind=INT, doc="the dimension normalised over (a negative one counts "
                                       "from the end: -1 for the last)")

    def infer(self, inputs: tuple[Shape, ...]) -> Shape:
        shape = inputs[0]
        if not -len(shape) <= self.axis < len(shape) or self.axis in (0, -len(shape)):
            raise RuleError(f"axis={self.axis} must be a dimension of {fmt_shape(shape)} after "
                            f"the batch", hint="-1 for the last dimension", key="axis")
        return shape

    def cost(self, inputs: tuple[Shape, ...], out: Shape) -> Cost:
        return io_cost(inputs, out, elementwise_ops=3 * numel(out))

    def to_onnx(self, w: Any) -> None:
        """As PyTorch writes F.normalize (opset 17): ReduceL2 over the axis (keepdims),
        Clip to at least eps, Expand to the input's shape, Div."""
        x = w.inputs[0]
        axes = {"axes": [self.axis]} if w.opset < 18 else {}
        norm = w.step("ReduceL2", [x, *([] if axes else [w.ints("axes", [self.axis])])],
                      "norm", keepdims=1, **axes)
        clamped = w.step("Clip", [norm, w.scalar("eps", L2_EPS)], "clamp_min")
        spread = w.step("Expand", [clamped, w.ints("shape", list(w.in_shapes[0]))], "expand")
        w.emit("Div", [x, spread])
