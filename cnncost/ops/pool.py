"""Pooling: windows read per output element count as element-wise operations."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from cnncost.core.errors import RuleError
from cnncost.core.ir import Cost, Shape, is_vector, numel
from cnncost.ops.base import (BOOL, PADDING, PAIR, POOL, SHAPE, Op, attr, axis_padding,
                              check_padding, explicit_pads, feature_map, io_cost, positive,
                              register, window_out)
from cnncost.ops.counting import (ATEN_NOT_COUNTED, POOLING, Item, Site, TorchCalls, counts,
                                  elements_in, elements_out, fvcore_no_handle, no_tool_counts,
                                  not_counted_by, per_element, ptflops_no_hook,
                                  thop_not_a_module, thop_zero_rule, torchinfo_no_weight)


# -- what the peer tools count for these ops (cnncost.ops.counting) ---------------------------

def _ptflops(module: str, function: str) -> TorchCalls:
    """ptflops: the module's hook and the function it calls, each 1 per input element."""
    per_input = per_element(POOLING, 1, elements_in, "1 per input element")
    return TorchCalls(POOLING, module, function, hook=per_input, call=per_input,
                      module_calls_it=True)


def _thop_adaptive(s: Site) -> tuple[Item, ...]:
    """thop's count_adap_avgpool: (the input/output size ratio + 1) per output element, in
    float64 as thop computes it, then int()."""
    (h, w), (oh, ow) = s.inputs[0][2:], s.out[2:]
    return (Item(POOLING, int((h / oh * (w / ow) + 1) * elements_out(s)),
                 "(input/output size ratio + 1) per output element"),)


_ADAPTIVE = counts(
    fvcore=per_element(POOLING, 1, elements_in, "1 per input element (aten::adaptive_avg_pool2d)"),
    ptflops=_ptflops("nn.AdaptiveAvgPool2d", "F.adaptive_avg_pool2d"),
    ptflops_aten=ATEN_NOT_COUNTED, thop=_thop_adaptive,
    torchinfo=torchinfo_no_weight("nn.AdaptiveAvgPool2d"))


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

    def latency_kind(self, in_channels: int) -> str:
        """A pooling window is a depthwise conv with fixed weights, and runtimes run it as
        one: its window operations go at the device's depthwise rate (not the element-wise
        rate), and it pays a conv kernel's ``setup``. The counts are unchanged."""
        return "depthwise"

    def to_onnx(self, w: Any) -> None:
        """Its ``onnx_op`` with the stride written out and the padding as explicit pads."""
        stride = self.stride or self.kernel
        w.emit(self.onnx_op, w.inputs, kernel_shape=list(self.kernel), strides=list(stride),
               pads=explicit_pads(self.padding, w.in_shapes[0][2:], self.kernel, stride,
                                  (1, 1)),
               ceil_mode=int(self.ceil_mode))


@register("maxpool")
class MaxPool(Pool2d):
    """Max over each window: kh*kw comparisons per output element."""

    __slots__ = ()  # no fields of its own: Pool2d's dataclass methods serve
    summary = "max pooling"
    counting = counts(fvcore=fvcore_no_handle("aten::max_pool2d"),
                      ptflops=_ptflops("nn.MaxPool2d", "F.max_pool2d"),
                      ptflops_aten=ATEN_NOT_COUNTED, thop=thop_zero_rule("nn.MaxPool2d"),
                      torchinfo=torchinfo_no_weight("nn.MaxPool2d"))
    onnx_op = "MaxPool"


@register("avgpool")
class AvgPool(Pool2d):
    """Mean over each window: kh*kw additions per output element."""

    __slots__ = ()
    summary = "average pooling"
    counting = counts(fvcore=fvcore_no_handle("aten::avg_pool2d"),
                      ptflops=_ptflops("nn.AvgPool2d", "F.avg_pool2d"),
                      ptflops_aten=ATEN_NOT_COUNTED,
                      thop=per_element(POOLING, 1, elements_out, "1 per output element"),
                      torchinfo=torchinfo_no_weight("nn.AvgPool2d"))
    onnx_op = "AveragePool"


@register("global_avgpool", aliases=("gap",))
@dataclass(frozen=True, slots=True)
class GlobalAvgPool(Op):
    """Mean over the whole feature map: (N, C, H, W) -> (N, C, 1, 1), H*W additions a channel."""

    family = POOL
    summary = "global average pooling to (N, C, 1, 1)"
    counting = _ADAPTIVE  # nn.AdaptiveAvgPool2d(1)
    onnx_op = "GlobalAveragePool"

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
    if is_vector(size) or is_vector(out):  # a sweep: one gcd per configuration
        from cnncost.core.vector import gcd

        return size + out - gcd(out, size)
    return size + out - math.gcd(out, size)


@register("adaptive_avgpool")
@dataclass(frozen=True, slots=True)
class AdaptiveAvgPool(Op):
    """Average pooling to a fixed output size (PyTorch AdaptiveAvgPool2d), e.g. 7x7 in VGG."""

    family = POOL
    summary = "average pooling to a fixed output size"
    counting = _ADAPTIVE
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

    def to_onnx(self, w: Any) -> None:
        """AveragePool when the sizes divide (then the windows are equal); ONNX has no other."""
        h, wd = w.in_shapes[0][2:]
        if h % self.size[0] or wd % self.size[1]:
            w.refuse(f"adaptive average pooling from {h}x{wd} to {self.size[0]}x"
                     f"{self.size[1]} has no ONNX op (the sizes must divide)")
        kernel = [h // self.size[0], wd // self.size[1]]
        w.emit("AveragePool", w.inputs, kernel_shape=kernel, strides=kernel)


class Reduce(Op):
    """Shared by the reductions over some dimensions (``axes``, after the batch): one
    operation per input element (an addition for the mean, a comparison for the max)."""

    __slots__ = ()
    family = POOL
    onnx_attrs = {"axes": "axes", "keepdims": "keepdims"}  # axes an attribute up to opset 17

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


@register("reduce_mean")
@dataclass(frozen=True, slots=True)
class ReduceMean(Reduce):
    """Mean over some dimensions: one addition per input element (global average pooling is
    the mean over height and width)."""

    summary = "mean over dimensions (axes)"
    counting = no_tool_counts("x.mean, torch.mean", "aten::mean",
                              thop=thop_not_a_module("x.mean"))
    onnx_op = "ReduceMean"
    axes: tuple[int, ...] = attr(kind=SHAPE, doc="the dimensions averaged, e.g. [2, 3]")
    keepdims: bool = attr(True, kind=BOOL, doc="keep them as size 1")


@register("reduce_max")
@dataclass(frozen=True, slots=True)
class ReduceMax(Reduce):
    """Max over some dimensions: one comparison per input element."""

    summary = "max over dimensions (axes)"
    counting = counts(
        fvcore=not_counted_by("fvcore", "aten::max is in _IGNORED_OPS and aten::amax has no "
                              "handle", "fvcore/nn/jit_analysis.py _IGNORED_OPS, "
                              "fvcore/nn/flop_count.py _DEFAULT_SUPPORTED_OPS"),
        ptflops=ptflops_no_hook("x.amax, torch.max(x, dim)"), ptflops_aten=ATEN_NOT_COUNTED,
        thop=thop_not_a_module("x.amax"), torchinfo=torchinfo_no_weight("x.amax"))
    onnx_op = "ReduceMax"
    axes: tuple[int, ...] = attr(kind=SHAPE, doc="the dimensions reduced, e.g. [-1]")
    keepdims: bool = attr(True, kind=BOOL, doc="keep them as size 1")
