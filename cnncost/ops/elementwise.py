"""Element-wise arithmetic between tensors: residual adds and squeeze-excite products."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cnncost.core.errors import RuleError
from cnncost.core.ir import Cost, Shape, is_vector, numel
from cnncost.ops.base import (BOOL, CHOICE, ELEMENTWISE, SHAPE, Op, attr, fmt_shape, io_cost,
                              positive, register)
from cnncost.ops.counting import (ARITHMETIC, ATEN_NOT_COUNTED, Counting, Item, Site,
                                  TorchCalls, counts, elements_out, fvcore_no_handle,
                                  not_counted_by, ptflops_no_hook, thop_not_a_module)


# -- what the peer tools count for these ops (cnncost.ops.counting) ---------------------------

def _per_call(s: Site) -> tuple[Item, ...]:
    """ptflops' patched torch.add and torch.mul: 1 per output element a call."""
    return (Item(ARITHMETIC, (len(s.inputs) - 1) * elements_out(s),
                 "1 per output element a call"),)


def _operator(name: str, operator: str) -> Counting:
    """An op PyTorch code writes as a Python operator (which no tool sees) or, with
    ``torch_call: functional``, as ``torch.<name>``: ptflops patches torch.add and torch.mul
    only."""
    code = f"the {operator} operator"
    ptflops = TorchCalls(ARITHMETIC, code, f"torch.{name}", call=_per_call) \
        if name in ("add", "mul") else ptflops_no_hook(f"{code}, torch.{name}")
    return counts(fvcore=fvcore_no_handle(f"aten::{name}"), ptflops=ptflops,
                  ptflops_aten=ATEN_NOT_COUNTED, thop=thop_not_a_module(code),
                  torchinfo=not_counted_by("torchinfo", f"{code} is no module",
                                           "torchinfo/layer_info.py LayerInfo"))


def _ptflops_const(s: Site) -> tuple[Item, ...]:
    """ptflops: torch.add(x, c) and torch.mul(x, c) are patched, 1 per output element a call
    (the constant broadcast); the operators and the other functions are not."""
    if s.functional and s.op.fn in ("add", "mul"):
        return (Item(ARITHMETIC, elements_out(s),
                     f"torch.{s.op.fn}: 1 per output element a call"),)
    return ()


def _shapes(inputs: tuple[Shape, ...]) -> str:
    return ", ".join(fmt_shape(s) for s in inputs)


class Arithmetic(Op):
    """Element-wise arithmetic of k >= 2 tensors: k - 1 operations per output element, every
    input element read once, the output written once."""

    __slots__ = ()
    family = ELEMENTWISE
    min_inputs = 2
    max_inputs = None

    def infer(self, inputs: tuple[Shape, ...]) -> Shape:
        return broadcast(inputs, self.op_name)

    def cost(self, inputs: tuple[Shape, ...], out: Shape) -> Cost:
        return io_cost(inputs, out, elementwise_ops=(len(inputs) - 1) * numel(out))

    def to_onnx(self, w: Any) -> None:
        """Its binary ``onnx_op`` over the inputs, left to right."""
        w.chain(self.onnx_op, w.inputs)


@register("add")
@dataclass(frozen=True, slots=True)
class Add(Arithmetic):
    """Sum of two or more tensors of one shape (a residual connection)."""

    summary = "sum of tensors of the same shape"
    counting = _operator("add", "+")
    onnx_op = "Add"

    def infer(self, inputs: tuple[Shape, ...]) -> Shape:
        try:
            return broadcast(inputs, "add")
        except RuleError as exc:
            raise RuleError(f"add needs inputs of one shape; got {_shapes(inputs)}",
                            hint="a residual add needs a projection (1x1 conv) when the "
                                 "channels or the stride change (size-1 dimensions "
                                 "broadcast)") from exc

    def to_onnx(self, w: Any) -> None:
        """Add, or one Sum of more than two tensors (a chain of Adds would read more)."""
        w.emit("Sum" if len(w.inputs) > 2 else "Add", w.inputs)


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
    counting = _operator("mul", "*")
    onnx_op = "Mul"


@register("sub")
@dataclass(frozen=True, slots=True)
class Sub(Arithmetic):
    """Element-wise difference, broadcasting size-1 dimensions."""

    summary = "element-wise difference, broadcasting size-1 dimensions"
    counting = _operator("sub", "-")
    onnx_op = "Sub"
    max_inputs = 2


@register("div")
@dataclass(frozen=True, slots=True)
class Div(Arithmetic):
    """Element-wise quotient, broadcasting size-1 dimensions."""

    summary = "element-wise quotient, broadcasting size-1 dimensions"
    counting = _operator("div", "/")
    onnx_op = "Div"
    max_inputs = 2


@register("where")
@dataclass(frozen=True, slots=True)
class Where(Op):
    """x where the condition holds, else y (torch.where, masked_fill), broadcasting size-1
    dimensions: one selection per output element, every input element read once."""

    family = ELEMENTWISE
    summary = "x where a condition holds, else y (inputs: condition, x, y)"
    counting = counts(fvcore=fvcore_no_handle("aten::where"),
                      ptflops=ptflops_no_hook("torch.where"), ptflops_aten=ATEN_NOT_COUNTED,
                      thop=thop_not_a_module("torch.where"),
                      torchinfo=not_counted_by("torchinfo", "torch.where is no module",
                                               "torchinfo/layer_info.py LayerInfo"))
    min_inputs = 3
    max_inputs = 3

    def infer(self, inputs: tuple[Shape, ...]) -> Shape:
        return broadcast(inputs, "where")

    def cost(self, inputs: tuple[Shape, ...], out: Shape) -> Cost:
        return io_cost(inputs, out, elementwise_ops=numel(out))

    def to_onnx(self, w: Any) -> None:
        """Where, its condition cast to bool first: ONNX's Where takes a bool condition, and
        cnncost writes every tensor as float (the importer reads the Cast as a view)."""
        condition = w.step("Cast", [w.inputs[0]], "condition", to=9)  # TensorProto.BOOL
        w.emit("Where", [condition, *w.inputs[1:]])


@register("const")
@dataclass(frozen=True, slots=True)
class Const(Op):
    """An element-wise operation with a constant operand: x + b, x * s, ... One operation per
    element; the constant is read once. A learned constant (a bias, a per-channel scale) counts
    as parameters: biases for add and sub, weights for mul and div."""

    family = ELEMENTWISE
    summary = "x (fn) a constant of the given shape, e.g. a bias add or a scale"
    counting = counts(
        fvcore=fvcore_no_handle("aten::add, sub, mul, div, pow, maximum or minimum"),
        ptflops=_ptflops_const, ptflops_aten=ATEN_NOT_COUNTED,
        thop=thop_not_a_module("x (fn) a constant"),
        torchinfo=not_counted_by("torchinfo", "a constant operand is no module's weight or "
                                 "bias", "torchinfo/layer_info.py LayerInfo"))
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

    def to_onnx(self, w: Any) -> None:
        """The ONNX op of ``fn`` with the constant as an initializer (a scalar for shape
        [1]): random when learned, else ones."""
        operand = w.weight("c", () if self.shape == (1,) else tuple(self.shape),
                           None if self.learned else 1.0)
        w.emit(_CONST_ONNX[self.fn], [w.inputs[0], operand])


_CONST_ONNX = {"add": "Add", "sub": "Sub", "mul": "Mul", "div": "Div", "pow": "Pow",
               "max": "Max", "min": "Min"}
