"""Properties over random networks: totals are sums of layers, and fusion never changes
mult_adds or parameters and never raises mem_access."""

from __future__ import annotations

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnncost.pipeline import analyze
from cnncost.core.ir import numel
from cnncost.report.document import document
from cnncost.frontends.yamlspec import graph_from_text

ACTIVATIONS = ["relu", "relu6", "hardswish", "sigmoid", "swish", "tanh"]


@st.composite
def networks(draw):
    """A random but valid spec: conv/BN/activation chains, residual units, concat branches,
    squeeze-excite, pooling, and optionally a classifier."""
    channels = input_channels = draw(st.integers(1, 24))
    size = input_size = draw(st.integers(1, 24))
    layers: list[dict] = []
    count = 0

    def name() -> str:
        nonlocal count
        count += 1
        return f"l{count}"

    previous = "input"
    for _ in range(draw(st.integers(1, 12))):
        kind = draw(st.sampled_from(["conv", "bn", "act", "residual", "concat", "se", "pool",
                                     "dwconv"]))
        if kind == "conv":
            out = draw(st.integers(1, 32))
            stride = 2 if size >= 2 and draw(st.booleans()) else 1
            layers.append({"name": name(), "op": "conv2d", "out_channels": out,
                           "kernel": draw(st.sampled_from([1, 3, 5])), "stride": stride,
                           "bias": draw(st.booleans())})
            channels, size = out, -(-size // stride)
        elif kind == "dwconv":
            layers.append({"name": name(), "op": "conv2d", "out_channels": channels,
                           "groups": channels, "kernel": 3})
        elif kind == "bn":
            layers.append({"name": name(), "op": "batchnorm"})
        elif kind == "act":
            layers.append({"name": name(), "op": draw(st.sampled_from(ACTIVATIONS))})
        elif kind == "residual":
            conv, bn = name(), name()
            layers += [{"name": conv, "op": "conv2d", "out_channels": channels, "kernel": 3},
                       {"name": bn, "op": "batchnorm"},
                       {"name": name(), "op": "add", "inputs": [previous, bn]}]
        elif kind == "concat":
            branch = name()
            out = draw(st.integers(1, 16))
            layers += [{"name": branch, "op": "conv2d", "out_channels": out, "kernel": 1,
                        "inputs": previous},
                       {"name": name(), "op": "concat", "inputs": [previous, branch]}]
            channels += out
        elif kind == "se":
            pool, down, act, up, gate = (name() for _ in range(5))
            squeeze = max(1, channels // 4)
            layers += [{"name": pool, "op": "global_avgpool", "inputs": previous},
                       {"name": down, "op": "conv2d", "out_channels": squeeze, "kernel": 1,
                        "bias": True},
                       {"name": act, "op": "relu"},
                       {"name": up, "op": "conv2d", "out_channels": channels, "kernel": 1,
                        "bias": True},
                       {"name": gate, "op": "hardsigmoid"},
                       {"name": name(), "op": "mul", "inputs": [previous, gate]}]
        elif kind == "pool" and size >= 2:
            layers.append({"name": name(), "op": draw(st.sampled_from(["maxpool", "avgpool"])),
                           "kernel": 2})
            size //= 2
        else:
            layers.append({"name": name(), "op": "identity"})
        previous = layers[-1]["name"]
    if draw(st.booleans()):
        layers += [{"op": "global_avgpool"}, {"op": "flatten"},
                   {"op": "linear", "out_features": draw(st.integers(1, 20))}]
    spec = {"name": "random", "input": {"shape": [input_channels, input_size, input_size],
                                        "batch": draw(st.integers(1, 3))},
            "layers": layers}
    return yaml.safe_dump(spec, sort_keys=False)


SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(networks())
def test_totals_are_the_sum_of_the_layers(text):
    graph = graph_from_text(text)
    for fuse in ("none", "bn-act"):
        doc = document(analyze(graph, fuse=fuse))
        for key in ("params", "weights", "mult_adds", "elementwise_ops", "mem_access"):
            assert doc["totals"][key] == sum(row[key] for row in doc["layers"]), key
            assert doc["totals"][key] == sum(row[key] for row in doc["by_op"]), key
            assert doc["totals"][key] == sum(row[key] for row in doc["blocks"]), key
        assert doc["totals"]["flops"] == 2 * doc["totals"]["mult_adds"]


@SETTINGS
@given(networks())
def test_fusion_keeps_mult_adds_and_never_raises_mem_access(text):
    graph = graph_from_text(text)
    plain, fused = analyze(graph, fuse="none"), analyze(graph, fuse="bn-act")
    assert fused.totals.mult_adds == plain.totals.mult_adds
    assert fused.totals.params == plain.totals.params
    assert fused.totals.mem_access <= plain.totals.mem_access
    assert fused.totals.elementwise_ops <= plain.totals.elementwise_ops
    assert fused.memory.peak_elements <= plain.memory.peak_elements
    assert fused.network.kernels <= plain.network.kernels


@SETTINGS
@given(networks())
def test_peak_memory_is_at_least_the_largest_op_footprint(text):
    # while a kernel runs, its inputs and its output are live
    a = analyze(graph_from_text(text))
    for index, node in enumerate(a.graph.nodes):
        if a.memory.buffer_elements[index]:
            inputs = {a.graph.nodes[i].name: numel(a.graph.nodes[i].shape) for i in node.inputs
                      if a.memory.buffer_elements[i]}
            assert a.memory.peak_elements >= numel(node.shape) + sum(inputs.values())
