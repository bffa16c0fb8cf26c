"""Normalisation: batch norm and local response norm."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cnncost.core.errors import RuleError
from cnncost.core.ir import Cost, Shape, numel
from cnncost.ops.base import (BOOL, ELEMENTWISE, FLOAT, INT, NORM, Op, attr, fmt_shape, io_cost,
                              positive, register)
from cnncost.ops.counting import NORM as NORMALISATION
from cnncost.ops.counting import (ATEN_NOT_COUNTED, Item, Site, TorchCalls, counts,
                                  elements_in, fvcore_no_handle, thop_no_rule,
                                  torchinfo_no_weight)


# -- what the peer tools count for these ops (cnncost.ops.counting) ---------------------------

def _per_element(per_affine: int, per_plain: int, why: str = ""):
    """Batch norm at ``per_affine`` per input element, ``per_plain`` without gamma and beta."""
    def rule(s: Site) -> tuple[Item, ...]:
        per = per_affine if s.op.affine else per_plain
        text = why.format(affine=", affine" if s.op.affine else "")
        return (Item(NORMALISATION, per * elements_in(s), f"{per} per element{text}"),)
    return rule


def _torchinfo_bn(s: Site) -> tuple[Item, ...]:
    """torchinfo: gamma and beta, once a sample; nothing without them."""
    return (Item(NORMALISATION, s.cost.norm_params * s.batch,
                 "gamma and beta (2 per channel) x batch"),) if s.op.affine else ()


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
        ptflops_aten=ATEN_NOT_COUNTED, thop=_per_element(4, 2), torchinfo=_torchinfo_bn)

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
