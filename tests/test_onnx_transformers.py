"""What PyTorch's exporters write for ConvNeXt, Swin, ViT and MaxViT, read back (issue 19):
each pattern on a small graph made here with onnx.helper (the node orders are those the legacy
exporter at opset 17 and the dynamo exporter write: recorded with torch 2.14 from
F.gelu(x, approximate=...) and a hand-written layer norm), then the real exports in
/work/zoo (skipped when absent; the lead moves them to tests/data)."""

from __future__ import annotations

import json
import math

import pytest

onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed")

import numpy as np  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from cnncost.core.errors import SpecError  # noqa: E402
from cnncost.frontends.onnx.onnx_import import load_onnx  # noqa: E402
from conftest import RECORDED, cli  # noqa: E402


def model(nodes, shape, initializers=(), opset=17, output="y"):
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.asarray(value), name) for name, value in initializers])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def node(op, inputs, outputs, **attrs):
    return helper.make_node(op, list(inputs), list(outputs), name=f"/{outputs[0]}", **attrs)


def scalar(name, value):
    return node("Constant", [], [name], value=numpy_helper.from_array(np.array(value, np.float32)))


def read(tmp_path, proto):
    """The graph's nodes (the input left out) as (op name, node) and the summed cost."""
    path = tmp_path / "m.onnx"
    onnx.save(proto, str(path))
    graph = load_onnx(path).graph
    nodes = [(n.op.op_name, n) for n in graph.nodes[1:]]
    costs = graph.node_costs()
    return nodes, {field: sum(getattr(c, field) for c in costs)
                   for field in ("params", "mult_adds", "elementwise_ops")}


def ops(nodes):
    return [name for name, _ in nodes]


# -- GELU ---------------------------------------------------------------------------------------

def _gelu_legacy(x="x"):
    """x * (erf(x / sqrt 2) + 1) * 0.5, as the legacy exporter writes nn.GELU()."""
    return [scalar("r2", math.sqrt(2)), node("Div", [x, "r2"], ["d"]), node("Erf", ["d"], ["e"]),
            scalar("one", 1.0), node("Add", ["e", "one"], ["a"]), node("Mul", [x, "a"], ["m"]),
            scalar("half", 0.5), node("Mul", ["m", "half"], ["y"])]


def _gelu_half_first():
    """0.5 * x first, then * (1 + erf(x * (1 / sqrt 2))): another order, the same GELU."""
    return [scalar("half", 0.5), node("Mul", ["x", "half"], ["h"]),
            scalar("k", 1 / math.sqrt(2)), node("Mul", ["x", "k"], ["d"]),
            node("Erf", ["d"], ["e"]), scalar("one", 1.0), node("Add", ["one", "e"], ["a"]),
            node("Mul", ["h", "a"], ["y"])]


def _gelu_tanh():
    """The legacy exporter's F.gelu(x, approximate="tanh") at opset 17, node for node."""
    return [node("Mul", ["x", "x"], ["sq"]), node("Mul", ["x", "sq"], ["cube"]),
            scalar("c", 0.044715), node("Mul", ["c", "cube"], ["s"]),
            node("Add", ["x", "s"], ["inner"]), scalar("k", math.sqrt(2 / math.pi)),
            node("Mul", ["k", "inner"], ["arg"]), node("Tanh", ["arg"], ["t"]),
            scalar("one", 1.0), node("Add", ["one", "t"], ["a"]),
            node("Mul", ["x", "a"], ["m"]), scalar("half", 0.5),
            node("Mul", ["half", "m"], ["y"])]


@pytest.mark.parametrize("nodes, approximate", [
    (_gelu_legacy(), "none"), (_gelu_half_first(), "none"), (_gelu_tanh(), "tanh")])
def test_gelu_written_out_is_one_gelu(tmp_path, nodes, approximate):
    got, cost = read(tmp_path, model(nodes, (1, 4, 8)))
    assert ops(got) == ["gelu"] and got[0][1].op.approximate == approximate
    assert cost["elementwise_ops"] == 1 * 4 * 8  # one operation per element, as an activation


def test_onnx_gelu_reads_both_forms(tmp_path):
    for approximate in ("none", "tanh"):
        got, _ = read(tmp_path, model([node("Gelu", ["x"], ["y"], approximate=approximate)],
                                      (1, 4, 8), opset=20))
        assert ops(got) == ["gelu"] and got[0][1].op.approximate == approximate


def test_something_else_with_erf_is_not_gelu(tmp_path):
    """x * (erf(x / sqrt 2) + 1) without the 0.5: not GELU (checked on values), so the parts
    are read, and Erf has no cnncost op: an error naming it."""
    nodes = _gelu_legacy()[:-2]
    nodes[-1] = node("Mul", ["x", "a"], ["y"])
    with pytest.raises(SpecError, match="Erf"):
        read(tmp_path, model(nodes, (1, 4, 8)))


# -- layer norm written out ---------------------------------------------------------------------

def _layer_norm(order="legacy", axes=(-1,), affine=True, size=8):
    """mean, x - mean, ^2, mean, + eps, sqrt, then gamma * d / root + beta: the legacy and the
    dynamo exporters write w * (x - u) / sqrt(v + eps) + b in this order; "div_first": the
    division before gamma."""
    head = [node("ReduceMean", ["x"], ["u"], axes=list(axes)), node("Sub", ["x", "u"], ["d"]),
            scalar("two", 2.0), node("Pow", ["d", "two"], ["p"]),
            node("ReduceMean", ["p"], ["v"], axes=list(axes)), scalar("eps", 1e-6),
            node("Add", ["v", "eps"], ["ve"]), node("Sqrt", ["ve"], ["root"])]
    if not affine:
        return head + [node("Div", ["d", "root"], ["y"])]
    if order == "legacy":
        tail = [node("Mul", ["g", "d"], ["gd"]), node("Div", ["gd", "root"], ["n"])]
    else:
        tail = [node("Div", ["d", "root"], ["dn"]), node("Mul", ["dn", "g"], ["n"])]
    return head + tail + [node("Add", ["n", "b"], ["y"])]


@pytest.mark.parametrize("order", ["legacy", "div_first"])
def test_layer_norm_written_out_is_one_layer_norm(tmp_path, order):
    weights = [("g", np.ones(8, np.float32)), ("b", np.zeros(8, np.float32))]
    got, cost = read(tmp_path, model(_layer_norm(order), (1, 4, 8), weights))
    assert ops(got) == ["layer_norm"]
    assert (got[0][1].op.axis, got[0][1].op.affine) == ("last", True)
    assert cost["params"] == 2 * 8  # gamma and beta, as LayerNormalization's
    assert cost["elementwise_ops"] == 7 * 4 * 8  # 7 per element when affine (docs/metrics.md)


def test_layer_norm_written_out_without_gamma_and_beta(tmp_path):
    got, cost = read(tmp_path, model(_layer_norm(affine=False), (1, 4, 8)))
    assert ops(got) == ["layer_norm"] and not got[0][1].op.affine
    assert cost == {"params": 0, "mult_adds": 0, "elementwise_ops": 5 * 4 * 8}


def test_layer_norm_written_out_over_the_channels_of_a_map(tmp_path):
    """LayerNorm2d by hand (mean over dim 1 of N, C, H, W; gamma and beta of shape C, 1, 1)."""
    weights = [("g", np.ones((6, 1, 1), np.float32)), ("b", np.zeros((6, 1, 1), np.float32))]
    got, cost = read(tmp_path, model(_layer_norm(axes=(1,)), (1, 6, 3, 3), weights))
    assert ops(got) == ["layer_norm"] and got[0][1].op.axis == "channels"
    assert cost["params"] == 2 * 6


# -- linear layers on tokens and maps, matmuls of activations ------------------------------------

@pytest.mark.parametrize("shape", [(1, 5, 8), (1, 3, 3, 8)])
def test_matmul_by_a_constant_is_a_linear_layer_on_the_last_dimension(tmp_path, shape):
    nodes = [node("MatMul", ["x", "w"], ["m"]), node("Add", ["b", "m"], ["y"])]
    weights = [("w", np.zeros((8, 16), np.float32)), ("b", np.zeros(16, np.float32))]
    got, cost = read(tmp_path, model(nodes, shape, weights))
    assert ops(got) == ["linear"] and got[0][1].shape == (*shape[:-1], 16)
    positions = math.prod(shape[:-1])
    assert cost["mult_adds"] == positions * 16 * 8  # numel(out) * in_features
    assert cost["params"] == 8 * 16 + 16


def test_matmul_of_two_activations_with_batch_dimensions(tmp_path):
    """q @ k^T of (1, 2 heads, 5 tokens, 4): 1 * 2 * 5 * 5 * 4 multiply-adds."""
    nodes = [node("Transpose", ["x"], ["kt"], perm=[0, 1, 3, 2]),
             node("MatMul", ["x", "kt"], ["y"])]
    got, cost = read(tmp_path, model(nodes, (1, 2, 5, 4)))
    assert ops(got) == ["transpose", "matmul"] and got[-1][1].shape == (1, 2, 5, 5)
    assert cost["mult_adds"] == 1 * 2 * 5 * 5 * 4


# -- constants added to attention logits --------------------------------------------------------

def _logits(bias_shape, logits_shape):
    """Add of a constant to logits, then Softmax over the last axis (logits of rank 5
    reshaped from a map: a network input has at most 4 dimensions)."""
    nodes = [node("Add", ["x", "bias"], ["s"]), node("Softmax", ["s"], ["y"], axis=-1)]
    consts = [("bias", np.zeros(bias_shape, np.float32))]
    if len(logits_shape) == 4:
        return model(nodes, logits_shape, consts)
    nodes[0] = node("Add", ["x5", "bias"], ["s"])
    return model([node("Reshape", ["x", "five"], ["x5"]), *nodes],
                 (logits_shape[0], math.prod(logits_shape[1:3]), *logits_shape[3:]),
                 consts + [("five", np.array(logits_shape))])


def test_a_folded_relative_position_bias_counts_its_table(tmp_path):
    """Swin-T stage 1 (window 7, 3 heads): the exporters fold the gather of the (13 * 13, 3)
    table into a (1, 3, 49, 49) constant; the parameters are the table's: 13 * 13 * 3 = 507,
    not the 3 * 49 * 49 = 7,203 values of the gathered copy."""
    got, cost = read(tmp_path, _logits((1, 3, 49, 49), (4, 3, 49, 49)))
    assert ops(got) == ["rel_pos_bias", "softmax"]
    assert (got[0][1].op.window, got[0][1].op.heads) == (7, 3)
    assert cost["params"] == 13 * 13 * 3 == 507


def test_a_relative_position_bias_on_logits_with_a_windows_dimension(tmp_path):
    """MaxViT's logits are (N, windows, heads, L, L): viewed as (N * windows, ...) around it."""
    got, cost = read(tmp_path, _logits((1, 2, 49, 49), (1, 4, 2, 49, 49)))
    assert ops(got) == ["reshape", "reshape", "rel_pos_bias", "reshape", "softmax"]
    assert got[-1][1].shape == (1, 4, 2, 49, 49) and cost["params"] == 13 * 13 * 2


def test_an_attention_mask_is_no_parameter(tmp_path):
    """Swin's shifted-window mask, (1, windows, 1, L, L) on (N, windows, heads, L, L)."""
    got, cost = read(tmp_path, _logits((1, 4, 1, 9, 9), (1, 4, 2, 9, 9)))
    assert ops(got) == ["reshape", "const", "softmax"] and not got[1][1].op.learned
    assert cost["params"] == 0


def test_a_learned_constant_elsewhere_stays_a_parameter(tmp_path):
    """ViT's position embedding: an Add of a (1, L, C) constant, not on logits."""
    nodes = [node("Add", ["x", "pos"], ["y"])]
    got, cost = read(tmp_path, model(nodes, (1, 5, 8), [("pos", np.ones((1, 5, 8), np.float32))]))
    assert ops(got) == ["const"] and cost["params"] == 5 * 8


# -- plumbing -----------------------------------------------------------------------------------

def test_a_strided_slice_picks_every_other_element(tmp_path):
    """Swin's patch merging x[:, 0::2]: 4 of 8 rows picked (a copy, as a gather)."""
    nodes = [node("Slice", ["x", "s", "e", "a", "st"], ["y"])]
    consts = [("s", np.array([0])), ("e", np.array([8])), ("a", np.array([1])),
              ("st", np.array([2]))]
    got, _ = read(tmp_path, model(nodes, (1, 8, 8, 3), consts))
    assert ops(got) == ["gather"] and got[0][1].shape == (1, 4, 8, 3)


def test_a_gather_of_a_whole_axis_in_order_is_a_view(tmp_path):
    """The dynamo exporter's as_strided: Gather of (768,) by indices 0..767 of shape
    (1, 768, 1, 1): a reshape, no copy."""
    nodes = [node("Reshape", ["x", "flat"], ["f"]), node("Gather", ["f", "i"], ["y"], axis=0)]
    consts = [("flat", np.array([-1])), ("i", np.arange(6).reshape(1, 6, 1, 1))]
    got, cost = read(tmp_path, model(nodes, (1, 6, 1, 1), consts))
    assert ops(got) == ["reshape", "reshape"] and got[-1][1].shape == (1, 6, 1, 1)
    assert cost == {"params": 0, "mult_adds": 0, "elementwise_ops": 0}


def test_zero_pads_of_a_token_map_are_no_op(tmp_path):
    """Swin pads (N, H, W, C) to whole windows; at 224 x 224 the pads are all zero."""
    nodes = [node("Pad", ["x", "p"], ["q"]), node("Relu", ["q"], ["y"])]
    got, _ = read(tmp_path, model(nodes, (1, 7, 7, 4), [("p", np.zeros(8, np.int64))]))
    assert ops(got) == ["relu"]


def test_shape_and_mask_arithmetic_is_folded(tmp_path):
    """Shape of a constant, Mod, ScatterND, Not, Where: the mask of Swin's shifted windows
    is computed from constants before the network runs, so it is folded, not built."""
    nodes = [node("Shape", ["c"], ["sc"]), node("Mod", ["sc", "three"], ["m"], fmod=0),
             node("ScatterND", ["c", "idx", "upd"], ["sn"]), node("Equal", ["sn", "zero"], ["eq"]),
             node("Not", ["eq"], ["ne"]), node("Where", ["ne", "minus", "sn"], ["mask"]),
             node("Add", ["x", "mask"], ["s"]), node("Softmax", ["s"], ["y"], axis=-1)]
    consts = [("c", np.zeros((4, 4), np.float32)), ("three", np.array([3], np.int64)),
              ("idx", np.array([[1]], np.int64)), ("upd", np.ones((1, 4), np.float32)),
              ("zero", np.array(0, np.float32)), ("minus", np.array(-100, np.float32))]
    got, cost = read(tmp_path, model(nodes, (1, 2, 4, 4), consts))
    assert ops(got) == ["const", "softmax"] and cost["params"] == 0


# -- the real exports ---------------------------------------------------------------------------

# representative exports of each family, recorded by benchmarks/record_torchvision.py --zero
# (tests/data/onnx/README.md); the whole zoo runs in benchmarks/bench_zoo.py (docs/zoo.md)
REFERENCE = json.loads((RECORDED / "reference.json").read_text())["models"]
# MaxViT's 11 MBConv blocks start with a BatchNorm2d that follows no conv (pre-norm): not
# folded, it keeps gamma and beta (2 x 2,240 channels); every other BN is folded into its conv
UNFOLDED_BN_CHANNELS = {"maxvit_t": 64 + 64 + 64 + 128 + 128 + 4 * 256 + 256 + 512}  # 2,240
MODELS = ["convnext_tiny", "swin_t", "swin_v2_t", "vit_b_16", "maxvit_t"]


@pytest.mark.slow
@pytest.mark.parametrize("exporter", ["legacy17", "dynamo"])
@pytest.mark.parametrize("name", MODELS)
def test_torchvision_exports(exports, name, exporter):
    path = exports / f"{name}.{exporter}.static.onnx"
    reference = REFERENCE[name]
    result = cli("analyze", str(path), "-f", "json")  # no --allow-unknown
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout)["totals"]
    # conv, linear and attention matmuls: FlopCounterMode's count (SDPA on its math backend);
    # e.g. ViT-B/16's attention, 12 layers x (Q.K^T + A.V) = 12 x 2 x (12 x 197 x 197 x 64),
    # is its bmm entry, 715,327,488
    assert got["mult_adds"] == reference["flop_counter_mult_adds"]
    folded = reference["batchnorm_channels_used_in_eval_forward"] - \
        UNFOLDED_BN_CHANNELS.get(name, 0)
    assert got["params"] == reference["params"] - folded
