"""Activation functions: one element-wise operation per element, whatever the function.

Counting every activation as one operation per element is a convention (an exp costs more
than a max); it is stated in docs/metrics.md. What separates them in practice is memory
traffic, which is the same for all: read the input, write the output.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from cnncost.core.errors import RuleError
from cnncost.core.ir import Cost, Shape, numel
from cnncost.ops.base import (ACTIVATION, BOOL, CHOICE, FLOAT, INT, Op, attr, fmt_shape, io_cost,
                              register)
from cnncost.ops.counting import (ACTIVATIONS, ATEN_NOT_COUNTED, Counting, Item, Rule, Site,
                                  TorchCalls, counts, elements_in, elements_out, fvcore_ignored,
                                  fvcore_no_handle, no_tool_counts, per_element, thop_no_rule,
                                  thop_zero_rule, torchinfo_no_weight)


@dataclass(frozen=True, slots=True)
class Activation(Op):
    """Base of the activations; those without attributes are plain subclasses of it (a
    subclass that adds no fields needs no dataclass decorator of its own)."""

    family = ACTIVATION

    def infer(self, inputs: tuple[Shape, ...]) -> Shape:
        return inputs[0]

    def cost(self, inputs: tuple[Shape, ...], out: Shape) -> Cost:
        return io_cost(inputs, out, elementwise_ops=numel(out))


def _simple(name: str, summary: str, aliases: tuple[str, ...] = (),
            **declared: Any) -> type[Activation]:
    """An activation without attributes; ``declared``: its class declarations (onnx_op, ...)."""
    cls = type(name.title().replace("_", ""), (Activation,),
               {"__slots__": (), "summary": summary, "__doc__": summary, **declared})
    return register(name, aliases=aliases)(cls)


def write_clip(w: Any, low: float, high: float) -> None:
    """Clip(x, low, high), its bounds as inputs (opset 11 and newer)."""
    w.emit("Clip", [w.inputs[0], w.scalar("low", low), w.scalar("high", high)])


def _relu6_onnx(self: Activation, w: Any) -> None:
    write_clip(w, 0.0, 6.0)  # as PyTorch writes it; read back as relu6


def _swish_onnx(self: Activation, w: Any) -> None:
    w.emit("Mul", [w.inputs[0], w.step("Sigmoid", w.inputs, "sigmoid")])  # x * sigmoid(x)


# -- what the peer tools count for these ops (cnncost.ops.counting) ---------------------------

def _ptflops(module: str, function: str, *, hook: bool = True, patched: bool = True,
             module_calls_it: bool = True) -> TorchCalls:
    """ptflops' rule for an activation: the module's hook (if it has one) counts 1 per output
    element, its function (if patched) 1 per input element, once more when the module calls
    it."""
    return TorchCalls(ACTIVATIONS, module, function,
                      hook=per_element(ACTIVATIONS, 1, elements_out, "1 per element")
                      if hook else None,
                      call=per_element(ACTIVATIONS, 1, elements_in, "1 per element")
                      if patched else None, module_calls_it=module_calls_it)


def _activation(module: str, function: str, fvcore: Rule, ptflops: TorchCalls,
                thop: Rule) -> Counting:
    """An activation no tool but ptflops (and thop where it says) counts."""
    return counts(fvcore=fvcore, ptflops=ptflops, ptflops_aten=ATEN_NOT_COUNTED, thop=thop,
                  torchinfo=torchinfo_no_weight(module))


def _thop_softmax(s: Site) -> tuple[Item, ...]:
    """thop's count_softmax (thop/vision/basic_hooks.py): nfeatures = x.size()[m.dim], the
    size along the module's dim; exp, sum and division, 3 x nfeatures - 1 a position
    (calculate_softmax, thop/vision/calc_func.py)."""
    size = s.inputs[0][s.op.axis]
    return (Item(ACTIVATIONS, elements_in(s) // size * (3 * size - 1),
                 "3 x the axis's size - 1 per position"),)


def _torchinfo_prelu(s: Site) -> tuple[Item, ...]:
    """torchinfo: the slopes (PReLU's weight) once a sample."""
    return (Item(ACTIVATIONS, s.cost.weights * s.batch, "slopes x batch"),)


ReLU = _simple("relu", "max(x, 0)", onnx_op="Relu", counting=_activation(
    "nn.ReLU", "F.relu", fvcore_ignored("aten::relu"), _ptflops("nn.ReLU", "F.relu"),
    thop_zero_rule("nn.ReLU")))
ReLU6 = _simple("relu6", "min(max(x, 0), 6)", to_onnx=_relu6_onnx, counting=_activation(
    "nn.ReLU6", "F.relu6", fvcore_no_handle("aten::hardtanh"),
    _ptflops("nn.ReLU6", "F.relu6", module_calls_it=False),  # it calls F.hardtanh: not patched
    thop_zero_rule("nn.ReLU6")))
Sigmoid = _simple("sigmoid", "1 / (1 + exp(-x))", onnx_op="Sigmoid",
                  counting=no_tool_counts("nn.Sigmoid, torch.sigmoid", "aten::sigmoid"))
HardSigmoid = _simple("hardsigmoid", "relu6(x + 3) / 6", aliases=("hsigmoid",),
                      onnx_op="HardSigmoid", onnx_fixed={"alpha": 1 / 6, "beta": 0.5},
                      counting=no_tool_counts("nn.Hardsigmoid, F.hardsigmoid",
                                              "aten::hardsigmoid"))
HardSwish = _simple("hardswish", "x * relu6(x + 3) / 6", aliases=("hswish",),
                    onnx_op="HardSwish",
                    counting=no_tool_counts("nn.Hardswish, F.hardswish", "aten::hardswish"))
Swish = _simple("swish", "x * sigmoid(x)", aliases=("silu",), to_onnx=_swish_onnx,
                counting=_activation("nn.SiLU", "F.silu", fvcore_no_handle("aten::silu"),
                                     _ptflops("nn.SiLU", "F.silu", hook=False),
                                     thop_no_rule("nn.SiLU")))
Tanh = _simple("tanh", "tanh(x)", onnx_op="Tanh",
               counting=no_tool_counts("nn.Tanh, torch.tanh", "aten::tanh"))


@register("leaky_relu")
@dataclass(frozen=True, slots=True)
class LeakyReLU(Activation):
    """max(x, 0) + slope * min(x, 0)."""

    summary = "max(x, 0) + slope * min(x, 0)"
    counting = _activation("nn.LeakyReLU", "F.leaky_relu", fvcore_no_handle("aten::leaky_relu"),
                           _ptflops("nn.LeakyReLU", "F.leaky_relu", patched=False),
                           thop_zero_rule("nn.LeakyReLU", "count_relu"))
    onnx_op = "LeakyRelu"
    onnx_attrs = {"slope": "alpha"}
    slope: float = attr(0.01, kind=FLOAT, doc="slope for x < 0")


@register("clip")
@dataclass(frozen=True, slots=True)
class Clip(Activation):
    """min(max(x, low), high); relu6 is clip(0, 6)."""

    summary = "min(max(x, low), high)"
    counting = no_tool_counts("nn.Hardtanh, torch.clamp", "aten::hardtanh (torch.clamp's "
                              "aten::clamp is in _IGNORED_OPS)")
    low: float = attr(0.0, kind=FLOAT, doc="lower bound")
    high: float = attr(6.0, kind=FLOAT, doc="upper bound")

    def to_onnx(self, w: Any) -> None:
        write_clip(w, self.low, self.high)


@register("prelu")
@dataclass(frozen=True, slots=True)
class PReLU(Activation):
    """max(x, 0) + slope_c * min(x, 0) with a learned slope per channel (or one for all)."""

    summary = "leaky ReLU with learned slopes, one per channel (or shared)"
    counting = counts(fvcore=fvcore_no_handle("aten::prelu"),
                      ptflops=_ptflops("nn.PReLU", "F.prelu"), ptflops_aten=ATEN_NOT_COUNTED,
                      thop=per_element(ACTIVATIONS, 1, elements_in, "1 per element (eval)"),
                      torchinfo=_torchinfo_prelu)
    shared: bool = attr(False, kind=BOOL, doc="one slope for all channels")

    def cost(self, inputs: tuple[Shape, ...], out: Shape) -> Cost:
        slopes = 1 if self.shared or len(out) < 2 else out[1]
        return io_cost(inputs, out, elementwise_ops=numel(out), weights=slopes,
                       param_reads=slopes)

    def to_onnx(self, w: Any) -> None:
        """PRelu with its slopes: (C, 1, 1) to broadcast over a feature map, else (C,)."""
        x = w.in_shapes[0]
        c = 1 if self.shared else x[1]
        w.emit("PRelu", [w.inputs[0], w.weight("slope", (c, 1, 1) if len(x) == 4 and c > 1
                                               else (c,))])


NONE, TANH = "none", "tanh"


@register("gelu")
@dataclass(frozen=True, slots=True)
class GELU(Activation):
    """x * Phi(x), Phi the standard normal CDF: exact (with erf) or its tanh approximation
    (nn.GELU(approximate="tanh")). One operation per element, as every activation."""

    summary = "x * Phi(x), exact (erf) or the tanh approximation"
    counting = _activation("nn.GELU", "F.gelu", fvcore_no_handle("aten::gelu"),
                           _ptflops("nn.GELU", "F.gelu"), thop_no_rule("nn.GELU"))
    approximate: str = attr(NONE, kind=CHOICE, choices=(NONE, TANH),
                            doc="none: x * Phi(x) with erf; tanh: the tanh approximation")

    def to_onnx(self, w: Any) -> None:
        """ONNX has Gelu from opset 20 only: written as PyTorch writes nn.GELU at opset 17
        (the importer reads both forms back, and Gelu itself)."""
        x = w.inputs[0]
        if self.approximate == NONE:  # x * (erf(x / sqrt 2) + 1) * 0.5
            erf = w.step("Erf", [w.step("Div", [x, w.scalar("sqrt2", math.sqrt(2.0))], "div")],
                         "erf")
            plus = w.step("Add", [erf, w.scalar("one", 1.0)], "add")
            w.emit("Mul", [w.step("Mul", [x, plus], "mul"), w.scalar("half", 0.5)])
            return
        # x * (tanh(sqrt(2 / pi) * (x + 0.044715 x^3)) + 1) * 0.5
        cube = w.step("Mul", [x, w.step("Mul", [x, x], "square")], "cube")
        inner = w.step("Add", [x, w.step("Mul", [w.scalar("c", 0.044715), cube], "scaled")],
                       "inner")
        tanh = w.step("Tanh", [w.step("Mul", [w.scalar("k", math.sqrt(2.0 / math.pi)), inner],
                                      "arg")], "tanh")
        plus = w.step("Add", [w.scalar("one", 1.0), tanh], "add")
        w.emit("Mul", [w.scalar("half", 0.5), w.step("Mul", [x, plus], "mul")])


@register("softmax")
@dataclass(frozen=True, slots=True)
class Softmax(Activation):
    """exp(x) / sum(exp(x)) along one dimension: the channels (axis 1) or, in attention, the
    last (-1). One operation per element, as every activation (docs/metrics.md)."""

    summary = "softmax along one axis (channels by default; -1 for attention rows)"
    counting = _activation("nn.Softmax", "F.softmax", fvcore_no_handle("aten::softmax"),
                           _ptflops("nn.Softmax", "F.softmax", hook=False), _thop_softmax)
    axis: int = attr(1, kind=INT, doc="the dimension normalised (a negative one counts from "
                                      "the end: -1 for the last)")

    def infer(self, inputs: tuple[Shape, ...]) -> Shape:
        shape = inputs[0]
        if not -len(shape) < self.axis < len(shape) or self.axis == 0:
            raise RuleError(f"axis={self.axis} must be a dimension of {fmt_shape(shape)} after "
                            f"the batch", hint="1 for the channels, -1 for the last dimension",
                            key="axis")
        return shape

    def to_onnx(self, w: Any) -> None:
        """Softmax with its axis always written (ONNX's default changed from 1 to -1 at
        opset 13, and cnncost's is 1)."""
        w.emit("Softmax", w.inputs, axis=self.axis)
