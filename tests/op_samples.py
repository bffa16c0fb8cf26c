"""One table of sample uses of every registered op, which the registry tests derive their
cases from (as PyTorch's OpInfo database in common_methods_invocations.py does).

A sample is an op's attributes and its input, both as functions of a ``Size``: the batch
``n``, the channels ``c`` and the resolution ``r`` (height and width) of the sample network's
input. Each test calls the samples at its own sizes: tests/test_registry_onnx.py at
(1, 8, 8), tests/test_registry_conventions.py at (2, 8, 14) (a batch of 2, so that ptflops'
division of its hooks by the batch shows), tests/test_registry_vec.py with ``c`` and ``r``
bound to a sweep's Vec values. Where an attribute follows the channels or the resolution in a
real network (a conv's output channels, a reshape's target), the sample computes it, so that
the Vec test sweeps it too.

Each sample also states its params and mult_adds as a formula of the size, worked out by hand
(none of either unless it says so), which the tests check at their sizes.

An op may have several samples (a dense and a grouped conv; a layer norm over the channels
and over the last axis); the first is its main one, the others are named (``variant``). A
new op needs its row here; the registry tests fail until it has one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from cnncost.core.ir import Graph, Shape
from cnncost.frontends.builder import GraphBuilder, make_op


class Size(NamedTuple):
    """The sample network's input: batch, channels, resolution (ints, or a sweep's Vecs)."""

    n: Any
    c: Any
    r: Any


def feature_map(s: Size) -> Shape:
    """(N, C, H, W): the input of most samples."""
    return (s.n, s.c, s.r, s.r)


def features(s: Size) -> Shape:
    """A vector of 4 x C features a sample (32 at 8 channels): a linear layer's input."""
    return (s.n, 4 * s.c)


def channels_last(s: Size) -> Shape:
    """(N, H, W, C): a map permuted channels last, as ConvNeXt's blocks give nn.LayerNorm
    (a network's input is (N, C, H, W) or (N, features), so a sample's too)."""
    return (s.n, s.r, s.r, s.c)


def tokens(s: Size) -> Shape:
    """(N, L, C): a transformer's tokens, r x r of them of C channels (64 x 8 at (8, 8))."""
    return (s.n, s.r * s.r, s.c)


Attributes = Callable[[Size], dict[str, Any]]
Figures = Callable[[Size], tuple[Any, Any]]  # (params, mult_adds)


def fixed(**attributes: Any) -> Attributes:
    """Attributes that do not depend on the size."""
    return lambda s: dict(attributes)


@dataclass(frozen=True)
class Sample:
    attrs: Attributes = field(default=fixed())
    reads: int = 1  # how many inputs the op takes, all of them the sample input
    input: Callable[[Size], Shape] = feature_map
    variant: str = ""  # names a sample after an op's first
    figures: Figures = lambda s: (0, 0)

    def ident(self, op: str) -> str:
        """``conv2d``, ``conv2d/grouped``: the sample's name in the tests."""
        return f"{op}/{self.variant}" if self.variant else op


def _conv(groups: int) -> Sample:
    """A 3x3 stride-2 conv ("same": ceil(r / 2) squared positions) from c to 2c channels in
    ``groups`` groups, with a bias: 2c x (c / groups) x 9 weights + 2c biases; at each output
    element, (c / groups) x 9 products."""
    return Sample(lambda s: {"out_channels": 2 * s.c, "kernel": 3, "stride": 2, "bias": True,
                             **({"groups": groups} if groups > 1 else {})},
                  variant="grouped" if groups > 1 else "",
                  figures=lambda s: (2 * s.c * (s.c // groups) * 9 + 2 * s.c,
                                     s.n * ((s.r + 1) // 2) ** 2 * 2 * s.c * (s.c // groups) * 9))


# op -> its samples, the main one first
SAMPLES: dict[str, tuple[Sample, ...]] = {name: tuple(samples) for name, samples in {
    "adaptive_avgpool": [Sample(fixed(size=4))],  # 8 divides by 4: ONNX reads it as avgpool
    "add": [Sample(reads=2)],
    # q = k = v = (n, c, r, r): n x c heads, L = S = d = dv = r: n c r r (r + r) products;
    # with a bias (n, c, r, r) added to the logits
    "attention": [Sample(reads=3, figures=lambda s: (0, s.n * s.c * s.r * s.r * 2 * s.r)),
                  Sample(reads=4, variant="bias",
                         figures=lambda s: (0, s.n * s.c * s.r * s.r * 2 * s.r))],
    "avgpool": [Sample(fixed(kernel=3, stride=2, padding=1))],
    "batchnorm": [Sample(figures=lambda s: (2 * s.c, 0))],  # gamma and beta per channel
    "channel_shuffle": [Sample(fixed(groups=2))],
    # a learned token of c values put before the r x r tokens
    "class_token": [Sample(input=tokens, figures=lambda s: (s.c, 0))],
    "clip": [Sample(fixed(low=-1.0, high=1.0))],  # (0, 6) would read back from ONNX as relu6
    "concat": [Sample(reads=2)],
    "const": [Sample(lambda s: {"fn": "mul", "shape": [s.c, 1, 1], "learned": True},
                     figures=lambda s: (s.c, 0))],  # a scale per channel
    "conv2d": [_conv(1), _conv(2)],
    # c x c/2 x 2 x 2 weights; each input element times 2 x 2 x c/2
    # Swin V2's position bias MLP for w = 2 on (n, c, 4, 4) logits, c heads, 4 hidden: on the
    # (2w - 1)^2 = 9 positions, Linear(2, 4) + ReLU + Linear(4, c): (2 + c) x 4 weights + 4
    # biases; 9 x (2 + c) x 4 products, once whatever the batch
    "cpb_bias": [Sample(lambda s: {"window": 2, "heads": s.c, "hidden": 4},
                        input=lambda s: (s.n, s.c, 4, 4),
                        figures=lambda s: ((2 + s.c) * 4 + 4, 9 * (2 + s.c) * 4))],
    "conv_transpose2d": [Sample(lambda s: {"out_channels": s.c // 2, "kernel": 2, "stride": 2},
                                figures=lambda s: (s.c * (s.c // 2) * 4,
                                                   s.n * s.c * s.r * s.r * 4 * (s.c // 2)))],
    "div": [Sample(reads=2)],
    "dropout": [Sample()],
    # q k^T by its letters: n c r r outputs, r products each; and an element-wise product
    "einsum": [Sample(fixed(equation="nchd,ncsd->nchs"), reads=2,
                      figures=lambda s: (0, s.n * s.c * s.r * s.r * s.r)),
               Sample(fixed(equation="nchw,nchw->nchw"), reads=2, variant="product")],
    "expand": [Sample(lambda s: {"shape": [s.n, s.c, s.r, s.r]},  # (n, c, 1, r) -> r rows
                      input=lambda s: (s.n, s.c, 1, s.r))],
    "flatten": [Sample()],
    "gather": [Sample(),  # axis 1, a single index: (n, r, r)
               Sample(fixed(axis=-1, indices=[2, 3]), variant="indices")],
    "gelu": [Sample(), Sample(fixed(approximate="tanh"), variant="tanh")],
    "global_avgpool": [Sample()],
    # gamma and beta for each of the c channels (2 groups); or none
    "group_norm": [Sample(fixed(groups=2), figures=lambda s: (2 * s.c, 0)),
                   Sample(fixed(groups=2, affine=False), variant="plain")],
    "hardsigmoid": [Sample()],
    "hardswish": [Sample()],
    "identity": [Sample()],
    "instance_norm": [Sample(),  # not affine (nn.InstanceNorm2d's default); or 2 per channel
                      Sample(fixed(affine=True), variant="affine", figures=lambda s: (2 * s.c, 0))],
    # gamma and beta for each of the c channels, over dimension 1 or the last; or none
    "layer_norm": [Sample(figures=lambda s: (2 * s.c, 0)),
                   Sample(fixed(axis="last"), input=channels_last, variant="last",
                          figures=lambda s: (2 * s.c, 0)),
                   Sample(fixed(affine=False), variant="plain")],
    # x / ||x|| over the last axis (the rows of r values): no params, no mult_adds
    "l2_normalize": [Sample()],
    "leaky_relu": [Sample(fixed(slope=0.25))],  # exact in float32
    # 4c x 10 weights + 10 biases; 10 outputs a sample, 4c products each
    "linear": [Sample(fixed(out_features=10), input=features,
                      figures=lambda s: (4 * s.c * 10 + 10, s.n * 10 * 4 * s.c)),
               # on r x r tokens of c channels: c x 10 weights + 10 biases; r r 10 outputs
               Sample(fixed(out_features=10), input=tokens, variant="tokens",
                      figures=lambda s: (s.c * 10 + 10, s.n * s.r * s.r * 10 * s.c))],
    "lrn": [Sample(fixed(size=3, alpha=0.5, beta=0.75, k=2.0))],  # exact in float32
    # (r x r) @ (r x r) for each sample and channel: n c r r outputs, r products each
    "matmul": [Sample(reads=2, figures=lambda s: (0, s.n * s.c * s.r * s.r * s.r))],
    "maxpool": [Sample(fixed(kernel=3, stride=2, padding=1, ceil_mode=True))],
    "mul": [Sample(reads=2)],
    "pad": [Sample(fixed(pads=[1, 0, 1, 2])),
            # Swin's pad of a channels-last map to whole windows: 2 rows below, 1 column left
            Sample(fixed(pads=[0, 1, 2, 0], channels_last=True), input=channels_last,
                   variant="channels_last")],
    "prelu": [Sample(figures=lambda s: (s.c, 0))],  # a slope per channel
    "reduce_max": [Sample(fixed(axes=[1]))],
    "reduce_mean": [Sample(fixed(axes=[1]))],  # [2, 3] would read back as global_avgpool
    # (2w - 1)^2 = 9 entries a head for w = 2, c heads, on (n, c, 4, 4) logits
    "rel_pos_bias": [Sample(lambda s: {"window": 2, "heads": s.c},
                            input=lambda s: (s.n, s.c, 4, 4), figures=lambda s: (9 * s.c, 0))],
    "relu": [Sample()],
    "relu6": [Sample()],
    "reshape": [Sample(lambda s: {"shape": [s.n, s.c, s.r * s.r]})],
    "roll": [Sample(fixed(shifts=[-1, 2], axes=[2, 3]))],
    "sigmoid": [Sample()],
    "slice": [Sample(lambda s: {"start": s.c // 4, "stop": 3 * s.c // 4})],
    "softmax": [Sample(), Sample(fixed(axis=-1), variant="last")],  # channels; rows
    "split": [Sample(fixed(index=1)),  # the last of 3 parts of the tokens' channels: q, k, v
              Sample(fixed(index=2, parts=3, axis=-1),
                     input=lambda s: (s.n, s.r * s.r, 3 * s.c), variant="last")],
    "sub": [Sample(reads=2)],
    "swish": [Sample()],
    "tanh": [Sample()],
    "tile": [Sample(fixed(repeats=[1, 2, 1, 3]))],
    "transpose": [Sample(fixed(perm=[0, 2, 3, 1]))],
    "upsample": [Sample(lambda s: {"size": [2 * s.r, 2 * s.r], "mode": "linear"})],
    "where": [Sample(reads=3)],
    # (n, 2r, 2r, c) in 2 x 2 windows: r x r windows a sample, 4 tokens each; and back
    "window_partition": [Sample(fixed(window=2), input=lambda s: (s.n, 2 * s.r, 2 * s.r, s.c))],
    "window_reverse": [Sample(lambda s: {"window": 2, "height": 2 * s.r, "width": 2 * s.r},
                              input=lambda s: (s.n * s.r * s.r, 4, s.c))],
}.items()}


def every_sample() -> list[tuple[str, Sample]]:
    """(op, sample) for every sample of every op, in the table's order."""
    return [(name, sample) for name, samples in SAMPLES.items() for sample in samples]


def sample_graph(name: str, size: Size, sample: Sample | None = None,
                 **attributes: Any) -> tuple[Graph, int]:
    """The graph of one sample of op ``name`` (its main one by default) at ``size``, its
    attributes updated with ``attributes``; and the index of the op's node (1, after the
    input)."""
    sample = sample or SAMPLES[name][0]
    b = GraphBuilder(f"one_{name}", sample.input(size))
    index = b.add(name, make_op(name, **{**sample.attrs(size), **attributes}),
                  [0] * sample.reads)
    return b.graph([index]), index
