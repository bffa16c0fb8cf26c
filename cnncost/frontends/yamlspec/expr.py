"""A small, safe expression language for attribute values: ``make_divisible(32 * alpha)``.

Expressions are parsed with Python's ``ast`` and only a whitelist of node types is accepted;
the tree is compiled into closures once per distinct text (cached) and never passed to
``eval``. Numbers, text, lists, arithmetic (+ - * / // % **), comparisons, ``and/or/not``,
``a if cond else b``, indexing and a fixed set of functions. Results are bounded in size so
that a spec cannot ask for astronomically large numbers.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from cnncost.core.errors import RuleError, shown, suggest
from cnncost.core.ir import is_vector

MAX_TEXT = 2000
MAX_NODES = 400
MAX_MAGNITUDE = 10**18
MAX_EXPONENT = 64
MAX_DIGITS = 30

Env = Mapping[str, Any]
Compiled = Callable[[Env], Any]


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """The MobileNet v2 channel rounding rule (TF-slim mobilenet/mobilenet.py, _make_divisible).

    Round to the nearest multiple of ``divisor`` (at least ``min_value``, default ``divisor``),
    and go up one step if rounding lost more than 10%.
    """
    if divisor < 1:
        raise ValueError("divisor must be at least 1")
    if is_vector(value):
        return value.make_divisible(divisor, min_value)
    if min_value is None:
        min_value = divisor
    new_value = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if new_value < 0.9 * value:
        new_value += divisor
    return new_value


def _round(value: float, digits: int | None = None) -> float | int:
    if is_vector(digits):
        digits = digits.__index__()
    if digits is None:
        return round(value)
    if isinstance(digits, bool) or not isinstance(digits, int) or abs(digits) > MAX_DIGITS:
        # round(5, -10**9) would compute 10**(10**9): bound the work, not only the result
        raise ExprError(f"round(): digits must be a whole number from -{MAX_DIGITS} to "
                        f"{MAX_DIGITS}, got {shown(repr(digits))}")
    return round(value, digits)


def _int(value: Any) -> Any:
    return value.as_int() if is_vector(value) else int(value)


def _float(value: Any) -> Any:
    return value.as_float() if is_vector(value) else float(value)


def _sqrt(value: Any) -> Any:
    return value.sqrt() if is_vector(value) else math.sqrt(value)


def _extreme(largest: bool) -> Callable[..., Any]:
    builtin = max if largest else min

    def pick(*values: Any) -> Any:
        if len(values) == 1 and isinstance(values[0], (list, tuple)):
            values = tuple(values[0])
        if any(is_vector(v) for v in values):
            from cnncost.core.vector import extreme

            return extreme(values, largest)
        return builtin(*values)
    return pick


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "int": _int,
    "float": _float,
    "round": _round,
    "min": _extreme(False),
    "max": _extreme(True),
    "ceil": math.ceil,  # a Vec's __ceil__ and __floor__ work per configuration
    "floor": math.floor,
    "abs": abs,
    "sqrt": _sqrt,
    "len": len,
    "make_divisible": make_divisible,
}


class ExprError(RuleError):
    """A problem with an expression: bad syntax, a forbidden construct, an unknown name."""


class Unavailable(ExprError):
    """The expression reads a name whose own definition failed (already reported)."""

    follows = True


FAILED = object()  # the value of a name whose definition failed: reading it is Unavailable


def _check_number(value: Any) -> Any:
    if is_vector(value):
        if not value.magnitude() <= MAX_MAGNITUDE:
            raise ExprError(f"value {value!r} is out of range (limit {MAX_MAGNITUDE:.0e})")
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value != value or value in (math.inf, -math.inf) or abs(value) > MAX_MAGNITUDE:
            raise ExprError(f"value {value!r} is out of range (limit {MAX_MAGNITUDE:.0e})")
    return value


def _numbers(*values: Any) -> None:
    for v in values:
        if (isinstance(v, bool) or not isinstance(v, (int, float))) and not is_vector(v):
            raise ExprError(f"arithmetic on {type(v).__name__} value {v!r}",
                            hint="only numbers take part in arithmetic")


def _power(a: Any, b: Any) -> Any:
    if abs(b) > MAX_EXPONENT:
        raise ExprError(f"exponent {b} is too large (limit {MAX_EXPONENT})")
    result = a ** b
    if isinstance(result, complex):
        raise ExprError(f"{a} ** {b} is not a real number")
    return result


_BINARY = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
    ast.Pow: _power,
}
_COMPARE = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
}


def _compile(node: ast.AST) -> Compiled:
    if isinstance(node, ast.Constant):
        value = node.value
        if not isinstance(value, (int, float, str, bool)) or value is None:
            raise ExprError(f"constant {value!r} is not allowed")
        _check_number(value)
        return lambda env: value
    if isinstance(node, ast.Name):
        name = node.id

        def lookup(env: Env) -> Any:
            try:
                value = env[name]
            except KeyError:
                known = [k for k in env if not k.startswith("_")]
                raise ExprError(f"unknown name '{name}'", hint=suggest(name, known)) from None
            if value is FAILED:
                raise Unavailable(f"'{name}' could not be computed")
            return value
        return lookup
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        fn = _BINARY[type(node.op)]
        left, right = _compile(node.left), _compile(node.right)

        def binary(env: Env) -> Any:
            a, b = left(env), right(env)
            _numbers(a, b)
            try:
                return _check_number(fn(a, b))
            except ZeroDivisionError:
                raise ExprError("division by zero") from None
            except OverflowError:
                raise ExprError("number too large") from None
        return binary
    if isinstance(node, ast.UnaryOp):
        operand = _compile(node.operand)
        if isinstance(node.op, ast.Not):
            return lambda env: not operand(env)
        if isinstance(node.op, (ast.USub, ast.UAdd)):
            sign = -1 if isinstance(node.op, ast.USub) else 1

            def unary(env: Env) -> Any:
                v = operand(env)
                _numbers(v)
                return sign * v
            return unary
    if isinstance(node, ast.BoolOp):
        parts = [_compile(v) for v in node.values]
        if isinstance(node.op, ast.And):
            def both(env: Env) -> Any:
                result = True
                for part in parts:
                    result = part(env)
                    if not result:
                        return result
                return result
            return both

        def either(env: Env) -> Any:
            result = False
            for part in parts:
                result = part(env)
                if result:
                    return result
            return result
        return either
    if isinstance(node, ast.Compare) and all(type(op) in _COMPARE for op in node.ops):
        first = _compile(node.left)
        rest = [(_COMPARE[type(op)], _compile(c)) for op, c in zip(node.ops, node.comparators)]

        def compare(env: Env) -> bool:
            a = first(env)
            for fn, part in rest:
                b = part(env)
                try:
                    if not fn(a, b):
                        return False
                except TypeError:
                    raise ExprError(f"cannot compare {a!r} with {b!r}") from None
                a = b
            return True
        return compare
    if isinstance(node, ast.IfExp):
        test, body, orelse = _compile(node.test), _compile(node.body), _compile(node.orelse)
        return lambda env: body(env) if test(env) else orelse(env)
    if isinstance(node, (ast.List, ast.Tuple)):
        items = [_compile(e) for e in node.elts]
        return lambda env: [item(env) for item in items]
    if isinstance(node, ast.Subscript):
        value, index = _compile(node.value), _compile(node.slice)

        def subscript(env: Env) -> Any:
            seq, i = value(env), index(env)
            if is_vector(i):
                i = i.__index__()  # the same index in every configuration, or Varies
            if not isinstance(seq, (list, tuple)) or isinstance(i, bool) or not isinstance(i, int):
                raise ExprError(f"cannot index {seq!r} with {i!r}",
                                hint="index a list with a whole number, e.g. widths[0]")
            if not 0 <= i < len(seq):  # no Python-style negative indexes: they hide mistakes
                raise ExprError(f"index {i} is outside the list of {len(seq)}",
                                hint=f"indexes go from 0 to {len(seq) - 1}")
            return seq[i]
        return subscript
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            name = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
            raise ExprError(f"unknown function '{name}'", hint=suggest(name, FUNCTIONS))
        fn_name = node.func.id
        fn = FUNCTIONS[fn_name]
        args = [_compile(a) for a in node.args]
        kwargs = {k.arg: _compile(k.value) for k in node.keywords if k.arg}
        if any(k.arg is None for k in node.keywords) or any(
                isinstance(a, ast.Starred) for a in node.args):
            raise ExprError("* and ** arguments are not allowed")

        def call(env: Env) -> Any:
            values = [a(env) for a in args]
            named = {k: v(env) for k, v in kwargs.items()}
            try:
                return _check_number(fn(*values, **named))
            except ExprError:
                raise
            except (TypeError, ValueError, OverflowError) as exc:
                raise ExprError(f"{fn_name}(...) failed: {exc}") from None
        return call
    raise ExprError(f"'{ast.unparse(node)}' is not allowed in an expression",
                    hint="use numbers, names, + - * / // % **, comparisons, and/or/not, "
                         "a if c else b, [..] and: " + ", ".join(FUNCTIONS))


@lru_cache(maxsize=8192)
def compile_expr(text: str) -> Compiled:
    """Parse and check ``text`` once; the result evaluates it against an environment."""
    if len(text) > MAX_TEXT:
        raise ExprError(f"expression longer than {MAX_TEXT} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExprError(f"cannot parse expression {text!r}: {exc.msg}",
                        hint="an expression looks like make_divisible(32 * alpha) or "
                             "2 if index == 0 else 1") from None
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        raise ExprError(f"expression has more than {MAX_NODES} parts")
    return _compile(tree.body)


def evaluate(text: str, env: Env) -> Any:
    return compile_expr(text)(env)
