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

from cnncost.core.errors import Problem, shown, suggest
from cnncost.core.ir import Loc
from cnncost.core.metrics import BUDGET_METRICS, BYTES, COUNT, SECONDS, SHARE

if TYPE_CHECKING:
    from fractions import Fraction

GUIDELINES = "guidelines"
METRICS: dict[str, str] = {**BUDGET_METRICS, GUIDELINES: GUIDELINES}  # name -> unit
GUIDELINE_NAMES = ("G1", "G2", "G3", "G4")

_COUNT_SUFFIX = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
_TIME_SUFFIX = {"": 1, "S": 1, "MS": 10**3, "US": 10**6, "NS": 10**9}  # divisors of a second
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


MAX_QUANTITY = 10**18
MAX_EXPONENT = 30  # 1e999999999 would take Fraction minutes to build: refuse it first


def split_quantity(raw: Any) -> tuple[Fraction, str]:
    """``"4.2M"`` -> (21/5, "M"); ``60`` -> (60, ""). Exact; ValueError for anything that is
    not a finite, non-negative number with an optional unit."""
    from decimal import Decimal, InvalidOperation  # only specs with budgets need these
    from fractions import Fraction

    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        raise ValueError(f"{shown(repr(raw))} is not a quantity")
    if isinstance(raw, str):
        match = _QUANTITY.match(raw)
        if not match:
            raise ValueError(f"{shown(repr(raw))} is not a quantity")
        digits, unit = match.group(1).replace("_", "").replace(",", ""), match.group(2)
    else:
        digits, unit = str(raw), ""
    try:
        number = Decimal(digits)
    except InvalidOperation:
        raise ValueError(f"{shown(repr(raw))} is not a quantity") from None
    if not number.is_finite():
        raise ValueError(f"{shown(repr(raw))} is not a finite number")
    if number < 0:
        raise ValueError(f"{shown(repr(raw))}: a limit cannot be negative")
    if number and abs(number.adjusted()) > MAX_EXPONENT:
        raise ValueError(f"{shown(repr(raw))} is out of range")
    return Fraction(number), unit


def parse_quantity(raw: Any, kind: str) -> Fraction | int:
    """``"4.2M"`` -> 4,200,000; ``"16MiB"`` -> 16,777,216; ``"60%"`` -> 3/5; ``"5ms"`` -> 1/200
    (exact). Counts and bytes are whole numbers (int); shares are fractions from 0 to 1, times
    fractions of a second. Raises ValueError
    with a hint-ready message."""
    number, unit = split_quantity(raw)
    text = shown(repr(raw))
    if kind == SHARE:
        if unit not in ("", "%"):
            raise ValueError(f"{text}: a share is a fraction (0.6) or a percentage (60%)")
        share = number / 100 if unit == "%" else number
        if share > 1:
            raise ValueError(f"{text} is over 100%" if unit == "%" else
                             f"{text} as a share would be {float(number) * 100:g}%; write "
                             f"{shown(raw)}% or {float(number) / 100:g} for {shown(raw)} percent")
        return share
    if unit == "%":
        raise ValueError(f"{text}: a percentage does not fit a {kind} metric")
    if kind == SECONDS:
        if unit.upper() not in _TIME_SUFFIX:
            raise ValueError(f"{text}: unknown unit '{shown(unit)}' for a time (s, ms, us, ns)")
        return number / _TIME_SUFFIX[unit.upper()]
    upper = unit.upper()
    if kind == BYTES:
        if upper in _BYTE_SUFFIX:
            value = number * _BYTE_SUFFIX[upper]
        elif upper in _COUNT_SUFFIX:
            value = number * _COUNT_SUFFIX[upper]  # 16M bytes
        else:
            raise ValueError(f"{text}: unknown unit '{shown(unit)}' for bytes (B, KB, MB, GB, "
                             f"KiB, MiB, GiB)")
    elif upper.endswith("B"):
        raise ValueError(f"{text}: '{shown(unit)}' is a unit of bytes, and this metric is a "
                         f"count")
    elif upper not in _COUNT_SUFFIX:
        raise ValueError(f"{text}: unknown unit '{shown(unit)}' (K, M, G, T)")
    else:
        value = number * _COUNT_SUFFIX[upper]
    if value > MAX_QUANTITY:
        raise ValueError(f"{text} is over {MAX_QUANTITY:.0e}, more than any network has")
    if value.denominator != 1:
        raise ValueError(f"{text} is {float(value):,g}; a {kind} limit is a whole number")
    return int(value)


def parse_increase(raw: Any) -> Fraction:
    """An allowed increase: ``2%`` or ``0.02``. A bare number above 1 is refused: ``2`` would
    mean +200%, which nobody writing --max-increase 2 means."""
    number, unit = split_quantity(raw)
    if unit not in ("", "%"):
        raise ValueError(f"{shown(repr(raw))}: write a percentage (2%) or a fraction (0.02)")
    if unit == "%":
        return number / 100
    if number > 1:
        raise ValueError(f"{shown(raw)} would mean +{float(number) * 100:g}%; write {shown(raw)}% "
                         f"for {shown(raw)} percent (or {float(number) * 100:g}% if you mean it)")
    return number


def read_budget(section: Any, loc: Loc | None) -> tuple[list[Limit], list[Problem]]:
    """Limits of a ``budget:`` mapping (read from YAML with locations); ``loc`` is where the
    section is, for a section that is not a mapping."""
    from cnncost.core.yamldoc import Map

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
            problems.append(Problem(f"unknown budget metric '{shown(metric)}'", at,
                                    suggest(str(metric), METRICS)))
            continue
        if kind == GUIDELINES:
            names = _guideline_names(raw)
            if names is None:
                problems.append(Problem(f"guidelines: {shown(repr(raw))} is not 'all' or a list of "
                                        f"G1-G4",
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
