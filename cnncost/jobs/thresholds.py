"""Guideline thresholds from a config file and from the command line.

A config file is YAML with a ``guidelines`` mapping of threshold names to values::

    guidelines:
      g1.max_excess_share: 3%
      g4.max_share: 0.7

``--threshold g4.max_share=0.7`` on the command line wins over the file. docs/guidelines.md
lists every threshold and its default.
"""

from __future__ import annotations

from pathlib import Path

from cnncost.core.errors import Problem, Problems, RuleError, SpecError, UsageError
from cnncost.core.ir import Loc
from cnncost.passes.guidelines import Thresholds

CONFIG_KEYS = ("guidelines",)


def load_thresholds(config: str | Path | None = None,
                    settings: list[str] | None = None) -> Thresholds:
    thresholds = Thresholds()
    if config is not None:
        thresholds = _from_file(Path(config), thresholds)
    values = {}
    for item in settings or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise UsageError(f"--threshold {item!r}: expected name=value, e.g. "
                             f"--threshold g4.max_share=0.7")
        values[key.strip()] = value.strip()
    try:
        return thresholds.with_settings(values)
    except RuleError as exc:
        raise UsageError(Problem(f"--threshold: {exc.message}", hint=exc.hint)) from None


def _from_file(path: Path, thresholds: Thresholds) -> Thresholds:
    from cnncost.core.yamldoc import Map, load

    doc = load(path, "config file")
    if not isinstance(doc, Map):
        raise SpecError(Problem("a config file is a mapping, e.g. guidelines: "
                                "{g4.max_share: 0.7}",
                                getattr(doc, "loc", Loc(str(path), 1, 1, ""))))
    problems = Problems()
    problems.unknown_keys(doc, CONFIG_KEYS)
    section = doc.get("guidelines", Map())
    if not isinstance(section, Map):
        problems.append(Problem("guidelines must be a mapping of threshold: value",
                                doc.where("guidelines")))
        section = Map()
    for key, value in section.items():
        try:
            thresholds = thresholds.with_settings({key: value})
        except RuleError as exc:
            problems.append(Problem(exc.message, section.where(key), exc.hint))
    if problems:
        raise SpecError(problems)
    return thresholds
