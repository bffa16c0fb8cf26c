"""Layer names from the exporters' scopes: the legacy exporter's node names
(``/layer1/layer1.0/relu_1/Relu``) and the new exporter's ``pkg.torch.onnx.name_scopes``
metadata give the same dotted module paths, so ``--by block`` and ``import`` show the network's
own blocks whichever exporter wrote the file."""

from __future__ import annotations

from collections import Counter

import pytest

onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed")

import numpy as np  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import cnncost  # noqa: E402
from conftest import cli  # noqa: E402


def scoped(op_type, inputs, outputs, scopes=None, name="", **attrs):
    """A node as the new exporter writes it: named node_*, its module path in metadata
    (``scopes``: the module paths, outermost first; None: no metadata, as an optimiser's)."""
    node = helper.make_node(op_type, inputs, outputs, name=name or f"node_{outputs[0]}",
                            **attrs)
    if scopes is not None:
        value = repr(["", *scopes, outputs[0]])  # the modules, then the fx node
        node.metadata_props.add(key="pkg.torch.onnx.name_scopes", value=value)
    return node


def names(tmp_path, nodes, initializers=(), outputs=("y",), shape=(1, 8, 16, 16)):
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs],
        [numpy_helper.from_array(v, n) for n, v in initializers])
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return [n.name for n in cnncost.load_model(str(path)).graph.nodes[1:]]


W = np.zeros((8, 8, 1, 1), np.float32)  # a 1x1 conv, 8 -> 8 channels


def test_a_module_called_again_is_numbered_as_the_legacy_exporter_does(tmp_path):
    # ResNet's BasicBlock: one relu module, called after conv1 and again after the add
    block = ["layer1", "layer1.0"]
    got = names(tmp_path, [
        scoped("Conv", ["x", "layer1.0.conv1.weight"], ["c1"], [*block, "layer1.0.conv1"]),
        scoped("Relu", ["c1"], ["r1"], [*block, "layer1.0.relu"]),
        scoped("Conv", ["r1", "layer1.0.conv2.weight"], ["c2"], [*block, "layer1.0.conv2"]),
        scoped("Add", ["c2", "x"], ["a"], block),
        scoped("Relu", ["a"], ["y"], [*block, "layer1.0.relu"])],
        [("layer1.0.conv1.weight", W), ("layer1.0.conv2.weight", W)])
    assert got == ["layer1.0.conv1.conv", "layer1.0.relu.relu", "layer1.0.conv2.conv",
                   "layer1.0.add", "layer1.0.relu_1.relu"]


def test_the_legacy_exporters_own_numbering_is_kept(tmp_path):
    # legacy names are numbered by the exporter: a scope seen again is not renumbered
    got = names(tmp_path, [
        helper.make_node("Relu", ["x"], ["r1"], name="/layer1/layer1.0/relu/Relu"),
        helper.make_node("Add", ["r1", "x"], ["a"], name="/layer1/layer1.0/Add"),
        helper.make_node("Relu", ["a"], ["r2"], name="/layer1/layer1.0/relu_1/Relu"),
        helper.make_node("Relu", ["r2"], ["y"], name="/layer1/layer1.0/relu/Relu_1")])
    assert got == ["layer1.0.relu.relu", "layer1.0.add", "layer1.0.relu_1.relu",
                   "layer1.0.relu.relu_2"]


def test_a_node_without_scopes_takes_its_readers_module(tmp_path):
    # the new exporter's optimiser writes ShuffleNet V2's channel split with no metadata;
    # both halves are read inside stage2.1, so the split belongs there (as the legacy one)
    unit = ["stage2", "stage2.1"]
    got = names(tmp_path, [
        scoped("Split", ["x"], ["s1", "s2"], None, name="node_Split_853", axis=1),
        scoped("Relu", ["s2"], ["r"], [*unit, "stage2.1.branch2", "stage2.1.branch2.2"]),
        scoped("Concat", ["s1", "r"], ["y"], unit, axis=1)])
    assert got == ["stage2.1.split", "stage2.1.split_2", "stage2.1.branch2.2.relu",
                   "stage2.1.concat"]


def test_ops_of_the_network_itself_are_named_by_their_op(tmp_path):
    # metadata with no module (the network's own flatten): "flatten", as the legacy exporter's
    # /Flatten gives, never the node's name node_view
    got = names(tmp_path, [scoped("Relu", ["x"], ["r"], ["features"]),
                           scoped("Flatten", ["r"], ["y"], [], name="node_view")])
    assert got == ["features.relu", "flatten"]


def test_a_weight_shared_by_equal_value_does_not_name_its_readers(tmp_path):
    # the new exporter keeps one initializer for equal values (every LayerNorm's ones):
    # each node keeps its own module, not the first module's name of the shared weight
    ones = np.ones(16, np.float32)
    got = names(tmp_path, [
        scoped("LayerNormalization", ["x", "features.0.1.weight"], ["n1"], ["features",
               "features.0", "features.0.1"], axis=-1),
        scoped("LayerNormalization", ["n1", "features.0.1.weight"], ["y"], ["features",
               "features.1", "features.1.0", "features.1.0.norm"], axis=-1)],
        [("features.0.1.weight", ones)])
    assert got == ["features.0.1.layer_norm", "features.1.0.norm.layer_norm"]


# -- real exports: both exporters give the same blocks ---------------------------------------

def blocks(model, depth: int) -> Counter:
    """Layers per block at ``depth`` (the dotted prefixes --by block rolls up)."""
    return Counter(".".join(n.name.split(".")[:depth]) for n in model.graph.nodes[1:]
                   if n.name.count(".") >= depth)


@pytest.mark.parametrize("model, label_only", [("resnet18", False), ("mobilenet_v2", False),
                                              ("shufflenet_v2_x1_0", True)])
def test_both_exporters_give_the_same_layer_names(exports, model, label_only):
    legacy, dynamo = ([n.name for n in cnncost.load_model(
        str(exports / f"{model}.{kind}.onnx")).graph.nodes]
        for kind in ("legacy17.dynamic", "dynamo.static"))
    differ = [(a, b) for a, b in zip(legacy, dynamo) if a != b]
    assert len(legacy) == len(dynamo) >= 50  # resnet18: 49 layers and the input
    if label_only:  # ShuffleNet's split: Slice (legacy) or Split (new), in the same unit
        assert len(differ) == 2 * 13 and all(
            a.rpartition(".")[0] == b.rpartition(".")[0] and "slice" in a and "split" in b
            for a, b in differ), differ[:4]
    else:
        assert differ == []


def test_by_block_shows_resnets_own_blocks_from_the_new_exporter(exports):
    path = str(exports / "resnet18.dynamo.static.onnx")
    rows = {row["name"]: row for row in cnncost.blocks(cnncost.analyze(cnncost.load_model(path)),
                                                       3)}
    # BasicBlock layer1.0: conv1, relu, conv2, add, relu_1 (the relu module's second call)
    assert {"layer1.0.conv1", "layer1.0.relu", "layer1.0.conv2", "layer1.0.add",
            "layer1.0.relu_1", "layer2.0.downsample"} <= set(rows)
    text = cli("analyze", path, "--by", "block", "--depth", "2").stdout
    assert "layer1.0" in text and "layer4.1" in text
