"""Variables: their defaults (or declared choices), named variants, and settings from the
command line, each read as its variable's type."""

from __future__ import annotations

import math
import re
from typing import Any

from cnncost.core.errors import Problem, Problems, RuleError, SpecError, shown, suggest
from cnncost.core.ir import Loc, is_vector
from cnncost.core.yamldoc import Map

# the names a layer's expressions get
LAYER_ENV = ("in_channels", "in_features", "in_height", "in_width")
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")


def read_variables(doc: Map, overrides: dict[str, Any],
                   variant: str | None) -> tuple[dict[str, Any], list[Problem]]:
    """The variables' values: defaults, then the variant's settings, then ``overrides``; and
    every problem found in the variables, the variants and the settings."""
    reader = _Reader()
    return reader.read(doc, overrides, variant), reader.problems


class _Reader:
    def __init__(self) -> None:
        self.problems = Problems()
        self.choices: dict[str, list[Any]] = {}
        self.problem = self.problems.add

    def read(self, doc: Map, overrides: dict[str, Any], variant: str | None) -> dict[str, Any]:
        """Defaults, then the chosen variant's settings, then --set overrides."""
        raw = doc.get("variables", Map())
        if not isinstance(raw, Map):
            self.problem("variables must be a mapping of name: default value",
                         doc.where("variables"))
            raw = Map()
        values: dict[str, Any] = {}
        for key, value in raw.items():
            if not isinstance(key, str) or not NAME.match(key) or key in LAYER_ENV:
                self.problem(f"'{key}' cannot be a variable name", raw.where(key),
                             "names are letters, digits and _, and not " + ", ".join(LAYER_ENV))
                continue
            if isinstance(value, Map):
                value = self.declared_variable(key, value)
            if value is None:
                self.problem(f"variable '{key}' needs a default value (a number, text or list)",
                             raw.where(key), "or {default: value, choices: [...]}")
                continue
            values[key] = value
        variants = self.variants(doc, values)
        if variant is not None:
            if variant not in variants:
                self.problem(f"variant {shown(variant)}: the spec has no variant "
                             f"'{shown(variant)}'",
                             doc.where("variants") if "variants" in doc else doc.loc,
                             suggest(variant, variants) if variants
                             else "this spec has no variants")
            else:
                values.update(variants[variant])
        for key, value in overrides.items():
            if key not in values:
                self.problem(f"--set {key}: the spec has no variable '{key}'",
                             doc.where("variables") if "variables" in doc else doc.loc,
                             suggest(key, values) if values else "this spec has no variables")
                continue
            self.setting(values, key, value, f"--set {key}={shown(value)}", raw.where(key))
        return values

    def declared_variable(self, key: str, spec: Map) -> Any:
        """``{default: x, choices: [...], doc: ...}``: remember the choices; return the default."""
        self.problems.unknown_keys(spec, ("default", "choices", "doc"), f" in variable '{key}'")
        default = spec.get("default")
        if default is None or isinstance(default, Map):
            return None
        choices = spec.get("choices")
        if choices is not None:
            if not isinstance(choices, list) or not choices:
                self.problem(f"choices of '{key}' must be a non-empty list", spec.where("choices"))
            elif default not in choices:
                self.problem(f"default {shown(repr(default))} of '{key}' is not one of its choices",
                             spec.where("default"))
            else:
                self.choices[key] = list(choices)
        return default

    def setting(self, values: dict[str, Any], key: str, value: Any, label: str,
                loc: Loc) -> None:
        """Set ``values[key]`` (which holds the default or the current value) from a variant
        or --set, read as the default's type and checked against the variable's choices."""
        try:
            result = _coerce(values[key], value)
            choices = self.choices.get(key)
            if choices is not None and result not in choices:
                raise RuleError(f"{shown(repr(result))} is not one of "
                                f"{', '.join(map(str, choices))}",
                                hint=suggest(str(result), map(str, choices), listing=False)
                                or None)
        except RuleError as exc:
            self.problem(f"{label}: {exc.message}", loc, exc.hint)
            return
        values[key] = result

    def variants(self, doc: Map, defaults: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """Every variant's variable settings, each checked against the variables."""
        raw = doc.get("variants")
        if raw is None:
            return {}
        if not isinstance(raw, Map):
            self.problem("variants must be a mapping of variant name: {variable: value}",
                         doc.where("variants"))
            return {}
        variants: dict[str, dict[str, Any]] = {}
        for name, settings in raw.items():
            if not isinstance(name, str):
                self.problem(f"variant name {shown(repr(name))} must be text (quote it)",
                             raw.where(name))
                continue
            if not isinstance(settings, Map):
                self.problem(f"variant '{name}' must be a mapping of variable: value",
                             raw.where(name))
                continue
            chosen: dict[str, Any] = {}
            for key, value in settings.items():
                if key not in defaults:
                    self.problem(f"variant '{name}' sets '{key}', which is not a variable",
                                 settings.where(key), suggest(str(key), defaults))
                    continue
                chosen[key] = defaults[key]
                self.setting(chosen, key, value, f"variant '{name}', {key}", settings.where(key))
            variants[name] = chosen
        return variants


def _readtext_of(text: str) -> Any:
    """Command-line text as a value: YAML (so [1, 2] is a list and true a boolean), read with
    the same rules and bounds as a spec file, and numbers YAML 1.1 misses, such as 1e-9.
    Text that is not YAML at all stays text (and is then refused as the wrong type)."""
    from cnncost.core.yamldoc import MAX_NUMBER, YamlSyntaxError, parse

    if not text.strip():
        return text
    try:
        value = parse(text, "<setting>", "setting")
    except YamlSyntaxError:
        return text
    except SpecError as exc:
        first = exc.problems[0]
        raise RuleError(first.message, first.hint) from None
    if isinstance(value, str):
        for kind in (int, float):
            try:
                number = kind(value)
            except (ValueError, OverflowError):
                continue
            if not -MAX_NUMBER <= number <= MAX_NUMBER:
                raise RuleError(f"{shown(value)} is not a finite number of at most "
                                f"{MAX_NUMBER:.0e}")
            return number
    return value


def _coerce(default: Any, value: Any) -> Any:
    """A setting for a variable, of the same type as its default. Text from the command line
    is read as YAML for number, boolean and list variables, and kept as it is for text ones."""
    if is_vector(value):  # a sweep's axis (cnncost.jobs.sweep)
        if isinstance(default, bool) or not isinstance(default, (int, float)):
            raise RuleError("only number variables can be swept")
        if isinstance(default, int):
            if not value.is_whole():
                raise RuleError("expected whole numbers")
            return value.as_int()
        return value.as_float()
    if isinstance(value, str) and not isinstance(default, str):
        value = _readtext_of(value)
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        raise RuleError("expected true or false")
    if isinstance(default, int):
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise RuleError("expected a whole number")
    if isinstance(default, float):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise RuleError("expected a finite number")
            return float(value)
        raise RuleError("expected a number")
    if isinstance(default, str):
        if isinstance(value, str):
            return value
        raise RuleError("expected text")
    if isinstance(default, list):
        if isinstance(value, list):
            return value
        raise RuleError("expected a list, e.g. [24, 48, 96]")
    return value
