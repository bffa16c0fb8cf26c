"""What other tools report for a network, and why it differs from cnncost's ``mult_adds``.

fvcore, ptflops, thop and torchinfo all count a conv's or a linear layer's multiply-accumulates
as cnncost does (one fused multiply-add = 1); they disagree about what they add on top: biases,
batch norm, activations, pooling. What a tool counts for an op is declared on the op (its
``counting`` table, cnncost/ops/counting.py): a rule that gives items of a category (biases,
batch norm, ...) with the rule's text, or "not counted" with the tool's source. A convention
here is a tool's name, version and call, and the reading of those declarations: a tool that
counts no function call, ptflops' hooks and patched calls. The tool's figure is the sum of the
items over the layers; the difference from ``mult_adds`` is itemised layer by layer and sums
exactly to the gap.

A rule reads the layer's op, input and output shapes, cnncost's own cost of it, the batch,
and whether the PyTorch code calls it as a function (``F.relu``) rather than an ``nn.Module``:
a spec says so per layer with ``torch_call: functional`` (Model.torch_functional). Nothing
here runs a tool: docs/conventions.md gives every rule with the tool's source file, and the
tests pin the tools' recorded totals on torchvision networks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cnncost.core import settings
from cnncost.core.ir import Cost, Graph
from cnncost.ops.counting import (ACTIVATIONS, ARITHMETIC, BIASES, CATEGORIES, NORM, PER_SAMPLE,
                                  POOLING, PRODUCTS, UPSAMPLING, VERSIONS, Declaration, Item,
                                  Site, TorchCalls)

__all__ = ["ACTIVATIONS", "ARITHMETIC", "ASSUMPTIONS", "BIASES", "CATEGORIES", "CONVENTIONS",
           "Convention", "Item", "Layer", "NAMES", "NORM", "PER_SAMPLE", "POOLING", "PRODUCTS",
           "Site", "Tally", "UPSAMPLING", "tally"]


@dataclass(frozen=True)
class Convention:
    name: str  # as on the command line
    tool: str
    version: str  # the version whose sources the rules were read from, and that was run
    call: str  # the call that returns the figure
    counts: str  # what the figure is
    source: str  # where in the tool the rules are
    not_counted: str  # the rule of a layer the tool counts nothing for
    setting: str = ""  # how the tool was called, where it has a choice: "backend aten"
    no_functions: str = ""  # the rule of any function call, for a tool that counts none

    @property
    def label(self) -> str:
        """``fvcore 0.1.5.post20221221``, ``ptflops 0.7.5 (backend aten)``."""
        return f"{self.tool} {self.version}" + (f" ({self.setting})" if self.setting else "")

    def count(self, s: Site) -> tuple[Item, ...]:
        """What the tool counts for one layer: what its op declares for the tool (a function
        call: nothing, for a tool that counts modules only)."""
        if s.functional and self.no_functions:
            return (Item(PRODUCTS, 0, self.no_functions),)
        rule = declared(s.op, self.name)
        return hook_and_calls(rule, s) if isinstance(rule, TorchCalls) else rule(s)


@dataclass(frozen=True)
class Layer:
    """What a tool counts for one layer, beside cnncost's ``mult_adds`` of it."""

    node: int
    name: str
    kind: str  # the --by op label: conv2d 1x1, relu6, ...
    family: str  # the op's family: data and view layers count 0 everywhere
    mult_adds: int
    arithmetic: bool  # cnncost counts work for it (mult_adds or element-wise ops)
    items: tuple[Item, ...]
    rule: str

    @property
    def counted(self) -> int:
        return sum(item.count for item in self.items)

    @property
    def difference(self) -> int:
        return self.counted - self.mult_adds


@dataclass(frozen=True)
class Tally:
    """A network as one tool counts it: every layer (the input left out)."""

    convention: Convention
    layers: tuple[Layer, ...]
    batch: int

    @property
    def figure(self) -> int:
        return sum(layer.counted for layer in self.layers)

    @property
    def mult_adds(self) -> int:
        return sum(layer.mult_adds for layer in self.layers)

    @property
    def difference(self) -> int:
        return self.figure - self.mult_adds

    def by_category(self) -> list[tuple[str, int, int]]:
        """(category, layers with a count in it, count), in CATEGORIES order, non-zero only."""
        sums = {c: [0, 0] for c in CATEGORIES}
        for layer in self.layers:
            for category in {item.category for item in layer.items if item.count}:
                sums[category][0] += 1
            for item in layer.items:
                sums[item.category][1] += item.count
        return [(c, n, count) for c, (n, count) in sums.items() if n]

    def not_counted(self) -> list[tuple[str, int]]:
        """Op kinds cnncost counts work for and the tool counts nothing for: (kind, layers)."""
        found: dict[str, int] = {}
        for layer in self.layers:
            if layer.arithmetic and not layer.counted:
                found[layer.kind] = found.get(layer.kind, 0) + 1
        return list(found.items())


def tally(model: Any, name: str, costs: tuple[Cost, ...] | None = None,
          kinds: tuple[str, ...] | None = None) -> Tally:
    """How the convention ``name`` counts a Model (or a Graph: every layer an nn.Module).
    ``costs`` and ``kinds``: each node's unfused cost and --by op label, as cnncost.pipeline
    computed them (analyze(convention=...)); without them, the ops' own rules give them."""
    from cnncost.passes.costs import node_costs, node_kinds

    convention = CONVENTIONS[name]
    graph: Graph = model if isinstance(model, Graph) else model.graph
    functional = frozenset(getattr(model, "torch_functional", ()))
    costs, kinds = costs or node_costs(graph), kinds or node_kinds(graph)
    batch = graph.nodes[0].shape[0]
    layers = []
    for index, node in enumerate(graph.nodes):
        if index == 0:
            continue
        cost = costs[index]
        items = convention.count(Site(node.op, graph.in_shapes(index), node.shape, cost,
                                      index in functional, batch))
        layers.append(Layer(
            index, node.name, kinds[index], node.op.family, cost.mult_adds,
            bool(cost.mult_adds or cost.elementwise_ops), items,
            "; ".join(item.rule for item in items) or convention.not_counted))
    return Tally(convention, tuple(layers), batch)


# -- reading the ops' declarations -----------------------------------------------------------

def declared(op: Any, name: str) -> Declaration:
    """What the op's class declares for the convention ``name``: every registered op declares
    every tool (cnncost.ops.counting.counts); an op without a table is an error, never 0."""
    table = vars(type(op)).get("counting")
    if table is None:
        raise RuntimeError(f"op {op.op_name} declares nothing for the tool conventions: give "
                           f"its class a counting = counts(...) table (cnncost/ops/counting.py)")
    return table[name]


def hook_and_calls(calls: TorchCalls, s: Site) -> tuple[Item, ...]:
    """ptflops' backend pytorch on one layer: a function call counts only if the function is
    patched; a module, its hook (per sample: divided by the batch size, as
    compute_average_flops_cost does) and the patched function it calls (the whole batch)."""
    if s.functional:
        if calls.call is None:
            return (Item(calls.category, 0, f"0: {calls.function} is not patched"),)
        return _labelled(calls.call(s), f"{calls.function}: ")
    hooks = _labelled(calls.hook(s), f"{calls.module} hook: ") if calls.hook else ()
    inside = ()
    if calls.call is not None and calls.module_calls_it:
        where = "it" if hooks else calls.module
        inside = _labelled(calls.call(s), f"{calls.function} in {where}: ")
    if not hooks and not inside:
        return (Item(calls.category, 0, f"0: {calls.module} is not patched"),)
    hooked = sum(item.count for item in hooks)
    per_sample = (Item(PER_SAMPLE, hooked // s.batch - hooked,
                       "module hooks' counts divided by the batch size"),) \
        if s.batch > 1 and hooked else ()
    return (*hooks, *inside, *per_sample)


def _labelled(items: tuple[Item, ...], label: str) -> tuple[Item, ...]:
    """The items with the first one's rule labelled (the hook or the call that counts)."""
    if not items:
        return ()
    first, *rest = items
    return (first._replace(rule=label + first.rule), *rest)


CONVENTIONS: dict[str, Convention] = {c.name: c for c in (
    Convention(
        name="fvcore", tool="fvcore", version=VERSIONS["fvcore"],
        call="fvcore.nn.FlopCountAnalysis(model, inputs).total()",
        counts="what fvcore calls flops (\"one fused multiply-add as one flop\"): conv, linear "
               "and matmul multiply-accumulates without biases, batch norm 2 per element, "
               "adaptive average pooling 1 per input element",
        source="fvcore/nn/flop_count.py (_DEFAULT_SUPPORTED_OPS), fvcore/nn/jit_handles.py, "
               "fvcore/nn/jit_analysis.py (_IGNORED_OPS)",
        not_counted="0: no fvcore handle for it"),
    Convention(
        name="ptflops", tool="ptflops", version=VERSIONS["ptflops"],
        call="ptflops.get_model_complexity_info(model, (C, H, W), as_strings=False)[0], "
             "backend pytorch (the default)",
        counts="conv and linear multiply-accumulates with biases, plus 1 per element for "
               "every module hook and every patched torch.nn.functional call on activations, "
               "pooling and upsampling (nn.ReLU counts twice: its hook and its F.relu), batch "
               "norm 2",
        source="ptflops/pytorch_engine.py, ptflops/pytorch_ops.py (MODULES_MAPPING, "
               "FUNCTIONAL_MAPPING, TENSOR_OPS_MAPPING)",
        not_counted="0: no hook and no patched function"),
    Convention(
        name="ptflops-aten", tool="ptflops", version=VERSIONS["ptflops"],
        call="ptflops.get_model_complexity_info(model, (C, H, W), as_strings=False, "
             "backend='aten')[0]",
        counts="multiply-accumulates of aten convolution, addmm, mm, bmm and matmul, with "
               "their biases; nothing else",
        source="ptflops/aten_engine.py, ptflops/aten_ops.py (ATEN_OPS_MAPPING)",
        not_counted="0: not a convolution or matrix product", setting="backend aten"),
    Convention(
        name="thop", tool="thop", version=VERSIONS["thop"],
        call="thop.profile(model, inputs=(x,))[0]",
        counts="conv and linear multiply-accumulates without biases, batch norm 4 per "
               "element, adaptive average pooling (window + 1) per output element, a few "
               "other modules; functions never",
        source="thop/profile.py (register_hooks), thop/vision/basic_hooks.py, "
               "thop/vision/calc_func.py",
        not_counted="0: no thop rule counts it",
        no_functions="0: a function call (thop counts modules only)"),
    Convention(
        name="torchinfo", tool="torchinfo", version=VERSIONS["torchinfo"],
        call="torchinfo.summary(model, input_size).total_mult_adds",
        counts="each executed module's weight and bias elements times the positions they "
               "apply to: conv and linear multiply-accumulates with biases, batch norm 2 per "
               "channel",
        source="torchinfo/layer_info.py (LayerInfo), "
               "torchinfo/model_statistics.py",
        not_counted="0: no weight or bias",
        no_functions="0: a function call (torchinfo counts modules' parameters)"),
    Convention(
        name="paper", tool="cnncost", version="mult_adds",
        call="cnncost analyze SPEC, mult_adds",
        counts="multiply-accumulates of conv and linear layers (one fused multiply-add = 1), "
               "what the MobileNet and ShuffleNet papers call FLOPs",
        source="docs/metrics.md", not_counted="0: not a conv or linear layer"),
)}
NAMES = settings.CONVENTIONS  # the choice list, declared once; one Convention for each
if tuple(CONVENTIONS) != NAMES:
    raise RuntimeError(f"cnncost.conventions describes {tuple(CONVENTIONS)}, but "
                       f"cnncost.core.settings.CONVENTIONS lists {NAMES}")

ASSUMPTIONS = (
    "the model runs in eval mode (batch norm at inference)",
    "layers are nn.Modules unless the spec marks them torch_call: functional; add, mul, sub, "
    "div and matmul are Python operators (+, *, -, /, @)",
)
