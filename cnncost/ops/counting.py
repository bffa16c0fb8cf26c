"""What the peer tools count for an op, declared on the op: its ``counting`` table.

fvcore, ptflops (backends pytorch and aten), thop and torchinfo each count some ops and not
others. An op class declares, for every tool in ``cnncost.core.settings.CONVENTIONS``, either a
rule (a Site -> Items function) or ``not_counted(source)``: the tool's file that shows it
counts nothing for the op. ``counts(...)`` refuses a table with a tool missing or unknown, so
an op cannot fall through to a silent 0. The ``paper`` convention is cnncost's own
``mult_adds`` and needs no declaration: ``counts`` fills it in from the op's cost.

ptflops' default backend is declared as ``TorchCalls`` (the op's nn.Module and function, what
the module's hook counts, what the patched function counts): cnncost.conventions interprets
it, as it interprets every table. Nothing here runs a tool; docs/conventions.md gives every
rule with its source, and the tests pin the tools' recorded figures.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, NamedTuple

from cnncost.core.ir import Cost, Shape, numel
from cnncost.core.settings import CONVENTIONS

# What an item counts: the rows of `cnncost analyze --convention`, in this order.
PRODUCTS = "conv and linear multiply-accumulates"
BIASES = "biases"
NORM = "normalisation (BN, LRN)"
ACTIVATIONS = "activations"
POOLING = "pooling"
UPSAMPLING = "upsampling"
ARITHMETIC = "add and mul"
PER_SAMPLE = "module counts divided by the batch"
CATEGORIES = (PRODUCTS, BIASES, NORM, ACTIVATIONS, POOLING, UPSAMPLING, ARITHMETIC, PER_SAMPLE)

# The versions whose sources the rules were read from, and that were run (docs/conventions.md).
VERSIONS = {"fvcore": "0.1.5.post20221221", "ptflops": "0.7.5",
            "thop": "0.1.1.post2209072238", "torchinfo": "1.8.0"}
PAPER = "paper"  # cnncost's own mult_adds: not declared per op
TOOLS = tuple(name for name in CONVENTIONS if name != PAPER)  # what an op declares


class Site(NamedTuple):
    """One layer as a rule sees it."""

    op: Any  # the op: op_name, family and its attributes
    inputs: tuple[Shape, ...]
    out: Shape
    cost: Cost  # cnncost's own cost of the layer (unfused)
    functional: bool  # the PyTorch code calls a function here, not an nn.Module
    batch: int


class Item(NamedTuple):
    """Part of what a tool counts for one layer, and the rule that gives it (no numbers of the
    layer in ``rule``, so that layers of one kind share it)."""

    category: str
    count: int
    rule: str


Rule = Callable[[Site], tuple[Item, ...]]


@dataclass(frozen=True)
class NotCounted:
    """The tool counts nothing for the op; ``source`` is the tool's file that shows it."""

    source: str

    def __call__(self, s: Site) -> tuple[Item, ...]:
        return ()


def not_counted(source: str) -> NotCounted:
    if not source.strip():
        raise ValueError("not_counted needs the tool's source")
    return NotCounted(source)


@dataclass(frozen=True)
class TorchCalls:
    """ptflops' backend pytorch for an op: forward hooks on modules of the exact types it
    lists (counts per sample) and counting wrappers patched over some functions (counts for
    the whole batch). ``module`` is the op's nn.Module, or the Python operator PyTorch code
    writes for it ("the + operator"); ``function`` the function a ``torch_call: functional``
    layer calls. ``hook`` counts what the module's hook counts (None: no hook; the first item
    is labelled with the hook); ``call`` what one patched call of ``function`` counts (None:
    not patched); ``module_calls_it``: the module's forward calls ``function`` (counted
    again). ``category``: what the 0 of a call that is not patched is a 0 of."""

    category: str
    module: str
    function: str
    hook: Rule | None = None
    call: Rule | None = None
    module_calls_it: bool = False


Declaration = Rule | TorchCalls
Counting = Mapping[str, Declaration]  # an op's table: convention name -> declaration


def paper(s: Site) -> tuple[Item, ...]:
    """cnncost's mult_adds (docs/metrics.md): the multiply-accumulates of conv and linear
    layers; any other op has none."""
    return (Item(PRODUCTS, s.cost.mult_adds, "multiply-accumulates"),) if s.cost.mult_adds \
        else ()


def counts(**declared: Declaration) -> Counting:
    """An op's table: one declaration per tool (``ptflops_aten`` for ptflops-aten), ``paper``
    added. A missing or unknown tool is refused when the op's module is imported."""
    table = {name.replace("_", "-"): rule for name, rule in declared.items()}
    missing = [t for t in TOOLS if t not in table]
    unknown = [t for t in table if t not in TOOLS]
    if missing or unknown:
        raise RuntimeError(f"a counting table needs exactly {', '.join(TOOLS)}: "
                           + "; ".join(f"{what} {', '.join(names)}" for what, names in
                                       (("missing", missing), ("unknown", unknown)) if names))
    return MappingProxyType({**{t: table[t] for t in TOOLS}, PAPER: paper})


# -- pieces of rules ------------------------------------------------------------------------

def elements_in(s: Site) -> int:
    return numel(s.inputs[0])


def elements_out(s: Site) -> int:
    return numel(s.out)


def per_element(category: str, per: int, elements: Callable[[Site], int], rule: str) -> Rule:
    """``per`` for each element of the input (``elements_in``) or output (``elements_out``)."""
    return lambda s: (Item(category, per * elements(s), rule),)


def products(rule: str) -> Rule:
    """The layer's mult_adds, as the tool counts them."""
    return lambda s: (Item(PRODUCTS, s.cost.mult_adds, rule),)


def no_bias(s: Site) -> str:
    """What a rule that leaves the bias out says of a layer that has one."""
    return " (bias not counted)" if s.op.bias else ""


def bias_per_output(s: Site) -> tuple[Item, ...]:
    """A bias added to every output element, where the layer has one."""
    return (Item(BIASES, numel(s.out), "bias: 1 per output element"),) if s.op.bias else ()


def then(*rules: Rule) -> Rule:
    """The items of several rules, in order."""
    return lambda s: tuple(item for rule in rules for item in rule(s))


# -- the sources of "not counted" ----------------------------------------------------------

def not_counted_by(tool: str, what: str, where: str) -> NotCounted:
    """Not counted by ``tool`` (the version in VERSIONS): what the tool does, and where in its
    files it does so."""
    return not_counted(f"{tool} {VERSIONS[tool]}: {what} ({where})")


def fvcore_no_handle(aten: str) -> NotCounted:
    return not_counted_by("fvcore", f"no handle for {aten}",
                          "fvcore/nn/flop_count.py _DEFAULT_SUPPORTED_OPS")


def fvcore_ignored(aten: str) -> NotCounted:
    return not_counted_by("fvcore", f"{aten} is in _IGNORED_OPS, no handle",
                          "fvcore/nn/jit_analysis.py")


def ptflops_no_hook(code: str) -> NotCounted:
    return not_counted_by("ptflops", f"no hook and no patched function for {code}",
                          "ptflops/pytorch_ops.py MODULES_MAPPING, ptflops/pytorch_engine.py "
                          "patch_functional, patch_tensor_ops")


ATEN_NOT_COUNTED = not_counted_by(
    "ptflops", "backend aten: only aten convolution, addmm, mm, bmm and matmul count",
    "ptflops/aten_ops.py ATEN_OPS_MAPPING")


def thop_no_rule(module: str) -> NotCounted:
    return not_counted_by("thop", f"no rule for {module}: a module without one counts 0",
                          "thop/profile.py register_hooks")


def thop_zero_rule(module: str, rule: str = "zero_ops") -> NotCounted:
    return not_counted_by("thop", f"{module}'s rule {rule} counts 0",
                          "thop/profile.py register_hooks, thop/vision/basic_hooks.py")


def thop_not_a_module(code: str) -> NotCounted:
    return not_counted_by("thop", f"{code} is not a module, and thop hooks modules only",
                          "thop/profile.py")


def torchinfo_no_weight(code: str) -> NotCounted:
    return not_counted_by("torchinfo", f"no weight or bias in {code}",
                          "torchinfo/layer_info.py LayerInfo.calculate_macs")


def no_tool_counts(code: str, aten: str, *, ignored: bool = False,
                   thop: NotCounted | None = None) -> Counting:
    """The table of an op no tool counts anything for. PyTorch code writes it as ``code`` (its
    nn.Module, function or expression); fvcore sees ``aten``, on its ignore list or with no
    handle; thop has no rule for ``code`` unless ``thop`` says otherwise."""
    return counts(fvcore=(fvcore_ignored if ignored else fvcore_no_handle)(aten),
                  ptflops=ptflops_no_hook(code), ptflops_aten=ATEN_NOT_COUNTED,
                  thop=thop or thop_no_rule(code), torchinfo=torchinfo_no_weight(code))
