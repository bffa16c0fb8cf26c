"""The ShuffleNet V2 practical guidelines G1-G4 as figures, thresholds and findings.

Ma et al., "ShuffleNet V2: Practical Guidelines for Efficient CNN Architecture Design",
ECCV 2018, Section 2. Each guideline gives one network figure with a threshold (the
verdict) and the layers or blocks over a per-item threshold (the findings), each with what it
costs in mem_access. docs/guidelines.md defines every figure with its formula.

G1  equal channel width minimises memory access: for each conv (depthwise ones excepted), the
    excess of its mem_access over the lower bound at the same mult_adds. For a conv reading
    a*c1 elements (a = N*h_in*w_in), writing b*c2 (b = N*h_out*w_out) with K = kh*kw/g weights
    per channel pair, mem_access = a*c1 + b*c2 + K*c1*c2 and, for a fixed product c1*c2
    (fixed mult_adds B = b*K*c1*c2), a*c1 + b*c2 >= 2*sqrt(a*b*c1*c2), so the lower bound is
    2*sqrt(a*B/K) + B/b, reached when a*c1 = b*c2: input and output of equal size. For a 1x1
    conv with stride 1 this is the paper's 2*sqrt(hw*B) + B/hw. Biases are left out of both.
G2  excessive group convolution raises memory access: for each grouped conv (1 < g, depthwise
    excepted, as the paper treats it under G4), the extra mem_access against g = 1 at the
    same input and the same mult_adds (the paper's Eq. 2 with B and c1 fixed): g groups
    need g times the output channels, b*c2*(1 - 1/g) more elements.
G3  fragmentation lowers parallelism: fragments (conv, linear, pooling ops) per block, the
    widest parallel branching (most fragments at one depth), and the kernel launches.
G4  element-wise operations are not negligible: the share of mem_access in activations,
    adds, muls, batch norm, LRN and depthwise convs (which the paper counts here).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from typing import Any

from cnncost.core.errors import RuleError, suggest
from cnncost.core.ir import Cost, Graph, numel
from cnncost.ops.base import CONV
from cnncost.passes.rollup import Group, is_depthwise


def _threshold(default: float, doc: str) -> Any:
    return field(default=default, metadata={"doc": doc})


@dataclass(frozen=True)
class Thresholds:
    """Where each guideline starts to warn. Shares are fractions of mem_access (0.02 = 2%)."""

    g1_max_excess_share: float = _threshold(
        0.02, "G1 verdict: the network's G1 excess, as a share of its mem_access")
    g1_max_ratio: float = _threshold(
        2.0, "G1 findings: a conv whose output is over this many times larger or smaller "
             "than its input (elements)")
    g2_max_extra_share: float = _threshold(
        0.01, "G2 verdict: the network's G2 extra mem_access, as a share of its mem_access")
    g2_max_groups: float = _threshold(
        1, "G2 findings: a conv with more groups than this (depthwise convs excepted)")
    g3_max_branches: float = _threshold(
        2, "G3 verdict and findings: widest parallel branching of a block")
    g4_max_share: float = _threshold(
        0.6, "G4 verdict and findings: share of mem_access in element-wise ops and "
             "depthwise convs")

    @staticmethod
    def keys() -> dict[str, str]:
        """``g1.max_ratio``-style names and their documentation."""
        return {f.name.replace("_", ".", 1): f.metadata["doc"] for f in fields(Thresholds)}

    def with_settings(self, settings: dict[str, Any]) -> Thresholds:
        """A copy with some thresholds changed; values may be numbers or "5%". RuleError
        names an unknown key or a bad value."""
        changes = {}
        for key, raw in settings.items():
            name = str(key).replace(".", "_", 1)
            if name not in {f.name for f in fields(Thresholds)}:
                raise RuleError(f"unknown threshold '{key}'",
                                hint=suggest(str(key), Thresholds.keys()), key=str(key))
            changes[name] = _fraction(raw, str(key))
        return replace(self, **changes)


def _fraction(raw: Any, key: str) -> float:
    text = str(raw).strip()
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise RuleError(f"threshold {key}: {raw!r} is not a number",
                        hint="write a number such as 0.05, or a percentage such as 5%",
                        key=key) from None
    if isinstance(raw, bool) or not math.isfinite(value) or value < 0:
        raise RuleError(f"threshold {key}: {raw!r} must be a number of at least 0", key=key)
    return value


@dataclass(frozen=True)
class Finding:
    """One layer or block over a guideline's per-item threshold."""

    guideline: str
    subject: str  # layer or block name
    figure: str  # what was measured, in words: "c_in 32 -> c_out 192, output/input 6.00"
    value: float  # the number compared with the threshold
    threshold: float
    mem_access: int  # what it costs: excess, extra or element-wise mem_access (elements)
    suggestion: str
    line: int | None = None


@dataclass(frozen=True)
class Verdict:
    guideline: str  # "G1"
    title: str
    figure: str  # what the value is
    value: float
    threshold: float
    mem_access: int  # elements the guideline's figure attributes (0 for G3)
    findings: tuple[Finding, ...]
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.value <= self.threshold


TITLES = {
    "G1": "equal channel widths minimise memory access",
    "G2": "many groups raise memory access",
    "G3": "fragmentation lowers parallelism",
    "G4": "element-wise ops are not negligible",
}

SUGGESTIONS = {
    "G1": "keep input and output sizes equal: replace bottlenecks and expansions by "
          "equal-width convs, e.g. a channel split as in ShuffleNet V2",
    "G2": "use fewer groups: a dense 1x1 conv on fewer channels, or a channel split, costs "
          "less memory traffic at the same mult-adds",
    "G3": "merge parallel branches into fewer, larger convs: ShuffleNet V2 units keep at most "
          "two branches",
    "G4": "cut element-wise work: fuse BN and activations into the convs, use concat instead "
          "of add, apply activations and depthwise convs to fewer channels",
}


def g1_bound(a: int, b: int, kernel_per_pair: float, c1: int, c2: int) -> tuple[int, float]:
    """(mem_access without biases, its lower bound at the same mult_adds), as in the module
    docstring: a*c1 + b*c2 + K*c1*c2 >= 2*sqrt(a*b*c1*c2) + K*c1*c2."""
    actual = a * c1 + b * c2 + kernel_per_pair * c1 * c2
    bound = 2 * math.sqrt(a * b * c1 * c2) + kernel_per_pair * c1 * c2
    return round(actual), bound


def evaluate(graph: Graph, costs: tuple[Cost, ...], network: Group,
             blocks: tuple[Group, ...], t: Thresholds) -> tuple[Verdict, ...]:
    """The four verdicts; ``blocks`` are the roll-up groups at the analysis depth."""
    total = network.cost.mem_access or 1
    g1_items, g2_items = [], []
    g1_excess = g2_extra = 0
    for node in graph.nodes:
        op = node.op
        if op.family != CONV:
            continue
        source = graph.nodes[node.inputs[0]].shape
        c1, c2 = source[1], node.shape[1]
        if is_depthwise(op, c1):
            continue  # the paper counts depthwise convs under G4
        line = node.loc.line if node.loc else None
        a, b = numel(source) // c1, numel(node.shape) // c2
        actual, bound = g1_bound(a, b, op.kernel[0] * op.kernel[1] / op.groups, c1, c2)
        excess = max(0, round(actual - bound))
        g1_excess += excess
        ratio = (b * c2) / (a * c1)
        if max(ratio, 1 / ratio) > t.g1_max_ratio:
            g1_items.append(Finding("G1", node.name,
                                    f"{c1} -> {c2} channels, output/input size {ratio:.2f}",
                                    ratio, t.g1_max_ratio, excess, SUGGESTIONS["G1"], line))
        if op.groups > 1:
            extra = round(numel(node.shape) * (1 - 1 / op.groups))
            g2_extra += extra
            if op.groups > t.g2_max_groups:
                g2_items.append(Finding("G2", node.name,
                                        f"{op.groups} groups, {c1} -> {c2} channels",
                                        op.groups, t.g2_max_groups, extra, SUGGESTIONS["G2"],
                                        line))
    real_blocks = [g for g in blocks if g.layers > 1]  # a lone top-level layer is no block
    g3_items = [Finding("G3", g.key, f"{g.branches} parallel fragments, {g.fragments} fragments, "
                                     f"{g.kernels} kernels", g.branches, t.g3_max_branches,
                        g.cost.mem_access, SUGGESTIONS["G3"])
                for g in real_blocks if g.branches > t.g3_max_branches]
    g4_items = [Finding("G4", g.key, f"{100 * g.elementwise_share:.1f}% of the block's "
                                     f"mem_access", g.elementwise_share, t.g4_max_share,
                        g.elementwise_mem_access, SUGGESTIONS["G4"])
                for g in real_blocks if g.elementwise_share > t.g4_max_share]

    def ranked(items: list[Finding]) -> tuple[Finding, ...]:
        return tuple(sorted(items, key=lambda f: -f.mem_access))

    return (
        Verdict("G1", TITLES["G1"], "excess over equal widths / mem_access",
                g1_excess / total, t.g1_max_excess_share, g1_excess, ranked(g1_items)),
        Verdict("G2", TITLES["G2"], "grouped-conv extra / mem_access",
                g2_extra / total, t.g2_max_extra_share, g2_extra, ranked(g2_items)),
        Verdict("G3", TITLES["G3"], "widest parallel branching",
                network.branches, t.g3_max_branches, 0, ranked(g3_items),
                {"kernels": network.kernels, "fragments": network.fragments}),
        Verdict("G4", TITLES["G4"], "element-wise + depthwise / mem_access",
                network.elementwise_share, t.g4_max_share, network.elementwise_mem_access,
                ranked(g4_items), {"elementwise_work_share": network.elementwise_work_share}),
    )

