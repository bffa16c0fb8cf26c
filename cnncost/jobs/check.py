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

from cnncost.pipeline import Analysis, analyze
from cnncost.core.errors import (CnncostError, Problem, Problems, SpecError, UsageError, shown,
                            suggest)
from cnncost.core.ir import Loc
from cnncost.frontends.library import SpecRef, load_model, parse_ref
from cnncost.core.metrics import BY_NAME, REGRESSION_METRICS, SECONDS
from cnncost.jobs.budgets import Outcome, check_budget, check_regression
from cnncost.passes.guidelines import Thresholds
from cnncost.core.budget import Limit, read_budget
from cnncost.core.budget import parse_increase as increase

BUDGET_FILE_KEYS = ("budget", "models")


@dataclass(frozen=True)
class Model:
    """One SPEC argument, loaded and analysed."""

    written: str  # the reference as the user wrote it, e.g. mobilenet_v1@alpha=0.5
    ref: SpecRef
    analysis: Analysis

    @property
    def label(self) -> str:
        """How output names it: the spec with the variant and settings analysed."""
        return self.analysis.model.label

    @property
    def names(self) -> tuple[str, ...]:
        """What a budget file or --baseline may call it."""
        spec = self.ref.spec
        stem = Path(spec).stem if spec.endswith((".yaml", ".yml")) else spec
        return tuple(dict.fromkeys((self.label, self.written, self.ref.label, spec, stem,
                                    self.analysis.graph.name)))


def analyse_all(specs: list[str], overrides: dict[str, Any], variant: str | None, *,
                fuse: str, dtype: str, thresholds: Thresholds, depth: int = 1,
                device: Any = None, **loading: Any) -> list[Model]:
    """Every model, or one error listing the problems of all the specs that failed.
    ``loading``: load_model's batch, input_shape and allow_unknown."""
    models, problems = [], []
    for text in specs:
        try:
            ref = parse_ref(text)
            model = load_model(ref, overrides, variant, **loading)
        except CnncostError as exc:
            problems.extend(exc.problems)
            continue
        models.append(Model(text, ref, analyze(model, fuse=fuse, dtype=dtype, depth=depth,
                                                thresholds=thresholds, device=device)))
    if problems:
        raise SpecError(problems)
    return models


@dataclass(frozen=True)
class BudgetFile:
    common: tuple[Limit, ...] = ()
    models: dict[str, tuple[Limit, ...]] = field(default_factory=dict)
    where: dict[str, Loc] = field(default_factory=dict)  # where each model's entry is written
    file: str = ""


def read_budget_file(path: str | Path) -> BudgetFile:
    from cnncost.core.yamldoc import Map, load

    doc = load(path, "budget file")
    if not isinstance(doc, Map):
        raise SpecError(Problem("a budget file is a mapping with budget: and/or models:",
                                getattr(doc, "loc", Loc(str(path), 1, 1, "")),
                                "see: cnncost docs ci"))
    problems = Problems()
    problems.unknown_keys(doc, BUDGET_FILE_KEYS)
    common: list[Limit] = []
    if "budget" in doc:
        common, found = read_budget(doc["budget"], doc.where("budget"))
        problems += found
    models: dict[str, tuple[Limit, ...]] = {}
    where: dict[str, Loc] = {}
    section = doc.get("models", Map())
    if not isinstance(section, Map):
        problems.append(Problem("models is a mapping of model: budget", doc.where("models")))
    else:
        for name, budget in section.items():
            limits, found = read_budget(budget, section.where(name))
            problems += found
            models[str(name)] = tuple(limits)
            where[str(name)] = section.where(name)
    if problems:
        raise SpecError(problems)
    if not common and not models:
        raise SpecError(Problem("the budget file sets no limits", doc.loc,
                                "add budget: {params: 5M} or models: {name: {...}}"))
    return BudgetFile(tuple(common), models, where, str(path))


def limits_for(model: Model, budgets: BudgetFile | None) -> list[Limit]:
    chosen: dict[str, Limit] = {limit.metric: limit for limit in model.analysis.model.budget}
    if budgets:
        chosen.update({limit.metric: limit for limit in budgets.common})
        for name in model.names:
            if name in budgets.models:
                chosen.update({limit.metric: limit for limit in budgets.models[name]})
                break
    return list(chosen.values())


def unmatched_budgets(models: list[Model], budgets: BudgetFile | None) -> list[str]:
    """Budget file entries that name none of the models checked."""
    if not budgets:
        return []
    known = {name for model in models for name in model.names}
    return [name for name in budgets.models if name not in known]


def names_a_spec(name: str, budgets: BudgetFile) -> bool:
    """Whether a budget entry names a spec that exists (a file, beside the budget file or
    here, or a bundled name, with or without @settings): a model merely not checked this time,
    as when a pre-commit hook passes only the specs a commit changed. Anything else is a typo."""
    from cnncost.core.files import is_file
    from cnncost.frontends.library import bundled

    spec = parse_ref(name).spec
    beside = Path(budgets.file).parent / spec
    return is_file(spec) or is_file(beside) or spec in bundled()


def unknown_entries(budgets: BudgetFile, names: list[str], done: str) -> list[Problem]:
    """Budget file entries that name no spec file, no bundled spec and none of the models
    ``names`` (those checked, or swept): typos, refused rather than silently unused."""
    return [Problem(f"the budget file has limits for '{shown(name)}', which is no spec file, "
                    f"no bundled spec and none of the models {done}", budgets.where.get(name),
                    hint=suggest(name, names) or "name a model by its spec file or bundled name")
            for name in budgets.models if name not in names and not names_a_spec(name, budgets)]


def unchecked_entries(models: list[Model], budgets: BudgetFile | None) -> list[str]:
    """Budget entries for existing specs that were not among those checked."""
    return [name for name in unmatched_budgets(models, budgets) if names_a_spec(name, budgets)]


BASELINE_HINT = "save one with: cnncost analyze SPEC --format json -o baseline.json"


def read_baseline(path: str | Path) -> dict[str, Any]:
    """A saved ``cnncost analyze --format json`` (one model) or ``cnncost compare --format
    json`` (several): model name -> {"totals": ..., "convention": ...}. Every value the check
    uses is checked for its type: a hand-edited or foreign file is refused, never trusted."""
    from cnncost.core.files import MAX_JSON_BYTES, read_text

    file = str(path)
    text = read_text(path, limit=MAX_JSON_BYTES, hint=BASELINE_HINT, error=UsageError)

    def refuse(what: str) -> UsageError:
        return UsageError(Problem(f"{file} is not a cnncost JSON analysis: {what}",
                                  hint=BASELINE_HINT))

    def no_constants(name: str) -> Any:
        raise ValueError(f"{name} is not a number JSON allows")

    try:
        data = json.loads(text, parse_constant=no_constants)
    except RecursionError:
        raise refuse("it is nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, NaN, integers past Python's digit limit
        raise refuse(shown(str(exc), 120)) from None
    entries = data.get("models") if isinstance(data, dict) else None
    entries = entries if isinstance(entries, list) else [data]
    baseline = {}
    for number, entry in enumerate(entries):
        where = f"models[{number}]" if len(entries) > 1 or entry is not data else "the document"
        problem = _baseline_problem(entry)
        if problem:
            raise refuse(f"{where}: {problem}")
        for key in (entry.get("label"), entry["model"]):
            if key:
                baseline.setdefault(key, entry)
    return baseline


def _baseline_problem(entry: Any) -> str | None:
    """What is wrong with one model of a baseline, or None."""
    from cnncost.core.yamldoc import MAX_NUMBER

    if not isinstance(entry, dict):
        return "a model is a JSON object"
    if not isinstance(entry.get("model"), str):
        return "no model name"
    if "label" in entry and not isinstance(entry["label"], (str, type(None))):
        return "label is not text"
    totals = entry.get("totals")
    if not isinstance(totals, dict):
        return "no totals object"
    for metric in REGRESSION_METRICS:
        value = totals.get(metric)
        if metric not in totals:
            continue
        if BY_NAME[metric].unit == SECONDS:
            if not (isinstance(value, (int, float)) and not isinstance(value, bool)
                    and 0 <= value <= MAX_NUMBER):
                return f"totals.{metric} is {shown(repr(value))}, not a time in seconds"
        elif not (isinstance(value, int) and not isinstance(value, bool)
                  and 0 <= value <= MAX_NUMBER):
            return f"totals.{metric} is {shown(repr(value))}, not a count"
    convention = entry.get("convention", {})
    if not isinstance(convention, dict) or not all(
            isinstance(convention.get(k, ""), (str, type(None)) if k == "device" else str)
            for k in ("fuse", "dtype", "device")):
        return "convention is not an object with fuse and dtype"
    if "batch" in convention and not isinstance(convention["batch"], int):
        return "convention.batch is not a whole number"
    if not isinstance(entry.get("variables", {}), dict):
        return "variables is not an object"
    return None


def parse_increase(text: str) -> Fraction:
    try:
        return increase(text)
    except ValueError as exc:
        raise UsageError(Problem(f"--max-increase: {exc}",
                                 hint="write a percentage such as 2% or a fraction such as "
                                      "0.02")) from None


def _mismatches(entry: dict[str, Any], a: Analysis, file: str) -> list[Problem]:
    """A baseline made under another convention or with other variables compares nothing."""
    convention = entry.get("convention", {})
    problems = []
    batch = a.graph.nodes[0].shape[0]
    device = a.latency.device.name if a.latency is not None else None
    for key, ours in (("fuse", a.fuse), ("dtype", a.dtype), ("batch", batch),
                      ("device", device)):
        if key == "device" and (ours is None or convention.get(key) is None):
            continue  # latency is compared only when both were estimated
        if key in convention and convention[key] != ours:
            problems.append(Problem(
                f"{file} was made with {key}={shown(convention[key])}, this check uses "
                f"{key}={ours}", hint=f"run the check with --{key} {shown(convention[key])}, "
                                      f"or save a new baseline"))
    if "variables" in entry:
        ours = json.loads(json.dumps(dict(a.model.variables)))
        theirs = entry["variables"]
        changed = sorted(k for k in set(ours) | set(theirs) if ours.get(k) != theirs.get(k))
        if changed:
            diff = ", ".join(f"{k}={shown(repr(theirs.get(k)), 30)} there, "
                             f"{shown(repr(ours.get(k)), 30)} here" for k in changed[:4])
            problems.append(Problem(
                f"{file} analysed {entry['model']} with other variables: {diff}",
                hint="check the same settings (@name=value, --set, --variant) the baseline was "
                     "made with, or save a new baseline"))
    return problems


def run_check(models: list[Model], budgets: BudgetFile | None,
              baseline: dict[str, Any] | None, max_increase: Fraction,
              baseline_file: str = "") -> list[Outcome]:
    outcomes: list[Outcome] = []
    problems: list[Problem] = []
    if budgets:  # entries for specs not checked this time are listed (unchecked_entries)
        problems += unknown_entries(budgets, [n for m in models for n in m.names], "checked")
    for model in models:
        if model.analysis.model.partial:
            problems.append(Problem(f"{model.label} is a partial analysis (unsupported ops "
                                    f"counted as zero): its figures cannot be gated",
                                    hint="support or remove the ops it lists"))
            continue
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
        a = model.analysis
        problems += _mismatches(entry, a, baseline_file)
        outcomes += check_regression(model.label, a, entry["totals"], max_increase,
                                     baseline_file)
    if problems:
        raise UsageError(problems)
    return outcomes
