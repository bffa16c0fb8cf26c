"""Budgets and regressions: does an analysed model stay within its limits?

A budget limit holds when the model's figure is at most the limit (exact comparison: a figure
one unit over fails, one at the limit passes). A guidelines limit holds when every named
guideline passes. A regression limit holds when the figure is at most the baseline's plus the
allowed increase.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from cnncost.pipeline import Analysis, figures
from cnncost.core.errors import Problem, UsageError
from cnncost.core.metrics import BY_NAME, REGRESSION_METRICS, SECONDS
from cnncost.core.budget import GUIDELINES, Limit



@dataclass(frozen=True)
class Outcome:
    model: str
    metric: str
    value: Any  # the figure; for guidelines, the names of those that warn
    limit: Any  # the largest figure that passes; for guidelines, the names that must pass
    limit_text: str
    passed: bool
    source: str  # where the limit comes from: "file:line" or the baseline file
    kind: str = "budget"  # or "regression"
    allowance: str = ""  # a regression's allowed increase over the baseline, e.g. "2%"

    @property
    def over(self) -> Any:
        """How far over the limit (0 when within it); for guidelines, the ones broken."""
        if self.metric == GUIDELINES:
            return self.value
        return max(0, self.value - self.limit)

    @property
    def over_share(self) -> float:
        if self.metric == GUIDELINES or not self.limit:
            return 0.0
        return float(self.over / self.limit)


def _where(limit: Limit) -> str:
    return f"{limit.loc.file}:{limit.loc.line}" if limit.loc else ""


def check_budget(model: str, a: Analysis, limits: list[Limit]) -> list[Outcome]:
    values = figures(a)
    warned = {v.guideline for v in a.guidelines if not v.passed}
    outcomes = []
    for limit in limits:
        if limit.metric == GUIDELINES:
            broken = tuple(g for g in limit.value if g in warned)
            outcomes.append(Outcome(model, GUIDELINES, broken, limit.value,
                                    f"{limit.text} pass", not broken, _where(limit)))
            continue
        if limit.metric not in values:  # latency: an estimate needs a device
            raise UsageError(Problem(f"{model}: a {limit.metric} budget needs a device profile "
                                     f"to estimate it", limit.loc,
                                     hint="add --device NAME (cnncost devices lists them)"))
        value = values[limit.metric]
        outcomes.append(Outcome(model, limit.metric, value, limit.value, limit.text,
                                value <= limit.value, _where(limit)))
    return outcomes


def check_regression(model: str, a: Analysis, baseline: dict[str, Any], max_increase: Fraction,
                     source: str) -> list[Outcome]:
    values = figures(a)
    outcomes = []
    for metric in REGRESSION_METRICS:
        if metric not in baseline or metric not in values:
            continue  # latency: only when both were estimated (on the same device)
        base = baseline[metric]
        allowance = f"{float(max_increase) * 100:g}%"
        if BY_NAME[metric].unit == SECONDS:
            limit = base * (1 + float(max_increase))
            text = f"{base * 1e3:.4g} ms + {allowance}"
        else:
            limit = math.floor(Fraction(base) * (1 + max_increase))  # the largest that passes
            text = f"{base:,} + {allowance}"
        outcomes.append(Outcome(model, metric, values[metric], limit, text,
                                values[metric] <= limit, source, "regression", allowance))
    return outcomes
