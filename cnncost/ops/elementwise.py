"""Element-wise arithmetic between tensors: residual adds and squeeze-excite products."""

from __future__ import annotations

from dataclasses import dataclass

from cnncost.errors import RuleError
from cnncost.ir import Cost, Shape, numel
from cnncost.ops.base import ELEMENTWISE, Op, fmt_shape, io_cost, register


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
        if any(s != inputs[0] for s in inputs[1:]):
            raise RuleError(f"add needs inputs of one shape; got {_shapes(inputs)}",
                            hint="a residual add needs a projection (1x1 conv) when the "
                                 "channels or the stride change")
        return inputs[0]


@register("mul")
@dataclass(frozen=True, slots=True)
class Mul(Arithmetic):
    """Element-wise product with broadcasting: (N, C, H, W) * (N, C, 1, 1) scales channels."""

    summary = "element-wise product, broadcasting size-1 dimensions (squeeze-excite)"

    def infer(self, inputs: tuple[Shape, ...]) -> Shape:
        rank = len(inputs[0])
        if any(len(s) != rank for s in inputs):
            raise RuleError(f"mul needs inputs of one rank; got {_shapes(inputs)}")
        out = []
        for dims in zip(*inputs):
            size = max(dims)
            if any(d not in (1, size) for d in dims):
                raise RuleError(f"mul cannot broadcast {_shapes(inputs)}",
                                hint="each dimension must match or be 1, e.g. (1, C, H, W) * "
                                     "(1, C, 1, 1)")
            out.append(size)
        return tuple(out)
