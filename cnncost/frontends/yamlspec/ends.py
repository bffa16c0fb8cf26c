"""The two ends of a spec: its input (shape and batch) and its outputs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cnncost.core.errors import Problems
from cnncost.ops import attrs
from cnncost.core.yamldoc import Map, Seq

INPUT_KEYS = ("shape", "batch")

Read = Callable[[Any, Any, Any], Any]  # (reader, raw value, location) -> value, or None


def input_shape(doc: Map, read: Read, problems: Problems,
                batch: int | None = None) -> tuple[int, ...] | None:
    """The input's shape with the batch first (``batch`` overrides the spec's), or None after
    reporting why not."""
    raw = doc.get("input")
    loc = doc.where("input") if "input" in doc else doc.loc
    shape = spec_batch = None
    if isinstance(raw, Map):
        problems.unknown_keys(raw, INPUT_KEYS, " in input")
        if "shape" not in raw:
            problems.add("input needs a shape, e.g. {shape: [3, 224, 224]}", raw.loc)
        else:
            shape = read(attrs.shape, raw["shape"], raw.where("shape"))
        spec_batch = read(attrs.whole, raw.get("batch", 1), raw.where("batch"))
    elif isinstance(raw, list):
        shape, spec_batch = read(attrs.shape, raw, loc), 1
    elif "input" in doc:
        problems.add("input is {shape: [C, H, W]}, {shape: [L, C]} for tokens or {shape: "
                     "[features]} (optionally with batch: N)", loc)
    if shape is None or spec_batch is None:
        return None
    n = spec_batch if batch is None else batch
    full = (n, *shape)
    if len(shape) not in (1, 2, 3) or min(full) < 1:
        problems.add(f"input shape must be [C, H, W], [L, C] (tokens) or [features] of "
                     f"positive sizes, got "
                     f"{list(shape)}" + (f" with batch {n}" if n != 1 else ""), loc)
        return None
    return full


def outputs(doc: Map, last: int, resolve: Callable[[str, Any], int],
            problems: Problems) -> tuple[int, ...]:
    """The nodes named by ``outputs:`` (default: the last layer built). ``resolve`` gives a
    name's node, or a negative number when it failed or was left out by its `when`: an output
    left out is no output."""
    raw = doc.get("outputs")
    if raw is None:
        return (last,) if last >= 0 else ()
    refs = [raw] if isinstance(raw, str) else raw
    if not isinstance(refs, list) or not all(isinstance(r, str) for r in refs):
        problems.add("outputs is a layer name or a list of layer names", doc.where("outputs"))
        return ()
    found = []
    for index, ref in enumerate(refs):
        target = resolve(ref, refs.where(index) if isinstance(refs, Seq) else doc.where("outputs"))
        if target >= 0:
            found.append(target)
    return tuple(found)
