"""Every registered op has an ONNX form, or says why not; each form exports, passes the ONNX
checker, runs in onnxruntime and imports back with the same figures.

The loop goes over the registry (cnncost.ops.registered), so a new op without an example
here, or without an ONNX declaration, fails; the test also checks it visited every op.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from cnncost.core.errors import UsageError
from cnncost.core.ir import ZERO_COST, Cost, Shape, total_cost
from cnncost.core.model import Model
from cnncost.frontends.builder import GraphBuilder, make_op
from cnncost.frontends.onnx.onnx_export import OPSET, export_onnx
from cnncost.frontends.onnx.onnx_import import declared, load_onnx, readers
from cnncost.ops import Input, Op, registered
from cnncost.ops.base import DATA

onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed")
ort = pytest.importorskip("onnxruntime")

X = (1, 8, 8, 8)  # the input of every example but linear's: 512 elements, 8 channels
V = (1, 32)  # linear's: 32 features


@dataclass(frozen=True)
class Example:
    attrs: dict
    params: int  # what the op's figures must be, written out
    mult_adds: int
    inputs: int = 1  # how many times the network input is read
    shape: Shape = X
    read_as: str = ""  # the op it reads back as, when not itself


# One valid use of each registered op, with its params and mult_adds worked out by hand.
EXAMPLES = {
    "adaptive_avgpool": Example({"size": 4}, 0, 0, read_as="avgpool"),  # 8 divides by 4
    "add": Example({}, 0, 0, inputs=2),
    "avgpool": Example({"kernel": 2}, 0, 0),
    "batchnorm": Example({}, 2 * 8, 0),  # gamma and beta per channel
    "channel_shuffle": Example({"groups": 2}, 0, 0),
    "clip": Example({"low": -1.0, "high": 1.0}, 0, 0),
    "concat": Example({}, 0, 0, inputs=2),
    "const": Example({"fn": "mul", "shape": [8, 1, 1], "learned": True}, 8, 0),  # a scale
    # 16 x 8 x 3 x 3 weights + 16 biases; 4x4x16 = 256 outputs x 72 products
    "conv2d": Example({"out_channels": 16, "kernel": 3, "stride": 2, "bias": True},
                      16 * 8 * 9 + 16, 256 * 72),
    # 8 x 4 x 2 x 2 weights; each of the 512 inputs times 2 x 2 x 4
    "conv_transpose2d": Example({"out_channels": 4, "kernel": 2, "stride": 2},
                                8 * 4 * 4, 512 * 16),
    "div": Example({}, 0, 0, inputs=2),
    "dropout": Example({}, 0, 0),
    "flatten": Example({}, 0, 0),
    "gelu": Example({}, 0, 0),
    "global_avgpool": Example({}, 0, 0),
    "hardsigmoid": Example({}, 0, 0),
    "hardswish": Example({}, 0, 0),
    "identity": Example({}, 0, 0),
    "leaky_relu": Example({"slope": 0.25}, 0, 0),  # exact in float32
    "linear": Example({"out_features": 10}, 32 * 10 + 10, 10 * 32, shape=V),
    "lrn": Example({"size": 3, "alpha": 0.5, "beta": 0.75, "k": 2.0}, 0, 0),
    "matmul": Example({}, 0, 512 * 8, inputs=2),  # (8x8) @ (8x8) per channel: 512 outputs x 8
    "maxpool": Example({"kernel": 3, "stride": 2, "padding": 1}, 0, 0),
    "mul": Example({}, 0, 0, inputs=2),
    "pad": Example({"pads": [1, 0, 1, 2]}, 0, 0),
    "prelu": Example({}, 8, 0),  # a slope per channel
    "reduce_mean": Example({"axes": [1]}, 0, 0),
    "relu": Example({}, 0, 0),
    "relu6": Example({}, 0, 0),
    "reshape": Example({"shape": [1, 8, -1]}, 0, 0),
    "sigmoid": Example({}, 0, 0),
    "slice": Example({"start": 2, "stop": 6}, 0, 0),
    "softmax": Example({}, 0, 0),
    "split": Example({"index": 1}, 0, 0, read_as="slice"),
    "sub": Example({}, 0, 0, inputs=2),
    "swish": Example({}, 0, 0),
    "tanh": Example({}, 0, 0),
    "transpose": Example({"perm": [0, 2, 3, 1]}, 0, 0),
    "upsample": Example({"size": 16, "mode": "linear"}, 0, 0),
}


def model_of(name: str) -> Model:
    example = EXAMPLES[name]
    builder = GraphBuilder(f"one_{name}", example.shape)
    builder.add(name, make_op(name, **example.attrs), [0] * example.inputs)
    return Model(builder.graph())


def figures(model: Model) -> Cost:
    return total_cost(model.graph.node_costs())


def exportable(cls: type[Op]) -> bool:
    return not cls.no_onnx and cls.onnx_opset <= OPSET


def test_every_registered_op_has_an_onnx_form_or_a_reason():
    ops = registered()
    assert set(EXAMPLES) == set(ops), "each registered op needs an example here"
    for name, cls in ops.items():
        overrides = cls.to_onnx is not Op.to_onnx
        assert bool(cls.onnx_op) or overrides or cls.no_onnx, f"{name}: no ONNX form"
        assert not (cls.no_onnx and (overrides or cls.onnx_op)), f"{name}: a form and a reason"
        if not cls.onnx_op:
            assert not cls.onnx_attrs and not cls.onnx_fixed, name
    assert Input.no_onnx  # the input is the graph's input, not a node
    assert [n for n, c in ops.items() if not exportable(c)] == ["gelu"]  # opset 20


def test_every_one_to_one_op_is_in_the_importers_table():
    one_to_one = {name for name, cls in registered().items() if cls.one_to_one()}
    table = declared()
    assert {cls.op_name for cls in table.values()} == one_to_one
    assert len(one_to_one) == 17  # relu ... transpose: their ONNX ops need no code to read
    for onnx_op in table:
        assert onnx_op in readers()


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_each_op_exports_runs_and_imports_back(tmp_path, name):
    cls = registered()[name]
    model = model_of(name)
    example = EXAMPLES[name]
    expected = figures(model)
    assert (expected.params, expected.mult_adds) == (example.params, example.mult_adds)
    if not exportable(cls):
        with pytest.raises(UsageError, match=f"{name} needs ONNX opset {cls.onnx_opset}"):
            export_onnx(model)
        return
    proto = export_onnx(model)
    onnx.checker.check_model(proto, full_check=True)
    path = tmp_path / f"{name}.onnx"
    path.write_bytes(proto.SerializeToString())
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).standard_normal(example.shape).astype(np.float32)
    out, = session.run(None, {"input": x})
    assert out.shape == model.graph.nodes[1].shape
    back = load_onnx(path)
    (node,) = back.graph.nodes[1:]
    assert node.op.op_name == (example.read_as or name)
    assert node.shape == model.graph.nodes[1].shape
    got = figures(back)
    assert (got.params, got.mult_adds) == (expected.params, expected.mult_adds)
    if cls.one_to_one():  # the declared attribute mapping carries every field both ways
        assert node.op == model.graph.nodes[1].op


def test_an_op_readable_but_not_writable_reads_back(tmp_path):
    """gelu: ONNX has Gelu from opset 20, later than cnncost writes; files that use it read."""
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Gelu", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(X))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(X))])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    onnx.checker.check_model(proto)
    path = tmp_path / "gelu.onnx"
    path.write_bytes(proto.SerializeToString())
    assert [n.op.op_name for n in load_onnx(path).graph.nodes[1:]] == ["gelu"]


def test_a_mapped_attribute_left_out_takes_onnxs_default():
    """The importer fills a field the file leaves out with the op's default: it must be the
    ONNX default of the attribute it maps to."""
    checked = 0
    for name, cls in registered().items():
        if not cls.one_to_one():
            continue
        schema = onnx.defs.get_schema(cls.onnx_op, max(OPSET, cls.onnx_opset))
        defaults = {info.name: info.default for info in cls.attributes()}
        for field, onnx_name in cls.onnx_attrs.items():
            default = schema.attributes[onnx_name].default_value
            if default.name:  # ONNX has a default (else the attribute is required)
                value = onnx.helper.get_attribute_value(default)
                assert defaults[field] == pytest.approx(value, rel=1e-6), (name, field)
                checked += 1
    assert checked == 5  # leaky_relu alpha; lrn alpha, beta, bias; reduce_mean keepdims


def test_an_op_without_an_onnx_form_is_refused_not_skipped():
    @dataclass(frozen=True, slots=True)
    class Undeclared(Op):
        family = DATA
        op_name = "undeclared"

        def infer(self, inputs: tuple[Shape, ...]) -> Shape:
            return inputs[0]

        def cost(self, inputs: tuple[Shape, ...], out: Shape) -> Cost:
            return ZERO_COST

    builder = GraphBuilder("gap", X)
    builder.add("odd", Undeclared(), [0])
    with pytest.raises(UsageError, match="odd: op undeclared declares no ONNX form"):
        export_onnx(Model(builder.graph()))
