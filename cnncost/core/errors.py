"""Errors that reach the user: each says where (file, line, key path), what, and a hint.

Rules (op shape and cost rules, the expression evaluator) raise a short ``RuleError`` about
values; the spec walker adds where it happened and collects every problem of a spec into
one ``SpecError``. The CLI turns any ``CnncostError`` into a message on stderr and exit 2.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from cnncost.core.ir import Loc

EXIT_OK = 0
EXIT_FAILED = 1  # a check or budget failed (cnncost check)
EXIT_ERROR = 2  # could not run: bad spec, bad option, missing file


_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """``text`` with terminal control characters (C0 but newline and tab, DEL, C1, and the
    bidirectional overrides) written as visible escapes (``\\x1b``), so that a name or a path
    can never move the cursor, recolour the terminal or reorder what is shown."""
    if not _CONTROL.search(text):
        return text
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                        else f"\\u{ord(m.group()):04x}", text)


def shown(value: Any, limit: int = 60) -> str:
    """A value as a message shows it: text as it is, anything else as Python writes it, cut to
    ``limit`` characters and with control characters escaped."""
    text = value if isinstance(value, str) else repr(value)
    if len(text) > limit:
        text = text[:limit - 3] + "..."
    return printable(text)


def suggest(word: str, choices: Iterable[str], *, listing: bool = True, limit: int = 40) -> str:
    """A hint naming close matches of ``word`` and, when short enough, all the valid values."""
    import difflib  # only when there is something to suggest

    options = sorted(set(choices))
    close = difflib.get_close_matches(word, options, n=3, cutoff=0.6)
    parts = []
    if close:
        parts.append("did you mean " + " or ".join(f"'{c}'" for c in close) + "?")
    if listing and options:
        if len(options) <= limit:
            parts.append("valid: " + ", ".join(options))
        else:
            parts.append(f"valid: {', '.join(options[:limit])}, ... ({len(options)} in all)")
    return " ".join(parts)


class RuleError(ValueError):
    """A rule's complaint about values, without location; the walker adds where."""

    follows = False  # True for an error that only follows from one already reported

    def __init__(self, message: str, hint: str | None = None, key: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.key = key  # the attribute at fault, when the rule knows it


@dataclass(frozen=True)
class Problem:
    message: str
    loc: Loc | None = None
    hint: str | None = None
    context: str | None = None  # the layer instance, e.g. "Conv2d_1.depthwise.conv"

    def format(self) -> str:
        where = f"{self.loc}: " if self.loc else ""
        path = f"{self.loc.path}: " if self.loc and self.loc.path else ""
        context = f" (in {self.context})" if self.context else ""
        text = f"error: {where}{path}{self.message}{context}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return printable(text)


class Problems(list):
    """The problems of one document, collected so that all of them are reported at once."""

    def add(self, message: str, loc: Loc | None = None, hint: str | None = None,
            context: str | None = None) -> None:
        self.append(Problem(message, loc, hint, context))

    def fail(self, exc: RuleError, loc: Loc | None, context: str | None = None,
             prefix: str = "") -> None:
        """Report a rule's error, unless it only follows from one already reported."""
        if not exc.follows:
            self.add(prefix + exc.message, loc, exc.hint, context)

    def unknown_keys(self, mapping: Any, known: Iterable[str], what: str = "") -> None:
        """An error for each key of a located mapping (spec.yamldoc.Map) not in ``known``."""
        known = tuple(known)
        for key in mapping:
            if key not in known:
                self.add(f"unknown key '{shown(key)}'{what}", mapping.where(key),
                         suggest(str(key), known))


class CnncostError(Exception):
    """Any error that means "could not run": exit code 2, never a traceback."""

    exit_code = EXIT_ERROR

    def __init__(self, problems: Iterable[Problem] | Problem | str):
        if isinstance(problems, str):
            problems = [Problem(problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        unique: dict[tuple, Problem] = {}
        for p in problems:
            key = (p.loc.file if p.loc else None, p.loc.line if p.loc else None, p.message)
            unique.setdefault(key, p)
        self.problems: tuple[Problem, ...] = tuple(unique.values())
        super().__init__(self.format())

    def format(self) -> str:
        lines = [p.format() for p in self.problems]
        if len(self.problems) > 1:
            lines.append(f"{len(self.problems)} problems found")
        return "\n".join(lines)


class SpecError(CnncostError):
    """A spec that cannot be loaded, expanded or shape-checked."""


class UsageError(CnncostError):
    """A command-line value that does not make sense (unknown variable, bad --set)."""


class ArgumentError(CnncostError):
    """A Python API function given an argument it cannot use: the message names the function,
    the argument and what it expects. Raised as one of the two below, so that ``except
    TypeError`` and ``except ValueError`` catch it as well."""


class ArgumentTypeError(ArgumentError, TypeError):
    """An argument of the wrong type: None, an int for a model, a list for a grid, a bool
    where a number belongs."""


class ArgumentValueError(ArgumentError, ValueError):
    """An argument of the right type but not a valid value: an unknown fuse, dtype or device
    name, a batch below 1, an empty list of values."""


WHOLE = "a whole number of at least 1"  # what argument(..., int, WHOLE, minimum=1) expects


def argument(where: str, value: Any, types: type | tuple[type, ...], expected: str = "", *,
             choices: Iterable[str] = (), minimum: float | None = None,
             valid: Callable[[Any], bool] | None = None, optional: bool = False) -> Any:
    """``value`` as the Python API accepts it, or the error saying what ``where`` (``"analyze():
    fuse"``) expects: ArgumentTypeError unless it is one of ``types`` (a bool only when
    ``bool`` is one of them) or None with ``optional``; ArgumentValueError unless it is one of
    ``choices`` (listed in the message, or in the hint when ``expected`` is given), at least
    ``minimum`` and ``valid``."""
    if value is None and optional:
        return None
    kinds = types if isinstance(types, tuple) else (types,)
    options, given = tuple(choices), bool(expected)
    expected = expected or "one of " + ", ".join(repr(c) for c in options)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        got = "None" if value is None else f"{type(value).__name__} {shown(repr(value), 40)}"
        raise ArgumentTypeError(Problem(f"{where} must be {expected}, not {got}"))
    if ((options and value not in options) or (minimum is not None and value < minimum)
            or (valid is not None and not valid(value))):
        hint = suggest(str(value), options, listing=given) if options else None
        raise ArgumentValueError(Problem(f"{where} must be {expected}, not {shown(repr(value))}",
                                         hint=hint or None))
    return value


def optional_module(name: str, message: str, extra: str) -> Any:
    """The top-level package ``name`` of an optional extra (onnx, onnxruntime, matplotlib),
    or UsageError with ``message`` and how to install it: the core never needs them."""
    try:
        return __import__(name)
    except ImportError:
        raise UsageError(Problem(message, hint=f"pip install 'cnncost[{extra}]'")) from None
