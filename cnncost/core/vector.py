"""A number that holds one value per configuration of a sweep: a numpy array that the expander,
the ops' shape and cost rules and the passes use as they use an int or a float.

A sweep binds each swept variable to a ``Vec`` whose array varies along the variable's own
axis of the grid (shape (1, .., n, .., 1)); everything computed from it broadcasts, so one
expansion of a spec gives every configuration's shapes and costs at once, computed by the very
rules ``cnncost analyze`` runs. Arithmetic follows Python's: ``//`` and ``%`` floor, ``/`` gives
floats, ``round`` rounds half to even, ``int`` truncates.

Where the code needs one answer (``if``, ``range(n)``, a ``when:`` condition, a check that
raises), the answer must be the same for every configuration: then it is used; when it is not,
``Varies`` says along which axes, and the sweep splits the grid there (configurations whose
topology differs are evaluated apart). Nothing in the core imports numpy for this: a Vec is
only made by cnncost.jobs.sweep, which does.
"""

from __future__ import annotations

from typing import Any

import numpy as np

LIMIT = 2**62  # an int64 result past this could have overflowed: refuse it


class Varies(Exception):
    """A decision differs between configurations: split the grid along ``axes``; ``groups``
    are the positions along the first of them that decide alike (one topology each, as far
    as this decision goes)."""

    def __init__(self, axes: tuple[int, ...], what: str = "",
                 groups: list[list[int]] | None = None):
        super().__init__(f"differs between configurations along axes {axes} {what}".strip())
        self.axes = axes
        self.groups = groups or []


class Overflow(Exception):
    """An integer result could pass int64: evaluate these configurations one by one."""


def array_of(value: Any) -> Any:
    """A Vec's values over the grid; anything else as it is."""
    return value.a if isinstance(value, Vec) else value


def _largest(value: Any) -> float:
    return float(np.abs(np.asarray(value, dtype=np.float64)).max(initial=0.0))


# -- sums of separable products ----------------------------------------------------------------
# A count computed from sizes that vary along different axes (channels along the width axis,
# height along the resolution axis) is a product of per-axis factors; a layer's cost is a sum
# of such products, and a network's total a sum of those. Kept as terms (each a tuple of
# integer factors, each varying along at most one axis) instead of a dense grid, a sum over
# the network costs a few small arrays per layer; the grid is formed once, at the end.

MAX_TERMS = 48  # past this many terms, terms with equal factors are merged


def _axis(array: Any) -> int:
    """The one axis an array varies along; -1 for none (a scalar); -2 for several."""
    axes = [i for i, n in enumerate(np.shape(array)) if n > 1]
    return -1 if not axes else axes[0] if len(axes) == 1 else -2


def _terms_of(value: Any) -> tuple[tuple[Any, ...], ...] | None:
    """``value`` as terms when it is an integer sum of separable products; None otherwise."""
    if isinstance(value, Vec):
        if value.terms is not None:
            return value.terms
        a = value.a
        return ((a,),) if a.dtype.kind == "i" and _axis(a) != -2 else None
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return ((np.asarray(value, dtype=np.int64),),)
    return None


def _product(factors: tuple[Any, ...]) -> tuple[Any, ...]:
    """One term: factors on the same axis multiplied together, scalars folded in."""
    by_axis: dict[int, Any] = {}
    for f in factors:
        axis = _axis(f)
        by_axis[axis] = by_axis[axis] * f if axis in by_axis else f
    scalar = by_axis.pop(-1, None)
    merged = [by_axis[axis] for axis in sorted(by_axis)]
    if scalar is not None:
        if merged:
            merged[0] = merged[0] * scalar
        else:
            merged = [scalar]
    return tuple(merged)


def _bound(terms: tuple[tuple[Any, ...], ...]) -> float:
    total = 0.0
    for term in terms:
        product = 1.0
        for f in term:
            product *= _largest(f)
        total += product
    return total


def _compact(terms: tuple[tuple[Any, ...], ...]) -> tuple[tuple[Any, ...], ...]:
    """Terms whose factors after the first are equal (the same spatial size, say) summed."""
    groups: dict[Any, list[Any]] = {}
    for term in terms:
        key = (tuple(_axis(f) for f in term),
               tuple(np.ascontiguousarray(f).tobytes() for f in term[1:]))
        if key in groups:
            groups[key][0] = groups[key][0] + term[0]
        else:
            groups[key] = [term[0], *term[1:]]
    return tuple(tuple(g) for g in groups.values())


def _dense(terms: tuple[tuple[Any, ...], ...]) -> Any:
    terms = _compact(terms)
    if _bound(terms) >= LIMIT:
        raise Overflow("a count could pass 2**62")
    total: Any = 0
    for term in terms:
        product = term[0]
        for f in term[1:]:
            product = product * f
        total = total + product
    return np.asarray(total)


class Vec:
    """One value per configuration; see the module's docstring."""

    __slots__ = ("_a", "terms")
    __cnncost_vector__ = True
    __array_priority__ = 1000  # numpy scalars defer to Vec's operators
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, array: Any = None, terms: tuple[tuple[Any, ...], ...] | None = None):
        self._a = None if terms is not None else np.asarray(array)
        self.terms = terms

    @property
    def a(self) -> Any:
        """The values as an array over the grid (formed from the terms on first use)."""
        if self._a is None:
            self._a = _dense(self.terms)
        return self._a

    # -- one answer for all configurations ------------------------------------------------
    def varies_along(self) -> tuple[int, ...]:
        a = self.a
        return tuple(axis for axis in range(a.ndim)
                     if a.shape[axis] > 1 and (a != a.take([0], axis=axis)).any())

    def uniform(self, what: str = "") -> Any:
        """The value, if every configuration has the same one; otherwise Varies."""
        flat = self.a.reshape(-1)
        first = flat[0]
        if flat.size > 1 and not (flat == first).all():
            axes = self.varies_along()
            slices = np.moveaxis(self.a, axes[0], 0)
            groups: dict[bytes, list[int]] = {}
            for position in range(slices.shape[0]):
                groups.setdefault(np.ascontiguousarray(slices[position]).tobytes(),
                                  []).append(position)
            raise Varies(axes, what, list(groups.values()))
        return first.item()

    def __bool__(self) -> bool:
        return bool(self.uniform("(a condition)"))

    def __index__(self) -> int:
        value = self.uniform("(a count)")
        if isinstance(value, float):
            if not value.is_integer():
                raise TypeError("not a whole number")
            value = int(value)
        return int(value)

    def __int__(self) -> int:
        return int(self.uniform("(a whole number)"))

    def __float__(self) -> float:
        return float(self.uniform("(a number)"))

    # -- arithmetic -----------------------------------------------------------------------
    def _separable(self, other: Any, op: Any, reverse: bool) -> Vec | None:
        """Integer +, - and * of separable values, kept as terms; None when not that case."""
        mine, theirs = _terms_of(self), _terms_of(other)
        if mine is None or theirs is None:
            return None
        if op is np.multiply:
            if len(mine) == 1 and len(theirs) == 1 and self.terms is None and (
                    not isinstance(other, Vec) or other.terms is None):
                a, b = mine[0][0], theirs[0][0]
                if _axis(a) < 0 or _axis(b) < 0 or _axis(a) == _axis(b):
                    return None  # one axis at most: a small array, the dense way is best
            if len(mine) * len(theirs) > MAX_TERMS:
                return None
            terms = tuple(_product(f + g) for f in mine for g in theirs)
        else:
            if len(mine) == 1 and len(theirs) == 1 and len(mine[0]) == 1 and \
                    len(theirs[0]) == 1:
                a, b = mine[0][0], theirs[0][0]
                if _axis(a) < 0 or _axis(b) < 0 or _axis(a) == _axis(b):
                    return None  # one axis at most: a small array, the dense way is best
            if op is np.subtract:
                negated = tuple((-t[0], *t[1:]) for t in (mine if reverse else theirs))
                mine, theirs = (negated, theirs) if reverse else (mine, negated)
            terms = mine + theirs
            if len(terms) > MAX_TERMS:
                terms = _compact(terms)
        return Vec(terms=terms)  # checked against overflow when formed (_dense)

    def _binary(self, other: Any, op: Any, reverse: bool = False) -> Vec:
        if op is np.multiply or op is np.add or op is np.subtract:
            kept = self._separable(other, op, reverse)
            if kept is not None:
                return kept
        a, b = self.a, array_of(other)
        if reverse:
            a, b = b, a
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            result = op(a, b)
        kind = result.dtype.kind
        if kind == "i":
            if op is np.multiply or op is np.power:
                # a bound from the operands' largest magnitudes: exact ints stay below 2**62
                x, y = _largest(a), _largest(b)
                if (x * y if op is np.multiply else x ** y) >= LIMIT:
                    raise Overflow(f"{op.__name__} could pass 2**62")
            elif op is np.add or op is np.subtract:
                if _largest(result) >= LIMIT:
                    raise Overflow(f"{op.__name__} past 2**62")
            elif (op is np.floor_divide or op is np.remainder) and not np.all(b != 0):
                raise ZeroDivisionError("division by zero")
        elif kind == "f" and not np.isfinite(result).all():
            if not np.all(np.asarray(b) != 0):
                raise ZeroDivisionError("division by zero")
            raise OverflowError("not a finite number")
        return Vec(result)

    def __add__(self, other: Any) -> Vec:
        return self._binary(other, np.add)

    def __radd__(self, other: Any) -> Vec:
        return self._binary(other, np.add, True)

    def __sub__(self, other: Any) -> Vec:
        return self._binary(other, np.subtract)

    def __rsub__(self, other: Any) -> Vec:
        return self._binary(other, np.subtract, True)

    def __mul__(self, other: Any) -> Vec:
        return self._binary(other, np.multiply)

    def __rmul__(self, other: Any) -> Vec:
        return self._binary(other, np.multiply, True)

    def __truediv__(self, other: Any) -> Vec:
        return self._binary(other, np.true_divide)

    def __rtruediv__(self, other: Any) -> Vec:
        return self._binary(other, np.true_divide, True)

    def __floordiv__(self, other: Any) -> Vec:
        return self._binary(other, np.floor_divide)

    def __rfloordiv__(self, other: Any) -> Vec:
        return self._binary(other, np.floor_divide, True)

    def __mod__(self, other: Any) -> Vec:
        return self._binary(other, np.remainder)

    def __rmod__(self, other: Any) -> Vec:
        return self._binary(other, np.remainder, True)

    def __pow__(self, other: Any) -> Vec:
        return self._binary(other, np.power)

    def __rpow__(self, other: Any) -> Vec:
        return self._binary(other, np.power, True)

    def __neg__(self) -> Vec:
        if self.terms is not None:
            return Vec(terms=tuple((-t[0], *t[1:]) for t in self.terms))
        return Vec(-self.a)

    def __pos__(self) -> Vec:
        return self

    def __abs__(self) -> Vec:
        return Vec(np.abs(self.a))

    def __round__(self, digits: int | None = None) -> Vec:
        if digits is None:
            return Vec(np.round(self.a).astype(np.int64))
        return Vec(np.round(self.a, digits))

    def __floor__(self) -> Vec:
        return Vec(np.floor(self.a).astype(np.int64))

    def __ceil__(self) -> Vec:
        return Vec(np.ceil(self.a).astype(np.int64))

    def __trunc__(self) -> Vec:
        return Vec(np.trunc(self.a).astype(np.int64))

    # -- comparisons give one truth value per configuration -------------------------------
    def __eq__(self, other: Any) -> Vec:  # type: ignore[override]
        return Vec(self.a == array_of(other))

    def __ne__(self, other: Any) -> Vec:  # type: ignore[override]
        return Vec(self.a != array_of(other))

    def __lt__(self, other: Any) -> Vec:
        return Vec(self.a < array_of(other))

    def __le__(self, other: Any) -> Vec:
        return Vec(self.a <= array_of(other))

    def __gt__(self, other: Any) -> Vec:
        if self._below(other, strict=False):
            return Vec(np.asarray(False))
        return Vec(self.a > array_of(other))

    def __ge__(self, other: Any) -> Vec:
        if self._below(other, strict=True):
            return Vec(np.asarray(False))
        return Vec(self.a >= array_of(other))

    def _below(self, other: Any, strict: bool) -> bool:
        """Whether a sum of terms is at most (below, when strict) a number everywhere, known
        from the factors' magnitudes without forming the grid (the size checks' case)."""
        if self.terms is None or not isinstance(other, (int, float)):
            return False
        bound = _bound(self.terms)
        return bound < other if strict else bound <= other

    def __repr__(self) -> str:
        a = self.a
        if a.size <= 4:
            return f"[{', '.join(str(v) for v in a.reshape(-1).tolist())}]"
        return f"[{a.min()} .. {a.max()} over {a.size} configurations]"

    # -- what the expression language's functions need ------------------------------------
    def is_whole(self) -> bool:
        a = self.a
        return a.dtype.kind in "iub" or bool(np.all(np.mod(a, 1) == 0))

    def as_int(self) -> Vec:
        return Vec(np.trunc(self.a).astype(np.int64) if self.a.dtype.kind == "f" else
                   self.a.astype(np.int64))

    def as_float(self) -> Vec:
        return Vec(self.a.astype(np.float64))

    def magnitude(self) -> float:
        a = self.a
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            return float("inf")
        return float(np.abs(a).max()) if a.size else 0.0

    def sqrt(self) -> Vec:
        if (self.a < 0).any():
            raise ValueError("math domain error")
        return Vec(np.sqrt(self.a.astype(np.float64)))

    def make_divisible(self, divisor: int = 8, min_value: Any = None) -> Vec:
        """cnncost.frontends.yamlspec.expr.make_divisible, per configuration."""
        if min_value is None:
            min_value = divisor
        value = self.a.astype(np.float64)
        new = np.maximum(array_of(min_value),
                         np.trunc(value + divisor / 2).astype(np.int64) // divisor * divisor)
        return Vec(np.where(new < 0.9 * value, new + divisor, new))


def extreme(values: tuple[Any, ...], largest: bool) -> Any:
    """min() or max() over numbers some of which are Vecs: per configuration."""
    arrays = [array_of(v) for v in values]
    result = arrays[0]
    for a in arrays[1:]:
        result = np.maximum(result, a) if largest else np.minimum(result, a)
    return Vec(result)


def select(condition: Any, a: Any, b: Any) -> Vec:
    """``a`` where the condition holds, ``b`` elsewhere, per configuration."""
    return Vec(np.where(array_of(condition), array_of(a), array_of(b)))


def larger(a: Any, b: Any) -> Vec:
    return Vec(np.maximum(array_of(a), array_of(b)))


def smaller(a: Any, b: Any) -> Vec:
    return Vec(np.minimum(array_of(a), array_of(b)))


def gcd(a: Any, b: Any) -> Vec:
    """math.gcd of whole numbers, per configuration."""
    return Vec(np.gcd(array_of(a), array_of(b)))


def broadcast_size(dims: tuple[Any, ...]) -> Any:
    """NumPy's broadcasting of one dimension, per configuration: the largest size, when every
    size is it or 1; None when no configuration broadcasts; Varies when some do."""
    arrays = [array_of(d) for d in dims]
    size = arrays[0]
    for a in arrays[1:]:
        size = np.maximum(size, a)
    ok = np.ones(np.shape(size), dtype=bool)
    for a in arrays:
        ok = ok & ((a == 1) | (a == size))
    if ok.all():
        return Vec(size)
    if not ok.any():
        return None
    Vec(ok).uniform("(broadcasting)")  # raises Varies, with the positions that broadcast
    return None
