"""The Python API: what NAS code and notebooks use. Everything here is plain data in, plain
data out; the command line is built on the same functions. docs/api.md shows it at work.
"""

from __future__ import annotations

import os
from typing import Any

from cnncost.core.settings import DTYPES, FUSE_MODES
from cnncost.pipeline import Analysis, figures
from cnncost.pipeline import analyze as run_passes
from cnncost.frontends.builder import GraphBuilder, make_op
from cnncost.frontends.builder import check_graph as graph_problems
from cnncost.core.errors import WHOLE, argument
from cnncost.core.ir import Graph
from cnncost.frontends.library import check_loading, load_model
from cnncost.core.model import Model
from cnncost.passes.guidelines import Thresholds

__all__ = ["Analysis", "GraphBuilder", "Model", "analyze", "blocks", "check_graph", "document",
           "layers", "load_model", "make_op", "sweep", "to_json", "totals"]


def analyze(model: Model | Graph | str | os.PathLike, *, fuse: str = "none",
            dtype: str = "fp32", depth: int = 1, thresholds: Thresholds | None = None,
            device: Any = None) -> Analysis:
    """All the passes, in order, on a Model, a Graph or a spec reference (``"mobilenet_v2"``,
    loaded with load_model). ``device`` (a bundled profile name, a profile file or a
    cnncost.passes.latency.Device) adds the latency estimate."""
    argument("analyze(): model", model, (Model, Graph, str, os.PathLike),
             "a Model (cnncost.load_model), a Graph (GraphBuilder.graph()) or a spec "
             "reference such as 'mobilenet_v2'")
    fuse, dtype, device = _options("analyze", fuse, dtype, device)
    argument("analyze(): depth", depth, int, WHOLE, minimum=1)
    argument("analyze(): thresholds", thresholds, Thresholds,
             "a cnncost.passes.guidelines.Thresholds", optional=True)
    if not isinstance(model, (Model, Graph)):
        model = load_model(model)
    return run_passes(model, fuse=fuse, dtype=dtype, depth=depth, thresholds=thresholds,
                      device=device)


def _options(function: str, fuse: Any, dtype: Any, device: Any) -> tuple[str, str, Any]:
    """The fuse, dtype and device that analyze and sweep take, the device loaded when named."""
    from cnncost.core.files import is_file
    from cnncost.estimate.devices import bundled_devices, load_device, split_reference
    from cnncost.passes.latency import Device

    argument(f"{function}(): fuse", fuse, str, choices=FUSE_MODES)
    argument(f"{function}(): dtype", dtype, str, choices=DTYPES)
    where = f"{function}(): device"
    argument(where, device, (str, os.PathLike, Device), "a profile name (cnncost devices), a "
             "profile file or a cnncost.passes.latency.Device", optional=True)
    if isinstance(device, (str, os.PathLike)):
        device = os.fspath(device)
        base, _ = split_reference(device)  # desktop_cpu@threads=8: its changes load_device's
        if not is_file(base):
            argument(where, base, str, "a bundled profile name or a profile file",
                     choices=bundled_devices())
        device = load_device(device)
    return fuse, dtype, device


def _analysis(function: str, a: Any) -> Analysis:
    return argument(f"{function}(): a", a, Analysis, "an Analysis (from cnncost.analyze)")


def check_graph(graph: Graph) -> list[str]:
    """What is wrong with a graph built by hand or imported (empty when nothing is)."""
    return graph_problems(argument("check_graph(): graph", graph, Graph,
                                   "a Graph (GraphBuilder.graph())"))


def totals(a: Analysis) -> dict[str, Any]:
    """Every network figure by metric name (``cnncost docs metrics``): exact ints for counts."""
    return figures(_analysis("totals", a))


def layers(a: Analysis) -> list[dict[str, Any]]:
    """One dict per layer, as in the JSON output's ``layers``."""
    from cnncost.report.tables import layer_rows

    return list(layer_rows(_analysis("layers", a)))


def blocks(a: Analysis, depth: int = 1) -> list[dict[str, Any]]:
    """The figures rolled up by block: every layer whose name starts with the same ``depth``
    dotted parts (``stage2.unit1`` at depth 2)."""
    from cnncost.report.tables import group_row

    argument("blocks(): depth", depth, int, WHOLE, minimum=1)
    return [group_row(g) for g in _analysis("blocks", a).blocks_at(depth)]


def document(a: Analysis) -> dict[str, Any]:
    """The JSON document ``cnncost analyze --format json`` prints, as a dict."""
    from cnncost.report.document import document as analysis_document

    return analysis_document(_analysis("document", a))


def to_json(a: Analysis) -> str:
    """Exactly what ``cnncost analyze --format json`` prints."""
    from cnncost.report.render import to_json as render

    return render(document(_analysis("to_json", a)))


def _grid(grid: Any) -> None:
    """sweep's grid is variable name -> a ``"start:stop:step"`` text or a list of numbers."""
    import math
    from numbers import Real

    import numpy as np

    from cnncost.jobs.sweep import MAX_AXIS

    argument("sweep(): grid", grid, dict, "a dict of variable name -> values (a list of "
             "numbers or a 'start:stop:step' text), with one variable at least", valid=len)
    for name, values in grid.items():
        argument("sweep(): a grid key", name, str, "a variable name (text)")
        if isinstance(values, str):
            continue  # parse_axis says what is wrong with it
        where = f"sweep(): grid[{name!r}]"
        argument(where, values, (list, tuple, range, np.ndarray), f"a list of 1 to {MAX_AXIS:,} "
                 f"numbers or a 'start:stop:step' text", valid=lambda v: 0 < len(v) <= MAX_AXIS)
        for value in values:
            argument(f"{where}: each value", value, Real, "a finite number", valid=math.isfinite)


def sweep(spec: str, grid: dict[str, Any], *, device: Any = None, fuse: str = "none",
          dtype: str = "fp32", settings: dict[str, Any] | None = None,
          variant: str | None = None, batch: int | None = None) -> dict[str, Any]:
    """Every combination of the ``grid``'s values (variable name -> values, or a
    ``"start:stop:step"`` text), as numpy arrays by column: the variables, then params,
    mult_adds, mem_access, peak_activation_bytes (and latency with ``device``, a profile
    name, a profile file or a cnncost.passes.latency.Device). Each row equals cnncost analyze's
    figures for its configuration. Rows come in the grid's order (itertools.product's: the
    last variable fastest), so a reshape to the grid's shape lines them up. Grids of up to
    10^7 configurations; cnncost.jobs.sweep.Sweep streams larger ones block by block."""
    import numpy as np

    from cnncost.core.errors import Problem, UsageError
    from cnncost.jobs.sweep import MAX_IN_MEMORY, Axis, Sweep, parse_axis

    check_loading("sweep", spec, settings, variant, batch)
    spec = os.fspath(spec) if isinstance(spec, os.PathLike) else spec
    _grid(grid)
    fuse, dtype, device = _options("sweep", fuse, dtype, device)

    axes = [parse_axis(f"{name}={values}") if isinstance(values, str) else
            Axis(name, tuple(values)) for name, values in grid.items()]
    job = Sweep(spec, axes, variant=variant, settings=settings, batch=batch, fuse=fuse,
                dtype=dtype, device=device)
    if job.size > MAX_IN_MEMORY:
        raise UsageError(Problem(
            f"sweep(): {job.size:,} configurations; at most {MAX_IN_MEMORY:,} are returned "
            f"at once", hint="stream larger grids by blocks: cnncost.jobs.sweep.Sweep(spec, "
                             "axes).blocks() (docs/sweeps.md)"))
    blocks = list(job.blocks())  # in the grid's order: the last variable fastest
    return {name: np.concatenate([np.asarray(b[name]) for b in blocks]) if blocks else
            np.asarray([]) for name in job.columns}
