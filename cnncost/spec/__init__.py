"""From a YAML spec to the IR: parse with locations, expand, check shapes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cnncost.gcpause import paused_gc
from cnncost.ir import Graph
from cnncost.spec.build import build_graph
from cnncost.spec.yamldoc import load, parse


def load_graph(path: str | Path, overrides: dict[str, Any] | None = None,
               variant: str | None = None) -> Graph:
    """Read a spec file and build its graph (with a variant's settings, then the overrides);
    SpecError lists every problem found."""
    with paused_gc():
        return build_graph(load(path), str(path), overrides, variant)


def graph_from_text(text: str, overrides: dict[str, Any] | None = None,
                    file: str = "<spec>", variant: str | None = None) -> Graph:
    """Build a graph from spec text (tests, generated specs)."""
    with paused_gc():
        return build_graph(parse(text, file), file, overrides, variant)


__all__ = ["graph_from_text", "load_graph"]
