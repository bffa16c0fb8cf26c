"""What other tools report for a network, and why it differs from cnncost's ``mult_adds``.

fvcore, ptflops, thop and torchinfo all count a conv's or a linear layer's multiply-accumulates
as cnncost does (one fused multiply-add = 1); they disagree about what they add on top: biases,
batch norm, activations, pooling. A convention is one tool's rules, one function per tool that
says, for one layer, what the tool counts for it: items of a category (biases, batch norm,
...) with the rule that gives them. The tool's figure is the sum of the items over the layers;
the difference from ``mult_adds`` is itemised layer by layer and sums exactly to the gap.

A rule reads the layer's op, input and output shapes, cnncost's own cost of it, the batch,
and whether the PyTorch code calls it as a function (``F.relu``) rather than an ``nn.Module``:
a spec says so per layer with ``torch_call: functional`` (Model.torch_functional). Nothing
here runs a tool: docs/conventions.md gives every rule with the tool's source file, and the
tests pin the tools' recorded totals on torchvision networks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from cnncost.core.ir import Cost, Graph, Shape, numel

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

POOLS = ("maxpool", "avgpool", "global_avgpool", "adaptive_avgpool")
ADAPTIVE_POOLS = ("global_avgpool", "adaptive_avgpool")
TORCH_MODULE = {  # the nn.Module a rule's text names for an op (PyTorch's class)
    "conv2d": "nn.Conv2d", "conv_transpose2d": "nn.ConvTranspose2d", "linear": "nn.Linear",
    "batchnorm": "nn.BatchNorm2d", "lrn": "nn.LocalResponseNorm", "relu": "nn.ReLU",
    "relu6": "nn.ReLU6", "leaky_relu": "nn.LeakyReLU", "prelu": "nn.PReLU", "gelu": "nn.GELU",
    "swish": "nn.SiLU", "softmax": "nn.Softmax", "maxpool": "nn.MaxPool2d",
    "avgpool": "nn.AvgPool2d", "global_avgpool": "nn.AdaptiveAvgPool2d",
    "adaptive_avgpool": "nn.AdaptiveAvgPool2d", "upsample": "nn.Upsample",
}
TORCH_FUNCTION = {  # the function a layer marked torch_call: functional calls
    "conv2d": "F.conv2d", "conv_transpose2d": "F.conv_transpose2d", "linear": "F.linear",
    "batchnorm": "F.batch_norm", "relu": "F.relu", "relu6": "F.relu6",
    "leaky_relu": "F.leaky_relu", "prelu": "F.prelu", "gelu": "F.gelu", "swish": "F.silu",
    "softmax": "F.softmax", "maxpool": "F.max_pool2d", "avgpool": "F.avg_pool2d",
    "global_avgpool": "F.adaptive_avg_pool2d", "adaptive_avgpool": "F.adaptive_avg_pool2d",
    "upsample": "F.interpolate", "add": "torch.add", "mul": "torch.mul", "matmul": "torch.matmul",
}


class Site(NamedTuple):
    """One layer as a rule sees it."""

    op: Any  # the op (cnncost.ops): op_name, family and its attributes
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
class Convention:
    name: str  # as on the command line
    tool: str
    version: str  # the version whose sources the rules were read from, and that was run
    call: str  # the call that returns the figure
    counts: str  # what the figure is
    source: str  # where in the tool the rules are
    not_counted: str  # the rule of a layer the tool counts nothing for
    rules: Rule
    setting: str = ""  # how the tool was called, where it has a choice: "backend aten"

    @property
    def label(self) -> str:
        """``fvcore 0.1.5.post20221221``, ``ptflops 0.7.5 (backend aten)``."""
        return f"{self.tool} {self.version}" + (f" ({self.setting})" if self.setting else "")


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


def tally(model: Any, name: str) -> Tally:
    """How the convention ``name`` counts a Model (or a Graph: every layer an nn.Module)."""
    from cnncost.passes.costs import node_costs, node_kinds

    convention = CONVENTIONS[name]
    graph: Graph = model if isinstance(model, Graph) else model.graph
    functional = frozenset(getattr(model, "torch_functional", ()))
    costs, kinds = node_costs(graph), node_kinds(graph)
    batch = graph.nodes[0].shape[0]
    layers = []
    for index, node in enumerate(graph.nodes):
        if index == 0:
            continue
        cost = costs[index]
        items = convention.rules(Site(node.op, graph.in_shapes(index), node.shape, cost,
                                      index in functional, batch))
        layers.append(Layer(
            index, node.name, kinds[index], node.op.family, cost.mult_adds,
            bool(cost.mult_adds or cost.elementwise_ops), items,
            "; ".join(item.rule for item in items) or convention.not_counted))
    return Tally(convention, tuple(layers), batch)


# -- shared pieces of the rules ------------------------------------------------------------

def _products(s: Site, rule: str) -> Item:
    """The layer's mult_adds, as the tool counts them."""
    return Item(PRODUCTS, s.cost.mult_adds, rule)


def _first_operand_products(s: Site) -> int:
    """fvcore's and ptflops' matmul: the first operand's elements x the second's last
    dimension (mult_adds, unless only the second operand has batch dimensions)."""
    return numel(s.inputs[0]) * s.inputs[1][-1]


def _per_element(category: str, per: int, elements: int, rule: str) -> Item:
    return Item(category, per * elements, rule)


def _no_bias(s: Site) -> str:
    return " (bias not counted)" if s.op.bias else ""


def _in(s: Site) -> int:
    return numel(s.inputs[0])


def _out(s: Site) -> int:
    return numel(s.out)


# -- paper: cnncost's mult_adds ------------------------------------------------------------

def _paper(s: Site) -> tuple[Item, ...]:
    return (_products(s, "multiply-accumulates"),) if s.cost.mult_adds else ()


# -- fvcore --------------------------------------------------------------------------------

def _fvcore(s: Site) -> tuple[Item, ...]:
    """fvcore traces the model and counts the aten ops it has a handle for; module or function
    makes no difference. Bias additions are never counted."""
    name = s.op.op_name
    if name in ("conv2d", "conv_transpose2d", "linear"):
        return (_products(s, "multiply-accumulates" + _no_bias(s)),)
    if name == "matmul":
        return (Item(PRODUCTS, _first_operand_products(s),
                     "first operand's elements x second's last dimension"),)
    if name == "batchnorm":
        per = 2 if s.op.affine else 1
        return (_per_element(NORM, per, _in(s), f"{per} per element (aten::batch_norm, "
                                                f"eval{', affine' if s.op.affine else ''})"),)
    if name in ADAPTIVE_POOLS:
        return (_per_element(POOLING, 1, _in(s),
                             "1 per input element (aten::adaptive_avg_pool2d)"),)
    if name == "upsample" and s.op.mode in ("nearest", "linear"):
        per = 1 if s.op.mode == "nearest" else 4
        aten = "upsample_nearest2d" if s.op.mode == "nearest" else "upsample_bilinear2d"
        return (_per_element(UPSAMPLING, per, _out(s), f"{per} per output element "
                                                       f"(aten::{aten})"),)
    return ()


# -- ptflops, backend pytorch (its default) ------------------------------------------------

def _ptflops(s: Site) -> tuple[Item, ...]:
    """Module hooks (exact nn.Module types) plus the torch.nn.functional and tensor functions
    ptflops patches during the forward pass, which modules call too: nn.ReLU is counted by
    its hook and again by F.relu. Hook counts are divided by the batch size, function counts
    are not."""
    name, call = s.op.op_name, s.functional
    module, function = TORCH_MODULE.get(name, ""), TORCH_FUNCTION.get(name, "")
    inside = "" if call else " in it"  # the function a hooked module calls
    hooks: list[Item] = []  # nn.Module hooks: per sample
    patched: list[Item] = []  # patched function calls: the whole batch
    if name in ("conv2d", "conv_transpose2d", "linear", "batchnorm") and call:
        return (Item(PRODUCTS, 0, f"0: {function} is not patched"),)
    if name in ("conv2d", "conv_transpose2d", "linear"):
        hooks.append(_products(s, f"{module} hook: multiply-accumulates"))
        if s.op.bias:
            hooks.append(Item(BIASES, _out(s), "bias: 1 per output element"))
    elif name == "matmul":
        if not call:
            return (Item(PRODUCTS, 0, "0: the @ operator is not patched"),)
        patched.append(Item(PRODUCTS, _first_operand_products(s), "torch.matmul: first "
                            "operand's elements x second's last dimension"))
    elif name == "batchnorm":
        per = 2 if s.op.affine else 1
        hooks.append(_per_element(NORM, per, _in(s), f"{module} hook: {per} per element"))
    elif name == "lrn":
        # F.local_response_norm's own calls: x.mul(x), an average over channels of the padded
        # squares, .mul(alpha), .add(k), all patched (the power and the division are not)
        padded = _in(s) // s.inputs[0][1] * (s.inputs[0][1] + s.op.size - 1)
        patched.append(Item(NORM, 3 * _in(s) + padded, "F.local_response_norm's mul, mul, "
                            "add (3 per element) and its channel average (1 per padded "
                            "input element)"))
    elif name in ("relu", "prelu", "gelu", "relu6", "leaky_relu"):
        if not call:
            hooks.append(_per_element(ACTIVATIONS, 1, _out(s), f"{module} hook: 1 per element"))
        if name in ("relu", "prelu", "gelu") or (call and name == "relu6"):
            patched.append(_per_element(ACTIVATIONS, 1, _in(s),
                                        f"{function}{inside}: 1 per element"))
        elif call:  # F.leaky_relu
            return (Item(ACTIVATIONS, 0, f"0: {function} is not patched"),)
    elif name in ("swish", "softmax"):  # nn.SiLU and nn.Softmax have no hook
        patched.append(_per_element(ACTIVATIONS, 1, _in(s), f"{function}"
                                    f"{'' if call else ' in ' + module}: 1 per element"))
    elif name in POOLS:
        if not call:
            hooks.append(_per_element(POOLING, 1, _in(s), f"{module} hook: 1 per input "
                                                          f"element"))
        patched.append(_per_element(POOLING, 1, _in(s), f"{function}{inside}: 1 per input "
                                                        f"element"))
    elif name == "upsample":
        if not call:
            hooks.append(_per_element(UPSAMPLING, 1, _out(s), f"{module} hook: 1 per output "
                                                              f"element"))
        patched.append(_per_element(UPSAMPLING, 1, _out(s), f"{function}{inside}: 1 per "
                                                            f"output element"))
    elif name in ("add", "mul"):
        if not call:
            operator = "+" if name == "add" else "*"
            return (Item(ARITHMETIC, 0, f"0: the {operator} operator is not patched"),)
        patched.append(_per_element(ARITHMETIC, len(s.inputs) - 1, _out(s),
                                    f"{function}: 1 per output element a call"))
    else:
        return ()
    items = [*hooks, *patched]
    hooked = sum(item.count for item in hooks)
    if s.batch > 1 and hooked:  # compute_average_flops_cost: the hooks' sum / batch size
        items.append(Item(PER_SAMPLE, hooked // s.batch - hooked,
                          "module hooks' counts divided by the batch size"))
    return tuple(items)


# -- ptflops, backend aten -----------------------------------------------------------------

def _ptflops_aten(s: Site) -> tuple[Item, ...]:
    """Only aten convolution, addmm, mm, bmm and matmul count, with their biases."""
    name = s.op.op_name
    if name in ("conv2d", "conv_transpose2d", "linear"):
        items = [_products(s, "multiply-accumulates")]
        if s.op.bias:
            items.append(Item(BIASES, _out(s), "bias: 1 per output element"))
        return tuple(items)
    if name == "matmul":
        return (Item(PRODUCTS, _first_operand_products(s),
                     "first operand's elements x second's last dimension"),)
    return ()


# -- thop ----------------------------------------------------------------------------------

def _thop(s: Site) -> tuple[Item, ...]:
    """thop hooks modules of the types it has a rule for; functions are never counted."""
    name = s.op.op_name
    if s.functional:
        return (Item(PRODUCTS, 0, "0: a function call (thop counts modules only)"),)
    if name in ("conv2d", "conv_transpose2d"):
        per = (s.inputs[0][1] // s.op.groups) * s.op.kernel[0] * s.op.kernel[1]
        what = ("multiply-accumulates" if name == "conv2d" else
                "output elements x in_channels/groups x kh x kw")
        return (Item(PRODUCTS, _out(s) * per, what + _no_bias(s)),)
    if name == "linear":
        return (Item(PRODUCTS, _out(s) * s.inputs[0][1], "multiply-accumulates" + _no_bias(s)),)
    if name == "batchnorm":
        per = 4 if s.op.affine else 2
        return (_per_element(NORM, per, _in(s), f"{per} per element"),)
    if name == "prelu":
        return (_per_element(ACTIVATIONS, 1, _in(s), "1 per element (eval)"),)
    if name == "softmax":  # over channels: positions x (3 x channels - 1)
        channels = s.inputs[0][1]
        return (Item(ACTIVATIONS, _in(s) // channels * (3 * channels - 1),
                     "3 x channels - 1 per position"),)
    if name == "avgpool":
        return (_per_element(POOLING, 1, _out(s), "1 per output element"),)
    if name in ADAPTIVE_POOLS:
        (h, w), (oh, ow) = s.inputs[0][2:], s.out[2:]
        # count_adap_avgpool: in float64, as thop computes it, then int()
        return (Item(POOLING, int((h / oh * (w / ow) + 1) * _out(s)),
                     "(input/output size ratio + 1) per output element"),)
    if name == "upsample":
        per = {"nearest": 1, "linear": 11, "cubic": 259}[s.op.mode]
        return (_per_element(UPSAMPLING, per, _out(s),
                             f"{per} per output element ({s.op.mode})"),)
    return ()


# -- torchinfo -----------------------------------------------------------------------------

def _torchinfo(s: Site) -> tuple[Item, ...]:
    """Each executed module's weight and bias elements times where they are applied: a conv's
    at every output position of every sample, any other module's once a sample."""
    name = s.op.op_name
    if s.functional:
        return (Item(PRODUCTS, 0, "0: a function call (torchinfo counts modules' "
                                  "parameters)"),)
    n = s.batch
    if name in ("conv2d", "conv_transpose2d"):
        positions = _out(s) // s.out[1]
        items = [Item(PRODUCTS, s.cost.weights * positions, "multiply-accumulates"
                      if name == "conv2d" else "weight elements x output positions")]
        if s.op.bias:
            items.append(Item(BIASES, _out(s), "bias: 1 per output element"))
        return tuple(items)
    if name == "linear":
        items = [Item(PRODUCTS, s.cost.weights * n, "multiply-accumulates")]
        if s.op.bias:
            items.append(Item(BIASES, s.cost.biases * n, "bias: 1 per output element"))
        return tuple(items)
    if name == "batchnorm" and s.op.affine:
        return (Item(NORM, s.cost.norm_params * n, "gamma and beta (2 per channel) x batch"),)
    if name == "prelu":
        return (Item(ACTIVATIONS, s.cost.weights * n, "slopes x batch"),)
    return ()


CONVENTIONS: dict[str, Convention] = {c.name: c for c in (
    Convention(
        name="fvcore", tool="fvcore", version="0.1.5.post20221221",
        call="fvcore.nn.FlopCountAnalysis(model, inputs).total()",
        counts="what fvcore calls flops (\"one fused multiply-add as one flop\"): conv, linear "
               "and matmul multiply-accumulates without biases, batch norm 2 per element, "
               "adaptive average pooling 1 per input element",
        source="fvcore/nn/flop_count.py (_DEFAULT_SUPPORTED_OPS), fvcore/nn/jit_handles.py, "
               "fvcore/nn/jit_analysis.py (_IGNORED_OPS)",
        not_counted="0: no fvcore handle for it", rules=_fvcore),
    Convention(
        name="ptflops", tool="ptflops", version="0.7.5",
        call="ptflops.get_model_complexity_info(model, (C, H, W), as_strings=False)[0], "
             "backend pytorch (the default)",
        counts="conv and linear multiply-accumulates with biases, plus 1 per element for "
               "every module hook and every patched torch.nn.functional call on activations, "
               "pooling and upsampling (nn.ReLU counts twice: its hook and its F.relu), batch "
               "norm 2",
        source="ptflops/pytorch_engine.py, ptflops/pytorch_ops.py (MODULES_MAPPING, "
               "FUNCTIONAL_MAPPING, TENSOR_OPS_MAPPING)",
        not_counted="0: no hook and no patched function", rules=_ptflops),
    Convention(
        name="ptflops-aten", tool="ptflops", version="0.7.5",
        call="ptflops.get_model_complexity_info(model, (C, H, W), as_strings=False, "
             "backend='aten')[0]",
        counts="multiply-accumulates of aten convolution, addmm, mm, bmm and matmul, with "
               "their biases; nothing else",
        source="ptflops/aten_engine.py, ptflops/aten_ops.py (ATEN_OPS_MAPPING)",
        not_counted="0: not a convolution or matrix product", rules=_ptflops_aten,
        setting="backend aten"),
    Convention(
        name="thop", tool="thop", version="0.1.1.post2209072238",
        call="thop.profile(model, inputs=(x,))[0]",
        counts="conv and linear multiply-accumulates without biases, batch norm 4 per "
               "element, adaptive average pooling (window + 1) per output element, a few "
               "other modules; functions never",
        source="thop/profile.py (register_hooks), thop/vision/basic_hooks.py, "
               "thop/vision/calc_func.py",
        not_counted="0: no thop rule counts it", rules=_thop),
    Convention(
        name="torchinfo", tool="torchinfo", version="1.8.0",
        call="torchinfo.summary(model, input_size).total_mult_adds",
        counts="each executed module's weight and bias elements times the positions they "
               "apply to: conv and linear multiply-accumulates with biases, batch norm 2 per "
               "channel",
        source="torchinfo/layer_info.py (LayerInfo), "
               "torchinfo/model_statistics.py",
        not_counted="0: no weight or bias", rules=_torchinfo),
    Convention(
        name="paper", tool="cnncost", version="mult_adds",
        call="cnncost analyze SPEC, mult_adds",
        counts="multiply-accumulates of conv and linear layers (one fused multiply-add = 1), "
               "what the MobileNet and ShuffleNet papers call FLOPs",
        source="docs/metrics.md", not_counted="0: not a conv or linear layer", rules=_paper),
)}
NAMES = tuple(CONVENTIONS)

ASSUMPTIONS = (
    "the model runs in eval mode (batch norm at inference)",
    "layers are nn.Modules unless the spec marks them torch_call: functional; add, mul, sub, "
    "div and matmul are Python operators (+, *, -, /, @)",
)
