"""The analysis as one JSON-ready object: the convention in force, totals, every layer,
blocks and op types. Counts are exact integers."""

from __future__ import annotations

from typing import Any

from cnncost import __version__
from cnncost.analysis import Analysis, figures
from cnncost.report.tables import group_row, guideline_rows, kind_rows, layer_rows

DEFINITIONS = {
    "params": "weights + biases + norm_params (BN gamma and beta); buffers are not params",
    "mult_adds": "multiply-accumulates of conv and linear layers; one fused multiply-add = 1 "
                 "(what the MobileNet and ShuffleNet papers call FLOPs)",
    "flops": "2 x mult_adds",
    "elementwise_ops": "one per element per activation, add/mul input, bias and pooling "
                       "window element; two per element for BN",
    "mem_access": "memory access cost (ShuffleNet V2): elements each kernel reads (inputs, "
                  "weights, BN statistics) and writes; 1x1 conv: hw(c1+c2)+c1c2",
    "peak_activation_elements": "largest sum of live activation buffers over the "
                                "topological order",
}


def document(a: Analysis) -> dict[str, Any]:
    graph = a.graph
    return {
        "cnncost_version": __version__,
        "model": graph.name,
        "spec": graph.source,
        "description": graph.description,
        "variant": graph.variant or None,
        "variables": dict(graph.variables),
        "input_shape": list(graph.nodes[0].shape),
        "convention": {
            "fuse": a.fuse,
            "dtype": a.dtype,
            "bytes_per_element": a.bytes_per_element,
            "batch": graph.nodes[0].shape[0],
            "definitions": DEFINITIONS,
        },
        "totals": figures(a),
        "layers": list(layer_rows(a)),
        "blocks": [group_row(g) for g in a.blocks],
        "block_depth": a.depth,
        "by_op": list(kind_rows(a)),
        "thresholds": thresholds(a),
        "guidelines": guidelines(a),
    }


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
