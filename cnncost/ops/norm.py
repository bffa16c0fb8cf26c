"""Normalisation: batch norm, layer norm and local response norm."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cnncost.core.errors import RuleError
from cnncost.core.ir import Cost, Shape, numel
from cnncost.ops.base import (BOOL, CHOICE, ELEMENTWISE, FLOAT, INT, NORM, Op, attr, fmt_shape,
                              io_cost, positive, register)
from cnncost.ops.counting import NORM as NORMALISATION
from cnncost.ops.counting import (ATEN_NOT_COUNTED, Item, Rule, Site, TorchCalls, counts,
                                  elements_in, fvcore_no_handle, thop_no_rule,
                                  torchinfo_no_weight)


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
        norm_params = 2 * out[self.dim(out)] if self.affine else 0
        return io_cost(inputs, out, norm_params=norm_params, param_reads=norm_params,
                       elementwise_ops=(7 if self.affine else 5) * numel(out))

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
