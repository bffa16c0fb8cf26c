"""From a YAML spec to the IR: parse with locations, expand, check shapes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cnncost.core.gcpause import paused_gc
from cnncost.core.ir import Graph
from cnncost.core.model import Model
from cnncost.frontends.yamlspec.build import build_model
from cnncost.core.yamldoc import load, parse


def load_spec(path: str | Path, overrides: dict[str, Any] | None = None,
              variant: str | None = None, batch: int | None = None) -> Model:
    """Read a spec file and build its model (with a variant's settings, then the overrides);
    SpecError lists every problem found."""
    with paused_gc():
        return build_model(load(path), str(path), overrides, variant, batch)


def spec_from_text(text: str, overrides: dict[str, Any] | None = None, file: str = "<spec>",
                   variant: str | None = None, batch: int | None = None) -> Model:
    """Build a model from spec text (tests, generated specs)."""
    with paused_gc():
        return build_model(parse(text, file), file, overrides, variant, batch)


def load_graph(path: str | Path, overrides: dict[str, Any] | None = None,
               variant: str | None = None) -> Graph:
    """The graph of a spec file (load_spec(...).graph)."""
    return load_spec(path, overrides, variant).graph


def graph_from_text(text: str, overrides: dict[str, Any] | None = None,
                    file: str = "<spec>", variant: str | None = None) -> Graph:
    """The graph of spec text (spec_from_text(...).graph)."""
    return spec_from_text(text, overrides, file, variant).graph


__all__ = ["graph_from_text", "load_graph", "load_spec", "spec_from_text"]
