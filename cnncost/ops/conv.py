"""Convolution and fully connected layers: the ops that carry mult_adds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cnncost.core.errors import RuleError
from cnncost.core.ir import Cost, Shape, numel
from cnncost.ops.base import (BOOL, CONV, INT, LINEAR, PADDING, PAIR, Op, attr, axis_padding,
                              check_padding, explicit_pads, feature_map, fmt_shape, positive,
                              register, window_out)
from cnncost.ops.counting import (BIASES, PRODUCTS, Item, Site, TorchCalls, bias_per_output,
                                  counts, no_bias, products, then, thop_not_a_module,
                                  torchinfo_no_weight)


# -- what the peer tools count for these ops (cnncost.ops.counting) ---------------------------

def _without_bias(s: Site) -> tuple[Item, ...]:
    """fvcore's and thop's conv and linear: mult_adds, the bias left out."""
    return (Item(PRODUCTS, s.cost.mult_adds, "multiply-accumulates" + no_bias(s)),)


_WITH_BIAS = then(products("multiply-accumulates"), bias_per_output)


def _thop_window(what: str):
    """thop's conv formula (count_convNd): output elements x in_channels/groups x kh x kw, the
    bias left out; mult_adds for a conv, not for a transposed one."""
    def rule(s: Site) -> tuple[Item, ...]:
        per = (s.inputs[0][1] // s.op.groups) * s.op.kernel[0] * s.op.kernel[1]
        return (Item(PRODUCTS, numel(s.out) * per, what + no_bias(s)),)
    return rule


def _torchinfo_window(what: str):
    """torchinfo: a conv's weight elements at every output position of every sample, and its
    bias at every output element."""
    def rule(s: Site) -> tuple[Item, ...]:
        positions = numel(s.out) // s.out[1]
        return (Item(PRODUCTS, s.cost.weights * positions, what), *bias_per_output(s))
    return rule


def _window_counting(module: str, function: str, thop: str, torchinfo: str):
    return counts(fvcore=_without_bias,
                  ptflops=TorchCalls(PRODUCTS, module, function, hook=_WITH_BIAS),
                  ptflops_aten=_WITH_BIAS, thop=_thop_window(thop),
                  torchinfo=_torchinfo_window(torchinfo))


def _torchinfo_linear(s: Site) -> tuple[Item, ...]:
    """torchinfo: a linear layer's weight and bias elements once a sample."""
    bias = (Item(BIASES, s.cost.biases * s.batch, "bias: 1 per output element"),) \
        if s.op.bias else ()
    return (Item(PRODUCTS, s.cost.weights * s.batch, "multiply-accumulates"), *bias)


def _first_operand(s: Site) -> tuple[Item, ...]:
    """fvcore's and ptflops' matmul: the first operand's elements x the second's last
    dimension (mult_adds, unless only the second operand has batch dimensions)."""
    return (Item(PRODUCTS, numel(s.inputs[0]) * s.inputs[1][-1],
                 "first operand's elements x second's last dimension"),)


def window_latency_kind(op: Conv2d | ConvTranspose2d, in_channels: int) -> str:
    """A conv's latency kind: depthwise, grouped, pointwise (1x1) or conv."""
    if op.groups > 1:
        return "depthwise" if op.depthwise(in_channels) else "grouped"
    return "pointwise" if tuple(op.kernel) == (1, 1) else "conv"



def _check_sizes(op: Any) -> None:
    """A conv's sizes are positive: out_channels, groups, each of kernel, stride, dilation."""
    positive(op.out_channels, "out_channels")
    positive(op.groups, "groups")
    for name in ("kernel", "stride", "dilation"):
        for v in getattr(op, name):
            positive(v, name)

@register("conv2d", aliases=("conv",))
@dataclass(frozen=True, slots=True)
class Conv2d(Op):
    """2-D convolution; depthwise when groups == in_channels (== out_channels / multiplier)."""

    family = CONV
    summary = "2-D convolution (grouped, depthwise, dilated)"
    counting = _window_counting("nn.Conv2d", "F.conv2d", "multiply-accumulates",
                                "multiply-accumulates")

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
        _check_sizes(self)
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

    def latency_kind(self, in_channels: int) -> str:
        return window_latency_kind(self, in_channels)

    def kind(self, inputs: tuple[Shape, ...]) -> str:
        size = f"{self.kernel[0]}x{self.kernel[1]}"
        if self.groups == 1:
            return f"conv2d {size}"
        if self.depthwise(inputs[0][1]):
            return f"conv2d depthwise {size}"
        return f"conv2d grouped {size}"

    def to_onnx(self, w) -> None:
        """Conv with its weights (and bias); "same" padding as explicit pads."""
        x = w.in_shapes[0]
        weight = w.weight("w", (self.out_channels, x[1] // self.groups, *self.kernel))
        bias = [w.weight("b", (self.out_channels,))] if self.bias else []
        w.emit("Conv", [w.inputs[0], weight, *bias], kernel_shape=list(self.kernel),
               strides=list(self.stride), dilations=list(self.dilation), group=self.groups,
               pads=explicit_pads(self.padding, x[2:], self.kernel, self.stride,
                                  self.dilation))


@register("linear", aliases=("fc", "dense"))
@dataclass(frozen=True, slots=True)
class Linear(Op):
    """Fully connected layer over the last dimension: on vectors (N, F), tokens (N, L, C) or
    a channels-last map (N, H, W, C), as nn.Linear. Weights in x out (+ out biases);
    mult_adds: each output element sums in_features products."""

    family = LINEAR
    summary = "fully connected layer over the last dimension (N, ..., features)"
    # fvcore's aten::linear (linear_flop_jit): input elements x out_features; ptflops'
    # linear_flops_counter_hook: (in x out + out bias) x the input's leading dimensions
    # (ptflops 0.7.5 lists F.linear, but patch_functional leaves it out); ptflops-aten's
    # addmm_flop on the flattened input (aten::linear's 3-D path) adds the bias per output
    # element; thop's count_linear: m.in_features x y.numel() (in_features: the last dimension)
    counting = counts(
        fvcore=_without_bias, ptflops=TorchCalls(PRODUCTS, "nn.Linear", "F.linear",
                                                 hook=_WITH_BIAS),
        ptflops_aten=_WITH_BIAS, torchinfo=_torchinfo_linear,
        thop=lambda s: (Item(PRODUCTS, numel(s.out) * s.inputs[0][-1],
                             "multiply-accumulates" + no_bias(s)),))

    def latency_kind(self, in_channels: int) -> str:
        return "linear"

    out_features: int = attr(kind=INT, doc="output features")
    bias: bool = attr(True, kind=BOOL, doc="whether the layer has a bias (one per output)")

    def __post_init__(self) -> None:
        positive(self.out_features, "out_features")

    def infer(self, inputs: tuple[Shape, ...]) -> Shape:
        shape = inputs[0]
        if len(shape) < 2:
            raise RuleError(f"linear needs a batch and features (N, ..., features); got "
                            f"{fmt_shape(shape)}")
        if len(shape) > 2 and shape[-1] == 1:  # a pooled (N, C, 1, 1) map, not flattened
            raise RuleError(f"linear needs vectors (N, features), or features in the last "
                            f"dimension; got {fmt_shape(shape)}, whose last dimension is 1",
                            hint="add {op: flatten} (after a global_avgpool) before it")
        return (*shape[:-1], self.out_features)

    def cost(self, inputs: tuple[Shape, ...], out: Shape) -> Cost:
        in_features = inputs[0][-1]
        weights = in_features * self.out_features
        biases = self.out_features if self.bias else 0
        outputs = numel(out)
        return Cost(weights=weights, biases=biases,
                    mult_adds=outputs * in_features,
                    elementwise_ops=outputs if self.bias else 0,
                    input_reads=numel(inputs[0]), param_reads=weights + biases,
                    output_writes=outputs)

    def to_onnx(self, w) -> None:
        """As PyTorch writes it: on vectors, Gemm with the weight (out_features, in_features)
        transposed; on more dimensions (Gemm is 2-D only), MatMul by the weight
        (in_features, out_features), then Add of the bias."""
        x = w.in_shapes[0]
        if len(x) == 2:
            weight = w.weight("w", (self.out_features, x[1]))
            bias = [w.weight("b", (self.out_features,))] if self.bias else []
            w.emit("Gemm", [w.inputs[0], weight, *bias], transB=1)
            return
        weight = w.weight("w", (x[-1], self.out_features))
        if not self.bias:
            w.emit("MatMul", [w.inputs[0], weight])
            return
        product = w.step("MatMul", [w.inputs[0], weight], "matmul")
        w.emit("Add", [w.weight("b", (self.out_features,)), product])


@register("conv_transpose2d", aliases=("deconv",))
@dataclass(frozen=True, slots=True)
class ConvTranspose2d(Op):
    """Transposed convolution (PyTorch ConvTranspose2d): every input element is multiplied by
    a kh x kw x out_channels/groups kernel and scattered into the output."""

    family = CONV
    summary = "2-D transposed convolution (upsampling)"
    counting = _window_counting("nn.ConvTranspose2d", "F.conv_transpose2d",
                                "output elements x in_channels/groups x kh x kw",
                                "weight elements x output positions")

    out_channels: int = attr(kind=INT, doc="output channels")
    kernel: tuple[int, int] = attr(kind=PAIR, doc="kernel size, k or [kh, kw]")
    stride: tuple[int, int] = attr((1, 1), kind=PAIR, doc="stride, s or [sh, sw]")
    padding: object = attr((0, 0), kind=PADDING,
                           doc="p, [ph, pw] or [top, left, bottom, right], removed from the "
                               "output (PyTorch's padding)")
    output_padding: tuple[int, int] = attr((0, 0), kind=PAIR,
                                           doc="added to one side of the output")
    dilation: tuple[int, int] = attr((1, 1), kind=PAIR, doc="dilation, d or [dh, dw]")
    groups: int = attr(1, kind=INT, doc="groups")
    bias: bool = attr(False, kind=BOOL, doc="whether it has a bias (one per output channel)")

    def __post_init__(self) -> None:
        _check_sizes(self)
        if isinstance(self.padding, str):
            raise RuleError("conv_transpose2d takes explicit padding, not same or valid",
                            key="padding")
        check_padding(self.padding)
        if self.out_channels % self.groups:
            raise RuleError(f"groups={self.groups} must divide out_channels={self.out_channels}",
                            key="groups")

    def infer(self, inputs: tuple[Shape, ...]) -> Shape:
        n, c, h, w = feature_map(inputs[0], "conv_transpose2d")
        if c % self.groups:
            raise RuleError(f"groups={self.groups} must divide in_channels={c}", key="groups")
        sizes = []
        for axis, size in enumerate((h, w)):
            before, after = axis_padding(self.padding)[axis]
            out = ((size - 1) * self.stride[axis] - before - after +
                   self.dilation[axis] * (self.kernel[axis] - 1) + self.output_padding[axis] + 1)
            if out < 1:
                raise RuleError(f"the output would have size {out}", key="padding")
            sizes.append(out)
        return (n, self.out_channels, *sizes)

    def cost(self, inputs: tuple[Shape, ...], out: Shape) -> Cost:
        in_channels = inputs[0][1]
        per_input = self.kernel[0] * self.kernel[1] * (self.out_channels // self.groups)
        weights = in_channels * per_input
        biases = self.out_channels if self.bias else 0
        return Cost(weights=weights, biases=biases, mult_adds=numel(inputs[0]) * per_input,
                    elementwise_ops=numel(out) if self.bias else 0,
                    input_reads=numel(inputs[0]), param_reads=weights + biases,
                    output_writes=numel(out))

    def depthwise(self, in_channels: int) -> bool:
        return 1 < self.groups == in_channels

    def latency_kind(self, in_channels: int) -> str:
        return window_latency_kind(self, in_channels)

    def kind(self, inputs: tuple[Shape, ...]) -> str:
        return f"conv_transpose2d {self.kernel[0]}x{self.kernel[1]}"

    def to_onnx(self, w) -> None:
        """ConvTranspose with its weights (in_channels, out_channels / groups, kh, kw)."""
        x = w.in_shapes[0]
        weight = w.weight("w", (x[1], self.out_channels // self.groups, *self.kernel))
        bias = [w.weight("b", (self.out_channels,))] if self.bias else []
        w.emit("ConvTranspose", [w.inputs[0], weight, *bias], kernel_shape=list(self.kernel),
               strides=list(self.stride), dilations=list(self.dilation), group=self.groups,
               pads=explicit_pads(self.padding, x[2:], self.kernel, self.stride,
                                  self.dilation),
               output_padding=list(self.output_padding))


@register("matmul")
@dataclass(frozen=True, slots=True)
class MatMul(Op):
    """Product of two activations (attention): (..., M, K) @ (..., K, P) -> (..., M, P), the
    leading dimensions broadcast. A product with a weight matrix is a linear layer."""

    family = LINEAR
    summary = "matrix product of two tensors (..., M, K) @ (..., K, P)"
    counting = counts(
        fvcore=_first_operand, ptflops_aten=_first_operand,
        ptflops=TorchCalls(PRODUCTS, "the @ operator", "torch.matmul", call=_first_operand),
        thop=thop_not_a_module("the @ operator"), torchinfo=torchinfo_no_weight("the @ operator"))

    def latency_kind(self, in_channels: int) -> str:
        return "linear"  # a GEMM, as a linear layer's
    onnx_op = "MatMul"
    min_inputs = 2
    max_inputs = 2

    def infer(self, inputs: tuple[Shape, ...]) -> Shape:
        a, b = inputs
        if len(a) < 2 or len(b) < 2 or a[-1] != b[-2]:
            raise RuleError(f"matmul cannot multiply {fmt_shape(a)} by {fmt_shape(b)}",
                            hint="the last dimension of the first must equal the second to "
                                 "last of the second")
        lead_a, lead_b = a[:-2], b[:-2]
        rank = max(len(lead_a), len(lead_b))
        lead_a = (1,) * (rank - len(lead_a)) + lead_a
        lead_b = (1,) * (rank - len(lead_b)) + lead_b
        lead = []
        for x, y in zip(lead_a, lead_b):
            if x != y and 1 not in (x, y):
                raise RuleError(f"matmul cannot broadcast {fmt_shape(a)} and {fmt_shape(b)}")
            lead.append(max(x, y))
        return (*lead, a[-2], b[-1])

    def cost(self, inputs: tuple[Shape, ...], out: Shape) -> Cost:
        return Cost(mult_adds=numel(out) * inputs[0][-1],
                    input_reads=numel(inputs[0]) + numel(inputs[1]), output_writes=numel(out))
