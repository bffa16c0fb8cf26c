"""Design-space sweeps: every combination of some variables' values, one row each.

``cnncost sweep mobilenet_v2 --grid width=0.35:1.4:0.05 --grid resolution=96:224:16``

The fast path evaluates many configurations with one expansion of the spec: each swept
variable is bound to a cnncost.vector.Vec holding its values along its own axis of the grid,
and the expander, the ops' shape and cost rules, the fusion, liveness and latency passes run
once with values that broadcast over the grid. The figures are those ``cnncost analyze``
computes, by the same code, exactly (tests/test_sweep.py checks random grid points).

Where configurations differ in topology (a repeat count, a ``when:``, a residual that exists
for some widths only), the expansion meets a decision that differs along some axis: the grid
is split there and each part evaluated apart, down to single configurations if need be. A
configuration that cannot be built (channels rounding to 0, a kernel larger than its input)
is counted and reported, never silently dropped.

Rows come in blocks of at most ``block`` configurations, so that a grid of any size streams
in bounded memory.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np

from cnncost.errors import CnncostError, Problem, UsageError, shown, suggest
from cnncost.vector import Overflow, Varies, Vec, array_of

METRICS = ("params", "mult_adds", "mem_access", "peak_activation_bytes")
MAX_AXIS = 10**6  # values of one variable
MAX_CONFIGS = 10**10  # configurations of one sweep: about 3 hours at 10^6 a second; split
# larger grids into parts (docs/examples/parallel_sweep.py)


@dataclass(frozen=True)
class Axis:
    """A swept variable and its values, in order."""

    name: str
    values: tuple[int | float, ...]


def parse_axis(text: str) -> Axis:
    """``width=0.35:1.4:0.05`` (start:stop:step, stop included when the steps reach it),
    ``resolution=128,160,224`` or ``depth=2``. Exact decimal steps: 0.35 + 3 x 0.05 is 0.5."""
    name, eq, spec = text.partition("=")
    name = name.strip()
    if not eq or not name.isidentifier() or not spec.strip():
        raise UsageError(Problem(f"--grid {shown(text)}: expected NAME=START:STOP:STEP or "
                                 f"NAME=A,B,C", hint="e.g. --grid width=0.35:1.4:0.05 "
                                                     "--grid resolution=96,128,160"))
    try:
        if ":" in spec:
            parts = [Decimal(p.strip()) for p in spec.split(":")]
            if len(parts) != 3:
                raise ValueError("a range is START:STOP:STEP")
            start, stop, step = parts
            if not all(p.is_finite() for p in parts) or step <= 0 or stop < start:
                raise ValueError("a range needs START <= STOP and a positive STEP")
            count = int((stop - start) / step) + 1
            if count > MAX_AXIS:
                raise ValueError(f"{count:,} values; at most {MAX_AXIS:,} per variable")
            decimals = [start + i * step for i in range(count)]
        else:
            decimals = [Decimal(p.strip()) for p in spec.split(",") if p.strip()]
            if not decimals or not all(d.is_finite() for d in decimals):
                raise ValueError("values are numbers")
            if len(decimals) > MAX_AXIS:
                raise ValueError(f"at most {MAX_AXIS:,} values per variable")
    except (InvalidOperation, ValueError) as exc:
        reason = str(exc) if isinstance(exc, ValueError) and str(exc) else "not numbers"
        raise UsageError(Problem(f"--grid {shown(text)}: {reason}",
                                 hint="e.g. --grid width=0.35:1.4:0.05")) from None
    if any(abs(d) > 10**15 for d in decimals):
        raise UsageError(Problem(f"--grid {shown(text)}: values up to 1e15"))
    whole = all(d == d.to_integral_value() for d in decimals)
    values = tuple(int(d) if whole else float(d) for d in decimals)
    return Axis(name, values)


@dataclass
class Result:
    """What a sweep found besides its rows: configurations that could not be built, and how
    many expansions the grid took."""

    configurations: int = 0
    rows: int = 0
    invalid: int = 0
    first_error: str = ""
    expansions: int = 0
    topologies: set[int] = field(default_factory=set)


class Sweep:
    """A grid of settings of one spec, evaluated block by block (``blocks()``)."""

    def __init__(self, spec: str, axes: Sequence[Axis], *, variant: str | None = None,
                 settings: dict[str, Any] | None = None, batch: int | None = None,
                 fuse: str = "none", dtype: str = "fp32", device: Any = None,
                 block: int = 1 << 18):
        from cnncost.analysis import DTYPES
        from cnncost.library import load_model, parse_ref

        if not axes:
            raise UsageError(Problem("nothing to sweep", hint="give --grid NAME=VALUES"))
        names = [a.name for a in axes]
        if len(set(names)) != len(names):
            raise UsageError(Problem(f"--grid names a variable twice: {', '.join(names)}"))
        ref = parse_ref(spec)
        if ref.spec.lower().endswith(".onnx"):
            raise UsageError(Problem(f"{spec}: an ONNX model has no variables to sweep"))
        self.ref, self.axes, self.batch = ref, tuple(axes), batch
        self.variant = variant or ref.variant
        self.fixed = {**ref.overrides, **(settings or {})}
        swept_and_set = set(names) & set(self.fixed)
        if swept_and_set:
            raise UsageError(Problem(f"{', '.join(sorted(swept_and_set))} is both set and swept"))
        self.fuse, self.dtype, self.device = fuse, dtype, device
        self.bytes = DTYPES[dtype]
        self.block = max(1, block)
        self.shape = tuple(len(a.values) for a in axes)
        self.size = math.prod(self.shape)
        if self.size > MAX_CONFIGS:
            raise UsageError(Problem(f"{self.size:,} configurations; at most {MAX_CONFIGS:.0e}"))
        # the spec with its fixed settings: its own errors surface here, with their file and
        # line, before any sweeping; then the swept names must be its number variables
        self.base = load_model(spec, self.fixed, self.variant, batch)
        variables = dict(self.base.variables)
        for axis in axes:
            if axis.name not in variables:
                raise UsageError(Problem(
                    f"--grid {axis.name}: {spec} has no variable '{axis.name}'",
                    hint=suggest(axis.name, variables) or
                    "its variables: " + ", ".join(variables)))
            default = variables[axis.name]
            if isinstance(default, bool) or not isinstance(default, (int, float)):
                raise UsageError(Problem(
                    f"--grid {axis.name}: only number variables can be swept "
                    f"({axis.name} is {shown(repr(default), 40)})",
                    hint="set it with --set, or sweep a number variable"))
            if isinstance(default, int) and not all(float(v).is_integer()
                                                    for v in axis.values):
                raise UsageError(Problem(f"--grid {axis.name}: {axis.name} takes whole "
                                         f"numbers"))
        self.metrics = METRICS + (("latency",) if device is not None else ())
        self.result = Result(configurations=self.size)

    @property
    def columns(self) -> tuple[str, ...]:
        return (*(a.name for a in self.axes), *self.metrics)

    def _fixed(self) -> list[str]:
        return ([self.variant] if self.variant else []) + [f"{k}={v}"
                                                           for k, v in self.fixed.items()]

    @property
    def title(self) -> str:
        """The spec with its variant and fixed settings: ``mobilenet_v2@finegrain=false``."""
        fixed = self._fixed()
        return self.ref.spec + ("@" + ",".join(fixed) if fixed else "")

    def label_template(self) -> str:
        """A row's configuration as cnncost names it (``mobilenet_v2@width=0.5,resolution=160``)
        as a str.format template of the swept values' texts (value_text): ``{0}``, ``{1}``..."""
        head = self.title.replace("{", "{{").replace("}", "}}")
        swept = ",".join(f"{a.name}={{{i}}}" for i, a in enumerate(self.axes))
        return head + ("," if self._fixed() else "@") + swept

    # -- blocks of rows ---------------------------------------------------------------------
    def boxes(self) -> Iterator[list[np.ndarray]]:
        """The grid cut into boxes of at most ``block`` configurations. A variable found to
        change the topology (a probe along it, the others at their first value) is cut into
        its groups first, so that a box seldom holds two topologies; then the last variables
        are kept whole as far as they fit, the earlier ones cut in slices."""
        if self.size <= self.block:  # one box: splitting it where needed costs less
            yield [np.asarray(a.values) for a in self.axes]
            return
        grouped = [self._groups(i) for i in range(len(self.axes))]
        for parts in itertools.product(*grouped):
            yield from _blocks(list(parts), self.block)

    def _groups(self, i: int) -> list[np.ndarray]:
        """The values of variable ``i``, in groups that give one topology when the other
        variables are at their first value (one group when it never changes it)."""
        values = np.asarray(self.axes[i].values)
        if len(values) == 1:
            return [values]
        probe = [values if j == i else np.asarray(a.values[:1]) for j, a in enumerate(self.axes)]
        try:
            self._vectorised(probe)
        except Varies as exc:
            if exc.axes and exc.axes[0] == i and sum(map(len, exc.groups)) == len(values):
                return [values[np.asarray(g)] for g in exc.groups]
        except (Overflow, CnncostError):
            pass
        return [values]

    def blocks(self, progress: Callable[[int], None] | None = None) -> Iterator[dict[str, Any]]:
        """Rows, a block at a time: column name -> array (variables, then metrics), in the
        grid's order (the last variable fastest). Configurations that cannot be built are
        left out and counted (``result``)."""
        for box in self.boxes():
            for part in self._evaluate(box):
                self.result.rows += len(part[self.metrics[0]])
                yield part
            if progress:
                progress(math.prod(len(v) for v in box))

    def _evaluate(self, box: list[np.ndarray]) -> Iterator[dict[str, Any]]:
        """Rows of one box, split where configurations differ in topology."""
        try:
            yield self._vectorised(box)
            return
        except Varies as exc:
            axis = exc.axes[0] if exc.axes else -1
            if axis >= 0 and len(exc.groups) > 1 and sum(map(len, exc.groups)) == \
                    len(box[axis]):  # one part per way the decision goes: one topology each
                for group in exc.groups:
                    part = box[axis][np.asarray(group)]
                    yield from self._evaluate([part if i == axis else v
                                               for i, v in enumerate(box)])
                return
            axes = [a for a in exc.axes if len(box[a]) > 1] or _widest(box)
        except Overflow:
            axes = _widest(box)
        except CnncostError as exc:
            if math.prod(len(v) for v in box) == 1:
                self._invalid(exc)
                return
            axes = _widest(box)
        if not axes:  # a single configuration: as analyze does it
            yield from self._single(box)
            return
        axis = axes[0]
        half = len(box[axis]) // 2
        for piece in (box[axis][:half], box[axis][half:]):
            yield from self._evaluate([piece if i == axis else v for i, v in enumerate(box)])

    def _settings(self, box: list[np.ndarray]) -> dict[str, Any]:
        settings = dict(self.fixed)
        k = len(box)
        for i, (axis, values) in enumerate(zip(self.axes, box)):
            if len(values) == 1:
                settings[axis.name] = values[0].item()
            else:
                shape = [1] * k
                shape[i] = len(values)
                settings[axis.name] = Vec(values.reshape(shape))
        return settings

    def _vectorised(self, box: list[np.ndarray]) -> dict[str, Any]:
        from cnncost.library import load_model

        self.result.expansions += 1
        model = load_model(self.ref.spec, self._settings(box), self.variant, self.batch)
        figures = _figures(model.graph, self.fuse, self.bytes, self.device, self.dtype)
        shape = tuple(len(v) for v in box)
        columns = _grid_columns(self.axes, box)
        for name in self.metrics:
            columns[name] = np.broadcast_to(np.asarray(figures[name]), shape).reshape(-1)
        self.result.topologies.add(_topology(model.graph))
        return columns

    def _single(self, box: list[np.ndarray]) -> Iterator[dict[str, Any]]:
        """One configuration, by the scalar path (Python integers: no overflow)."""
        from cnncost.analysis import analyze, figures
        from cnncost.library import load_model

        try:
            model = load_model(self.ref.spec, self._settings(box), self.variant, self.batch)
            values = figures(analyze(model, fuse=self.fuse, dtype=self.dtype,
                                     device=self.device))
        except CnncostError as exc:
            self._invalid(exc)
            return
        columns = _grid_columns(self.axes, box)
        for name in self.metrics:
            columns[name] = np.asarray([values[name]])
        yield columns

    def _invalid(self, exc: CnncostError) -> None:
        self.result.invalid += 1
        if not self.result.first_error:
            self.result.first_error = exc.problems[0].message if exc.problems else str(exc)


def _blocks(values: list[np.ndarray], block: int) -> Iterator[list[np.ndarray]]:
    """``values`` (one array per variable) cut into boxes of at most ``block``
    configurations: the last variables whole as far as they fit, the earlier ones in slices."""
    inner, cut = 1, len(values)
    while cut > 0 and inner * len(values[cut - 1]) <= block:
        cut -= 1
        inner *= len(values[cut])
    if cut == 0:
        yield values
        return
    step = max(1, block // inner)
    outer = values[:cut - 1]
    for head in itertools.product(*(range(len(v)) for v in outer)):
        axis = values[cut - 1]
        for start in range(0, len(axis), step):
            yield [v[i:i + 1] for v, i in zip(outer, head)] + [axis[start:start + step]] + \
                values[cut:]


def value_text(value: Any) -> str:
    """A swept value as written on the grid: 0.35 (repr of the float), 224."""
    return repr(value) if isinstance(value, float) else str(value)


def _widest(box: list[np.ndarray]) -> list[int]:
    sizes = [len(v) for v in box]
    return [max(range(len(sizes)), key=sizes.__getitem__)] if max(sizes) > 1 else []


def _grid_columns(axes: Sequence[Axis], box: list[np.ndarray]) -> dict[str, Any]:
    grids = np.meshgrid(*box, indexing="ij")
    return {a.name: g.reshape(-1) for a, g in zip(axes, grids)}


def _topology(graph: Any) -> int:
    return hash(tuple((type(n.op).__name__, n.inputs) for n in graph.nodes))


def _figures(graph: Any, fuse: str, size: int, device: Any, dtype: str) -> dict[str, Any]:
    """The sweep's metrics of a graph whose sizes may be Vecs: by the passes analyze runs."""
    from cnncost.ir import numel, total_cost
    from cnncost.passes.costs import node_costs
    from cnncost.passes.fuse import fused_costs, fusion_hosts
    from cnncost.passes.memory import live_totals

    raw = node_costs(graph)
    host = fusion_hosts(graph, fuse)
    t = total_cost(fused_costs(graph, raw, host))
    peak: Any = 0
    for _, live in live_totals(graph, host, lambda i: array_of(numel(graph.nodes[i].shape))):
        peak = np.maximum(peak, live)
    figures = {"params": array_of(t.params), "mult_adds": array_of(t.mult_adds),
               "mem_access": array_of(t.mem_access), "peak_activation_bytes": peak * size}
    if device is not None:
        from cnncost.latency import estimate

        figures["latency"] = array_of(estimate(graph, device, dtype, raw).total)
    return figures


def pareto_mask(x: Any, y: Any) -> np.ndarray:
    """Whether each point is on the Pareto front when smaller is better on both axes: no
    other point is at least as good on both and better on one (equal points are all on the
    front or all off it)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if not len(x):
        return np.zeros(0, dtype=bool)
    order = np.lexsort((y, x))
    xs, ys = x[order], y[order]
    before = np.concatenate(([np.inf], np.minimum.accumulate(ys)[:-1]))
    starts = np.concatenate(([True], (xs[1:] != xs[:-1]) | (ys[1:] != ys[:-1])))
    run = np.cumsum(starts) - 1  # runs of equal points share the verdict of their first
    first = np.flatnonzero(starts)
    on = (ys[first] < before[first])[run]
    mask = np.zeros(len(x), dtype=bool)
    mask[order] = on
    return mask


def pareto(x: Any, y: Any) -> np.ndarray:
    """Indices of the Pareto front's points (pareto_mask), in order of x."""
    mask = pareto_mask(x, y)
    index = np.flatnonzero(mask)
    return index[np.lexsort((np.asarray(y)[index], np.asarray(x)[index]))]
