"""Tables for ``cnncost compare`` and ``cnncost check``, and the JUnit XML of a check."""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree

from cnncost.pipeline import figures
from cnncost.core.errors import Problem, UsageError, printable, suggest
from cnncost.jobs.budgets import Outcome
from cnncost.report import fmt
from cnncost.core.metrics import BY_NAME, COMPARABLE, COMPARE_DEFAULT, DEFINITIONS
from cnncost.report.document import analysis_convention, convention, envelope, model_fields
from cnncost.report.tables import COLUMN_KIND, RATIO, TEXT, VERDICT, Column, Table
from cnncost.report.tables import convention as convention_note
from cnncost.core.budget import BYTES as BYTE_METRIC
from cnncost.core.budget import GUIDELINES, METRICS
from cnncost.core.budget import SECONDS as SECONDS_METRIC
from cnncost.core.budget import SHARE as SHARE_METRIC

GUIDELINE_COLUMNS = ("G1", "G2", "G3", "G4")
COMPARE_COLUMNS: dict[str, tuple[str, str]] = {
    **{name: (BY_NAME[name].header, COLUMN_KIND[BY_NAME[name].unit]) for name in COMPARABLE},
    **{g: (g, VERDICT) for g in GUIDELINE_COLUMNS}}
DEFAULT_COLUMNS = (*COMPARE_DEFAULT, *GUIDELINE_COLUMNS)


def compare_row(model: Any) -> dict[str, Any]:
    a = model.analysis
    row: dict[str, Any] = {"model": model.label, **figures(a)}
    for v in a.guidelines:
        row[v.guideline] = "pass" if v.passed else "warn"
    return row


def _columns(text: str | None, estimated: bool) -> list[str]:
    """The columns asked for (default: the compare metrics, latency with --device)."""
    if not text:
        return [k for k in DEFAULT_COLUMNS if estimated or not _needs_device(k)]
    keys = [k.strip() for k in text.split(",") if k.strip()]
    for key in keys:
        if key not in COMPARE_COLUMNS:
            raise UsageError(Problem(f"--columns: unknown column '{key}'",
                                     hint=suggest(key, COMPARE_COLUMNS)))
        _device_for(key, estimated, "--columns")
    return keys


def _needs_device(key: str) -> bool:
    return key in BY_NAME and BY_NAME[key].device


def _device_for(key: str, estimated: bool, option: str) -> None:
    if _needs_device(key) and not estimated:
        raise UsageError(Problem(f"{option} {key}: {key} is estimated on a device profile",
                                 hint="add --device NAME (cnncost devices lists them)"))


def compare_table(models: list[Any], *, baseline: str | None = None, sort: str | None = None,
                  columns: str | None = None) -> Table:
    estimated = bool(models) and all(m.analysis.latency is not None for m in models)
    keys = _columns(columns, estimated)
    rows = [compare_row(m) for m in models]
    base = _baseline_row(models, rows, baseline) if baseline else None
    if base is not None:
        for row in rows:
            for key in keys:
                if COMPARE_COLUMNS[key][1] != VERDICT:
                    row[f"{key}_ratio"] = row[key] / base[key] if base[key] else None
    if sort:
        key = sort.lstrip("-")
        if key != "model" and key not in COMPARE_COLUMNS:
            raise UsageError(Problem(f"--sort: unknown column '{key}'",
                                     hint=suggest(key, ["model", *COMPARE_COLUMNS])))
        _device_for(key, estimated, "--sort")
        rows.sort(key=lambda r: r[key], reverse=sort.startswith("-"))
    shown = [Column("model", "model", TEXT)]
    for key in keys:
        header, kind = COMPARE_COLUMNS[key]
        shown.append(Column(key, header, kind))
        if base is not None and kind != VERDICT:
            shown.append(Column(f"{key}_ratio", "x base", RATIO, attach=True))
    notes = [convention_note(models[0].analysis)] if models else []
    if base is not None:
        notes.insert(0, f"x base: each figure divided by {base['model']}'s")
    return Table("comparison", tuple(shown), tuple(rows), tuple(notes), transpose=True)


def _baseline_row(models: list[Any], rows: list[dict[str, Any]], name: str) -> dict[str, Any]:
    if name.isdigit() and 1 <= int(name) <= len(rows):
        return rows[int(name) - 1]
    for model, row in zip(models, rows):
        if name in model.names:
            return row
    raise UsageError(Problem(f"--baseline {name}: no such model among those compared",
                             hint=suggest(name, [m.label for m in models])
                             or "name a model as written, or its position (1, 2, ...)"))


def compare_document(models: list[Any], table: Table) -> dict[str, Any]:
    """JSON: every model with its figures, in the table's order (--sort); usable as a --against
    baseline for cnncost check."""
    by_label: dict[str, list[Any]] = {}
    for model in models:
        by_label.setdefault(model.label, []).append(model)
    entries = []
    for row in table.rows:
        a = by_label[row["model"]].pop(0).analysis
        entries.append({
            **model_fields(a),
            "convention": analysis_convention(a),
            "totals": figures(a),
            "guidelines": {v.guideline: "pass" if v.passed else "warn" for v in a.guidelines},
            "ratios": {k[:-6]: v for k, v in row.items() if k.endswith("_ratio")},
            "warnings": list(a.warnings),
        })
    conv = entries[0]["convention"] if entries else convention()
    return {**envelope("compare", conv), "definitions": DEFINITIONS,
            "columns": [c.key for c in table.columns], "models": entries}


# -- check -------------------------------------------------------------------------------------

def _shown(metric: str, value: Any) -> str:
    if metric == GUIDELINES:
        return ", ".join(value) + " warn" if value else "all pass"
    kind = METRICS.get(metric)
    if kind == SHARE_METRIC:
        return fmt.percent(float(value))
    if kind == BYTE_METRIC:
        return fmt.human_bytes(round(value))
    if kind == SECONDS_METRIC:
        return fmt.seconds(float(value))
    return fmt.grouped(round(value))


def _number(metric: str, value: Any) -> Any:
    """A figure or limit for JSON: an exact int for counts and bytes, a float for shares."""
    if metric == GUIDELINES:
        return list(value)
    if METRICS.get(metric) in (SHARE_METRIC, SECONDS_METRIC):
        return float(value)
    return int(value)


def check_rows(outcomes: list[Outcome]) -> tuple[dict[str, Any], ...]:
    rows = []
    for o in outcomes:
        over = ""
        if not o.passed:
            over = ("breaks " + ", ".join(o.over) if o.metric == GUIDELINES else
                    f"+{_shown(o.metric, o.over)} (+{100 * o.over_share:.1f}%)")
        rows.append({
            "model": o.model, "metric": o.metric, "kind": o.kind,
            "value": _number(o.metric, o.value), "value_text": _shown(o.metric, o.value),
            "limit": _number(o.metric, o.limit), "limit_text": o.limit_text,
            "limit_shown": _limit_shown(o), "allowance": o.allowance,
            "status": "pass" if o.passed else "FAIL", "passed": o.passed,
            "verdict": "pass" if o.passed else f"FAIL {over}",
            "over_by": _number(o.metric, o.over), "over_share": o.over_share,
            "over_text": over, "source": o.source,
        })
    return tuple(rows)


def _limit_shown(o: Outcome) -> str:
    """A limit in the unit its figure is shown in (``8,000,000`` beside ``304,296``, not
    ``8M``); a regression limit says what it is: ``310,381 (baseline+2%)``."""
    if o.metric == GUIDELINES:
        return o.limit_text
    if o.kind == "regression":  # one word, which wraps whole
        return f"{_shown(o.metric, o.limit)} (baseline+{o.allowance})"
    return _shown(o.metric, o.limit)


def _listed(value: Any) -> Any:
    """A list (the guidelines that warn, or must pass) as text for CSV: ``G2; G3``."""
    return "; ".join(value) if isinstance(value, list) else value


# what a check's metric could be mistaken for: said under the table when it appears
METRIC_NOTES = {"params": "params: every trainable parameter (weights + biases + BN gamma and "
                          "beta), not the weights alone"}


def _notes(outcomes: list[Outcome], models: list[Any], not_given: Any) -> list[str]:
    failed = sum(1 for o in outcomes if not o.passed)
    notes = [f"{len(outcomes) - failed} of {len(outcomes)} limits hold"]
    unchecked = _unchecked(outcomes, models)
    if unchecked:
        notes.append("no budget for: " + ", ".join(unchecked))
    if not_given:
        notes.append("budget entries for specs not given here, not checked: " +
                     ", ".join(not_given))
    notes += [METRIC_NOTES[m] for m in dict.fromkeys(o.metric for o in outcomes)
              if m in METRIC_NOTES]
    if models:
        notes.append(convention_note(models[0].analysis))
    return notes


def _unchecked(outcomes: list[Outcome], models: list[Any]) -> list[str]:
    checked = {o.model for o in outcomes}
    return [m.label for m in models if m.label not in checked]


def check_table(outcomes: list[Outcome], models: list[Any], not_given: Any = ()) -> Table:
    failed = sum(1 for o in outcomes if not o.passed)
    rows = tuple({**row, "value": _listed(row["value"]), "limit": _listed(row["limit"])}
                 for row in check_rows(outcomes))
    return Table(
        "cnncost check: " + ("all limits hold" if not failed else f"{failed} exceeded"),
        (Column("model", "model", TEXT), Column("metric", "model, metric", TEXT, wrap=False),
         Column("kind", "kind", TEXT, human=False), Column("value_text", "value", TEXT),
         Column("limit_text", "limit as written", TEXT, human=False),
         Column("limit_shown", "limit", TEXT, machine=False),
         Column("status", "status", VERDICT, human=False),
         Column("verdict", "status", VERDICT, machine=False),
         Column("over_text", "over by", TEXT, human=False),
         Column("source", "limit from", TEXT, optional=1),
         Column("value", "raw value", TEXT, human=False),
         Column("limit", "raw limit", TEXT, human=False)),
        rows, tuple(_notes(outcomes, models, not_given)), group_by="model")


def check_document(outcomes: list[Outcome], models: list[Any],
                   not_given: Any = ()) -> dict[str, Any]:
    rows = check_rows(outcomes)
    conv = analysis_convention(models[0].analysis) if models else convention()
    keys = ("model", "metric", "kind", "value", "limit", "limit_text", "passed", "over_by",
            "over_share", "source")
    return {
        **envelope("check", conv),
        "passed": all(o.passed for o in outcomes),
        "failures": sum(1 for o in outcomes if not o.passed),
        "limits": len(outcomes),
        "results": [{k: r[k] for k in keys} for r in rows],
        "models": [{**model_fields(m.analysis), "convention": analysis_convention(m.analysis),
                    "totals": figures(m.analysis)} for m in models],
        "unchecked": _unchecked(outcomes, models),
        "not_given": list(not_given),
    }


def _case_name(row: dict[str, Any]) -> str:
    """A test case's name: the limit as written (``params <= 4M``, ``guidelines G2, G3
    pass``, ``mult_adds <= baseline + 2%``)."""
    if row["metric"] == GUIDELINES:
        return f"guidelines {row['limit_text']}"
    if row["kind"] == "regression":
        return f"{row['metric']} <= baseline + {row['allowance']}"
    return f"{row['metric']} <= {row['limit_text']}"


def _failure_sentence(model: str, row: dict[str, Any]) -> str:
    """``mobilenet_v1: params is 4,231,976, over its limit of 4,000,000 by 231,976 (5.8%).``"""
    if row["metric"] == GUIDELINES:
        broken = row["over_by"]
        verb = "warns" if len(broken) == 1 else "warn"
        return (f"{model}: {' and '.join(broken)} {verb}, and its budget requires "
                f"{', '.join(row['limit'])} to pass.")
    return (f"{model}: {row['metric']} is {row['value_text']}, over its limit of "
            f"{row['limit_shown']} by {_shown(row['metric'], row['over_by'])} "
            f"({100 * row['over_share']:.1f}%).")


def junit_xml(outcomes: list[Outcome], models: list[Any]) -> str:
    """JUnit XML: one test suite per model, one test case per limit; a limit exceeded is a
    failure whose message says by how much. A model without limits is a skipped case."""
    root = ElementTree.Element("testsuites", name="cnncost check")
    rows = check_rows(outcomes)
    total = failures = 0
    for model in models:
        mine = [r for r in rows if r["model"] == model.label]
        suite = ElementTree.SubElement(root, "testsuite", name=model.label)
        suite_failures = 0
        for row in mine:
            case = ElementTree.SubElement(suite, "testcase", classname=f"cnncost.{model.label}",
                                          name=_case_name(row))
            if row["status"] != "pass":
                suite_failures += 1
                failure = ElementTree.SubElement(case, "failure", type="BudgetExceeded",
                                                 message=_failure_sentence(model.label, row))
                failure.text = (f"The baseline is {row['source']}." if row["kind"] == "regression"
                                else f"The limit is written at {row['source']}.")
        if not mine:
            case = ElementTree.SubElement(suite, "testcase", classname=f"cnncost.{model.label}",
                                          name="budget")
            ElementTree.SubElement(case, "skipped", message="no budget for this model")
        count = max(len(mine), 1)
        suite.set("tests", str(count))
        suite.set("failures", str(suite_failures))
        suite.set("errors", "0")
        suite.set("skipped", "0" if mine else "1")
        total += count
        failures += suite_failures
    root.set("tests", str(total))
    root.set("failures", str(failures))
    root.set("errors", "0")
    ElementTree.indent(root)
    # names may hold control characters, which XML 1.0 cannot carry even escaped
    return '<?xml version="1.0" encoding="utf-8"?>\n' + printable(ElementTree.tostring(
        root, encoding="unicode")) + "\n"
