"""Pooling: windows read per output element count as element-wise operations."""

from __future__ import annotations

import math
from dataclasses import dataclass

from cnncost.core.errors import RuleError
from cnncost.core.ir import Cost, Shape, numel
from cnncost.ops.base import (BOOL, PADDING, PAIR, POOL, SHAPE, Op, attr, axis_padding,
                              check_padding, feature_map, io_cost, positive, register,
                              window_out)


@dataclass(frozen=True, slots=True)
class Pool2d(Op):
    """Shared by max and average pooling: the same attributes, shape rule and cost rule."""

    family = POOL

    kernel: tuple[int, int] = attr(kind=PAIR, doc="window size, k or [kh, kw]")
    stride: tuple[int, int] | None = attr(None, kind=PAIR,
                                          doc="stride; defaults to the kernel size")
    padding: object = attr("valid", kind=PADDING,
                           doc="valid (default), same, p, [ph, pw] or [top, left, bottom, right]")
    ceil_mode: bool = attr(False, kind=BOOL, doc="round the output size up (PyTorch ceil_mode)")

    def __post_init__(self) -> None:
        for v in (*self.kernel, *(self.stride or ())):
            positive(v, "kernel and stride")
        check_padding(self.padding)

    def infer(self, inputs: tuple[Shape, ...]) -> Shape:
        n, c, h, w = feature_map(inputs[0], self.op_name)
        stride = self.stride or self.kernel
        pad_h, pad_w = axis_padding(self.padding)
        oh = window_out(h, self.kernel[0], stride[0], 1, pad_h, axis="height",
                        ceil_mode=self.ceil_mode)
        ow = window_out(w, self.kernel[1], stride[1], 1, pad_w, axis="width",
                        ceil_mode=self.ceil_mode)
        return (n, c, oh, ow)

    def cost(self, inputs: tuple[Shape, ...], out: Shape) -> Cost:
        window = self.kernel[0] * self.kernel[1]
        return io_cost(inputs, out, elementwise_ops=numel(out) * window)

    def kind(self, inputs: tuple[Shape, ...]) -> str:
        return f"{self.op_name} {self.kernel[0]}x{self.kernel[1]}"


@register("maxpool")
class MaxPool(Pool2d):
    """Max over each window: kh*kw comparisons per output element."""

    __slots__ = ()  # no fields of its own: Pool2d's dataclass methods serve
    summary = "max pooling"


@register("avgpool")
class AvgPool(Pool2d):
    """Mean over each window: kh*kw additions per output element."""

    __slots__ = ()
    summary = "average pooling"


@register("global_avgpool", aliases=("gap",))
@dataclass(frozen=True, slots=True)
class GlobalAvgPool(Op):
    """Mean over the whole feature map: (N, C, H, W) -> (N, C, 1, 1), H*W additions a channel."""

    family = POOL
    summary = "global average pooling to (N, C, 1, 1)"

    def infer(self, inputs: tuple[Shape, ...]) -> Shape:
        n, c, _, _ = feature_map(inputs[0], "global_avgpool")
        return (n, c, 1, 1)

    def cost(self, inputs: tuple[Shape, ...], out: Shape) -> Cost:
        return io_cost(inputs, out, elementwise_ops=numel(inputs[0]))


def _adaptive_windows(size: int, out: int) -> int:
    """Total window length along one axis of PyTorch's adaptive pooling: output i averages
    input [floor(i*size/out), ceil((i+1)*size/out)).

    Summed over i, the floors telescope to ``size``, and each ceiling adds one where out does
    not divide (i+1)*size: all but gcd(out, size) of the out terms. So the total is
    size + out - gcd(out, size), in constant time whatever the output size.
    """
    return size + out - math.gcd(out, size)


@register("adaptive_avgpool")
@dataclass(frozen=True, slots=True)
class AdaptiveAvgPool(Op):
    """Average pooling to a fixed output size (PyTorch AdaptiveAvgPool2d), e.g. 7x7 in VGG."""

    family = POOL
    summary = "average pooling to a fixed output size"
    size: tuple[int, int] = attr(kind=PAIR, doc="output size, s or [h, w]")

    def __post_init__(self) -> None:
        for v in self.size:
            positive(v, "size")

    def infer(self, inputs: tuple[Shape, ...]) -> Shape:
        n, c, _, _ = feature_map(inputs[0], "adaptive_avgpool")
        return (n, c, *self.size)

    def cost(self, inputs: tuple[Shape, ...], out: Shape) -> Cost:
        n, c, h, w = inputs[0]
        window_sum = _adaptive_windows(h, self.size[0]) * _adaptive_windows(w, self.size[1])
        return io_cost(inputs, out, elementwise_ops=n * c * window_sum)

    def kind(self, inputs: tuple[Shape, ...]) -> str:
        return f"adaptive_avgpool {self.size[0]}x{self.size[1]}"


@register("reduce_mean")
@dataclass(frozen=True, slots=True)
class ReduceMean(Op):
    """Mean over some dimensions: one addition per input element (global average pooling is
    the mean over height and width)."""

    family = POOL
    summary = "mean over dimensions (axes)"
    axes: tuple[int, ...] = attr(kind=SHAPE, doc="the dimensions averaged, e.g. [2, 3]")
    keepdims: bool = attr(True, kind=BOOL, doc="keep them as size 1")

    def infer(self, inputs: tuple[Shape, ...]) -> Shape:
        shape = inputs[0]
        axes = {a % len(shape) if -len(shape) <= a < len(shape) else -1 for a in self.axes}
        if -1 in axes or 0 in axes:
            raise RuleError(f"axes {list(self.axes)} must be dimensions of {list(shape)} after "
                            f"the batch", key="axes")
        if self.keepdims:
            return tuple(1 if i in axes else d for i, d in enumerate(shape))
        return tuple(d for i, d in enumerate(shape) if i not in axes)

    def cost(self, inputs: tuple[Shape, ...], out: Shape) -> Cost:
        return io_cost(inputs, out, elementwise_ops=numel(inputs[0]))
