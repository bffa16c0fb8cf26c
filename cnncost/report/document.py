"""The JSON documents of every command, over one schema (docs/cli.md, "JSON output").

Every document starts with the same three keys: ``cnncost_version``, ``command`` and
``convention`` (fuse, dtype, bytes per element, batch). A model is described by the same
fields wherever it appears (``model_fields``). Counts are exact integers, shares and ratios
numbers, lists are lists; nothing is display text but what is named ``*_text``.
"""

from __future__ import annotations

from typing import Any

from cnncost.core.settings import DTYPES
from cnncost.pipeline import Analysis, figures
from cnncost.core.metrics import DEFINITIONS
from cnncost.report.tables import group_row, guideline_rows, kind_rows, layer_rows

def convention(fuse: str = "none", dtype: str = "fp32", batch: int | None = 1,
               device: str | None = None) -> dict[str, Any]:
    """The counting convention, the same object in every command's JSON; ``device`` is the
    profile latency was estimated with (null: none)."""
    return {"fuse": fuse, "dtype": dtype, "bytes_per_element": DTYPES[dtype], "batch": batch,
            "device": device}


def analysis_convention(a: Analysis) -> dict[str, Any]:
    return convention(a.fuse, a.dtype, a.model.batch,
                      a.latency.device.name if a.latency is not None else None)


def envelope(command: str, conv: dict[str, Any]) -> dict[str, Any]:
    """The keys every JSON document starts with."""
    from cnncost.core.version import __version__

    return {"cnncost_version": __version__, "command": command, "convention": conv}


def model_fields(a: Analysis) -> dict[str, Any]:
    """What was analysed, the same fields wherever a model appears."""
    m = a.model
    return {
        "label": m.label,
        "model": m.name,
        "spec": m.spec or None,  # as named: a bundled name or the path given, never resolved
        "description": m.description,
        "variant": m.variant or None,
        "variables": dict(m.variables),
        "settings": dict(m.settings),
        "input_shape": list(a.graph.nodes[0].shape),
        "source_format": m.source_format,
        "partial": bool(m.partial),
        "unsupported_ops": dict(m.partial),
        "notes": list(m.notes),
    }


def document(a: Analysis) -> dict[str, Any]:
    """``cnncost analyze --format json``."""
    return {
        **envelope("analyze", analysis_convention(a)),
        **model_fields(a),
        "definitions": DEFINITIONS,
        "totals": figures(a),
        "warnings": list(a.warnings),
        "layers": list(layer_rows(a)),
        "blocks": [group_row(g) for g in a.blocks],
        "block_depth": a.depth,
        "by_op": list(kind_rows(a)),
        "thresholds": thresholds(a),
        "guidelines": guidelines(a),
    }


def guidelines_document(a: Analysis) -> dict[str, Any]:
    """``cnncost guidelines --format json``."""
    return {**envelope("guidelines", analysis_convention(a)), **model_fields(a),
            "thresholds": thresholds(a), "guidelines": guidelines(a),
            "warnings": list(a.warnings)}


def thresholds(a: Analysis) -> dict[str, float]:
    return {key: getattr(a.thresholds, key.replace(".", "_", 1)) for key in a.thresholds.keys()}


def guidelines(a: Analysis) -> list[dict[str, Any]]:
    """Each guideline's verdict with every finding (JSON)."""
    rows = []
    for row, verdict in zip(guideline_rows(a), a.guidelines):
        row = {k: v for k, v in row.items() if k not in ("shown", "limit")}
        row["findings"] = [{"subject": f.subject, "figure": f.figure, "value": f.value,
                            "threshold": f.threshold, "mem_access": f.mem_access,
                            "suggestion": f.suggestion, "line": f.line}
                           for f in verdict.findings]
        rows.append(row)
    return rows
