"""Design-space sweeps: every combination of some variables' values, one row each.

``cnncost sweep mobilenet_v2 --grid width=0.35:1.4:0.05 --grid resolution=96:224:16``

The fast path evaluates many configurations with one expansion of the spec: each swept
variable is bound to a cnncost.core.vector.Vec holding its values along its own axis of the grid,
and the expander, the ops' shape and cost rules, the fusion, liveness and latency passes run
once with values that broadcast over the grid. The figures are those ``cnncost analyze``
computes, by the same code, exactly (tests/test_sweep.py checks random grid points). A text
variable (``--grid bypass=none,simple``) is bound to one of its values per expansion: the grid
is cut into one part per text value before any expansion.

Where configurations differ in topology (a repeat count, a ``when:``, a residual that exists
for some widths only), the expansion meets a decision that differs along some axis: the grid
is split there and each part evaluated apart, down to single configurations if need be. A
configuration that cannot be built (channels rounding to 0, a kernel larger than its input)
is counted and reported, never silently dropped.

Rows come in the grid's order (itertools.product's: the last variable fastest), in blocks of
bounded size, so that a grid of any size streams in bounded memory; where a block holds
several topologies, their rows are put back in order.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np

from cnncost.core.errors import CnncostError, Problem, UsageError, shown, suggest
from cnncost.core.vector import Overflow, Varies, Vec, array_of
from cnncost.core.settings import DTYPES

METRICS = ("params", "mult_adds", "mem_access", "peak_activation_bytes")
MAX_AXIS = 10**6  # values of one variable
MAX_CONFIGS = 10**10  # configurations of one sweep: about 3 hours at 10^6 a second; split
# larger grids into parts (docs/examples/parallel_sweep.py)
MAX_SPREAD = 4  # a box of several topologies holds up to this many blocks (boxes())
MAX_IN_MEMORY = 10**7  # rows cnncost.sweep() returns at once (about 0.5 GB); Sweep.blocks()
# streams larger grids


Part = tuple[list[np.ndarray], dict[str, Any]]  # a box (index arrays) and its rows by column


@dataclass(frozen=True)
class Axis:
    """A swept variable and its values, in order."""

    name: str
    values: tuple[int | float, ...] | tuple[str, ...]
    written: tuple[str, ...] = ()  # a list's values as written (--grid version=1.0,1.1 for a
    # text variable is text)


TEXT_VALUE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")  # a text value on a grid: a word (no
# comma, quote or leading =, so that it is written in CSV as it is)


def parse_axis(text: str) -> Axis:
    """``width=0.35:1.4:0.05`` (start:stop:step, stop included when the steps reach it),
    ``resolution=128,160,224`` or ``depth=2``. Exact decimal steps: 0.35 + 3 x 0.05 is 0.5.
    A list of words, ``e0=none,skip``, is text values, for a variable whose default is text."""
    name, eq, spec = text.partition("=")
    name = name.strip()
    if not eq or not name.isidentifier() or not spec.strip():
        raise UsageError(Problem(f"--grid {shown(text)}: expected NAME=START:STOP:STEP or "
                                 f"NAME=A,B,C", hint="e.g. --grid width=0.35:1.4:0.05 "
                                                     "--grid resolution=96,128,160"))
    words = tuple(p.strip() for p in spec.split(",") if p.strip())
    if ":" not in spec and words and any(TEXT_VALUE.match(w) for w in words):
        bad = [w for w in words if not TEXT_VALUE.match(w)]
        if bad or len(words) > MAX_AXIS or len(set(words)) != len(words):
            raise UsageError(Problem(
                f"--grid {shown(text)}: " + (f"{shown(repr(bad[0]))} is not a word" if bad else
                                             "a value twice, or too many values"),
                hint="text values are words, each once: --grid act=relu,hardswish"))
        return Axis(name, words, words)
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
    return Axis(name, values, () if ":" in spec else words)


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
        from cnncost.frontends.library import load_model, parse_ref

        if not axes:
            raise UsageError(Problem("nothing to sweep", hint="give --grid NAME=VALUES"))
        axes = list(axes)
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
        # line, before any sweeping; then the swept names must be its number or text variables
        self.base = load_model(spec, self.fixed, self.variant, batch)
        refuse_unsweepable(self.base.graph, spec)
        variables = dict(self.base.variables)
        for i, axis in enumerate(axes):
            if axis.name not in variables:
                raise UsageError(Problem(
                    f"--grid {axis.name}: {spec} has no variable '{axis.name}'",
                    hint=suggest(axis.name, variables) or
                    "its variables: " + ", ".join(variables)))
            default = variables[axis.name]
            texts = isinstance(axis.values[0], str)
            if isinstance(default, str) and not axis.written:
                raise UsageError(Problem(f"--grid {axis.name}: {axis.name} takes text, a "
                                         f"list of values", hint=f"e.g. --grid "
                                                                 f"{axis.name}={default},..."))
            if isinstance(default, str):  # a list of numbers is text as written: 1.0,1.1
                axes[i] = Axis(axis.name, axis.written, axis.written)
                self._check_texts(axes[i])
                continue
            if isinstance(default, bool) or not isinstance(default, (int, float)):
                raise UsageError(Problem(
                    f"--grid {axis.name}: only number and text variables can be swept "
                    f"({axis.name} is {shown(repr(default), 40)})",
                    hint="set it with --set, or sweep a number variable"))
            if texts:
                raise UsageError(Problem(f"--grid {axis.name}: {axis.name} takes numbers, "
                                         f"not {shown(axis.values[0])}"))
            if isinstance(default, int) and not all(float(v).is_integer()
                                                    for v in axis.values):
                raise UsageError(Problem(f"--grid {axis.name}: {axis.name} takes whole "
                                         f"numbers"))
        self.axes = tuple(axes)
        self.metrics = METRICS + (("latency",) if device is not None else ())
        self.result = Result(configurations=self.size)
        self._arrays = [np.asarray(a.values) for a in axes]
        self._kinds: list[np.ndarray] | None = None  # per variable: a kind per value
        self._texts = [isinstance(a.values[0], str) for a in axes]  # text values: each one
        # a box of its own (an expansion binds one text value; numbers bind a Vec)

    def _check_texts(self, axis: Axis) -> None:
        """Each text value is one the variable takes (its choices), or a UsageError before
        any sweeping: a misspelt value would otherwise make a part of the grid unbuildable."""
        from cnncost.frontends.library import parsed, resolve
        from cnncost.frontends.yamlspec.variables import read_variables

        doc = parsed(resolve(self.ref.spec))
        for value in axis.values:
            _, problems = read_variables(doc, {axis.name: value}, self.variant)
            if problems:
                raise UsageError(Problem(f"--grid {axis.name}: " +
                                         problems[0].message.partition(": ")[2],
                                         hint=problems[0].hint))

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
    # A box is a list of index arrays, one per variable (indices into its values): the
    # configurations of their product, in the grid's order (the last variable fastest).

    def boxes(self) -> Iterator[list[np.ndarray]]:
        """The grid cut into boxes in the grid's order, each a run of consecutive rows: the
        last variables kept whole as far as they fit, the earlier ones cut in slices. A box
        holds at most ``block`` configurations, or up to MAX_SPREAD times more where the
        variables are found to change the topology (a probe along each, the others at their
        first value): such a box is evaluated in pieces, one per topology, each about a block
        (an expansion costs the same whatever its size; fewer, larger ones are faster)."""
        size = self.block
        if self.size > self.block or any(self._texts):  # one box: splitting it where needed
            # costs less
            self._kinds = [np.arange(n) if text else
                           self._probe(i) if self.size > self.block else np.zeros(n, np.intp)
                           for i, (n, text) in enumerate(zip(self.shape, self._texts))]
            size *= min(MAX_SPREAD, math.prod(len(np.unique(k)) for k in self._kinds))
        yield from _blocks([np.arange(n) for n in self.shape], size)

    def blocks(self, progress: Callable[[int], None] | None = None) -> Iterator[dict[str, Any]]:
        """Rows, a block at a time: column name -> array (variables, then metrics), in the
        grid's order (the last variable fastest). Configurations that cannot be built are
        left out and counted (``result``)."""
        for box in self.boxes():
            block = self._block(box)
            if block is not None:
                self.result.rows += len(block[self.metrics[0]])
                yield block
            if progress:
                progress(math.prod(len(v) for v in box))

    def _block(self, box: list[np.ndarray]) -> dict[str, Any] | None:
        """The rows of one box in the grid's order: its parts, evaluated apart where the
        topology differs, put back in place (None when none can be built)."""
        parts = [part for piece in self._pieces(box) for part in self._evaluate(piece)]
        if not parts:
            return None
        if len(parts) == 1 and parts[0][0] is box:  # one topology: already in order
            return parts[0][1]
        order = np.argsort(np.concatenate([self._positions(p) for p, _ in parts]),
                           kind="stable")
        return {k: np.concatenate([np.asarray(c[k]) for _, c in parts])[order]
                for k in self.columns}

    def _positions(self, box: list[np.ndarray]) -> np.ndarray:
        """Each configuration's row number in the whole grid, in the box's order."""
        strides = np.cumprod((self.shape + (1,))[:0:-1])[::-1]
        shape = [1] * len(box)
        total: Any = 0
        for i, (index, stride) in enumerate(zip(box, strides)):
            shape[i] = len(index)
            total = total + index.reshape(shape) * int(stride)
            shape[i] = 1
        return np.broadcast_to(total, tuple(len(v) for v in box)).reshape(-1)

    def _pieces(self, box: list[np.ndarray]) -> list[list[np.ndarray]]:
        """A box cut where the values of a variable are known to give different topologies
        (_kinds), so that a piece seldom holds two; the box itself when none does, or when
        the grid is one box (not probed)."""
        if self._kinds is None:
            return [box]
        cuts = [_split(index, kinds[index]) for index, kinds in zip(box, self._kinds)]
        if all(len(c) == 1 for c in cuts):
            return [box]
        return [list(piece) for piece in itertools.product(*cuts)]

    def _probe(self, i: int) -> np.ndarray:
        """A kind per value of variable ``i``: values of different kinds give different
        topologies when the other variables are at their first value."""
        kinds = np.zeros(self.shape[i], dtype=np.intp)
        if self.shape[i] > 1:
            probe = [np.arange(n) if j == i else np.zeros(1, dtype=np.intp)
                     for j, n in enumerate(self.shape)]
            try:
                self._vectorised(probe)
            except Varies as exc:
                if exc.axes and exc.axes[0] == i and sum(map(len, exc.groups)) == len(kinds):
                    for kind, group in enumerate(exc.groups):
                        kinds[np.asarray(group)] = kind
            except (Overflow, CnncostError):
                pass
        return kinds

    def _learn(self, axis: int, parts: list[np.ndarray]) -> None:
        """Values of ``axis`` found to give different topologies get different kinds, so
        that the next boxes are cut there before any expansion (a grid's boxes often hold
        the same values of a variable)."""
        if self._kinds is not None:
            kinds = self._kinds[axis]
            for part in parts[1:]:
                kinds[part] = kinds.max() + 1

    def _evaluate(self, box: list[np.ndarray]) -> Iterator[Part]:
        """Rows of one box, split where configurations differ in topology: (the part, its
        rows) for each part."""
        try:
            yield box, self._vectorised(box)
            return
        except Varies as exc:
            axis = exc.axes[0] if exc.axes else -1
            if axis >= 0 and len(exc.groups) > 1 and sum(map(len, exc.groups)) == \
                    len(box[axis]):  # one part per way the decision goes: one topology each
                parts = [box[axis][np.asarray(group)] for group in exc.groups]
                self._learn(axis, parts)
                for part in parts:
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

    def _values(self, box: list[np.ndarray]) -> list[np.ndarray]:
        return [values[index] for values, index in zip(self._arrays, box)]

    def _settings(self, box: list[np.ndarray]) -> dict[str, Any]:
        settings = dict(self.fixed)
        k = len(box)
        for i, (axis, values) in enumerate(zip(self.axes, self._values(box))):
            if len(values) == 1:
                settings[axis.name] = values[0].item()
            else:
                shape = [1] * k
                shape[i] = len(values)
                settings[axis.name] = Vec(values.reshape(shape))
        return settings

    def _vectorised(self, box: list[np.ndarray]) -> dict[str, Any]:
        from cnncost.frontends.library import load_model

        self.result.expansions += 1
        model = load_model(self.ref.spec, self._settings(box), self.variant, self.batch)
        figures = _figures(model.graph, self.fuse, self.bytes, self.device, self.dtype)
        shape = tuple(len(v) for v in box)
        columns = _grid_columns(self.axes, self._values(box))
        for name in self.metrics:
            columns[name] = np.broadcast_to(np.asarray(figures[name]), shape).reshape(-1)
        self.result.topologies.add(_topology(model.graph))
        return columns

    def _single(self, box: list[np.ndarray]) -> Iterator[Part]:
        """One configuration, by the scalar path (Python integers: no overflow)."""
        from cnncost.pipeline import analyze, figures
        from cnncost.frontends.library import load_model

        try:
            model = load_model(self.ref.spec, self._settings(box), self.variant, self.batch)
            values = figures(analyze(model, fuse=self.fuse, dtype=self.dtype,
                                     device=self.device))
        except CnncostError as exc:
            self._invalid(exc)
            return
        columns = _grid_columns(self.axes, self._values(box))
        for name in self.metrics:
            columns[name] = np.asarray([values[name]])
        yield box, columns

    def _invalid(self, exc: CnncostError) -> None:
        self.result.invalid += 1
        if not self.result.first_error:
            self.result.first_error = exc.problems[0].message if exc.problems else str(exc)


def refuse_unsweepable(graph: Any, spec: str) -> None:
    """UsageError naming the ops of ``graph`` whose rules cannot take a sweep's values
    (``not_sweepable`` declared on the op, with the reason)."""
    refused = {node.op.op_name: node.op.not_sweepable for node in graph.nodes
               if node.op.not_sweepable}
    if refused:
        raise UsageError(Problem(
            f"{spec} cannot be swept: " + "; ".join(f"{name}: {reason}"
                                                   for name, reason in refused.items()),
            hint="analyze each configuration with cnncost analyze --set NAME=VALUE"))


def _blocks(values: list[np.ndarray], block: int) -> Iterator[list[np.ndarray]]:
    """``values`` (one array per variable) cut into boxes of at most ``block``
    configurations, in the grid's order: the last variables whole as far as they fit, the
    earlier ones in slices."""
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


def _split(index: np.ndarray, kinds: np.ndarray) -> list[np.ndarray]:
    """``index`` cut into its values' kinds (itself when all are of one kind)."""
    if len(index) < 2 or (kinds == kinds[0]).all():
        return [index]
    return [index[kinds == kind] for kind in np.unique(kinds)]


def _widest(box: list[np.ndarray]) -> list[int]:
    sizes = [len(v) for v in box]
    return [max(range(len(sizes)), key=sizes.__getitem__)] if max(sizes) > 1 else []


def _grid_columns(axes: Sequence[Axis], box: list[np.ndarray]) -> dict[str, Any]:
    grids = np.meshgrid(*box, indexing="ij")
    return {a.name: g.reshape(-1) for a, g in zip(axes, grids)}


def _topology(graph: Any) -> int:
    return hash(tuple((type(n.op).__name__, n.inputs) for n in graph.nodes))


def _figures(graph: Any, fuse: str, size: int, device: Any, dtype: str) -> dict[str, Any]:
    """The sweep's metrics of a graph whose sizes may be Vecs: by the passes analyze runs
    (cnncost.pipeline.counts), read as the figures analyze gives."""
    from cnncost.core.ir import total_cost
    from cnncost.pipeline import counts, peak_elements

    c = counts(graph, fuse, dtype, device)
    t = total_cost(c.costs)
    figures = {"params": array_of(t.params), "mult_adds": array_of(t.mult_adds),
               "mem_access": array_of(t.mem_access),
               "peak_activation_bytes": peak_elements(graph, c) * size}
    if c.latency is not None:
        figures["latency"] = array_of(c.latency.total)
    return figures


def front_directions(axes: tuple[str, str], maximize: Sequence[str]) -> tuple[bool, bool]:
    """Which of a Pareto front's two columns are maximised: ``--maximize`` names each one
    by its column's name or as ``x``/``y`` (the first or the second); the rest are minimised.
    The same option in ``cnncost sweep`` and ``cnncost plot scatter``."""
    wanted = [False, False]
    for name in maximize:
        matches = [i for i, (alias, column) in enumerate(zip("xy", axes)) if name in
                   (alias, column)]
        if not matches:
            raise UsageError(Problem(
                f"--maximize {shown(name)}: the Pareto front is of {axes[0]} and {axes[1]}",
                hint=f"--maximize names one of them (or x, y): --maximize {axes[1]}"))
        for i in matches:
            wanted[i] = True
    return wanted[0], wanted[1]


def pareto_mask(x: Any, y: Any, maximize: tuple[bool, bool] = (False, False)) -> np.ndarray:
    """Whether each point is on the Pareto front: no other point is at least as good on both
    axes and better on one (equal points are all on the front or all off it). Smaller is
    better on an axis unless ``maximize`` says otherwise."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if maximize[0]:
        x = -x
    if maximize[1]:
        y = -y
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


def some_built(sweep: Sweep, blocks: Iterable[Any], spec: str) -> Iterator[Any]:
    """The blocks of ``sweep`` as they come; a UsageError, before anything is written, when
    no configuration of the grid (of ``spec``, as given) could be built at all."""
    yielded = False
    for block in blocks:
        yielded = True
        yield block
    if not yielded and sweep.result.invalid == sweep.result.configurations:
        raise UsageError(f"no configuration of {spec} could be built: "
                         f"{sweep.result.first_error}")
