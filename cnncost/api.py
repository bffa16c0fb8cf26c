"""The Python API: what NAS code and notebooks use. Everything here is plain data in, plain
data out; the command line is built on the same functions. docs/api.md shows it at work.
"""

from __future__ import annotations

from typing import Any

from cnncost.analysis import Analysis, analyze, figures
from cnncost.builder import GraphBuilder, check_graph, make_op
from cnncost.library import load_model
from cnncost.model import Model

__all__ = ["Analysis", "GraphBuilder", "Model", "analyze", "blocks", "check_graph", "document",
           "layers", "load_model", "make_op", "sweep", "to_json", "totals"]


def totals(a: Analysis) -> dict[str, Any]:
    """Every network figure by metric name (``cnncost docs metrics``): exact ints for counts."""
    return figures(a)


def layers(a: Analysis) -> list[dict[str, Any]]:
    """One dict per layer, as in the JSON output's ``layers``."""
    from cnncost.report.tables import layer_rows

    return list(layer_rows(a))


def blocks(a: Analysis, depth: int = 1) -> list[dict[str, Any]]:
    """The figures rolled up by block: every layer whose name starts with the same ``depth``
    dotted parts (``stage2.unit1`` at depth 2)."""
    from cnncost.report.tables import group_row

    return [group_row(g) for g in a.blocks_at(depth)]


def document(a: Analysis) -> dict[str, Any]:
    """The JSON document ``cnncost analyze --format json`` prints, as a dict."""
    from cnncost.report.document import document as analysis_document

    return analysis_document(a)


def to_json(a: Analysis) -> str:
    """Exactly what ``cnncost analyze --format json`` prints."""
    from cnncost.report.render import to_json as render

    return render(document(a))


def sweep(spec: str, grid: dict[str, Any], *, device: Any = None, fuse: str = "none",
          dtype: str = "fp32", settings: dict[str, Any] | None = None,
          variant: str | None = None, batch: int | None = None) -> dict[str, Any]:
    """Every combination of the ``grid``'s values (variable name -> values, or a
    ``"start:stop:step"`` text), as numpy arrays by column: the variables, then params,
    mult_adds, mem_access, peak_activation_bytes (and latency with ``device``, a profile
    name or a cnncost.latency.Device). Each row equals cnncost analyze's figures for its
    configuration. For grids larger than memory, cnncost.sweeps.Sweep streams blocks."""
    import numpy as np

    from cnncost.latency import Device, load_device
    from cnncost.sweeps import Axis, Sweep, parse_axis

    axes = [parse_axis(f"{name}={values}") if isinstance(values, str) else
            Axis(name, tuple(values)) for name, values in grid.items()]
    if isinstance(device, str):
        device = load_device(device)
    elif device is not None and not isinstance(device, Device):
        raise TypeError("device is a profile name or a cnncost.latency.Device")
    job = Sweep(spec, axes, variant=variant, settings=settings, batch=batch, fuse=fuse,
                dtype=dtype, device=device)
    blocks = list(job.blocks())
    return {name: np.concatenate([np.asarray(b[name]) for b in blocks]) if blocks else
            np.asarray([]) for name in job.columns}
