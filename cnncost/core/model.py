"""A model: the graph of a network, and what its spec says about it beyond the graph.

The passes read only the graph; reports read the rest (how the spec was named, the variables
it was analysed with, its own budget). A graph built in code, or imported, is a model with
nothing but its graph.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cnncost.core.ir import Graph


@dataclass(frozen=True)
class Model:
    graph: Graph
    spec: str = ""  # the spec as the user named it: a bundled name or the path as given
    file: str = ""  # the file it was read from ("" when built in code)
    description: str = ""
    variant: str = ""
    variables: tuple[tuple[str, Any], ...] = ()  # every variable's value, as analysed
    settings: tuple[tuple[str, Any], ...] = ()  # those set by @name=value or --set
    budget: tuple[Any, ...] = ()  # cnncost.core.budget.Limit: the spec's own cost budget
    source_format: str = "spec"  # or "onnx"
    partial: tuple[tuple[str, int], ...] = ()  # ops not understood (ONNX --allow-unknown)
    notes: tuple[str, ...] = ()  # conventions of the source (an exporter's folded BN, ...)
    # layers the reference PyTorch code computes with a function (F.relu), not an nn.Module:
    # read only by other tools' conventions (cnncost/conventions.py); node indices
    torch_functional: tuple[int, ...] = ()

    @property
    def name(self) -> str:
        return self.graph.name

    @property
    def batch(self) -> int:
        return self.graph.nodes[0].shape[0]

    @property
    def label(self) -> str:
        """What was analysed, as one could name it again: ``specs/mobilenet_v1.yaml@alpha=0.5``
        (the spec as named, with the variant and settings)."""
        return (self.spec or self.graph.name) + self._at()

    @property
    def title(self) -> str:
        """The network's name with the variant and settings: ``mobilenet_v1@alpha=0.5``; a
        partial analysis (an ONNX model with unsupported ops) says so."""
        return self.graph.name + self._at() + (" (PARTIAL: some ops not counted)"
                                               if self.partial else "")

    def _at(self) -> str:
        parts = ([self.variant] if self.variant else []) + [
            f"{key}={_setting(value)}" for key, value in self.settings]
        return "@" + ",".join(parts) if parts else ""


def _setting(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_setting(v) for v in value) + "]"
    return str(value)
