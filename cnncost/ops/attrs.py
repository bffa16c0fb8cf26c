"""Read attribute values of each kind declared by the ops (cnncost.ops.base): literals or
expressions, checked and normalised (``kernel: 3`` becomes (3, 3))."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cnncost.core.errors import RuleError, shown
from cnncost.core.ir import is_vector
from cnncost.ops.base import BOOL, CHOICE, FLOAT, INT, PADDING, PAIR, SHAPE, TEXT

Evaluate = Callable[[str], Any]


def _describe(value: Any) -> str:
    return "text" if isinstance(value, str) else type(value).__name__


def whole(raw: Any, evaluate: Evaluate, what: str = "a whole number") -> int:
    value = evaluate(raw) if isinstance(raw, str) else raw
    if is_vector(value):  # a sweep: whole in every configuration (else each is checked apart)
        if value.is_whole():
            return value.as_int()
        value = value.uniform("(a whole number)")
    if isinstance(value, bool):
        raise RuleError(f"expected {what}, got {shown(repr(value))}")
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if not isinstance(value, int):
        what_was = shown(repr(value))
        if isinstance(raw, str):
            what_was = f"{shown(repr(raw))} = {what_was}"
        hint = ("wrap it in int(...), round(...) or make_divisible(...)"
                if isinstance(value, float) else None)
        raise RuleError(f"expected {what}, got {what_was}", hint=hint)
    return value


def number(raw: Any, evaluate: Evaluate) -> float:
    value = evaluate(raw) if isinstance(raw, str) else raw
    if is_vector(value):
        return value.as_float()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RuleError(f"expected a number, got {_describe(value)} {shown(repr(value))}")
    return float(value)


def flag(raw: Any, evaluate: Evaluate) -> bool:
    value = evaluate(raw) if isinstance(raw, str) else raw
    if is_vector(value):
        value = bool(value)  # the same in every configuration, or the sweep splits
    if not isinstance(value, bool):
        raise RuleError(f"expected true or false, got {shown(repr(value))}")
    return value


def pair(raw: Any, evaluate: Evaluate) -> tuple[int, int]:
    if isinstance(raw, str):
        raw = evaluate(raw)
    if isinstance(raw, list):
        if len(raw) != 2:
            raise RuleError(f"expected one number or a list of two, got {len(raw)} values")
        return (whole(raw[0], evaluate), whole(raw[1], evaluate))
    value = whole(raw, evaluate)
    return (value, value)


def padding(raw: Any, evaluate: Evaluate) -> str | tuple[int, ...]:
    if raw in ("same", "valid"):
        return raw
    try:
        if isinstance(raw, str):
            raw = evaluate(raw)
        if isinstance(raw, list) and len(raw) == 4:
            return tuple(whole(v, evaluate) for v in raw)
        return pair(raw, evaluate)
    except RuleError as exc:
        raise RuleError(f"padding: {exc.message}",
                        hint="padding is same, valid, p, [ph, pw] (elements added on each side) "
                             "or [top, left, bottom, right]")


def shape(raw: Any, evaluate: Evaluate) -> tuple[int, ...]:
    if isinstance(raw, str):
        raw = evaluate(raw)
    if not isinstance(raw, list) or not raw:
        raise RuleError(f"expected a list of dimensions like [3, 224, 224], got {shown(repr(raw))}")
    return tuple(whole(v, evaluate, "a whole number of elements") for v in raw)


def read(kind: str, raw: Any, evaluate: Evaluate, choices: tuple[str, ...] = ()) -> Any:
    """The value of one attribute, or RuleError saying what is wrong with it."""
    if kind == INT:
        return whole(raw, evaluate)
    if kind == FLOAT:
        return number(raw, evaluate)
    if kind == BOOL:
        return flag(raw, evaluate)
    if kind == PAIR:
        return pair(raw, evaluate)
    if kind == PADDING:
        return padding(raw, evaluate)
    if kind == SHAPE:
        return shape(raw, evaluate)
    if kind == TEXT:
        if not isinstance(raw, str) or not raw.strip():
            raise RuleError(f"expected text, got {_describe(raw)} {shown(repr(raw))}")
        return raw
    if kind == CHOICE:
        if raw not in choices:
            raise RuleError(f"{shown(repr(raw))} is not one of {', '.join(choices)}")
        return raw
    raise RuleError(f"unknown attribute kind {kind!r}")  # a bug in an op declaration
