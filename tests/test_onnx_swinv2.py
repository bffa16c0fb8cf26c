"""What PyTorch's exporters write for Swin V2's attention (torchvision's
ShiftedWindowAttentionV2), read back (issue 19): the continuous position bias MLP on
constants as one cpb_bias (the legacy exporter's MatMul of the coordinates table, the new
exporter's folded first layer), F.normalize as l2_normalize, the logit scale folded into a
learned constant, and the pad of a channels-last map to whole windows. Each pattern on a
small graph made here with onnx.helper, in the node order each exporter writes (recorded
from torch 2.14's exports of swin_v2_t), then the recorded exports (tests/data/onnx)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed")

import numpy as np  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from cnncost.core.errors import SpecError  # noqa: E402
from cnncost.frontends.onnx.onnx_import import load_onnx  # noqa: E402
from cnncost.ops.tokens import relative_index  # noqa: E402

WINDOW, HEADS, HIDDEN = 2, 3, 4  # a 2 x 2 window: 4 tokens, (2w - 1)^2 = 9 positions
TOKENS, SIDE = WINDOW * WINDOW, 2 * WINDOW - 1
LOGITS = (5, HEADS, TOKENS, TOKENS)  # 5 windows of attention logits


def model(nodes, shape, initializers=(), opset=17):
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.asarray(value), name) for name, value in initializers])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def node(op, inputs, outputs, **attrs):
    return helper.make_node(op, list(inputs), list(outputs), name=f"/{outputs[0]}", **attrs)


def read(tmp_path, proto):
    """The graph's nodes (the input left out) as (op name, node) and the summed cost."""
    path = tmp_path / "m.onnx"
    onnx.save(proto, str(path))
    graph = load_onnx(path).graph
    costs = graph.node_costs()
    return [(n.op.op_name, n) for n in graph.nodes[1:]], {
        field: sum(getattr(c, field) for c in costs)
        for field in ("params", "mult_adds", "elementwise_ops")}


def ops(nodes):
    return [name for name, _ in nodes]


def floats(*shape):
    return np.full(shape, 0.5, np.float32)


# -- the continuous position bias ---------------------------------------------------------------

def _after_relu(gather="Gather", index=None, scale=16.0):
    """From the ReLU to the Add to the logits, as both exporters write it (the new one with
    GatherND by (w^4, 1) indices)."""
    index = np.array(relative_index(WINDOW) if index is None else index, np.int64)
    picked = (node("Gather", ["rows", "index"], ["picked"], axis=0) if gather == "Gather" else
              node("GatherND", ["rows", "index"], ["picked"], batch_dims=0))
    nodes = [node("MatMul", ["hidden", "w2"], ["table_bias"]),
             node("Reshape", ["table_bias", "rows_shape"], ["rows"]), picked,
             node("Reshape", ["picked", "square_shape"], ["square"]),
             node("Transpose", ["square"], ["turned"], perm=[2, 0, 1]),
             node("Unsqueeze", ["turned", "zero"], ["bias"]),
             node("Sigmoid", ["bias"], ["sig"]), node("Mul", ["sig", "sixteen"], ["cpb"]),
             node("Add", ["x", "cpb"], ["y"])]
    consts = [("w2", floats(HIDDEN, HEADS)), ("rows_shape", np.array([-1, HEADS])),
              ("index", index if gather == "Gather" else index.reshape(-1, 1)),
              ("square_shape", np.array([TOKENS, TOKENS, HEADS])), ("zero", np.array([0])),
              ("sixteen", np.array(scale, np.float32))]
    return nodes, consts


def _cpb_legacy(**after):
    """The legacy exporter: MatMul of the table (1, 2w - 1, 2w - 1, 2) by the first weight,
    Add of its bias (the bias first), Relu."""
    nodes, consts = _after_relu(**after)
    return model([node("MatMul", ["table", "w1"], ["first"]),
                  node("Add", ["b1", "first"], ["first_b"]),
                  node("Relu", ["first_b"], ["hidden"]), *nodes], LOGITS,
                 [("table", floats(1, SIDE, SIDE, 2)), ("w1", floats(2, HIDDEN)),
                  ("b1", floats(HIDDEN)), *consts])


def _cpb_dynamo():
    """The new exporter folds the table's product by the first weight into one constant
    (1, 2w - 1, 2w - 1, hidden); its Add of the bias stays, then Relu; GatherND."""
    nodes, consts = _after_relu(gather="GatherND")
    return model([node("Add", ["folded", "b1"], ["first_b"]),
                  node("Relu", ["first_b"], ["hidden"]), *nodes], LOGITS,
                 [("folded", floats(1, SIDE, SIDE, HIDDEN)), ("b1", floats(HIDDEN)), *consts],
                 opset=20)


@pytest.mark.parametrize("proto", [_cpb_legacy(), _cpb_dynamo()], ids=["legacy", "dynamo"])
def test_the_position_bias_mlp_on_constants_is_one_cpb_bias(tmp_path, proto):
    """Linear(2, 4), ReLU, Linear(4, 3) on the 9 relative positions of a 2 x 2 window:
    (2 + 3) x 4 weights + 4 biases = 24 parameters; 9 x (2 + 3) x 4 = 180 multiply-adds,
    once whatever the 5 windows of logits. Element-wise: the bias and the ReLU, 9 x 4 each;
    the sigmoid and the x 16 of the gathered 3 x 4 x 4 bias; the add to the 5 x 3 x 4 x 4
    logits: 72 + 96 + 240 = 408."""
    got, cost = read(tmp_path, proto)
    assert ops(got) == ["cpb_bias"]
    op = got[0][1].op
    assert (op.window, op.heads, op.hidden) == (WINDOW, HEADS, HIDDEN)
    assert got[0][1].shape == LOGITS
    assert cost == {"params": (2 + 3) * 4 + 4,
                    "mult_adds": 9 * (2 + 3) * 4,
                    "elementwise_ops": 2 * 9 * 4 + 2 * 3 * 16 + 5 * 3 * 16}


@pytest.mark.parametrize("after", [{"index": list(range(16))}, {"scale": 8.0}],
                         ids=["another index", "another scale"])
def test_another_mlp_on_constants_stays_refused(tmp_path, after):
    """Only Swin V2's chain (its relative index, 16 * sigmoid) is read as cpb_bias; another
    MatMul of constants is refused as before, never dropped."""
    with pytest.raises(SpecError, match="MatMul node /first: reads table, a constant"):
        read(tmp_path, _cpb_legacy(**after))


# -- F.normalize --------------------------------------------------------------------------------

Q = (5, HEADS, TOKENS, 8)  # q of 5 windows, 3 heads, 4 tokens of 8 channels


def _normalize_legacy():
    """ReduceL2 (axes as an attribute), Clip(min eps), Expand to Shape(q), Div."""
    return model([node("ReduceL2", ["x"], ["norm"], axes=[-1], keepdims=1),
                  node("Clip", ["norm", "eps", ""], ["clamped"]),
                  node("Shape", ["x"], ["shape"]),
                  node("Expand", ["clamped", "shape"], ["spread"]),
                  node("Div", ["x", "spread"], ["y"])], Q,
                 [("eps", np.array(1e-12, np.float32))])


def _normalize_dynamo():
    """ReduceL2 with its axes as an input (opset 18), Clip, Expand to a constant shape."""
    return model([node("ReduceL2", ["x", "axes"], ["norm"], keepdims=1),
                  node("Clip", ["norm", "eps"], ["clamped"]),
                  node("Expand", ["clamped", "shape"], ["spread"]),
                  node("Div", ["x", "spread"], ["y"])], Q,
                 [("axes", np.array([-1])), ("eps", np.array(1e-12, np.float32)),
                  ("shape", np.array(Q))], opset=20)


@pytest.mark.parametrize("proto", [_normalize_legacy(), _normalize_dynamo()],
                         ids=["legacy", "dynamo"])
def test_f_normalize_is_one_l2_normalize(tmp_path, proto):
    """3 element-wise operations per element (square, sum, divide): 3 x 5 x 3 x 4 x 8."""
    got, cost = read(tmp_path, proto)
    assert ops(got) == ["l2_normalize"] and got[0][1].op.axis == -1
    assert cost == {"params": 0, "mult_adds": 0, "elementwise_ops": 3 * 5 * 3 * 4 * 8}


def test_a_reduce_l2_alone_is_still_unsupported(tmp_path):
    with pytest.raises(SpecError, match=r"does not support: ReduceL2 \(1\)"):
        read(tmp_path, model([node("ReduceL2", ["x"], ["y"], axes=[-1], keepdims=1)], Q))


# -- the logit scale, the pad to whole windows ----------------------------------------------------

def test_the_logit_scale_is_folded_into_a_learned_constant(tmp_path):
    """exp(clamp(logit_scale, max=log 100)), (heads, 1, 1), computed before the network runs
    (the new exporter folds it itself): the Mul of the logits by it is a learned constant of
    3 parameters, 1 operation per logit."""
    nodes = [node("Clip", ["scale", "", "high"], ["clamped"]), node("Exp", ["clamped"], ["e"]),
             node("Mul", ["x", "e"], ["y"])]
    consts = [("scale", np.full((HEADS, 1, 1), math.log(10), np.float32)),
              ("high", np.array(math.log(100), np.float32))]
    got, cost = read(tmp_path, model(nodes, LOGITS, consts))
    assert ops(got) == ["const"] and got[0][1].op.learned and got[0][1].op.fn == "mul"
    assert cost == {"params": 3, "mult_adds": 0, "elementwise_ops": 5 * 3 * 4 * 4}


def test_a_channels_last_map_padded_to_whole_windows(tmp_path):
    """Swin V2-T's windows of 8 on a 28 x 28 map: (N, H, W, C) padded by 4 rows below and 4
    columns right, ONNX's pads [0, 0, 0, 0, 0, 4, 4, 0] (starts, then ends, per dimension)."""
    nodes = [node("Pad", ["x", "pads"], ["y"], mode="constant")]
    got, _ = read(tmp_path, model(nodes, (1, 28, 28, 6),
                                  [("pads", np.array([0, 0, 0, 0, 0, 4, 4, 0]))]))
    assert ops(got) == ["pad"] and got[0][1].op.channels_last
    assert got[0][1].shape == (1, 32, 32, 6)


# -- the real exports -----------------------------------------------------------------------------

# the recorded exports (tests/data/onnx); their totals against the reference are in
# tests/test_onnx_transformers.py::test_torchvision_exports (swin_v2_t: 28,351,570 params, its
# position bias MLPs (12 blocks x (2 + heads) x 512 + 512) and logit scales (heads a block)
# included; 4,938,464,256 multiply-adds, the MLPs' matmuls included)


def _working_layers(path: Path) -> list[tuple[str, str, tuple[int, ...]]]:
    """The layers that compute (params, multiply-adds or element-wise operations): the
    exporters differ only in copies (the legacy one slices the unpadded 56 x 56 map whole)."""
    graph = load_onnx(path).graph
    return [(n.name, n.op.op_name, n.shape) for n, c in zip(graph.nodes, graph.node_costs())
            if c.params or c.mult_adds or c.elementwise_ops]


@pytest.mark.slow
def test_both_exporters_give_swin_v2_t_the_same_layers(exports):
    paths = [exports / f"swin_v2_t.{e}.static.onnx" for e in ("legacy17", "dynamo")]
    legacy, dynamo = (_working_layers(p) for p in paths)
    assert legacy == dynamo
    cpb = [name for name, op, _ in legacy if op == "cpb_bias"]
    assert len(cpb) == 2 + 2 + 6 + 2 and cpb[0] == "features.1.0.attn.cpb_bias"
    assert [op for _, op, _ in legacy].count("l2_normalize") == 2 * 12  # q and k a block


# -- the ops' arithmetic --------------------------------------------------------------------------

def _one(op_name, shape, **attrs):
    from cnncost.frontends.builder import GraphBuilder, make_op

    b = GraphBuilder("one", shape)
    b.add(op_name, make_op(op_name, **attrs), [0])
    graph = b.graph()
    return graph.nodes[1].shape, graph.node_costs()[1]


def test_cpb_bias_of_swin_v2_t_stage_1():
    """Windows of 8 (64 tokens, 15 x 15 = 225 relative positions), 3 heads, 512 hidden, on
    the 64 windows of a 64 x 64 padded map (batch 1): weights (2 + 3) x 512, biases 512;
    225 x (2 x 512 + 512 x 3) = 576,000 multiply-adds (FlopCounterMode: addmm 225 x 2 x 512
    = 230,400 and mm 225 x 512 x 3 = 345,600)."""
    out, cost = _one("cpb_bias", (64, 3, 64, 64), window=8, heads=3)
    assert out == (64, 3, 64, 64)
    assert (cost.weights, cost.biases) == ((2 + 3) * 512, 512)
    assert cost.mult_adds == 225 * 2 * 512 + 225 * 512 * 3 == 576_000
    # the bias and the ReLU on 225 x 512; the sigmoid and the x 16 on 3 x 64 x 64; the add
    assert cost.elementwise_ops == 2 * 225 * 512 + 2 * 3 * 64 * 64 + 64 * 3 * 64 * 64
    assert cost.param_reads == (2 + 3) * 512 + 512 + 2 * 225  # weights, bias, coordinates


def test_cpb_bias_runs_once_whatever_the_batch():
    """The MLP runs on constants: 8 images' logits add work only where the logits are."""
    _, one = _one("cpb_bias", (64, 3, 64, 64), window=8, heads=3)
    _, eight = _one("cpb_bias", (8 * 64, 3, 64, 64), window=8, heads=3)
    assert eight.mult_adds == one.mult_adds and eight.params == one.params
    assert eight.elementwise_ops - one.elementwise_ops == 7 * 64 * 3 * 64 * 64


def test_cpb_bias_needs_the_logits_of_its_windows():
    from cnncost.core.errors import RuleError

    with pytest.raises(RuleError, match=r"cpb_bias needs attention logits \(M, 3, 64, 64\)"):
        _one("cpb_bias", (64, 3, 49, 49), window=8, heads=3)


def test_l2_normalize_arithmetic_and_axis():
    """3 operations per element (square, sum, divide) along any axis after the batch."""
    from cnncost.core.errors import RuleError

    out, cost = _one("l2_normalize", (16, 6, 64, 32))
    assert out == (16, 6, 64, 32) and cost.params == 0 and cost.mult_adds == 0
    assert cost.elementwise_ops == 3 * 16 * 6 * 64 * 32
    assert cost.mem_access == 2 * 16 * 6 * 64 * 32  # read once, written once
    assert _one("l2_normalize", (2, 5, 7), axis=1)[0] == (2, 5, 7)
    for axis in (0, -3, 3):
        with pytest.raises(RuleError, match=f"axis={axis} must be a dimension"):
            _one("l2_normalize", (2, 5, 7), axis=axis)
