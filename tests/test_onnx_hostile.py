"""Hostile ONNX files (issue 17), class by class: each is refused with exit code 2 and one
message naming the file (and the node where there is one), nothing on standard output, no
traceback, within seconds. Every file is generated here with onnx.helper, never committed."""

from __future__ import annotations

import math
import random
import time

import pytest

onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import cnncost  # noqa: E402
from cnncost.core.errors import CnncostError  # noqa: E402
from conftest import cli  # noqa: E402

SECONDS = 10  # every refusal is quick: no hang, no huge allocation


def model(nodes, shape=(1, 3, 8, 8), outputs=("y",), initializers=(), opset=17, inputs=None):
    """A model of ``nodes`` reading one float input ``x`` of ``shape``."""
    if inputs is None:
        inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))]
    graph = helper.make_graph(
        nodes, "g", inputs,
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs],
        [i if isinstance(i, onnx.TensorProto) else numpy_helper.from_array(i[1], i[0])
         for i in initializers])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def node(op, inputs, outputs, name="", **attrs):
    return helper.make_node(op, list(inputs), list(outputs), name=name or None, **attrs)


def floats(*shape, value=0.5):
    import numpy as np
    return np.full(shape, value, dtype=np.float32)


def ints(*values):
    import numpy as np
    return np.array(values, dtype=np.int64)


def save(tmp_path, proto, name="m.onnx"):
    path = tmp_path / name
    onnx.save(proto, str(path))
    return str(path)


def refused(path, *options, expect=()):
    """The CLI and the API both refuse ``path``: exit 2, the file and each fragment named in
    the message, an empty stdout, no traceback, in bounded time. Returns the CLI's message."""
    start = time.perf_counter()
    result = cli("analyze", path, *options)
    assert time.perf_counter() - start < SECONDS
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    assert result.stdout == ""
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert path in result.stderr, result.stderr
    for fragment in expect:
        assert fragment in result.stderr, (fragment, result.stderr)
    if not options:
        with pytest.raises(CnncostError) as caught:
            cnncost.load_model(path)
        assert path in str(caught.value)
    return result.stderr


def relu_chain(count, op="Sigmoid"):
    names = ["x"] + [f"t{i}" for i in range(count - 1)] + ["y"]
    return [node(op, [a], [b]) for a, b in zip(names, names[1:])]


# -- the graph's wiring ---------------------------------------------------------------------

@pytest.mark.parametrize("nodes,expect", [
    # a cycle: a = x + c, c = relu(a)
    ([node("Add", ["x", "c"], ["a"], name="add"), node("Relu", ["a"], ["c"], name="back"),
      node("Relu", ["a"], ["y"])],
     ("Add node add: reads c, which Relu node back computes after it", "cycle")),
    # two nodes producing one value
    ([node("Relu", ["x"], ["y"], name="first"), node("Sigmoid", ["x"], ["y"], name="second")],
     ("Sigmoid node second: computes y, which Relu node first computes too",)),
    # an input nobody produces
    ([node("Add", ["x", "ghost"], ["y"], name="add")],
     ("Add node add: reads ghost, which no node computes",)),
    # too few inputs
    ([node("Conv", ["x"], ["y"], name="conv")],
     ("Conv node conv: has 1 input; Conv (opset 17) takes 2 to 3",)),
    # attributes of the wrong type (strides as a string), unknown, missing
    ([node("MaxPool", ["x"], ["y"], name="pool", kernel_shape=[2, 2], strides="ab")],
     ("MaxPool node pool: attribute strides is of type string; MaxPool (opset 17) takes ints",)),
    ([node("Relu", ["x"], ["y"], name="r", colour=3)],
     ("Relu node r: attribute colour is not one of Relu (opset 17)'s",)),
    ([node("MaxPool", ["x"], ["y"], name="pool")],
     ("MaxPool node pool: MaxPool (opset 17) needs attribute kernel_shape",)),
    # an activation op on a constant: neither folded nor silently dropped
    ([node("Relu", ["w"], ["r"], name="r"), node("Add", ["x", "r"], ["y"])],
     ("Relu node r: reads w, a constant where cnncost reads Relu on values computed",)),
    # a network output that does not depend on the input
    ([node("Relu", ["x"], ["y"]), node("Identity", ["w"], ["z"])],
     ("the output z is a constant, not computed from the input",)),
])
def test_broken_wiring_and_nodes(tmp_path, nodes, expect):
    outputs = ("y", "z") if any("z" in n.output for n in nodes) else ("y",)
    refused(save(tmp_path, model(nodes, outputs=outputs, initializers=[("w", floats(1))])),
            expect=expect)


def test_nodes_that_reach_no_output_warn_and_fail_with_strict(tmp_path):
    """A Sigmoid and a Tanh whose results nothing reads: counted (they are in the file, as
    YAML layers that feed nothing are) and named in the analysis's warning, which goes to
    stderr where the format has no place for it (CSV) and is an error under --strict."""
    import json

    path = save(tmp_path, model([node("Relu", ["x"], ["y"]),
                                 node("Sigmoid", ["x"], ["dead"], name="lost"),
                                 node("Tanh", ["dead"], ["dead2"], name="lost2")]))
    result = cli("analyze", path, "-f", "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    # relu, sigmoid and tanh: 3 layers of 1*3*8*8 = 192 outputs, each counted
    assert [(layer["op"], layer["output_elements"]) for layer in doc["layers"]] == [
        ("relu", 192), ("sigmoid", 192), ("tanh", 192)]
    warning = "1 layer(s) feed nothing and are not outputs, yet are counted: lost2"
    assert any(warning in w and path in w for w in doc["warnings"])
    csv = cli("analyze", path, "-f", "csv")
    assert csv.exit_code == 0 and warning in csv.stderr
    strict = cli("analyze", path, "--strict")
    assert strict.exit_code == 2 and strict.stdout == ""
    assert warning in strict.stderr and "(--strict)" in strict.stderr


@pytest.mark.parametrize("what", ["no nodes", "no inputs", "no outputs"])
def test_empty_graphs(tmp_path, what):
    nodes = [] if what == "no nodes" else [node("Relu", ["x"], ["y"])]
    inputs = [] if what == "no inputs" else None
    outputs = () if what == "no outputs" else ("x",) if what == "no nodes" else ("y",)
    if what == "no inputs":
        nodes = [node("Constant", [], ["y"], value=numpy_helper.from_array(floats(1, 3)))]
    refused(save(tmp_path, model(nodes, inputs=inputs, outputs=outputs)),
            expect=({"no nodes": "the graph has no nodes", "no inputs": "has no input",
                     "no outputs": "the graph has no outputs"}[what],))


# -- values that contradict each other ---------------------------------------------------------

def test_weights_that_contradict_the_input(tmp_path):
    """A 64-channel kernel (64, 64, 3, 3) on a 3-channel input: the conv would read 64."""
    path = save(tmp_path, model([node("Conv", ["x", "w"], ["y"], name="conv")],
                                initializers=[("w", floats(64, 64, 3, 3))]))
    refused(path, expect=("Conv node conv: weight w of shape (64, 64, 3, 3) reads 64 "
                          "channels (64 x group 1); the input has 3",))


def test_input_shape_that_contradicts_the_file(tmp_path):
    path = save(tmp_path, model([node("Relu", ["x"], ["y"])]))
    refused(path, "--input-shape", "1x4x8x8",
            expect=("--input-shape 1x4x8x8 contradicts", "[1, 3, 8, 8]"))
    with pytest.raises(CnncostError, match="contradicts"):
        cnncost.load_model(path, input_shape=(1, 4, 8, 8))


W = ("w", floats(4, 3, 3, 3))  # 4 output channels from the input's 3


@pytest.mark.parametrize("nodes,initializers,expect", [
    ([node("Conv", ["x", "w"], ["y"], pads=[1])], [W], "pads=[1]: cnncost reads 2-D"),
    ([node("Conv", ["x", "w"], ["y"], auto_pad="BOGUS")], [W], "auto_pad BOGUS is not one"),
    ([node("Conv", ["x", "w", "b"], ["y"])], [W, ("b", floats(7))],
     "bias b of shape (7,); the layer makes 4 channels"),
    ([node("Concat", ["x", "x"], ["y"], axis=99)], [], "axis 99 is outside the 4 dimensions"),
    ([node("Reshape", ["x", "s"], ["y"])], [("s", ints(0, 0, 0, 0, 0, 0))],
     "a 0 copies a dimension the input (1, 3, 8, 8) lacks"),
    ([node("Pad", ["x", "p"], ["y"])], [("p", ints(0, 0, 1))], "3 pads for 4 dimensions"),
    ([node("PRelu", ["x", "s"], ["y"])], [("s", floats(7))],
     "slope s of shape (7,) does not broadcast to the input's (1, 3, 8, 8)"),
    ([node("BatchNormalization", ["x", "w", "w", "w", "w"], ["y"])], [W],
     "w of shape (4, 3, 3, 3); the input has 3 channels"),
])
def test_attribute_values_an_op_cannot_take(tmp_path, nodes, initializers, expect):
    refused(save(tmp_path, model(nodes, initializers=initializers)), expect=(expect,))


@pytest.mark.parametrize("op,inputs,initializers,expect", [
    ("Clip", ["x", "low", "high"], [("high", floats())], "min (input 2) of Clip"),
    ("Pad", ["x", "low"], [], "pads (input 2) of Pad"),
    ("Resize", ["x", "", "low"], [], "scales (input 3) of Resize"),
])
def test_attributes_given_at_run_time(tmp_path, op, inputs, initializers, expect):
    """The value comes from the network (a mean of the input), not from a constant."""
    nodes = [node("ReduceMean", ["x"], ["low"], keepdims=0),
             node(op, inputs, ["y"], name="n")]
    path = save(tmp_path, model(nodes, initializers=initializers))
    refused(path, expect=(expect, "is computed by the network", "must be a constant"))


@pytest.mark.parametrize("scale", [math.nan, 0.0, -2.0, math.inf])
def test_resize_scales_that_are_not_positive_and_finite(tmp_path, scale):
    import numpy as np
    scales = np.array([1, 1, scale, scale], dtype=np.float32)
    path = save(tmp_path, model([node("Resize", ["x", "", "scales"], ["y"], name="up")],
                                initializers=[("scales", scales)]))
    refused(path, expect=("Resize node up: scales must be positive finite numbers",))


def test_declared_dims_of_two_to_the_62(tmp_path):
    huge = 2**62
    refused(save(tmp_path, model([node("Relu", ["x"], ["y"])], shape=(1, 3, huge, huge))),
            expect=("4611686018427387904",))
    weight = tensor("w", [huge, 3, 3, 3], raw=b"")
    refused(save(tmp_path, model([node("Conv", ["x", "w"], ["y"])], initializers=[weight]),
                 "w.onnx"), expect=("initializer w declares 4611686018427387904 x 3 x 3 x 3",))


def tensor(name, dims, raw=None, floats=()):
    """A float TensorProto as written, whatever its data (onnx.helper checks the size)."""
    proto = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=dims)
    if raw is not None:
        proto.raw_data = raw
    proto.float_data.extend(floats)
    return proto


def test_initializer_data_that_does_not_match_its_dims(tmp_path):
    """dims (8, 3, 3, 3) hold 216 floats = 864 bytes; the file gives 10 bytes, or 7 floats."""
    weight = tensor("w", [8, 3, 3, 3], raw=b"\0" * 10)
    refused(save(tmp_path, model([node("Conv", ["x", "w"], ["y"])], initializers=[weight])),
            expect=("initializer w declares 8 x 3 x 3 x 3 = 216 values, 864 bytes, and holds "
                    "10 bytes",))
    listed = tensor("w", [8, 3, 3, 3], floats=[0.5] * 7)
    refused(save(tmp_path, model([node("Conv", ["x", "w"], ["y"])], initializers=[listed]),
                 "listed.onnx"), expect=("= 216 values and holds 7",))


# -- constant folding is bounded before anything is allocated --------------------------------

@pytest.mark.parametrize("nodes,initializers,expect", [
    # ConstantOfShape of 10^6 x 10^6 = 10^12 elements
    ([node("ConstantOfShape", ["big"], ["c"], name="fill")], [("big", ints(10**6, 10**6))],
     "ConstantOfShape node fill: would make 1,000,000,000,000 values; cnncost folds "
     "constants of at most 10,000,000"),
    # Range with step 0 never ends
    ([node("Range", ["zero", "ten", "zero"], ["c"], name="range")],
     [("zero", ints(0)[0]), ("ten", ints(10)[0])], "Range node range: step 0"),
    # Range of 10^12 values
    ([node("Range", ["zero", "huge", "one"], ["c"], name="range")],
     [("zero", ints(0)[0]), ("huge", ints(10**12)[0]), ("one", ints(1)[0])],
     "Range node range: would make 1,000,000,000,000 values"),
    # Expand to 10^12 elements
    ([node("Expand", ["one", "big"], ["c"], name="expand")],
     [("one", ints(1)), ("big", ints(10**6, 10**6))],
     "Expand node expand: would make 1,000,000,000,000 values"),
    # broadcasting (10^6, 1) against (1, 10^6): 10^12 elements
    ([node("Mul", ["column", "row"], ["c"], name="outer")],
     [("column", floats(10**6, 1)), ("row", floats(1, 10**6))],
     "Mul node outer: would make 1,000,000,000,000 values"),
    # Concat of mismatched shapes (2, 3) and (4, 5) along axis 0
    ([node("Concat", ["a", "b"], ["c"], name="cat", axis=0)],
     [("a", floats(2, 3)), ("b", floats(4, 5))], "Concat node cat: cannot be folded"),
])
def test_folding_is_bounded(tmp_path, nodes, initializers, expect):
    """Each folded constant holds at most 10^7 values; nothing bigger is allocated."""
    nodes = nodes + [node("Reshape", ["x", "c"], ["y"])]
    path = save(tmp_path, model(nodes, initializers=initializers))
    refused(path, expect=(expect,))


# -- the file itself ---------------------------------------------------------------------------

@pytest.mark.parametrize("opset", [1, 6, 99])
def test_opsets_outside_the_supported_range(tmp_path, opset):
    path = save(tmp_path, model([node("Relu", ["x"], ["y"])], opset=opset))
    refused(path, expect=(f"opset {opset}", "cnncost reads opsets 7 to"))


def test_names_are_escaped_in_messages(tmp_path):
    name = "\x1b[31mred<script>alert(1)</script>"
    path = save(tmp_path, model([node("Conv", ["x"], ["y"], name=name)]))
    message = refused(path, expect=("\\x1b[31mred<script>",))
    assert "\x1b" not in message


def test_files_that_are_not_onnx(tmp_path):
    """Refused from their size or their first bytes, before onnx reads them: a 3 GiB sparse
    file (over the 2 GiB protobuf limit), random bytes, an empty file."""
    sparse = tmp_path / "huge.onnx"
    with open(sparse, "wb") as f:
        f.truncate(3 * 2**30)
    refused(str(sparse), expect=("3,221,225,472 bytes", "2,147,483,648"))
    noise = tmp_path / "noise.onnx"
    noise.write_bytes(bytes([0xff]) + random.Random(17).randbytes(4095))
    refused(str(noise), expect=("is not a readable ONNX model: it starts with byte 0xff",))
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    refused(str(empty), expect=("is empty",))


# -- time linear in nodes ----------------------------------------------------------------------

def test_a_long_chain_is_read_in_linear_time(tmp_path):
    """20,000 Sigmoids in a chain: 20,000 element-wise layers (quadratic reading took minutes;
    benchmarks/bench_onnx_chain.py times 1k to 100k)."""
    path = save(tmp_path, model(relu_chain(20_000)))
    start = time.perf_counter()
    loaded = cnncost.load_model(path)
    assert time.perf_counter() - start < SECONDS
    assert sum(1 for n in loaded.graph.nodes if n.op.op_name == "sigmoid") == 20_000
