"""Convolution and fully connected layers: the ops that carry mult_adds."""

from __future__ import annotations

from dataclasses import dataclass

from cnncost.errors import RuleError
from cnncost.ir import Cost, Shape, numel
from cnncost.ops.base import (BOOL, CONV, INT, LINEAR, PADDING, PAIR, Op, attr, axis_padding,
                              check_padding, feature_map, fmt_shape, positive, register,
                              window_out)


@register("conv2d", aliases=("conv",))
@dataclass(frozen=True, slots=True)
class Conv2d(Op):
    """2-D convolution; depthwise when groups == in_channels (== out_channels / multiplier)."""

    family = CONV
    summary = "2-D convolution (grouped, depthwise, dilated)"

    out_channels: int = attr(kind=INT, doc="output channels")
    kernel: tuple[int, int] = attr(kind=PAIR, doc="kernel size, k or [kh, kw]")
    stride: tuple[int, int] = attr((1, 1), kind=PAIR, doc="stride, s or [sh, sw]")
    padding: object = attr("same", kind=PADDING,
                           doc="same (out = ceil(in/stride)), valid, p or [ph, pw] per side, "
                               "or [top, left, bottom, right]")
    dilation: tuple[int, int] = attr((1, 1), kind=PAIR, doc="dilation, d or [dh, dw]")
    groups: int = attr(1, kind=INT, doc="groups; in_channels for a depthwise conv")
    bias: bool = attr(False, kind=BOOL, doc="whether the conv has a bias (one per output channel)")

    def __post_init__(self) -> None:
        positive(self.out_channels, "out_channels")
        positive(self.groups, "groups")
        for name in ("kernel", "stride", "dilation"):
            for v in getattr(self, name):
                positive(v, name)
        check_padding(self.padding)
        if self.out_channels % self.groups:
            raise RuleError(f"groups={self.groups} must divide out_channels={self.out_channels}",
                            key="groups")

    def infer(self, inputs: tuple[Shape, ...]) -> Shape:
        n, c, h, w = feature_map(inputs[0], "conv2d")
        if c % self.groups:
            raise RuleError(f"groups={self.groups} must divide in_channels={c}",
                            hint="for a depthwise conv write groups: in_channels", key="groups")
        pad_h, pad_w = axis_padding(self.padding)
        oh = window_out(h, self.kernel[0], self.stride[0], self.dilation[0], pad_h, axis="height")
        ow = window_out(w, self.kernel[1], self.stride[1], self.dilation[1], pad_w, axis="width")
        return (n, self.out_channels, oh, ow)

    def cost(self, inputs: tuple[Shape, ...], out: Shape) -> Cost:
        in_channels = inputs[0][1]
        per_output = self.kernel[0] * self.kernel[1] * (in_channels // self.groups)
        outputs = numel(out)
        weights = self.out_channels * per_output
        biases = self.out_channels if self.bias else 0
        return Cost(weights=weights, biases=biases,
                    mult_adds=outputs * per_output,
                    elementwise_ops=outputs if self.bias else 0,
                    input_reads=numel(inputs[0]), param_reads=weights + biases,
                    output_writes=outputs)

    def depthwise(self, in_channels: int) -> bool:
        """One group per input channel (more than one)."""
        return 1 < self.groups == in_channels

    def kind(self, inputs: tuple[Shape, ...]) -> str:
        size = f"{self.kernel[0]}x{self.kernel[1]}"
        if self.groups == 1:
            return f"conv2d {size}"
        if self.depthwise(inputs[0][1]):
            return f"conv2d depthwise {size}"
        return f"conv2d grouped {size}"


@register("linear", aliases=("fc", "dense"))
@dataclass(frozen=True, slots=True)
class Linear(Op):
    """Fully connected layer on vectors (N, F)."""

    family = LINEAR
    summary = "fully connected layer on (N, features)"

    out_features: int = attr(kind=INT, doc="output features")
    bias: bool = attr(True, kind=BOOL, doc="whether the layer has a bias (one per output)")

    def __post_init__(self) -> None:
        positive(self.out_features, "out_features")

    def infer(self, inputs: tuple[Shape, ...]) -> Shape:
        shape = inputs[0]
        if len(shape) != 2:
            raise RuleError(f"linear needs vectors (N, features); got {fmt_shape(shape)}",
                            hint="add {op: flatten} (after a global_avgpool) before it")
        return (shape[0], self.out_features)

    def cost(self, inputs: tuple[Shape, ...], out: Shape) -> Cost:
        in_features = inputs[0][1]
        weights = in_features * self.out_features
        biases = self.out_features if self.bias else 0
        outputs = numel(out)
        return Cost(weights=weights, biases=biases,
                    mult_adds=outputs * in_features,
                    elementwise_ops=outputs if self.bias else 0,
                    input_reads=numel(inputs[0]), param_reads=weights + biases,
                    output_writes=outputs)
