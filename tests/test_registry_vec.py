"""Every op gives the same shape and cost through a sweep's Vec values as through numbers.

A sweep (cnncost.jobs.sweep) binds a swept variable to a cnncost.core.vector.Vec and runs the
ops' own rules once for every configuration. Here each sample of each registered op
(tests/op_samples.py) is put in a tiny graph whose input channels follow a width variable and
whose height and width follow a resolution variable (and, where an attribute is computed from
them, the attribute too); the graph is built once with Vecs and once per configuration with
plain ints, and every configuration's shape and cost must be equal. The loop asserts it
visited every registered op, so a new op without a sample fails, and an op whose rules cannot
take Vec values must say so
(``Op.not_sweepable``, its reason), which the sweep refuses with a message.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from cnncost.core.errors import UsageError
from cnncost.core.ir import Cost, Graph
from cnncost.core.settings import LAYER_KINDS
from cnncost.core.vector import Vec, array_of
from cnncost.frontends.builder import make_op
from cnncost.ops import registered

import op_samples as samples
from op_samples import SAMPLES, Sample, Size

WIDTHS = (8, 16)  # input channels: along axis 1 of the grid
RESOLUTIONS = (12, 16, 21)  # height and width: along axis 0 (21: odd sizes after a stride 2)
GRID = (len(RESOLUTIONS), len(WIDTHS))


def sample_graph(name: str, c: Any, r: Any, sample: Sample | None = None,
                 **attributes: Any) -> tuple[Graph, int]:
    """The graph of a sample of op ``name`` (tests/op_samples.py) at channels ``c`` and
    resolution ``r``, and the index of the op's node."""
    return samples.sample_graph(name, Size(1, c, r), sample, **attributes)


def swept() -> tuple[Vec, Vec]:
    """Channels along axis 1 and the resolution along axis 0, as a sweep binds them."""
    return (Vec(np.asarray(WIDTHS).reshape(1, -1)),
            Vec(np.asarray(RESOLUTIONS).reshape(-1, 1)))


def at(value: Any, i: int, j: int) -> int:
    """Configuration (i, j) of a count that may be a Vec."""
    return int(np.broadcast_to(np.asarray(array_of(value)), GRID)[i, j])


NOT_SWEEPABLE: list[str] = []  # ops that declare they cannot be swept


def test_the_samples_cover_the_registry():
    assert set(SAMPLES) == set(registered())
    assert all(SAMPLES[name] for name in SAMPLES)  # every op has at least one sample


@pytest.mark.parametrize("name", sorted(registered()))
def test_vec_values_give_each_configurations_shape_and_cost(name):
    op = registered()[name]
    if op.not_sweepable:
        pytest.skip(f"{name} declares it cannot be swept: {op.not_sweepable}")
    c, r = swept()
    for sample in SAMPLES[name]:
        ident = sample.ident(name)
        graph, index = sample_graph(name, c, r, sample)
        shape, cost = graph.nodes[index].shape, graph.node_costs()[index]
        checked = 0
        for i, resolution in enumerate(RESOLUTIONS):
            for j, width in enumerate(WIDTHS):
                scalar, k = sample_graph(name, width, resolution, sample)
                expected_shape = scalar.nodes[k].shape
                expected_cost = scalar.node_costs()[k]
                assert (expected_cost.params, expected_cost.mult_adds) == \
                    sample.figures(Size(1, width, resolution)), (ident, i, j)
                assert tuple(at(d, i, j) for d in shape) == expected_shape, (ident, i, j)
                assert Cost(*(at(v, i, j) for v in cost)) == expected_cost, (ident, i, j)
                checked += 1
        assert checked == len(RESOLUTIONS) * len(WIDTHS) == 6


def test_every_op_is_checked_through_vecs_or_declares_why_not():
    """Every registered op is swept above, or its class gives the reason it cannot be."""
    swept, declared = [], []
    for name, op in registered().items():
        (declared if op.not_sweepable else swept).append(name)
    # the op_samples table names every op by hand: the registry lost none
    assert sorted(swept + declared) == sorted(registered()) == sorted(SAMPLES)
    assert declared == NOT_SWEEPABLE


def test_each_op_declares_its_latency_kind():
    """An op with multiply-adds has a latency kind (LAYER_KINDS); one without has none, but a
    pooling window, which runs as a depthwise conv with fixed weights."""
    kinds, visited = {}, set()
    for name in registered():
        for sample in SAMPLES[name]:
            graph, index = sample_graph(name, 16, 16, sample)
            node = graph.nodes[index]
            in_channels = graph.nodes[node.inputs[0]].shape[1] if node.inputs else 0
            kind = node.op.latency_kind(in_channels)
            windowed = name in ("maxpool", "avgpool")  # a pooling window runs as depthwise
            assert (kind in LAYER_KINDS) if graph.node_costs()[index].mult_adds else \
                kind == ("depthwise" if windowed else ""), name
            kinds[sample.ident(name)] = kind
            visited.add(name)
    assert visited == set(registered()) == set(SAMPLES)
    # conv2d groups=2 of 16 channels: grouped (3x3, one group: conv); linear and matmul: GEMMs
    assert (kinds["conv2d/grouped"], kinds["conv2d"], kinds["conv_transpose2d"],
            kinds["linear"], kinds["matmul"]) == ("grouped", "conv", "conv", "linear", "linear")


def test_conv_latency_kinds_follow_groups_and_kernel():
    def kind(**attributes: Any) -> str:
        return make_op("conv2d", out_channels=32, **attributes).latency_kind(32)

    assert kind(kernel=1) == "pointwise"  # 1x1, one group
    assert kind(kernel=3) == "conv"
    assert kind(kernel=3, groups=32) == "depthwise"  # one group per input channel
    assert kind(kernel=3, groups=4) == "grouped"


def test_the_sweep_refuses_an_op_that_declares_it_cannot_be_swept(monkeypatch):
    from cnncost.jobs.sweep import Sweep, parse_axis
    from cnncost.ops.activation import Activation

    monkeypatch.setattr(registered()["relu6"], "not_sweepable", "a test's reason",
                        raising=False)
    with pytest.raises(UsageError) as raised:
        Sweep("mobilenet_v2", [parse_axis("width=0.5,1.0")])
    assert "mobilenet_v2 cannot be swept: relu6: a test's reason" in str(raised.value)
    assert Activation.not_sweepable == ""  # the other activations still sweep
