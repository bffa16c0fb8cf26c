"""Activation functions: one element-wise operation per element, whatever the function.

Counting every activation as one operation per element is a convention (an exp costs more
than a max); it is stated in docs/metrics.md. What separates them in practice is memory
traffic, which is the same for all: read the input, write the output.
"""

from __future__ import annotations

from dataclasses import dataclass

from cnncost.core.ir import Cost, Shape, numel
from cnncost.ops.base import ACTIVATION, BOOL, FLOAT, Op, attr, io_cost, register


@dataclass(frozen=True, slots=True)
class Activation(Op):
    """Base of the activations; those without attributes are plain subclasses of it (a
    subclass that adds no fields needs no dataclass decorator of its own)."""

    family = ACTIVATION

    def infer(self, inputs: tuple[Shape, ...]) -> Shape:
        return inputs[0]

    def cost(self, inputs: tuple[Shape, ...], out: Shape) -> Cost:
        return io_cost(inputs, out, elementwise_ops=numel(out))


def _simple(name: str, summary: str, aliases: tuple[str, ...] = ()) -> type[Activation]:
    cls = type(name.title().replace("_", ""), (Activation,),
               {"__slots__": (), "summary": summary, "__doc__": summary})
    return register(name, aliases=aliases)(cls)


ReLU = _simple("relu", "max(x, 0)")
ReLU6 = _simple("relu6", "min(max(x, 0), 6)")
Sigmoid = _simple("sigmoid", "1 / (1 + exp(-x))")
HardSigmoid = _simple("hardsigmoid", "relu6(x + 3) / 6", aliases=("hsigmoid",))
HardSwish = _simple("hardswish", "x * relu6(x + 3) / 6", aliases=("hswish",))
Swish = _simple("swish", "x * sigmoid(x)", aliases=("silu",))
Tanh = _simple("tanh", "tanh(x)")
GELU = _simple("gelu", "x * Phi(x)")
Softmax = _simple("softmax", "softmax over channels")


@register("leaky_relu")
@dataclass(frozen=True, slots=True)
class LeakyReLU(Activation):
    """max(x, 0) + slope * min(x, 0)."""

    summary = "max(x, 0) + slope * min(x, 0)"
    slope: float = attr(0.01, kind=FLOAT, doc="slope for x < 0")


@register("clip")
@dataclass(frozen=True, slots=True)
class Clip(Activation):
    """min(max(x, low), high); relu6 is clip(0, 6)."""

    summary = "min(max(x, low), high)"
    low: float = attr(0.0, kind=FLOAT, doc="lower bound")
    high: float = attr(6.0, kind=FLOAT, doc="upper bound")


@register("prelu")
@dataclass(frozen=True, slots=True)
class PReLU(Activation):
    """max(x, 0) + slope_c * min(x, 0) with a learned slope per channel (or one for all)."""

    summary = "leaky ReLU with learned slopes, one per channel (or shared)"
    shared: bool = attr(False, kind=BOOL, doc="one slope for all channels")

    def cost(self, inputs: tuple[Shape, ...], out: Shape) -> Cost:
        slopes = 1 if self.shared or len(out) < 2 else out[1]
        return io_cost(inputs, out, elementwise_ops=numel(out), weights=slopes,
                       param_reads=slopes)
