"""Cost budgets: upper limits on a model's figures, written in a spec's ``budget:`` section or in
a budget file, with human quantities (``4.2M``, ``600M``, ``16MiB``, ``60%``).

Every limit is validated where it is written: an unknown metric, a string that is not a
quantity, or a unit that does not fit the metric (``params: 16MiB``) is an error with the
file, line and a hint, never a silent pass.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cnncost.errors import Problem, suggest
from cnncost.ir import Loc

if TYPE_CHECKING:
    from fractions import Fraction

COUNT, BYTES, SHARE, GUIDELINES = "count", "bytes", "share", "guidelines"

METRICS: dict[str, str] = {
    "params": COUNT,
    "weights": COUNT,
    "mult_adds": COUNT,
    "flops": COUNT,
    "elementwise_ops": COUNT,
    "mem_access": COUNT,
    "peak_activation_elements": COUNT,
    "kernels": COUNT,
    "mem_access_bytes": BYTES,
    "param_bytes": BYTES,
    "peak_activation_bytes": BYTES,
    "elementwise_mem_access_share": SHARE,
    "guidelines": GUIDELINES,
}
GUIDELINE_NAMES = ("G1", "G2", "G3", "G4")

_COUNT_SUFFIX = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
_BYTE_SUFFIX = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
                "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}
_QUANTITY = re.compile(r"^\s*([0-9][0-9_,]*(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z%]*)\s*$")


@dataclass(frozen=True)
class Limit:
    """At most ``value`` of ``metric`` (for guidelines: these must pass)."""

    metric: str
    value: Any  # Fraction for counts, bytes and shares; tuple of guideline names
    text: str  # as written, for messages
    loc: Loc | None = None


def parse_quantity(raw: Any, kind: str) -> Fraction:
    """``"4.2M"`` -> 4,200,000; ``"16MiB"`` -> 16,777,216; ``"60%"`` -> 3/5 (exact).
    Raises ValueError with a hint-ready message."""
    from decimal import Decimal, InvalidOperation  # only specs with budgets need these
    from fractions import Fraction

    if isinstance(raw, bool):
        raise ValueError(f"{raw!r} is not a quantity")
    if isinstance(raw, (int, float)):
        number, unit = Fraction(Decimal(str(raw))), ""
    else:
        match = _QUANTITY.match(str(raw))
        if not match:
            raise ValueError(f"{raw!r} is not a quantity")
        try:
            number = Fraction(Decimal(match.group(1).replace("_", "").replace(",", "")))
        except InvalidOperation:
            raise ValueError(f"{raw!r} is not a quantity") from None
        unit = match.group(2)
    if kind == SHARE:
        if unit == "%":
            return number / 100
        if unit:
            raise ValueError(f"{raw!r}: a share is a fraction (0.6) or a percentage (60%)")
        return number
    if unit == "%":
        raise ValueError(f"{raw!r}: a percentage does not fit a {kind} metric")
    upper = unit.upper()
    if kind == BYTES:
        if upper in _BYTE_SUFFIX:
            return number * _BYTE_SUFFIX[upper]
        if upper in _COUNT_SUFFIX:
            return number * _COUNT_SUFFIX[upper]  # 16M bytes
        raise ValueError(f"{raw!r}: unknown unit '{unit}' for bytes (B, KB, MB, GB, KiB, MiB, "
                         f"GiB)")
    if upper.endswith("B"):
        raise ValueError(f"{raw!r}: '{unit}' is a unit of bytes, and this metric is a count")
    if upper not in _COUNT_SUFFIX:
        raise ValueError(f"{raw!r}: unknown unit '{unit}' (K, M, G, T)")
    return number * _COUNT_SUFFIX[upper]


def read_budget(section: Any, loc: Loc | None) -> tuple[list[Limit], list[Problem]]:
    """Limits of a ``budget:`` mapping (read from YAML with locations); ``loc`` is where the
    section is, for a section that is not a mapping."""
    from cnncost.spec.yamldoc import Map

    limits: list[Limit] = []
    problems: list[Problem] = []
    if not isinstance(section, Map):
        problems.append(Problem("a budget is a mapping of metric: limit, e.g. "
                                "{params: 4.2M, mult_adds: 600M}", loc))
        return limits, problems
    for metric, raw in section.items():
        at = section.where(metric)
        kind = METRICS.get(metric)
        if kind is None:
            problems.append(Problem(f"unknown budget metric '{metric}'", at,
                                    suggest(str(metric), METRICS)))
            continue
        if kind == GUIDELINES:
            names = _guideline_names(raw)
            if names is None:
                problems.append(Problem(f"guidelines: {raw!r} is not 'all' or a list of G1-G4",
                                        at, "write guidelines: all, or guidelines: [G1, G3]"))
                continue
            limits.append(Limit(metric, names, ", ".join(names), at))
            continue
        try:
            value = parse_quantity(raw, kind)
        except ValueError as exc:
            examples = {COUNT: "4.2M, 600M, 1.5G or 1200000", BYTES: "16MiB, 100MB or 2GiB",
                        SHARE: "0.6 or 60%"}[kind]
            problems.append(Problem(str(exc), at, f"write a quantity such as {examples}"))
            continue
        limits.append(Limit(metric, value, str(raw), at))
    return limits, problems


def _guideline_names(raw: Any) -> tuple[str, ...] | None:
    if raw == "all":
        return GUIDELINE_NAMES
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list) or not items:
        return None
    names = tuple(str(item).upper() for item in items)
    return names if all(n in GUIDELINE_NAMES for n in names) else None
