"""--allow-unknown: nodes cnncost does not read are kept at zero cost with their shapes (from
ONNX's shape inference of the node, or the file's value_info), the analysis says PARTIAL with
each op named and counted, and only an output whose shape cannot be known stops it."""

from __future__ import annotations

import json

import pytest

onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed")

import numpy as np  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import cnncost  # noqa: E402
from conftest import cli  # noqa: E402

X = (1, 8, 16, 16)  # the input of every graph here: 8 channels of 16 x 16


def save(tmp_path, nodes, outputs=("y",), initializers=(), value_info=(), shape=X,
         domains=(), file="m.onnx") -> str:
    """A model file of ``nodes`` reading x; ``value_info``: (tensor, shape) the file records."""
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs],
        [numpy_helper.from_array(v, n) for n, v in initializers],
        value_info=[helper.make_tensor_value_info(n, TensorProto.FLOAT, list(s))
                    for n, s in value_info])
    opsets = [helper.make_opsetid("", 17), *(helper.make_opsetid(d, 1) for d in domains)]
    path = tmp_path / file
    onnx.save(helper.make_model(graph, opset_imports=opsets), str(path))
    return str(path)


def load(path: str, **options):
    return cnncost.analyze(cnncost.load_model(path, allow_unknown=True, **options))


def layers(a) -> list[tuple[str, str, tuple]]:
    return [(n.name, a.graph.nodes[i].op.kind(()) if n.op.op_name == "unsupported" else
             n.op.op_name, n.shape) for i, n in enumerate(a.graph.nodes) if i]


def custom(op_type: str, inputs, outputs, **attrs):
    return helper.make_node(op_type, list(inputs), list(outputs), domain="com.example", **attrs)


CONV_W = np.zeros((4, 8, 1, 1), np.float32)  # a 1x1 conv, 8 -> 4 channels


def test_an_unknown_op_in_a_chain_takes_the_shape_onnx_infers(tmp_path):
    # Relu -> Erf (cnncost has no op for Erf alone) -> Conv, which reads the Erf's shape
    path = save(tmp_path, [helper.make_node("Relu", ["x"], ["r"], name="relu"),
                           helper.make_node("Erf", ["r"], ["e"], name="erf"),
                           helper.make_node("Conv", ["e", "w"], ["y"], name="conv")],
                initializers=[("w", CONV_W)])
    a = load(path)
    assert layers(a) == [("relu", "relu", X), ("erf", "unsupported Erf", X),
                         ("conv", "conv2d", (1, 4, 16, 16))]
    erf = a.costs[2]
    assert (erf.mult_adds, erf.elementwise_ops, erf.mem_access, erf.params) == (0, 0, 0, 0)
    # the conv after it is counted: 1*4*16*16 outputs x 8 inputs each = 8,192 mult_adds
    assert cnncost.totals(a)["mult_adds"] == 4 * 16 * 16 * 8 == 8_192
    assert a.model.partial == (("Erf", 1),)
    result = cli("analyze", path, "--allow-unknown", "-f", "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["partial"] is True and doc["unsupported_ops"] == {"Erf": 1}
    assert doc["totals"]["mult_adds"] == 8_192


def test_the_shape_follows_the_batch_the_analysis_uses(tmp_path):
    # a symbolic batch read as --batch 4: ONNX infers the Erf on cnncost's shapes, not the file's
    path = save(tmp_path, [helper.make_node("Erf", ["x"], ["e"], name="erf"),
                           helper.make_node("Relu", ["e"], ["y"], name="relu")],
                shape=("N", 8, 16, 16))
    assert layers(load(path, batch=4))[0] == ("erf", "unsupported Erf", (4, 8, 16, 16))


def test_an_op_onnx_does_not_know_takes_the_files_value_info(tmp_path):
    path = save(tmp_path, [custom("Foo", ["x"], ["f"], name="foo"),
                           helper.make_node("Relu", ["f"], ["y"], name="relu")],
                value_info=[("f", (1, 8, 8, 8))], domains=["com.example"])
    a = load(path)
    assert layers(a) == [("foo", "unsupported com.example.Foo", (1, 8, 8, 8)),
                         ("relu", "relu", (1, 8, 8, 8))]
    assert a.model.partial == (("com.example.Foo", 1),)


def test_a_symbolic_value_info_size_is_the_inputs(tmp_path):
    path = save(tmp_path, [custom("Foo", ["x"], ["f"], name="foo"),
                           helper.make_node("Relu", ["f"], ["y"], name="relu")],
                value_info=[("f", ("N", 8, 8, 8))], shape=("N", 8, 16, 16),
                domains=["com.example"])
    assert layers(load(path, batch=2))[0][2] == (2, 8, 8, 8)


def test_a_shape_that_cannot_be_known_stops_the_analysis_naming_the_node(tmp_path):
    nodes = [custom("Foo", ["x"], ["f"], name="foo"),
             helper.make_node("Relu", ["f"], ["y"], name="relu")]
    for path, why in [(save(tmp_path, nodes, domains=["com.example"]), "records no"),
                      # a fixed batch of 1 recorded, analysed with --batch 2: not trusted
                      (save(tmp_path, nodes, value_info=[("f", (1, 8, 8, 8))],
                            domains=["com.example"], file="fixed.onnx"), "--batch")]:
        args = ("analyze", path, "--allow-unknown") + (("--batch", "2") if why == "--batch"
                                                          else ())
        result = cli(*args)
        assert result.exit_code == 2 and result.stdout == "", why
        assert "Foo node foo:" in result.stderr and "the shape of its output f cannot be " \
            "known" in result.stderr and "Traceback" not in result.stderr, why
    assert cli("analyze", path, "--allow-unknown").exit_code == 0  # its batch: recorded


def test_several_unknown_ops_are_counted_by_type(tmp_path):
    path = save(tmp_path, [helper.make_node("Erf", ["x"], ["e1"], name="erf1"),
                           helper.make_node("Erf", ["e1"], ["e2"], name="erf2"),
                           helper.make_node("Round", ["e2"], ["r"], name="round"),
                           custom("Foo", ["r"], ["y"], name="foo")],
                value_info=[("y", X)], domains=["com.example"])
    a = load(path)
    want = {"Erf": 2, "Round": 1, "com.example.Foo": 1}
    assert dict(a.model.partial) == want and sum(want.values()) == 4 == len(a.graph.nodes) - 1
    doc = json.loads(cli("analyze", path, "--allow-unknown", "-f", "json").stdout)
    assert doc["unsupported_ops"] == want and doc["partial"] is True
    text = cli("analyze", path, "--allow-unknown").stdout
    assert "PARTIAL" in text and "Erf (2), Round (1), com.example.Foo (1)" in text
    assert "nodes not read, counted as 0: Erf" in text
    csv = cli("analyze", path, "--allow-unknown", "-f", "csv").stdout.splitlines()
    assert {"unsupported_ops.Erf,2", "unsupported_ops.Round,1",
            "unsupported_ops.com.example.Foo,1"} <= set(csv)
    by_op = cli("analyze", path, "--allow-unknown", "--by", "op").stdout
    for kind in ("unsupported Erf", "unsupported Round", "unsupported com.example.Foo"):
        assert kind in by_op, kind


def test_an_unknown_op_with_several_outputs(tmp_path):
    # TopK along the channels: values and indices, both (1, 4, 16, 16); each read after it
    topk = helper.make_node("TopK", ["x", "k"], ["v", "i"], axis=1, name="top")
    path = save(tmp_path, [topk,
                           helper.make_node("Relu", ["v"], ["y"], name="relu"),
                           helper.make_node("Cast", ["i"], ["z"], to=TensorProto.FLOAT)],
                outputs=("y", "z"), initializers=[("k", np.array([4], np.int64))])
    a = load(path)
    four = (1, 4, 16, 16)
    assert layers(a)[:3] == [("top", "unsupported TopK", four),
                             ("top_2", "unsupported TopK", four), ("relu", "relu", four)]
    assert a.model.partial == (("TopK", 1),)  # one ONNX node, a layer per output
    assert len(a.graph.outputs) == 2 and not a.warnings  # both outputs reach the input


def test_an_unknown_op_reads_every_input_it_is_given(tmp_path):
    # Foo(x, relu(x)): both branches feed it, so neither is a layer that feeds nothing
    path = save(tmp_path, [helper.make_node("Relu", ["x"], ["r"], name="relu"),
                           custom("Foo", ["x", "r"], ["y"], name="foo")],
                value_info=[("y", X)], domains=["com.example"])
    a = load(path)
    assert a.graph.nodes[2].inputs == (0, 1) and not a.warnings


def test_a_form_cnncost_does_not_read_is_kept_with_its_reason(tmp_path):
    # MaxPool with dilations: a supported op, a form cnncost has no op for
    nodes = [helper.make_node("MaxPool", ["x"], ["p"], kernel_shape=[3, 3], dilations=[2, 2],
                              name="pool"),
             helper.make_node("Relu", ["p"], ["y"], name="relu")]
    path = save(tmp_path, nodes)
    refused = cli("analyze", path)
    assert refused.exit_code == 2 and "dilated pooling" in refused.stderr
    a = load(path)
    # 16 - 2*(3-1) = 12: ONNX's shape for a 3x3 window dilated by 2, no padding
    assert layers(a) == [("pool", "unsupported MaxPool", (1, 8, 12, 12)),
                         ("relu", "relu", (1, 8, 12, 12))]
    assert a.model.partial == (("MaxPool", 1),)
    assert any("MaxPool (1: dilated pooling has no cnncost op yet)" in note
               for note in a.model.notes)


def test_values_that_contradict_each_other_stay_an_error(tmp_path):
    # a kernel reading 3 channels of an 8-channel input: not unknown, wrong
    path = save(tmp_path, [helper.make_node("Conv", ["x", "w"], ["y"], name="conv")],
                initializers=[("w", np.zeros((4, 3, 1, 1), np.float32))])
    result = cli("analyze", path, "--allow-unknown")
    assert result.exit_code == 2 and "reads 3 channels" in result.stderr


def test_an_unknown_op_of_constants_alone_is_an_error(tmp_path):
    path = save(tmp_path, [custom("Foo", ["c"], ["f"], name="foo"),
                           helper.make_node("Add", ["x", "f"], ["y"], name="add")],
                initializers=[("c", np.ones(8, np.float32))], domains=["com.example"])
    result = cli("analyze", path, "--allow-unknown")
    assert result.exit_code == 2 and "Foo node foo: reads only constants" in result.stderr
