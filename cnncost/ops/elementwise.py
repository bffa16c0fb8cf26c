"""Element-wise arithmetic between tensors: residual adds and squeeze-excite products."""

from __future__ import annotations

from dataclasses import dataclass

from cnncost.core.errors import RuleError
from cnncost.core.ir import Cost, Shape, is_vector, numel
from cnncost.ops.base import (BOOL, CHOICE, ELEMENTWISE, SHAPE, Op, attr, fmt_shape, io_cost,
                              positive, register)


def _shapes(inputs: tuple[Shape, ...]) -> str:
    return ", ".join(fmt_shape(s) for s in inputs)


class Arithmetic(Op):
    """Element-wise arithmetic of k >= 2 tensors: k - 1 operations per output element, every
    input element read once, the output written once."""

    __slots__ = ()
    family = ELEMENTWISE
    min_inputs = 2
    max_inputs = None

    def cost(self, inputs: tuple[Shape, ...], out: Shape) -> Cost:
        return io_cost(inputs, out, elementwise_ops=(len(inputs) - 1) * numel(out))


@register("add")
@dataclass(frozen=True, slots=True)
class Add(Arithmetic):
    """Sum of two or more tensors of one shape (a residual connection)."""

    summary = "sum of tensors of the same shape"

    def infer(self, inputs: tuple[Shape, ...]) -> Shape:
        try:
            return broadcast(inputs, "add")
        except RuleError as exc:
            raise RuleError(f"add needs inputs of one shape; got {_shapes(inputs)}",
                            hint="a residual add needs a projection (1x1 conv) when the "
                                 "channels or the stride change (size-1 dimensions "
                                 "broadcast)") from exc


def broadcast(inputs: tuple[Shape, ...], op: str) -> Shape:
    """NumPy's broadcasting of same-rank shapes: each dimension equal, or 1."""
    rank = len(inputs[0])
    if any(len(s) != rank for s in inputs):
        raise RuleError(f"{op} needs inputs of one rank; got {_shapes(inputs)}")
    out = []
    for dims in zip(*inputs):
        if any(is_vector(d) for d in dims):  # a sweep
            from cnncost.core.vector import broadcast_size

            size = broadcast_size(dims)
            if size is None:
                raise RuleError(f"{op} cannot broadcast {_shapes(inputs)}")
            out.append(size)
            continue
        size = max(dims)
        if any(d not in (1, size) for d in dims):
            raise RuleError(f"{op} cannot broadcast {_shapes(inputs)}",
                            hint="each dimension must match or be 1, e.g. (1, C, H, W) * "
                                 "(1, C, 1, 1)")
        out.append(size)
    return tuple(out)


@register("mul")
@dataclass(frozen=True, slots=True)
class Mul(Arithmetic):
    """Element-wise product with broadcasting: (N, C, H, W) * (N, C, 1, 1) scales channels."""

    summary = "element-wise product, broadcasting size-1 dimensions (squeeze-excite)"

    def infer(self, inputs: tuple[Shape, ...]) -> Shape:
        return broadcast(inputs, self.op_name)


@register("sub")
@dataclass(frozen=True, slots=True)
class Sub(Arithmetic):
    """Element-wise difference, broadcasting size-1 dimensions."""

    summary = "element-wise difference, broadcasting size-1 dimensions"
    max_inputs = 2

    def infer(self, inputs: tuple[Shape, ...]) -> Shape:
        return broadcast(inputs, self.op_name)


@register("div")
@dataclass(frozen=True, slots=True)
class Div(Arithmetic):
    """Element-wise quotient, broadcasting size-1 dimensions."""

    summary = "element-wise quotient, broadcasting size-1 dimensions"
    max_inputs = 2

    def infer(self, inputs: tuple[Shape, ...]) -> Shape:
        return broadcast(inputs, self.op_name)


@register("const")
@dataclass(frozen=True, slots=True)
class Const(Op):
    """An element-wise operation with a constant operand: x + b, x * s, ... One operation per
    element; the constant is read once. A learned constant (a bias, a per-channel scale) counts
    as parameters: biases for add and sub, weights for mul and div."""

    family = ELEMENTWISE
    summary = "x (fn) a constant of the given shape, e.g. a bias add or a scale"
    fn: str = attr("add", kind=CHOICE, choices=("add", "sub", "mul", "div", "pow", "max", "min"),
                   doc="the operation")
    shape: tuple[int, ...] = attr((1,), kind=SHAPE,
                                  doc="the constant's shape, broadcast to the input's")
    learned: bool = attr(False, kind=BOOL, doc="the constant is a parameter")

    def __post_init__(self) -> None:
        for d in self.shape:
            positive(d, "shape")

    def infer(self, inputs: tuple[Shape, ...]) -> Shape:
        x = inputs[0]
        if len(self.shape) > len(x):
            raise RuleError(f"a constant of shape {list(self.shape)} has more dimensions than "
                            f"the input {fmt_shape(x)}", key="shape")
        padded = (1,) * (len(x) - len(self.shape)) + tuple(self.shape)
        if broadcast((x, padded), "const") != x:
            raise RuleError(f"a constant of shape {list(self.shape)} would enlarge the input "
                            f"{fmt_shape(x)}", key="shape")
        return x

    def cost(self, inputs: tuple[Shape, ...], out: Shape) -> Cost:
        size = numel(self.shape)
        params = size if self.learned else 0
        return Cost(biases=params if self.fn in ("add", "sub") else 0,
                    weights=params if self.fn not in ("add", "sub") else 0,
                    elementwise_ops=numel(out), input_reads=numel(inputs[0]), param_reads=size,
                    output_writes=numel(out))
