"""Every registered op has an ONNX form, or says why not; each form exports, passes the ONNX
checker, runs in onnxruntime and imports back with the same figures.

The loop goes over the registry (cnncost.ops.registered) and each op's samples
(tests/op_samples.py), so a new op without a sample, or without an ONNX declaration, fails;
the test also checks it visited every op.
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

from op_samples import SAMPLES, Sample, Size, every_sample, feature_map, sample_graph

onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed")
ort = pytest.importorskip("onnxruntime")

SIZE = Size(1, 8, 8)  # every sample's input: 1 x 8 x 8 x 8 = 512 elements, 8 channels
X = feature_map(SIZE)

# params and mult_adds of samples at SIZE, worked out by hand (each sample of
# tests/op_samples.py also gives them as a formula of the size, checked at SIZE for all)
PINNED = {
    "batchnorm": (2 * 8, 0),  # gamma and beta per channel
    "const": (8, 0),  # a scale per channel
    # 16 x 8 x 3 x 3 weights + 16 biases; 4x4x16 = 256 outputs x 72 products
    "conv2d": (16 * 8 * 9 + 16, 256 * 72),
    # 2 groups of 8 outputs x 4 inputs x 3 x 3 + 16 biases; 256 outputs x 36 products
    "conv2d/grouped": (16 * 4 * 9 + 16, 256 * 36),
    # 8 x 4 x 2 x 2 weights; each of the 512 inputs times 2 x 2 x 4
    "conv_transpose2d": (8 * 4 * 4, 512 * 16),
    "linear": (32 * 10 + 10, 10 * 32),  # 32 features (4 x 8) in, 10 out
    "matmul": (0, 512 * 8),  # (8x8) @ (8x8) per channel: 512 outputs x 8
    "prelu": (8, 0),  # a slope per channel
}
READ_AS = {"adaptive_avgpool": "avgpool", "split": "slice"}  # ops read back as another


def model_of(name: str, sample: Sample) -> Model:
    graph, _ = sample_graph(name, SIZE, sample)
    return Model(graph)


def figures(model: Model) -> Cost:
    return total_cost(model.graph.node_costs())


def exportable(cls: type[Op]) -> bool:
    return not cls.no_onnx and cls.onnx_opset <= OPSET


def test_every_registered_op_has_an_onnx_form_or_a_reason():
    ops = registered()
    assert set(SAMPLES) == set(ops), "each registered op needs a sample in op_samples.py"
    idents = {sample.ident(name) for name, sample in every_sample()}
    assert set(PINNED) <= idents and set(READ_AS) <= set(SAMPLES)
    for name, cls in ops.items():
        overrides = cls.to_onnx is not Op.to_onnx
        assert bool(cls.onnx_op) or overrides or cls.no_onnx, f"{name}: no ONNX form"
        assert not (cls.no_onnx and (overrides or cls.onnx_op)), f"{name}: a form and a reason"
        if not cls.onnx_op:
            assert not cls.onnx_attrs and not cls.onnx_fixed, name
    assert Input.no_onnx  # the input is the graph's input, not a node
    # gelu (ONNX Gelu is opset 20) is written as PyTorch writes it at opset 17 (Erf or Tanh)
    assert [n for n, c in ops.items() if not exportable(c)] == []


def test_every_one_to_one_op_is_in_the_importers_table():
    one_to_one = {name for name, cls in registered().items() if cls.one_to_one()}
    table = declared()
    assert {cls.op_name for cls in table.values()} == one_to_one
    # relu ... transpose: their ONNX ops need no code to read. Issue 19: 17 - gelu, softmax
    # (written as PyTorch writes them, read by handlers) + einsum, reduce_max = 17
    assert len(one_to_one) == 17
    for onnx_op in table:
        assert onnx_op in readers()


@pytest.mark.parametrize("name", sorted(registered()))
def test_each_op_exports_runs_and_imports_back(tmp_path, name):
    for sample in SAMPLES[name]:
        export_run_and_read_back(tmp_path, name, sample)


def export_run_and_read_back(tmp_path, name: str, sample: Sample) -> None:
    cls = registered()[name]
    ident = sample.ident(name)
    model = model_of(name, sample)
    expected = figures(model)
    assert (expected.params, expected.mult_adds) == sample.figures(SIZE), ident
    if ident in PINNED:
        assert (expected.params, expected.mult_adds) == PINNED[ident]
    if not exportable(cls):
        with pytest.raises(UsageError, match=f"{name} needs ONNX opset {cls.onnx_opset}"):
            export_onnx(model)
        return
    proto = export_onnx(model)
    onnx.checker.check_model(proto, full_check=True)
    path = tmp_path / f"{ident.replace('/', '_')}.onnx"
    path.write_bytes(proto.SerializeToString())
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).standard_normal(model.graph.nodes[0].shape)
    out, = session.run(None, {"input": x.astype(np.float32)})
    assert out.shape == model.graph.nodes[1].shape, ident
    back = load_onnx(path)
    (node,) = back.graph.nodes[1:]
    assert node.op.op_name == READ_AS.get(name, name), ident
    assert node.shape == model.graph.nodes[1].shape, ident
    got = figures(back)
    assert (got.params, got.mult_adds) == (expected.params, expected.mult_adds), ident
    if cls.one_to_one():  # the declared attribute mapping carries every field both ways
        assert node.op == model.graph.nodes[1].op, ident


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


def test_layer_normalization_reads_as_layer_norm_over_one_axis(tmp_path):
    """LayerNormalization over the last axis is layer_norm (axis last; gamma and beta read
    as its parameters, 2 x 8); over several axes (axis 1 of (N, C, H, W): C, H and W
    together) cnncost has no op, and says so."""
    from onnx import TensorProto, helper, numpy_helper

    from cnncost.core.errors import SpecError

    def read(axis: int, scale: int):
        weights = [numpy_helper.from_array(np.ones(scale, np.float32), "gamma"),
                   numpy_helper.from_array(np.zeros(scale, np.float32), "beta")]
        node = helper.make_node("LayerNormalization", ["x", "gamma", "beta"], ["y"], axis=axis)
        graph = helper.make_graph(
            [node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(X))],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(X))], weights)
        path = tmp_path / f"ln{axis}.onnx"
        path.write_bytes(helper.make_model(
            graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())
        return load_onnx(path)

    (node,) = read(-1, 8).graph.nodes[1:]
    assert node.op == make_op("layer_norm", axis="last")
    assert figures(read(3, 8)).params == 2 * 8
    with pytest.raises(SpecError, match="normalises axes 1 to 3 together"):
        read(1, 8)


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
    # leaky_relu alpha; lrn alpha, beta, bias; reduce_mean keepdims; reduce_max keepdims
    # (issue 19): 5 + 1 = 6
    assert checked == 6


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


def test_an_onnx_op_has_one_reader():
    """Two modules registering a reader for one ONNX op is refused when the second loads (the
    last one used to win silently)."""
    from cnncost.frontends.onnx.reading import HANDLERS, handles

    assert "Conv" in HANDLERS
    with pytest.raises(RuntimeError, match="ONNX op Conv has two readers"):
        handles("Conv")(lambda r, node: None)
    assert HANDLERS["Conv"].__name__ == "_conv"  # the first registration stands
