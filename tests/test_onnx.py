"""ONNX both ways: real torchvision exports analysed exactly, each op's translation, and every
bundled spec exported, checked, run and imported back with the same figures."""

from __future__ import annotations

import json
import lzma
import shutil
import sys

import pytest

onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed")

import cnncost  # noqa: E402
from conftest import RECORDED, ROOT, cli  # noqa: E402

REFERENCE = json.loads((RECORDED / "reference.json").read_text())
# torchvision model -> the bundled spec of the same network
SPECS = {"mobilenet_v2": "mobilenet_v2", "shufflenet_v2_x1_0": "shufflenet_v2@1.0x",
         "mobilenet_v3_large": "mobilenet_v3_large", "resnet18": "resnet18",
         "resnet50": "resnet50", "squeezenet1_0": "squeezenet@1.0",
         "efficientnet_b0": "efficientnet_b0", "mnasnet1_0": "mnasnet@1.0",
         "googlenet": "googlenet", "alexnet": "alexnet", "vgg16": "vgg16"}
FILES = sorted(f["file"].removesuffix(".xz") for f in REFERENCE["files"])
# `exports` (conftest.py): the recorded exports, each decompressed once when first asked for


@pytest.mark.slow
@pytest.mark.parametrize("file", FILES)
def test_real_exports_give_the_specs_mult_adds_exactly(exports, file):
    name = file.split(".")[0]
    imported = cnncost.analyze(cnncost.load_model(str(exports / file)))
    spec = cnncost.analyze(cnncost.load_model(SPECS[name]))
    reference = REFERENCE["models"][name]
    got, want = cnncost.totals(imported), cnncost.totals(spec)
    # conv + linear multiply-accumulates: the torch module's, the spec's and the import's
    assert got["mult_adds"] == reference["mult_adds_conv_linear"] == want["mult_adds"]
    # the exporters fold each BN (2C params: gamma, beta) into a conv bias (C params)
    bn_channels = reference["batchnorm_channels_used_in_eval_forward"]
    assert want["norm_params"] == 2 * bn_channels
    assert got["params"] == reference["params_used_in_eval_forward"] - bn_channels
    assert got["params"] == want["params"] - want["norm_params"] // 2
    assert got["norm_params"] == 0 and imported.model.partial == ()
    if bn_channels:
        assert any("BN" in note for note in imported.model.notes)
    # no silently lost layer: as many convs and linear layers as the spec's
    def count(a, *ops):
        return sum(1 for n in a.graph.nodes if n.op.op_name in ops)
    assert count(imported, "conv2d", "linear") == count(spec, "conv2d", "linear")


def test_shapes_the_exporter_leaves_symbolic(exports):
    """Legacy shufflenet: onnx's own shape inference loses 39 of 56 conv shapes (the channel
    split is a Shape/Gather/Div/Slice chain); cnncost folds it and infers every shape."""
    from onnx import shape_inference

    path = exports / "shufflenet_v2_x1_0.legacy11.static.onnx"
    inferred = shape_inference.infer_shapes(onnx.load(str(path)))
    known = {v.name for v in inferred.graph.value_info
             if all(d.HasField("dim_value") for d in v.type.tensor_type.shape.dim)}
    convs = [n for n in inferred.graph.node if n.op_type == "Conv"]
    assert (len(convs), sum(1 for n in convs if n.output[0] in known)) == (56, 17)
    model = cnncost.load_model(str(path))
    shuffles = [n for n in model.graph.nodes if n.op.op_name == "channel_shuffle"]
    assert len(shuffles) == 16 and all(n.op.groups == 2 for n in shuffles)


def test_a_dynamic_batch_is_one_unless_told(exports):
    path = str(exports / "mobilenet_v2.legacy17.dynamic.onnx")
    one = cnncost.totals(cnncost.analyze(cnncost.load_model(path)))
    eight = cnncost.totals(cnncost.analyze(cnncost.load_model(path, batch=8)))
    assert eight["mult_adds"] == 8 * one["mult_adds"] == 8 * 300_774_272
    shaped = cnncost.load_model(path, input_shape=(2, 3, 224, 224))  # only the batch is free
    assert shaped.graph.nodes[0].shape == (2, 3, 224, 224)


def test_import_writes_a_spec_with_the_same_figures(exports, tmp_path):
    source = exports / "mobilenet_v3_large.legacy11.static.onnx"  # HardSwish from x*HardSigmoid
    target = tmp_path / "mv3.yaml"
    result = cli("import", str(source), "-o", str(target))
    assert result.exit_code == 0 and result.stdout == "" and f"wrote {target}" in result.stderr
    assert "op: hardswish" in target.read_text()
    a = cnncost.totals(cnncost.analyze(cnncost.load_model(str(source))))
    b = cnncost.totals(cnncost.analyze(cnncost.load_model(str(target))))
    assert a == {**b, "peak_activation_at": a["peak_activation_at"]}


def test_the_cli_analyses_onnx(exports):
    path = str(exports / "resnet18.dynamo.static.onnx")
    doc = json.loads(cli("analyze", path, "-f", "json").stdout)
    assert doc["totals"]["mult_adds"] == 1_814_073_344 and doc["source_format"] == "onnx"
    assert doc["partial"] is False and doc["spec"] == path
    assert "layer4.1.conv2.conv" in {layer["name"] for layer in doc["layers"]}


# -- each op's translation, on graphs built with onnx.helper ----------------------------------

def build(nodes, shape=(1, 8, 16, 16), initializers=(), outputs=("y",), opset=17, **kwargs):
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs],
        [numpy_helper.from_array(v, n) for n, v in initializers])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], **kwargs)


def analyse(tmp_path, model, **options):
    path = tmp_path / "m.onnx"
    onnx.save(model, str(path))
    return cnncost.analyze(cnncost.load_model(str(path), **options))


def ops_of(a):
    return [(n.op.op_name, n.shape) for n in a.graph.nodes[1:]]


def test_conv_with_same_upper_padding_and_bias(tmp_path):
    import numpy as np
    from onnx import helper

    w, b = np.zeros((4, 8, 3, 3), np.float32), np.zeros(4, np.float32)
    a = analyse(tmp_path, build([helper.make_node("Conv", ["x", "w", "b"], ["y"], strides=[2, 2],
                                                  auto_pad="SAME_UPPER")],
                                initializers=[("w", w), ("b", b)]))
    (op, shape), = ops_of(a)
    assert (op, shape) == ("conv2d", (1, 4, 8, 8))
    conv = a.graph.nodes[1].op
    assert conv.padding == (0, 0, 1, 1) and conv.bias  # TensorFlow's SAME: the extra after
    assert cnncost.totals(a)["mult_adds"] == 4 * 8 * 8 * 8 * 9  # 16,384 outputs x 72


@pytest.mark.parametrize("op_type,attrs,expected", [
    ("Relu", {}, "relu"), ("Sigmoid", {}, "sigmoid"), ("Tanh", {}, "tanh"),
    ("HardSwish", {}, "hardswish"), ("HardSigmoid", {"alpha": 0.2}, "hardsigmoid"),
    ("LeakyRelu", {"alpha": 0.1}, "leaky_relu"), ("Softmax", {"axis": 1}, "softmax"),
    ("GlobalAveragePool", {}, "global_avgpool"), ("Identity", {}, "identity"),
    ("Dropout", {}, "dropout"),
])
def test_one_input_ops(tmp_path, op_type, attrs, expected):
    from onnx import helper

    a = analyse(tmp_path, build([helper.make_node(op_type, ["x"], ["y"], **attrs)]))
    assert a.graph.nodes[1].op.op_name == expected


def test_clip_bounds(tmp_path):
    import numpy as np
    from onnx import helper

    def clip(low, high):
        inits = [("lo", np.array(low, np.float32)), ("hi", np.array(high, np.float32))]
        return analyse(tmp_path, build([helper.make_node("Clip", ["x", "lo", "hi"], ["y"])],
                                       initializers=inits)).graph.nodes[1].op

    assert clip(0.0, 6.0).op_name == "relu6"
    assert (clip(-1.0, 1.0).op_name, clip(-1.0, 1.0).low) == ("clip", -1.0)


def test_patterns_read_back_as_one_op(tmp_path):
    import numpy as np
    from onnx import helper

    swish = analyse(tmp_path, build([helper.make_node("Sigmoid", ["x"], ["s"]),
                                     helper.make_node("Mul", ["x", "s"], ["y"])]))
    assert [op for op, _ in ops_of(swish)] == ["swish"]
    shuffle = analyse(tmp_path, build([
        helper.make_node("Reshape", ["x", "s1"], ["a"]),
        helper.make_node("Transpose", ["a"], ["b"], perm=[0, 2, 1, 3, 4]),
        helper.make_node("Reshape", ["b", "s2"], ["y"])],
        initializers=[("s1", np.array([1, 2, 4, 16, 16], np.int64)),
                      ("s2", np.array([1, 8, 16, 16], np.int64))]))
    assert [op for op, _ in ops_of(shuffle)] == ["channel_shuffle"]
    assert shuffle.graph.nodes[1].op.groups == 2
    linear = analyse(tmp_path, build(
        [helper.make_node("MatMul", ["x", "w"], ["m"]), helper.make_node("Add", ["m", "b"],
                                                                          ["y"])],
        shape=(1, 32), initializers=[("w", np.zeros((32, 10), np.float32)),
                                     ("b", np.zeros(10, np.float32))]))
    assert ops_of(linear) == [("linear", (1, 10))] and linear.graph.nodes[1].op.bias


def test_the_new_exporters_pooling_and_flatten(tmp_path):
    import numpy as np
    from onnx import helper

    a = analyse(tmp_path, build(
        [helper.make_node("ReduceMean", ["x", "axes"], ["p"], keepdims=1),
         helper.make_node("Reshape", ["p", "shape"], ["y"])], opset=18,
        initializers=[("axes", np.array([-1, -2], np.int64)),
                      ("shape", np.array([1, 8], np.int64))]))
    assert ops_of(a) == [("global_avgpool", (1, 8, 1, 1)), ("flatten", (1, 8))]


def test_constant_shape_chains_are_folded(tmp_path):
    """x.size(1) // 2 through Shape/Gather/Div, then a Slice: a channel split, no node."""
    import numpy as np
    from onnx import helper

    a = analyse(tmp_path, build([
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Gather", ["shape", "one"], ["c"], axis=0),
        helper.make_node("Div", ["c", "two"], ["half"]),
        helper.make_node("Unsqueeze", ["half", "zero_axis"], ["end"]),
        helper.make_node("Slice", ["x", "zero", "end", "one_axis"], ["y"])],
        initializers=[("one", np.array(1, np.int64)), ("two", np.array(2, np.int64)),
                      ("zero_axis", np.array([0], np.int64)), ("zero", np.array([0], np.int64)),
                      ("one_axis", np.array([1], np.int64))]))
    assert ops_of(a) == [("slice", (1, 4, 16, 16))]


@pytest.mark.parametrize("op_type,inputs,inits,expected", [
    ("Add", ["x", "x"], [], ("add", (1, 8, 16, 16))),
    ("Mul", ["x", "s"], [("s", (1, 8, 1, 1))], ("const", (1, 8, 16, 16))),
    ("Sub", ["x", "x"], [], ("sub", (1, 8, 16, 16))),
    ("Div", ["x", "d"], [("d", ())], ("const", (1, 8, 16, 16))),
    ("Concat", ["x", "x"], [], ("concat", (1, 16, 16, 16))),
    ("MaxPool", ["x"], [], ("maxpool", (1, 8, 8, 8))),
    ("AveragePool", ["x"], [], ("avgpool", (1, 8, 8, 8))),
    ("Flatten", ["x"], [], ("flatten", (1, 2048))),
    ("Transpose", ["x"], [], ("transpose", (1, 16, 16, 8))),
    ("BatchNormalization", ["x", "g", "b", "m", "v"],
     [("g", (8,)), ("b", (8,)), ("m", (8,)), ("v", (8,))], ("batchnorm", (1, 8, 16, 16))),
    ("PRelu", ["x", "slope"], [("slope", (8, 1, 1))], ("prelu", (1, 8, 16, 16))),
    ("Pad", ["x", "pads"], [("pads", [0, 0, 1, 1, 0, 0, 1, 1])], ("pad", (1, 8, 18, 18))),
    ("Resize", ["x", "", "scales"], [("scales", [1.0, 1.0, 2.0, 2.0])],
     ("upsample", (1, 8, 32, 32))),
    ("LRN", ["x"], [], ("lrn", (1, 8, 16, 16))),
    ("ConvTranspose", ["x", "wt"], [("wt", (8, 4, 2, 2))], ("conv_transpose2d", (1, 4, 32, 32))),
    ("Split", ["x", "sizes"], [("sizes", [3, 5])], ("slice", (1, 3, 16, 16))),
    ("Unsqueeze", ["x", "axes"], [("axes", [4])], ("reshape", (1, 8, 16, 16, 1))),
])
def test_each_op_translates(tmp_path, op_type, inputs, inits, expected):
    import numpy as np
    from onnx import helper

    attrs = {"MaxPool": {"kernel_shape": [2, 2], "strides": [2, 2]},
             "AveragePool": {"kernel_shape": [2, 2], "strides": [2, 2]},
             "Transpose": {"perm": [0, 2, 3, 1]}, "Concat": {"axis": 1}, "LRN": {"size": 5},
             "ConvTranspose": {"strides": [2, 2]}, "Resize": {"mode": "nearest"},
             "Split": {"axis": 1}}.get(op_type, {})
    values = []
    for name, shape in inits:
        if isinstance(shape, list):
            dtype = np.float32 if op_type == "Resize" else np.int64
            values.append((name, np.array(shape, dtype)))
        else:
            values.append((name, np.ones(shape, np.float32)))
    outputs = ["y", "z"] if op_type == "Split" else ["y"]
    a = analyse(tmp_path, build([helper.make_node(op_type, inputs, outputs, **attrs)],
                                initializers=values, outputs=outputs))
    assert ops_of(a)[0] == expected


def test_unsupported_ops_are_listed_or_partial(tmp_path):
    from onnx import helper

    model = build([helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Erf", ["r"], ["e"]),
                   helper.make_node("Erf", ["e"], ["y"])])
    path = tmp_path / "erf.onnx"
    onnx.save(model, str(path))
    result = cli("analyze", str(path))
    assert result.exit_code == 2 and result.stdout == ""
    assert "uses ops cnncost does not support: Erf (2)" in result.stderr
    assert "--allow-unknown" in result.stderr
    partial = cli("analyze", str(path), "--allow-unknown", "-f", "json")
    assert partial.exit_code == 0, partial.stderr
    doc = json.loads(partial.stdout)
    assert doc["partial"] is True and doc["unsupported_ops"] == {"Erf": 2}
    assert "PARTIAL" in cli("analyze", str(path), "--allow-unknown").stdout
    gate = cli("check", str(path), "--allow-unknown", "--budget", str(ROOT / "docs" /
                                                                       "examples" /
                                                                       "budgets.yaml"))
    assert gate.exit_code == 2 and "partial" in gate.stderr


def test_bad_onnx_files(tmp_path):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00not a model")
    result = cli("analyze", str(junk))
    assert result.exit_code == 2 and f"{junk} is not a readable ONNX model" in result.stderr
    assert cli("analyze", str(tmp_path / "none.onnx")).exit_code == 2


def test_a_missing_external_data_file(exports, tmp_path):
    shutil.copy(exports / "resnet18.dynamo.static.onnx", tmp_path / "r.onnx")
    result = cli("analyze", str(tmp_path / "r.onnx"))
    assert result.exit_code == 2 and "which is not beside it" in result.stderr


def test_without_the_onnx_package(monkeypatch, exports):
    monkeypatch.setitem(sys.modules, "onnx", None)
    result = cli("analyze", str(exports / "resnet18.dynamo.static.onnx"))
    assert result.exit_code == 2
    assert "needs the onnx package" in result.stderr and "cnncost[onnx]" in result.stderr


@pytest.mark.parametrize("piece", [1000, 4096])
def test_recorded_exports_unpack_to_their_bytes_with_zeros_as_holes(tmp_path, piece):
    """conftest's unpack gives xz's bytes exactly, at any piece size, and the zeroed weights
    take no disk."""
    from conftest import unpack

    packed, target = RECORDED / "squeezenet1_0.legacy11.static.onnx.xz", tmp_path / "s.onnx"
    unpack(packed, target, piece)
    whole = lzma.decompress(packed.read_bytes())
    assert target.read_bytes() == whole
    # squeezenet1_0's 1,248,424 float32 parameters (4,993,696 bytes) and the graph around them;
    # on disk only the pieces that are not all zeros: the graph, the small biases (kept), the
    # protobuf headers between the weights
    assert 4 * 1_248_424 < len(whole) == 5_009_960
    assert 0 < target.stat().st_blocks * 512 < len(whole) // 16


# -- export ------------------------------------------------------------------------------------

# A family spec whose variants differ only in its variables' values (widths, depths, group
# widths) writes and reads the same ONNX ops in every variant: its smallest variants cover it
# here, and every variant's figures are pinned in tests/test_specs_modern_cnn.py. Exporting
# RegNet's 3.2GF-32GF variants (up to 580 MB of weights) added 36 s and no code path.
SIZE_ONLY_FAMILIES = {"regnet": ("x_400mf", "x_800mf", "y_400mf", "y_800mf")}


def library():
    from cnncost.frontends.library import catalog

    return [(e.name, v) for e in catalog() for v in (e.variants or (None,))
            if e.name not in SIZE_ONLY_FAMILIES or v in SIZE_ONLY_FAMILIES[e.name]]


HOLE = 4096  # zero weights of at least this many bytes (a page) go to the sparse data file


def save_zero_weights_as_holes(proto, path) -> None:
    """Save an export made with ``weights="zeros"`` so that it costs no disk: each weight of
    HOLE bytes or more that is all zeros becomes ONNX external data, its span of
    ``<path>.data``, a file that is one hole (made by truncate, nothing written); the rest stay
    in the .onnx file. The graph and every value are the export's; no big model is written out
    or serialised whole."""
    from onnx.external_data_helper import set_external_data

    location, offset = f"{path.name}.data", 0
    for tensor in proto.graph.initializer:
        data = tensor.raw_data
        if len(data) < HOLE or data.count(0) != len(data):
            continue
        set_external_data(tensor, location, offset, len(data))
        tensor.ClearField("raw_data")
        offset += -(-len(data) // 4096) * 4096  # each weight at a page boundary
    with open(path.with_name(location), "wb") as holes:
        holes.truncate(offset)
    path.write_bytes(proto.SerializeToString())


def test_zero_weights_saved_as_holes_read_back_as_the_export(tmp_path):
    from cnncost.frontends.onnx.onnx_export import export_onnx

    model = cnncost.load_model("mobilenet_v1@alpha=0.25")
    path = tmp_path / "m.onnx"
    save_zero_weights_as_holes(export_onnx(model, weights="zeros"), path)
    # the classifier alone: 256 x 1000 float32 weights, 1,024,000 bytes, in the data file
    data = path.with_name("m.onnx.data").stat()
    assert data.st_size >= 1_024_000 and data.st_blocks == 0
    back = onnx.load(str(path))  # reads each external weight back in
    for tensor in back.graph.initializer:
        tensor.ClearField("data_location")  # set to DEFAULT as onnx reads it in
    assert back == export_onnx(model, weights="zeros")


@pytest.mark.slow
@pytest.mark.parametrize("name,variant", library())
def test_every_spec_exports_runs_and_imports_back(tmp_path, name, variant):
    ort = pytest.importorskip("onnxruntime")
    import numpy as np

    from cnncost.core.errors import UsageError
    from cnncost.frontends.onnx.onnx_export import export_onnx

    model = cnncost.load_model(name, variant=variant)
    if (name, variant) == ("googlenet", "aux"):
        # the aux heads pool 14x14 to 4x4, which no ONNX op does (nor PyTorch's exporter)
        with pytest.raises(UsageError, match="adaptive average pooling from 14x14 to 4x4"):
            export_onnx(model)
        return
    path = tmp_path / "m.onnx"
    # the exported proto is let go once saved: the runtime and the import read the file
    save_zero_weights_as_holes(export_onnx(model, weights="zeros"), path)
    onnx.checker.check_model(str(path))
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    outputs = session.run(None, {"input": np.zeros(model.graph.nodes[0].shape, np.float32)})
    del session  # its copy of the weights, before the import reads the file again
    assert [o.shape for o in outputs] == [model.graph.nodes[i].shape for i in model.graph.outputs]
    spec, back = (cnncost.totals(cnncost.analyze(m)) for m in (model,
                                                                 cnncost.load_model(str(path))))
    for metric in ("params", "weights", "biases", "norm_params", "mult_adds", "elementwise_ops",
                   "mem_access", "peak_activation_elements", "kernels", "layers"):
        assert back[metric] == spec[metric], metric


def test_export_command(tmp_path):
    target = tmp_path / "v1.onnx"
    result = cli("export", "mobilenet_v1@alpha=0.25", "-o", str(target), "--weights", "zeros")
    assert result.exit_code == 0 and result.stdout == ""
    proto = onnx.load(str(target))
    assert {n.op_type for n in proto.graph.node} >= {"Conv", "BatchNormalization", "Clip",
                                                     "GlobalAveragePool", "Gemm"}
    assert cli("export", "mobilenet_v1", "-o", str(tmp_path / "no" / "x.onnx")).exit_code == 2
