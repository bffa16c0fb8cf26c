"""Normalisation: batch norm and local response norm."""

from __future__ import annotations

from dataclasses import dataclass

from cnncost.core.errors import RuleError
from cnncost.core.ir import Cost, Shape, numel
from cnncost.ops.base import (BOOL, ELEMENTWISE, FLOAT, INT, NORM, Op, attr, fmt_shape, io_cost,
                              positive, register)


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
