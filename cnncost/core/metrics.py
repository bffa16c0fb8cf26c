"""Every metric cnncost reports, declared once: its name, unit, how tables head it, what it
means, and where it may be used (budgets, the regression gate, compare, the summary, per
layer). Budgets, compare columns, summary rows, the JSON definitions, the CLI's choices and
``cnncost docs METRIC`` are all derived from this table; docs/metrics.md gives the formulas.

This module imports nothing else of ours.
"""

from __future__ import annotations

from dataclasses import dataclass

COUNT, BYTES, SHARE, TEXT, SECONDS = "count", "bytes", "share", "text", "seconds"


@dataclass(frozen=True)
class Metric:
    name: str
    unit: str  # COUNT (an exact int), BYTES (int), SHARE (a fraction), TEXT, SECONDS (float)
    label: str  # the summary's row label: says what the figure is
    header: str  # a column header; "(...)" after a line break explains it, and moves to a
    # note in narrow tables
    definition: str  # one sentence, the JSON ``definitions`` and ``cnncost docs METRIC``
    budget: bool = False  # may be limited in a budget
    regression: bool = False  # compared with a baseline by ``cnncost check --against``
    compare: bool = False  # a default column of ``cnncost compare``
    summary: bool = False  # a row of the ``analyze`` summary
    per_layer: bool = False  # a column of every layer (and so of every roll-up)
    device: bool = False  # only with a device profile (--device): an estimate, not a count


METRICS: tuple[Metric, ...] = (
    Metric("params", COUNT, "params (weights + biases + norm gamma/beta)", "params",
           "trainable parameters: weights + biases + norm_params (norms' gamma and beta); BN "
           "running statistics are buffers, not params",
           budget=True, regression=True, compare=True, summary=True, per_layer=True),
    Metric("weights", COUNT, "  weights", "weights",
           "conv and linear weights: c_out * c_in / groups * kh * kw; in * out",
           budget=True, summary=True, per_layer=True),
    Metric("biases", COUNT, "  biases", "biases",
           "one per output channel of a conv with a bias, or output feature of a linear layer",
           summary=True, per_layer=True),
    Metric("norm_params", COUNT, "  norm params (gamma, beta)", "norm\nparams",
           "gamma and beta of batch, layer, group and instance norm: 2 per normalised channel",
           summary=True, per_layer=True),
    Metric("buffers", COUNT, "buffers (BN running mean, var; not params)", "buffers",
           "batch norm running mean and variance, 2 per channel: model state, not parameters",
           summary=True, per_layer=True),
    Metric("mult_adds", COUNT, "mult-adds (multiply-accumulates; FMA = 1)",
           "mult-adds\n(multiply-accumulates)",
           "multiply-accumulates of conv and linear layers; one fused multiply-add = 1 (what "
           "the MobileNet and ShuffleNet papers call FLOPs)",
           budget=True, regression=True, compare=True, summary=True, per_layer=True),
    Metric("flops", COUNT, "FLOPs (= 2 x mult-adds)", "FLOPs\n(2 x mult-adds)",
           "2 x mult_adds: a multiply and an add counted apart", budget=True, summary=True,
           per_layer=True),
    Metric("elementwise_ops", COUNT, "element-wise ops (activation, BN, add, pool, bias)",
           "element-wise\nops",
           "operations outside conv and linear layers: one per element per activation, add or "
           "mul input, bias and pooling window element; two per element for BN",
           budget=True, summary=True, per_layer=True),
    Metric("mem_access", COUNT, "mem_access (memory access cost: elements moved)",
           "mem_access\n(memory access cost, elements)",
           "memory access cost of the ShuffleNet V2 paper: elements each kernel reads (inputs, "
           "weights, BN statistics) and writes; a 1x1 conv: hw(c1+c2)+c1c2",
           budget=True, regression=True, compare=True, summary=True, per_layer=True),
    Metric("mem_access_bytes", BYTES, "mem_access, bytes", "mem_access\nbytes",
           "mem_access x bytes per element (--dtype)", budget=True, compare=True,
           summary=True),
    Metric("param_bytes", BYTES, "params, bytes", "param\nbytes",
           "params x bytes per element (--dtype)", budget=True),
    Metric("peak_activation_elements", COUNT, "peak activation memory (elements)",
           "peak activation\n(elements)",
           "the largest sum of live activation buffers over the topological order",
           budget=True, summary=True),
    Metric("peak_activation_bytes", BYTES, "peak activation memory, bytes",
           "peak activation\nmemory",
           "peak_activation_elements x bytes per element (--dtype)",
           budget=True, regression=True, compare=True, summary=True),
    Metric("peak_activation_at", TEXT, "peak activation memory while computing",
           "peak at", "the layer running when the activation memory peaks"),
    Metric("activation_elements", COUNT, "activation buffers written (elements)",
           "activation\nelements",
           "elements of every activation buffer written (views and fused ops write none)"),
    Metric("layers", COUNT, "layers", "layers", "layers of the network (the input excepted)"),
    Metric("kernels", COUNT, "kernels launched", "kernels",
           "layers that launch a kernel of their own: not views, not fused (ShuffleNet V2, G3)",
           budget=True, summary=True),
    Metric("fragments", COUNT, "fragments (conv, linear, pooling)", "fragments",
           "conv, linear and pooling ops: what ShuffleNet V2 counts as fragments (G3)"),
    Metric("max_parallel_branches", COUNT, "widest parallel branching",
           "widest\nbranching",
           "the most fragments at the same depth of the network: its widest parallel "
           "branching (G3)"),
    Metric("elementwise_mem_access", COUNT, "mem_access of element-wise layers",
           "element-wise\nmem_access",
           "mem_access of activations, adds, muls, BN, LRN and depthwise convs (G4)"),
    Metric("elementwise_mem_access_share", SHARE, "element-wise share of mem_access",
           "element-wise\nshare of\nmem_access",
           "elementwise_mem_access / mem_access (G4)", budget=True, compare=True,
           summary=True),
    Metric("latency", SECONDS, "estimated latency (--device)", "latency\n(estimated)",
           "estimated seconds per inference on the --device profile: each kernel's roofline "
           "time (mult_adds at the device's rate for its kind of layer, bytes moved at its "
           "bandwidth) plus its launch overhead, summed, plus the per-inference overhead "
           "(cnncost docs latency)",
           budget=True, regression=True, compare=True, summary=True, device=True),
)

BY_NAME: dict[str, Metric] = {m.name: m for m in METRICS}
BUDGET_METRICS: dict[str, str] = {m.name: m.unit for m in METRICS if m.budget}
REGRESSION_METRICS: tuple[str, ...] = tuple(m.name for m in METRICS if m.regression)
COMPARE_DEFAULT: tuple[str, ...] = tuple(m.name for m in METRICS if m.compare)  # with
# --device only for those that need it
COMPARABLE: tuple[str, ...] = tuple(m.name for m in METRICS if m.unit != TEXT)
DEFINITIONS: dict[str, str] = {m.name: m.definition for m in METRICS}
