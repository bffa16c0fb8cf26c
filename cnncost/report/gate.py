"""Tables for ``cnncost compare`` and ``cnncost check``, and the JUnit XML of a check."""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree

from cnncost.analysis import figures
from cnncost.errors import Problem, UsageError, suggest
from cnncost.passes.budgets import Outcome
from cnncost.report import fmt
from cnncost.report.tables import BYTES, COUNT, RATIO, SHARE, TEXT, Column, Table, convention
from cnncost.spec.budget import BYTES as BYTE_METRIC
from cnncost.spec.budget import GUIDELINES, METRICS
from cnncost.spec.budget import SHARE as SHARE_METRIC

COMPARE_COLUMNS: dict[str, tuple[str, str]] = {
    "params": ("params", COUNT),
    "weights": ("weights", COUNT),
    "mult_adds": ("mult-adds\n(multiply-accumulates)", COUNT),
    "flops": ("FLOPs\n(2 x mult-adds)", COUNT),
    "elementwise_ops": ("element-wise\nops", COUNT),
    "mem_access": ("mem_access\n(elements)", COUNT),
    "mem_access_bytes": ("mem_access\nbytes", BYTES),
    "param_bytes": ("param\nbytes", BYTES),
    "peak_activation_elements": ("peak activation\n(elements)", COUNT),
    "peak_activation_bytes": ("peak activation\nmemory", BYTES),
    "elementwise_mem_access_share": ("element-wise\nshare of\nmem_access", SHARE),
    "kernels": ("kernels", COUNT),
    "G1": ("G1", TEXT), "G2": ("G2", TEXT), "G3": ("G3", TEXT), "G4": ("G4", TEXT),
}
DEFAULT_COLUMNS = ("params", "mult_adds", "mem_access", "mem_access_bytes",
                   "peak_activation_bytes", "elementwise_mem_access_share",
                   "G1", "G2", "G3", "G4")


def compare_row(model: Any) -> dict[str, Any]:
    a = model.analysis
    row: dict[str, Any] = {"model": model.label, **figures(a)}
    for v in a.guidelines:
        row[v.guideline] = "pass" if v.passed else "warn"
    return row


def _columns(text: str | None) -> list[str]:
    if not text:
        return list(DEFAULT_COLUMNS)
    keys = [k.strip() for k in text.split(",") if k.strip()]
    for key in keys:
        if key not in COMPARE_COLUMNS:
            raise UsageError(Problem(f"--columns: unknown column '{key}'",
                                     hint=suggest(key, COMPARE_COLUMNS)))
    return keys


def compare_table(models: list[Any], *, baseline: str | None = None, sort: str | None = None,
                  columns: str | None = None) -> Table:
    keys = _columns(columns)
    rows = [compare_row(m) for m in models]
    base = _baseline_row(models, rows, baseline) if baseline else None
    if base is not None:
        for row in rows:
            for key in keys:
                if COMPARE_COLUMNS[key][1] != TEXT:
                    row[f"{key}_ratio"] = row[key] / base[key] if base[key] else None
    if sort:
        key = sort.lstrip("-")
        if key != "model" and key not in COMPARE_COLUMNS:
            raise UsageError(Problem(f"--sort: unknown column '{key}'",
                                     hint=suggest(key, ["model", *COMPARE_COLUMNS])))
        rows.sort(key=lambda r: r[key], reverse=sort.startswith("-"))
    shown = [Column("model", "model", TEXT)]
    for key in keys:
        header, kind = COMPARE_COLUMNS[key]
        shown.append(Column(key, header, kind))
        if base is not None and kind != TEXT:
            shown.append(Column(f"{key}_ratio", "x base", RATIO))
    notes = [convention(models[0].analysis)] if models else []
    if base is not None:
        notes.insert(0, f"x base: each figure divided by {base['model']}'s")
    return Table("comparison", tuple(shown), tuple(rows), tuple(notes))


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
    """JSON: every model with its figures; usable as a --against baseline for cnncost check."""
    entries = []
    for model, row in zip(models, _in_order(models, table)):
        a = model.analysis
        entries.append({
            "label": model.label, "model": a.graph.name, "spec": a.graph.source,
            "variant": a.graph.variant or None, "variables": dict(a.graph.variables),
            "convention": {"fuse": a.fuse, "dtype": a.dtype,
                           "bytes_per_element": a.bytes_per_element},
            "totals": figures(a),
            "guidelines": {v.guideline: "pass" if v.passed else "warn" for v in a.guidelines},
            "ratios": {k[:-6]: v for k, v in row.items() if k.endswith("_ratio")},
        })
    return {"models": entries, "columns": [c.key for c in table.columns]}


def _in_order(models: list[Any], table: Table) -> list[dict[str, Any]]:
    by_label = {row["model"]: row for row in table.rows}
    return [by_label[m.label] for m in models]


# -- check -------------------------------------------------------------------------------------

def _shown(metric: str, value: Any) -> str:
    if metric == GUIDELINES:
        return ", ".join(value) + " warn" if value else "all pass"
    kind = METRICS.get(metric)
    if kind == SHARE_METRIC:
        return fmt.percent(float(value))
    if kind == BYTE_METRIC:
        return f"{fmt.grouped(round(value))} ({fmt.human_bytes(round(value))})"
    return f"{fmt.grouped(round(value))} ({fmt.human(round(value))})"


def check_rows(outcomes: list[Outcome]) -> tuple[dict[str, Any], ...]:
    rows = []
    for o in outcomes:
        over = ""
        if not o.passed:
            over = ("breaks " + ", ".join(o.over) if o.metric == GUIDELINES else
                    f"+{_shown(o.metric, o.over)} ({100 * o.over_share:.2f}%)")
        rows.append({
            "model": o.model, "metric": o.metric, "kind": o.kind,
            "value": _shown(o.metric, o.value), "limit": o.limit_text,
            "status": "pass" if o.passed else "FAIL", "over": over, "source": o.source,
            "raw_value": list(o.value) if o.metric == GUIDELINES else o.value,
            "raw_limit": list(o.limit) if o.metric == GUIDELINES else float(o.limit),
        })
    return tuple(rows)


def check_table(outcomes: list[Outcome], models: list[Any]) -> Table:
    failed = sum(1 for o in outcomes if not o.passed)
    unchecked = [m.label for m in models if m.label not in {o.model for o in outcomes}]
    notes = [f"{len(outcomes) - failed} of {len(outcomes)} limits hold"]
    if unchecked:
        notes.append("no budget for: " + ", ".join(unchecked))
    if models:
        notes.append(convention(models[0].analysis))
    return Table(
        "cnncost check: " + ("all limits hold" if not failed else f"{failed} exceeded"),
        (Column("model", "model", TEXT), Column("metric", "metric", TEXT),
         Column("kind", "kind", TEXT), Column("value", "value", TEXT),
         Column("limit", "limit", TEXT), Column("status", "status", TEXT),
         Column("over", "over by", TEXT), Column("source", "limit from", TEXT),
         Column("raw_value", "raw value", TEXT, human=False),
         Column("raw_limit", "raw limit", TEXT, human=False)),
        check_rows(outcomes), tuple(notes))


def check_document(outcomes: list[Outcome], models: list[Any]) -> dict[str, Any]:
    rows = check_rows(outcomes)
    return {
        "passed": all(o.passed for o in outcomes),
        "failures": sum(1 for o in outcomes if not o.passed),
        "limits": len(outcomes),
        "results": [{"model": r["model"], "metric": r["metric"], "kind": r["kind"],
                     "value": r["raw_value"], "limit": r["raw_limit"],
                     "limit_text": r["limit"], "passed": r["status"] == "pass",
                     "over_by": r["over"], "source": r["source"]} for r in rows],
        "unchecked": [m.label for m in models if m.label not in {o.model for o in outcomes}],
    }


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
            case = ElementTree.SubElement(
                suite, "testcase", classname=f"cnncost.{model.label}",
                name=f"{row['metric']} <= {row['limit']}" if row["kind"] == "budget"
                else f"{row['metric']} regression <= {row['limit']}")
            if row["status"] != "pass":
                suite_failures += 1
                failure = ElementTree.SubElement(
                    case, "failure", type="BudgetExceeded",
                    message=f"{model.label}: {row['metric']} is {row['value']}, over the limit "
                            f"{row['limit']} by {row['over']}")
                failure.text = f"limit from {row['source']}"
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
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ElementTree.tostring(
        root, encoding="unicode") + "\n"
