"""Products of activations beyond matmul: scaled dot-product attention and einsum.

Their multiply-adds are those of the products they are made of (docs/metrics.md); the other
work of attention (the scale, the softmax, a bias added to the logits) is element-wise, one
operation per element, as every activation's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from cnncost.core.errors import RuleError, shown
from cnncost.core.ir import Cost, Shape, numel
from cnncost.ops.base import LINEAR, TEXT, Op, attr, fmt_shape, io_cost, register
from cnncost.ops.counting import (ACTIVATIONS, ARITHMETIC, ATEN_NOT_COUNTED, BIASES, PRODUCTS,
                                  Item, Site, TorchCalls, counts, fvcore_no_handle,
                                  ptflops_no_hook, thop_not_a_module, torchinfo_no_weight)


# -- attention -------------------------------------------------------------------------------

def _ptflops_multihead(s: Site) -> tuple[Item, ...]:
    """ptflops 0.7.5's hook on nn.MultiheadAttention (ptflops/pytorch_ops.py
    multihead_attention_counter_hook), which counts the whole module from its q, k, v of
    D = heads x d features: the q scale L D, the in-projections (L + 2 S) D^2 with their biases
    (L + 2 S) D (nn.MultiheadAttention's default bias=True), a head's q k^T, softmax and
    weights x v: L S d + L S + L S dv, and the out-projection L Dv (Dv + 1); times the batch.
    A spec writes the module as linear, attention, linear: the hook's count sits on the
    attention (the projections are F.linear calls, which ptflops does not patch)."""
    lead, length, source, d, dv = _attention_shapes(s.inputs)
    batch, heads = lead[0], numel(lead[1:])
    big_d, big_dv = heads * d, heads * dv
    return (Item(PRODUCTS, batch * (length * big_d * big_d + source * big_d * big_d
                                    + source * big_dv * big_dv + length * big_dv * big_dv
                                    + heads * length * source * (d + dv)),
                 "the in- and out-projections, q k^T and weights x v"),
            Item(BIASES, batch * ((length + 2 * source) * big_d + length * big_dv),
                 "the projections' biases"),
            Item(ACTIVATIONS, batch * heads * length * source, "the softmax, 1 per logit"),
            Item(ARITHMETIC, batch * length * big_d, "the q scale, 1 per element"))


def _attention_shapes(inputs: tuple[Shape, ...]) -> tuple[Shape, int, int, int, int]:
    """(leading dimensions, L, S, d, dv) of q (..., L, d), k (..., S, d), v (..., S, dv), or
    RuleError; a 4th input (a bias or mask) must broadcast to (..., L, S)."""
    q, k, v = inputs[:3]
    if len(q) < 3 or not len(q) == len(k) == len(v):
        raise RuleError(f"attention needs q, k and v of one rank, at least (N, L, d); got "
                        f"{', '.join(fmt_shape(s) for s in inputs[:3])}",
                        hint="q (N, heads, L, d), k (N, heads, S, d), v (N, heads, S, dv)")
    lead, (length, d), (source, dk), (sv, dv) = q[:-2], q[-2:], k[-2:], v[-2:]
    if k[:-2] != lead or v[:-2] != lead:
        raise RuleError(f"attention needs q, k and v with the same leading (batch, heads) "
                        f"dimensions; got {fmt_shape(q)}, {fmt_shape(k)}, {fmt_shape(v)}")
    if dk != d:
        raise RuleError(f"q's last dimension {d} must equal k's {dk} (the query-key product)")
    if sv != source:
        raise RuleError(f"k has {source} positions and v {sv}: they must be equal")
    if len(inputs) == 4:
        bias, logits = inputs[3], (*lead, length, source)
        if len(bias) > len(logits) or any(
                b not in (1, t) for b, t in zip(reversed(bias), reversed(logits))):
            raise RuleError(f"the bias {fmt_shape(bias)} does not broadcast to the attention "
                            f"logits {fmt_shape(logits)}", hint="each dimension equal or 1")
    return lead, length, source, d, dv


@register("attention", aliases=("sdpa", "scaled_dot_product_attention"))
@dataclass(frozen=True, slots=True)
class Attention(Op):
    """Scaled dot-product attention (F.scaled_dot_product_attention): softmax(q k^T * scale +
    bias) v over q (N, H, L, d), k (N, H, S, d), v (N, H, S, dv) and an optional bias or
    additive mask broadcast to (N, H, L, S). Out (N, H, L, dv).

    mult_adds: N H L S d (q k^T) + N H L S dv (the weights times v). Element-wise: the scale,
    the softmax and the bias add, each N H L S. Memory access as one fused kernel: q, k, v
    (and the bias) read once, the output written once (the L x S logits stay on chip)."""

    family = LINEAR
    summary = "scaled dot-product attention softmax(q k^T / sqrt(d) [+ bias]) v"
    min_inputs = 3
    max_inputs = 4
    # Called as a function (torch_call: functional), 0 in every tool, run for real
    # (tests/test_ops_attention.py): fvcore has no handle for
    # aten::scaled_dot_product_attention; ptflops patches no F.scaled_dot_product_attention;
    # as a module (nn.MultiheadAttention, ViT's), ptflops' hook counts the whole module (above;
    # tests/test_conventions_transformers.py); its aten backend sees
    # aten::_scaled_dot_product_flash_attention_for_cpu, not mapped;
    # thop and torchinfo see no module
    counting = counts(
        fvcore=fvcore_no_handle("aten::scaled_dot_product_attention"),
        ptflops=TorchCalls(PRODUCTS, "nn.MultiheadAttention", "F.scaled_dot_product_attention",
                           hook=_ptflops_multihead),
        ptflops_aten=ATEN_NOT_COUNTED,
        thop=thop_not_a_module("F.scaled_dot_product_attention"),
        torchinfo=torchinfo_no_weight("F.scaled_dot_product_attention"))

    def infer(self, inputs: tuple[Shape, ...]) -> Shape:
        lead, length, _, _, dv = _attention_shapes(inputs)
        return (*lead, length, dv)

    def cost(self, inputs: tuple[Shape, ...], out: Shape) -> Cost:
        lead, length, source, d, dv = _attention_shapes(inputs)
        logits = numel(lead) * length * source
        per_logit = 3 if len(inputs) == 4 else 2  # the scale, the softmax (and the bias)
        return io_cost(inputs, out, mult_adds=logits * (d + dv),
                       elementwise_ops=per_logit * logits)

    def latency_kind(self, in_channels: int) -> str:
        return "linear"  # GEMMs, as a linear layer's

    def to_onnx(self, w: Any) -> None:
        """Unfused, as PyTorch writes F.scaled_dot_product_attention at opset 17: MatMul of q
        and k transposed, Mul by the scale 1 / sqrt(d), Add of the bias (when given),
        Softmax over the last axis, MatMul by v (read back as one attention)."""
        q, k, v = w.inputs[:3]
        d = w.in_shapes[0][-1]
        rank = len(w.in_shapes[0])
        turned = w.step("Transpose", [k], "k_t", perm=[*range(rank - 2), rank - 1, rank - 2])
        logits = w.step("Mul", [w.step("MatMul", [q, turned], "qk"),
                                w.scalar("scale", 1 / math.sqrt(d))], "scaled")
        if len(w.inputs) == 4:
            logits = w.step("Add", [logits, w.inputs[3]], "bias")
        w.emit("MatMul", [w.step("Softmax", [logits], "softmax", axis=-1), v])


# -- einsum ----------------------------------------------------------------------------------

def _terms(equation: str) -> tuple[tuple[str, ...], str]:
    """The operands' subscripts and the output's of an explicit equation, or RuleError."""
    text = equation.replace(" ", "")
    if "..." in text:
        raise RuleError(f"einsum {shown(equation)}: an ellipsis (...) is not supported",
                        hint="name every dimension with a letter", key="equation")
    if text.count("->") != 1:
        raise RuleError(f"einsum {shown(equation)} needs one '->' and the output's subscripts",
                        hint='e.g. "bhld,bhsd->bhls"', key="equation")
    left, out = text.split("->")
    operands = tuple(left.split(","))
    for term in (*operands, out):
        if not all(ch.isascii() and ch.isalpha() for ch in term):
            raise RuleError(f"einsum {shown(equation)}: subscripts are letters, one per "
                            f"dimension, operands separated by commas", key="equation")
        if len(set(term)) != len(term):
            raise RuleError(f"einsum {shown(equation)}: a letter repeated in one term (a "
                            f"diagonal) is not supported", key="equation")
    if not 1 <= len(operands) <= 2:
        raise RuleError(f"einsum {shown(equation)} has {len(operands)} operands; cnncost "
                        f"reads 1 or 2", key="equation")
    missing = set(out) - set("".join(operands))
    if missing:
        raise RuleError(f"einsum {shown(equation)}: output letters {''.join(sorted(missing))} "
                        f"are in no operand", key="equation")
    return operands, out


def _fvcore_einsum(s: Site) -> tuple[Item, ...]:
    """fvcore's einsum_flop_jit (fvcore/nn/jit_handles.py): numpy's einsum_path "optimized
    flop" count halved: for one contraction, the product of every letter's size x (max(1,
    operands - 1) + 1 if a letter is summed), / 2 (numpy's _flop_count)."""
    every = numel(tuple(s.op.sizes(s.inputs).values()))
    factor = max(1, len(s.inputs) - 1) + (1 if s.op.summed() else 0)
    return (Item(PRODUCTS, every * factor // 2,
                 "numpy einsum_path's optimized flop / 2"),)


def _aten_einsum(s: Site) -> tuple[Item, ...]:
    """ptflops' backend aten: aten::einsum contracts two operands with aten::bmm (bmm_flop:
    the product of every letter's size); without a summed letter it multiplies (aten::mul,
    not counted)."""
    if not s.op.products():
        return ()
    return (Item(PRODUCTS, s.cost.mult_adds, "aten::bmm: multiply-accumulates"),)


@register("einsum")
@dataclass(frozen=True, slots=True)
class Einsum(Op):
    """torch.einsum of one or two activations, by an explicit equation ("bhwc,bhkc->bhwk").

    With a summed letter (in an operand, not in the output) and two operands, each output
    element sums the products over the summed letters: mult_adds = the product of the sizes
    of every distinct letter. Without one, two operands are an element-wise (or outer)
    product: 1 operation per output element. One operand: a sum over the summed letters (1
    operation per input element) or, with none, a permutation (a copy)."""

    family = LINEAR
    summary = "einsum of one or two tensors by an explicit equation"
    max_inputs = 2
    counting = counts(
        fvcore=_fvcore_einsum,
        ptflops=ptflops_no_hook("torch.einsum"),
        ptflops_aten=_aten_einsum,
        thop=thop_not_a_module("torch.einsum"),
        torchinfo=torchinfo_no_weight("torch.einsum"))
    onnx_op = "Einsum"
    onnx_attrs = {"equation": "equation"}
    onnx_opset = 12

    equation: str = attr(kind=TEXT, doc='explicit subscripts, e.g. "bhld,bhsd->bhls" '
                                        '(letters, no ellipsis)')

    def __post_init__(self) -> None:
        _terms(self.equation)

    def sizes(self, inputs: tuple[Shape, ...]) -> dict[str, int]:
        """Each letter's size, or RuleError when an operand's rank or sizes disagree."""
        operands, _ = _terms(self.equation)
        if len(inputs) != len(operands):
            raise RuleError(f"einsum {shown(self.equation)} has {len(operands)} operand(s); "
                            f"it reads {len(inputs)} input(s)", key="inputs")
        sizes: dict[str, int] = {}
        for term, shape in zip(operands, inputs):
            if len(term) != len(shape):
                raise RuleError(f"einsum term {term!r} names {len(term)} dimensions; its "
                                f"input is {fmt_shape(shape)}", key="equation")
            for letter, size in zip(term, shape):
                if letter in sizes and sizes[letter] != size:
                    raise RuleError(f"einsum letter {letter!r} is {sizes[letter]} in one place "
                                    f"and {size} in another", key="equation")
                sizes.setdefault(letter, size)
        return sizes

    def summed(self) -> bool:
        """Whether some letter is summed (in an operand, not in the output)."""
        operands, out = _terms(self.equation)
        return bool(set("".join(operands)) - set(out))

    def products(self) -> bool:
        """Whether it has multiply-adds: two operands and a summed letter."""
        return self.summed() and len(_terms(self.equation)[0]) == 2

    def infer(self, inputs: tuple[Shape, ...]) -> Shape:
        sizes = self.sizes(inputs)
        return tuple(sizes[letter] for letter in _terms(self.equation)[1])

    def cost(self, inputs: tuple[Shape, ...], out: Shape) -> Cost:
        every = numel(tuple(self.sizes(inputs).values()))
        if self.products():
            return io_cost(inputs, out, mult_adds=every)
        if len(inputs) == 2:
            return io_cost(inputs, out, elementwise_ops=numel(out))
        return io_cost(inputs, out, elementwise_ops=every if self.summed() else 0)

    def latency_kind(self, in_channels: int) -> str:
        return "linear" if self.products() else ""
