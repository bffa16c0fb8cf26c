"""Several models at once, for ``cnncost compare`` and the CI gate ``cnncost check``: loading
and analysing them, reading budget files and saved baselines, and checking.

A budget file::

    budget:              # limits for every model checked
      params: 5M
    models:              # limits for one model, by its reference, spec name or model name
      mobilenet_v2:
        mult_adds: 320M
      mobilenet_v1@alpha=0.5:
        peak_activation_bytes: 2MiB

A model's limits are its spec's ``budget:``, then the file's ``budget:``, then the file's entry
for it; a later limit on the same metric replaces an earlier one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from cnncost.analysis import Analysis, analyze
from cnncost.errors import CnncostError, Problem, SpecError, UsageError, suggest
from cnncost.library import SpecRef, load_ref, parse_ref
from cnncost.passes.budgets import Outcome, check_budget, check_regression
from cnncost.passes.guidelines import Thresholds
from cnncost.spec.budget import SHARE, Limit, parse_quantity, read_budget

BUDGET_FILE_KEYS = ("budget", "models")


@dataclass(frozen=True)
class Model:
    """One SPEC argument, loaded and analysed."""

    label: str  # the reference as the user wrote it, e.g. mobilenet_v1@alpha=0.5
    ref: SpecRef
    analysis: Analysis

    @property
    def names(self) -> tuple[str, ...]:
        """What a budget file or --baseline may call it."""
        spec = self.ref.spec
        stem = Path(spec).stem if spec.endswith((".yaml", ".yml")) else spec
        return tuple(dict.fromkeys((self.label, self.ref.label, spec, stem,
                                    self.analysis.graph.name)))


def analyse_all(specs: list[str], overrides: dict[str, Any], variant: str | None, *,
                fuse: str, dtype: str, thresholds: Thresholds, depth: int = 1) -> list[Model]:
    """Every model, or one error listing the problems of all the specs that failed."""
    models, problems = [], []
    for text in specs:
        try:
            ref = parse_ref(text)
            graph = load_ref(ref, overrides, variant)
        except CnncostError as exc:
            problems.extend(exc.problems)
            continue
        models.append(Model(text, ref, analyze(graph, fuse=fuse, dtype=dtype, depth=depth,
                                                thresholds=thresholds)))
    if problems:
        raise SpecError(problems)
    return models


@dataclass(frozen=True)
class BudgetFile:
    common: tuple[Limit, ...] = ()
    models: dict[str, tuple[Limit, ...]] = field(default_factory=dict)


def read_budget_file(path: str | Path) -> BudgetFile:
    from cnncost.spec.yamldoc import Map, load

    doc = load(path, "budget file")
    if not isinstance(doc, Map):
        raise SpecError(Problem("a budget file is a mapping with budget: and/or models:",
                                getattr(doc, "loc", None), "see docs/ci.md"))
    problems: list[Problem] = []
    for key in doc:
        if key not in BUDGET_FILE_KEYS:
            problems.append(Problem(f"unknown key '{key}'", doc.where(key),
                                    suggest(str(key), BUDGET_FILE_KEYS)))
    common: list[Limit] = []
    if "budget" in doc:
        common, found = read_budget(doc["budget"], doc.where("budget"))
        problems += found
    models: dict[str, tuple[Limit, ...]] = {}
    section = doc.get("models", Map())
    if not isinstance(section, Map):
        problems.append(Problem("models is a mapping of model: budget", doc.where("models")))
    else:
        for name, budget in section.items():
            limits, found = read_budget(budget, section.where(name))
            problems += found
            models[str(name)] = tuple(limits)
    if problems:
        raise SpecError(problems)
    if not common and not models:
        raise SpecError(Problem("the budget file sets no limits", doc.loc,
                                "add budget: {params: 5M} or models: {name: {...}}"))
    return BudgetFile(tuple(common), models)


def limits_for(model: Model, budgets: BudgetFile | None) -> list[Limit]:
    chosen: dict[str, Limit] = {limit.metric: limit for limit in model.analysis.graph.budget}
    if budgets:
        chosen.update({limit.metric: limit for limit in budgets.common})
        for name in model.names:
            if name in budgets.models:
                chosen.update({limit.metric: limit for limit in budgets.models[name]})
                break
    return list(chosen.values())


def unmatched_budgets(models: list[Model], budgets: BudgetFile | None) -> list[str]:
    """Budget file entries that name none of the models (a typo would silently check nothing)."""
    if not budgets:
        return []
    known = {name for model in models for name in model.names}
    return [name for name in budgets.models if name not in known]


def read_baseline(path: str | Path) -> dict[str, Any]:
    """A saved ``cnncost analyze --format json`` (one model) or ``cnncost compare --format
    json`` (several): model name -> {"totals": ..., "convention": ...}."""
    file = str(path)
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise UsageError(Problem(f"no such file: {file}",
                                 hint="save one with: cnncost analyze SPEC --format json > "
                                      "baseline.json")) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(Problem(f"{file} is not a cnncost JSON analysis: {exc}",
                                 hint="save one with: cnncost analyze SPEC --format json")) \
            from None
    entries = data.get("models") if isinstance(data, dict) else None
    entries = entries if isinstance(entries, list) else [data]
    baseline = {}
    for entry in entries:
        if not (isinstance(entry, dict) and isinstance(entry.get("totals"), dict)
                and isinstance(entry.get("model"), str)):
            raise UsageError(Problem(f"{file} is not a cnncost JSON analysis (no model and "
                                     f"totals)", hint="save one with: cnncost analyze SPEC "
                                                      "--format json"))
        for key in (entry.get("label"), entry["model"]):
            if key:
                baseline.setdefault(key, entry)
    return baseline


def parse_increase(text: str) -> Fraction:
    try:
        return parse_quantity(text, SHARE)
    except ValueError as exc:
        raise UsageError(Problem(f"--max-increase: {exc}",
                                 hint="write a percentage such as 2% or a fraction such as "
                                      "0.02")) from None


def run_check(models: list[Model], budgets: BudgetFile | None,
              baseline: dict[str, Any] | None, max_increase: Fraction,
              baseline_file: str = "") -> list[Outcome]:
    outcomes: list[Outcome] = []
    problems: list[Problem] = []
    for name in unmatched_budgets(models, budgets):
        problems.append(Problem(f"the budget file has limits for '{name}', which is none of "
                                f"the models checked",
                                hint=suggest(name, [n for m in models for n in m.names])
                                or "check the names under models:"))
    for model in models:
        outcomes += check_budget(model.label, model.analysis, limits_for(model, budgets))
        if baseline is None:
            continue
        entry = next((baseline[n] for n in model.names if n in baseline), None)
        if entry is None and len(baseline) == 1 and len(models) == 1:
            entry = next(iter(baseline.values()))
        if entry is None:
            problems.append(Problem(f"{baseline_file} has no analysis of {model.label}",
                                    hint="its models: " + ", ".join(sorted(baseline))))
            continue
        convention = entry.get("convention", {})
        a = model.analysis
        for key, ours in (("fuse", a.fuse), ("dtype", a.dtype)):
            if key in convention and convention[key] != ours:
                problems.append(Problem(
                    f"{baseline_file} was made with {key}={convention[key]}, this check uses "
                    f"{key}={ours}", hint=f"run the check with --{key} {convention[key]}"))
        outcomes += check_regression(model.label, a, entry["totals"], max_increase,
                                     baseline_file)
    if problems:
        raise UsageError(problems)
    return outcomes
