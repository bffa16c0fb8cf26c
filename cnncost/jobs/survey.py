"""The whole architecture library analysed: ``cnncost specs --figures`` (docs/architectures.md)."""

from __future__ import annotations

from collections.abc import Iterator

from cnncost.frontends.library import catalog, load_model
from cnncost.pipeline import Analysis, analyze


def analyze_library() -> Iterator[Analysis]:
    """Every variant of every bundled spec (the micro-benchmarks aside: docs/guidelines.md
    has their own tables), analysed with the defaults, one at a time."""
    for entry in catalog():
        if not entry.name.startswith("bench/"):
            for variant in entry.variants or (None,):
                yield analyze(load_model(entry.name, variant=variant))
