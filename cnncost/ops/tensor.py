"""Ops that move or relabel data: concat, channel split and slice, shuffle, flatten, identity.

Views (split, slice, flatten, dropout at inference, identity) reuse their input's memory:
no kernel, no memory access. Concat and channel shuffle copy: they read and write every
element once.
"""

from __future__ import annotations

from dataclasses import dataclass

from cnncost.errors import RuleError
from cnncost.ir import Cost, Shape, ZERO_COST, numel
from cnncost.ops.base import (DATA, FLOAT, INPUT, INT, SHAPE, VIEW, Op, attr, feature_map,
                              fmt_shape, io_cost, positive, register)


class View(Op):
    """An op that relabels its input without copying it."""

    __slots__ = ()
    family = VIEW

    def cost(self, inputs: tuple[Shape, ...], out: Shape) -> Cost:
        return ZERO_COST


@register("concat", aliases=("cat",))
@dataclass(frozen=True, slots=True)
class Concat(Op):
    """Join tensors along the channels (dimension 1); every other dimension must match."""

    family = DATA
    summary = "concatenation along channels (a copy)"
    min_inputs = 1
    max_inputs = None

    def infer(self, inputs: tuple[Shape, ...]) -> Shape:
        first = inputs[0]
        for shape in inputs[1:]:
            if len(shape) != len(first) or shape[:1] + shape[2:] != first[:1] + first[2:]:
                shapes = ", ".join(fmt_shape(s) for s in inputs)
                raise RuleError(f"concat needs inputs that differ only in channels; got {shapes}",
                                hint="branches must end at the same spatial size: check their "
                                     "strides and paddings")
        return (first[0], sum(s[1] for s in inputs), *first[2:])

    def cost(self, inputs: tuple[Shape, ...], out: Shape) -> Cost:
        return io_cost(inputs, out)


@register("split")
@dataclass(frozen=True, slots=True)
class Split(View):
    """One of ``parts`` equal channel groups (ShuffleNet V2's channel split); a view."""

    summary = "one of `parts` equal channel groups (a view)"
    index: int = attr(kind=INT, doc="which part, from 0")
    parts: int = attr(2, kind=INT, doc="number of equal parts")

    def __post_init__(self) -> None:
        positive(self.parts, "parts")
        if not 0 <= self.index < self.parts:
            raise RuleError(f"index={self.index} must be in 0..{self.parts - 1}", key="index")

    def infer(self, inputs: tuple[Shape, ...]) -> Shape:
        shape = inputs[0]
        if shape[1] % self.parts:
            raise RuleError(f"parts={self.parts} must divide the {shape[1]} channels",
                            hint="use slice with start and stop for unequal parts", key="parts")
        return (shape[0], shape[1] // self.parts, *shape[2:])


@register("slice")
@dataclass(frozen=True, slots=True)
class Slice(View):
    """Channels start..stop-1 of the input; a view."""

    summary = "channels [start, stop) of the input (a view)"
    start: int = attr(kind=INT, doc="first channel, from 0")
    stop: int = attr(kind=INT, doc="one past the last channel")

    def infer(self, inputs: tuple[Shape, ...]) -> Shape:
        shape = inputs[0]
        if not 0 <= self.start < self.stop <= shape[1]:
            raise RuleError(f"slice [{self.start}, {self.stop}) is not inside the "
                            f"{shape[1]} channels", hint="need 0 <= start < stop <= channels")
        return (shape[0], self.stop - self.start, *shape[2:])


@register("channel_shuffle", aliases=("shuffle",))
@dataclass(frozen=True, slots=True)
class ChannelShuffle(Op):
    """ShuffleNet's channel shuffle: reshape (g, C/g), transpose, flatten; one copy."""

    family = DATA
    summary = "channel shuffle across groups (a copy)"
    groups: int = attr(kind=INT, doc="number of groups to interleave")

    def __post_init__(self) -> None:
        positive(self.groups, "groups")

    def infer(self, inputs: tuple[Shape, ...]) -> Shape:
        _, c, _, _ = feature_map(inputs[0], "channel_shuffle")
        if c % self.groups:
            raise RuleError(f"groups={self.groups} must divide the {c} channels", key="groups")
        return inputs[0]

    def cost(self, inputs: tuple[Shape, ...], out: Shape) -> Cost:
        return io_cost(inputs, out)


@register("flatten")
@dataclass(frozen=True, slots=True)
class Flatten(View):
    """(N, C, H, W) -> (N, C*H*W); a view."""

    summary = "(N, C, H, W) -> (N, C*H*W) (a view)"

    def infer(self, inputs: tuple[Shape, ...]) -> Shape:
        shape = inputs[0]
        return (shape[0], numel(shape[1:]))


@register("dropout")
@dataclass(frozen=True, slots=True)
class Dropout(View):
    """The identity at inference; kept so specs read like the paper."""

    summary = "identity at inference"
    p: float = attr(0.5, kind=FLOAT, doc="drop probability in training (no effect on cost)")

    def __post_init__(self) -> None:
        if not 0.0 <= self.p < 1.0:
            raise RuleError(f"p={self.p} must be in [0, 1)", key="p")

    def infer(self, inputs: tuple[Shape, ...]) -> Shape:
        return inputs[0]


@register("identity")
@dataclass(frozen=True, slots=True)
class Identity(View):
    """Passes its input through; useful to name a tensor."""

    summary = "passes its input through"

    def infer(self, inputs: tuple[Shape, ...]) -> Shape:
        return inputs[0]


@dataclass(frozen=True, slots=True)
class Input(Op):
    """The network input (node 0); not written as a layer but from the spec's ``input``."""

    op_name = "input"
    family = INPUT
    min_inputs = 0
    max_inputs = 0
    shape: tuple[int, ...] = attr(kind=SHAPE, doc="(N, C, H, W) or (N, F)")

    def infer(self, inputs: tuple[Shape, ...]) -> Shape:
        return self.shape

    def cost(self, inputs: tuple[Shape, ...], out: Shape) -> Cost:
        return ZERO_COST
