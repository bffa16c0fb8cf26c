"""The token-plumbing ops of vision transformers (issue 19): their shape rules, their costs with
the arithmetic written out, their refusals, and their ONNX patterns read back as one op.

Notation as tests/test_ops.py: mem_access = input elements read + parameter (and constant)
elements read + output elements written. Swin-T (Liu et al. 2021; torchvision swin_t): stage 1
is a 56 x 56 map of 96 channels, windows of 7 x 7 = 49 tokens, 3 heads, shift 3. ViT-B/16:
196 patches of 768 channels, and a class token.

What the peer tools count for these ops was read from their sources (each op's ``counting``)
and confirmed by running them on one module that calls torch.roll, x[:, 0], x[:, idx],
x.amax, x.repeat, torch.where, torch.cat of an expanded class token and the window reshapes
(/work/torchenv: fvcore 0, reporting aten::amax, aten::repeat and aten::where unsupported and
ignoring the others; ptflops pytorch and aten 0; thop 0; torchinfo 0 mult-adds).
torchvision's SwinTransformerBlock(dim=16, num_heads=2, window_size=[4, 4], shift_size=[2, 2])
exported with torch.onnx.export(..., opset_version=17, dynamo=False) writes the two rolls as
Slice, Slice, Concat per axis and the windows as Reshape, Transpose, Reshape, as the ops here
write them; cnncost read that file back as roll, window_partition, ..., window_reverse, roll.
"""

from __future__ import annotations

import numpy as np
import pytest

from cnncost.core.errors import RuleError, SpecError
from cnncost.core.ir import Cost, total_cost
from cnncost.core.model import Model
from cnncost.frontends.builder import GraphBuilder, make_op
from cnncost.ops.base import lookup
from cnncost.ops.tensor import Identity, Split
from cnncost.ops.tokens import relative_index


def run(name: str, *shapes, **attributes):
    op = make_op(name, **attributes)
    out = op.infer(tuple(shapes))
    return out, op.cost(tuple(shapes), out)


STAGE1 = (1, 56, 56, 96)  # Swin-T stage 1, channels last: 56 * 56 * 96 = 301,056 elements
N1 = 56 * 56 * 96


# -- split along any axis, chunk ------------------------------------------------------------

def test_split_along_the_last_axis_is_a_transformers_q_k_v():
    # Swin-T stage 1's qkv: 64 windows x 49 tokens x 3 * 96; chunk(3, dim=-1): 96 each, a view
    out, cost = run("chunk", (64, 49, 288), index=2, parts=3, axis=-1)
    assert out == (64, 49, 96) and cost == Cost()
    assert lookup("chunk") is Split
    with pytest.raises(RuleError, match="parts=3 must divide the 100 elements of dimension 2"):
        run("split", (64, 49, 100), index=0, parts=3, axis=-1)
    with pytest.raises(RuleError, match=r"axis=0 must be a dimension of \(64, 49, 288\) after "
                                        r"the batch"):
        run("split", (64, 49, 288), index=0, axis=0)


# -- stochastic depth -----------------------------------------------------------------------

def test_stochastic_depth_and_drop_path_are_the_identity_at_inference():
    for name in ("stochastic_depth", "drop_path"):
        assert lookup(name) is Identity
        assert run(name, STAGE1) == (STAGE1, Cost())


# -- reduce_max -----------------------------------------------------------------------------

def test_reduce_max_compares_each_input_element_once():
    # (1, 96, 56, 56) max over channels: 301,056 comparisons, writes 56 * 56 = 3,136
    out, cost = run("reduce_max", (1, 96, 56, 56), axes=[1])
    assert out == (1, 1, 56, 56)
    assert cost == Cost(elementwise_ops=N1, input_reads=N1, output_writes=3_136)
    assert run("reduce_max", (1, 96, 56, 56), axes=[-1], keepdims=False)[0] == (1, 96, 56)
    with pytest.raises(RuleError, match="must be dimensions of .* after the batch"):
        run("reduce_max", (1, 96, 56, 56), axes=[0])


# -- gather ---------------------------------------------------------------------------------

def test_gather_of_the_class_token_reads_only_what_it_picks():
    # ViT-B/16's x[:, 0] of (1, 197, 768): one index, the axis disappears; it reads the 768
    # picked elements and the 1 index, and writes 768
    out, cost = run("gather", (1, 197, 768), axis=1)
    assert out == (1, 768)
    assert cost == Cost(input_reads=768, param_reads=1, output_writes=768)
    assert cost.mem_access == 768 + 1 + 768 == 1_537


def test_gather_of_q_k_v_and_by_a_tensor_of_indices():
    # Swin-T stage 1's qkv[0]: (3, 64 windows, 3 heads, 49 tokens, 32) on axis 0
    assert run("gather", (3, 64, 3, 49, 32), axis=0)[0] == (64, 3, 49, 32)
    # indices of shape [49] along the last axis: 49 picked elements a row
    out, cost = run("gather", (2, 10, 169), axis=-1, indices=[49])
    assert out == (2, 10, 49) and cost.input_reads == cost.output_writes == 2 * 10 * 49
    assert cost.param_reads == 49


def test_gather_refusals():
    with pytest.raises(RuleError, match=r"axis=3 is not a dimension of \(1, 197, 768\)"):
        run("gather", (1, 197, 768), axis=3)
    with pytest.raises(RuleError, match="leaves a scalar"):
        run("gather", (5,), axis=0)
    with pytest.raises(RuleError, match="indices must be at least 1"):
        make_op("gather", indices=[0])


# -- expand, tile ---------------------------------------------------------------------------

def test_expand_writes_every_element_of_its_output():
    # ViT's class token (1, 1, 768) to a batch of 8: reads 768, writes 8 * 768 = 6,144
    out, cost = run("expand", (1, 1, 768), shape=[8, 1, 768])
    assert out == (8, 1, 768) and cost == Cost(input_reads=768, output_writes=6_144)
    # ONNX's rules: the shape may be shorter, or 1 where the input is larger
    assert run("expand", (2, 3, 1), shape=[3, 4])[0] == (2, 3, 4)
    assert run("expand", (2, 3, 4), shape=[1, 1, 4])[0] == (2, 3, 4)
    with pytest.raises(RuleError, match=r"cannot expand \(1, 3, 4\) to \[2, 5, 4\]"):
        run("expand", (1, 3, 4), shape=[2, 5, 4])


def test_tile_repeats_along_each_dimension():
    # (2, 3, 4) x [1, 2, 1]: (2, 6, 4); reads 24, writes 48
    out, cost = run("tile", (2, 3, 4), repeats=[1, 2, 1])
    assert out == (2, 6, 4) and cost == Cost(input_reads=24, output_writes=48)
    with pytest.raises(RuleError, match=r"needs one count for each of the 3 dimensions"):
        run("tile", (2, 3, 4), repeats=[2, 2])
    with pytest.raises(RuleError, match="repeats must be at least 1"):
        make_op("tile", repeats=[1, 0, 1])


# -- where ----------------------------------------------------------------------------------

def test_where_selects_once_per_output_element():
    # Swin-T stage 1's logits (64, 3, 49, 49) = 460,992; the condition (1, 1, 49, 49) = 2,401
    logits = 64 * 3 * 49 * 49
    out, cost = run("where", (1, 1, 49, 49), (64, 3, 49, 49), (64, 3, 49, 49))
    assert out == (64, 3, 49, 49) and logits == 460_992
    assert cost == Cost(elementwise_ops=logits, input_reads=2_401 + 2 * logits,
                        output_writes=logits)
    with pytest.raises(RuleError, match="where cannot broadcast"):
        run("where", (1, 2, 49, 49), (64, 3, 49, 49), (64, 3, 49, 49))


# -- roll, window partition and reverse (Swin's shifted windows) ----------------------------

def test_roll_is_a_copy_of_the_map():
    # torch.roll(x, shifts=(-3, -3), dims=(1, 2)) on stage 1: reads and writes 301,056
    out, cost = run("roll", STAGE1, shifts=[-3, -3], axes=[1, 2])
    assert out == STAGE1 and cost == Cost(input_reads=N1, output_writes=N1)
    with pytest.raises(RuleError, match="2 shifts for 1 axes"):
        make_op("roll", shifts=[3, 3], axes=[1])
    with pytest.raises(RuleError, match=r"axes \[1, -3\] name a dimension twice"):
        run("roll", STAGE1, shifts=[3, 3], axes=[1, -3])
    with pytest.raises(RuleError, match="axes=4 is not a dimension"):
        run("roll", STAGE1, shifts=[3], axes=[4])


def test_window_partition_and_reverse_of_swin_t_stage_1():
    # 56 / 7 = 8 windows a side, 8 * 8 = 64 windows of 7 * 7 = 49 tokens: (64, 49, 96), a copy
    out, cost = run("window_partition", STAGE1, window=7)
    assert out == (64, 49, 96) and 64 * 49 * 96 == N1
    assert cost == Cost(input_reads=N1, output_writes=N1)
    back, cost = run("window_reverse", (64, 49, 96), window=7, height=56, width=56)
    assert back == STAGE1 and cost == Cost(input_reads=N1, output_writes=N1)
    # stage 4: a 7 x 7 map is one window
    assert run("window_partition", (1, 7, 7, 768), window=7)[0] == (1, 49, 768)


def test_window_refusals():
    with pytest.raises(RuleError, match="window=7 must divide the height 30 and the width 30"):
        run("window_partition", (1, 30, 30, 96), window=7)
    with pytest.raises(RuleError, match=r"needs a channels-last map \(N, H, W, C\)"):
        run("window_partition", (1, 3136, 96), window=7)
    with pytest.raises(RuleError, match=r"needs windows of tokens \(N \* windows, 49, C\)"):
        run("window_reverse", (64, 48, 96), window=7, height=56, width=56)
    with pytest.raises(RuleError, match="63 windows are not a whole number of 56 x 56 maps"):
        run("window_reverse", (63, 49, 96), window=7, height=56, width=56)


# -- rel_pos_bias ---------------------------------------------------------------------------

def test_rel_pos_bias_of_swin_t_stage_1():
    # window 7, 3 heads: a table of (2 * 7 - 1)^2 = 13 * 13 = 169 entries a head: 507 params;
    # added to the logits (64, 3, 49, 49) = 460,992: one add each; the gathered bias
    # 3 * 49 * 49 = 7,203 is read once
    logits = (64, 3, 49, 49)
    out, cost = run("rel_pos_bias", logits, window=7, heads=3)
    assert out == logits and cost.params == 13 * 13 * 3 == 507
    assert cost == Cost(biases=507, elementwise_ops=460_992, input_reads=460_992,
                        param_reads=7_203, output_writes=460_992)
    # the whole of Swin-T: heads 3, 6, 12, 24 in 2, 2, 6, 2 blocks: 169 * 138 = 23,322
    assert sum(run("rel_pos_bias", (1, h, 49, 49), window=7, heads=h)[1].params * depth
               for h, depth in ((3, 2), (6, 2), (12, 6), (24, 2))) == 169 * 138 == 23_322
    with pytest.raises(RuleError, match=r"needs attention logits \(M, 4, 49, 49\)"):
        run("rel_pos_bias", logits, window=7, heads=4)


def test_the_relative_position_index_is_torchvisions():
    # window 7: 49 x 49 = 2,401 values in 0 .. 168; token i to itself: (0 + 6) * 13 + (0 + 6)
    index = relative_index(7)
    assert len(index) == 2_401 and min(index) == 0 and max(index) == 168
    assert {index[i * 49 + i] for i in range(49)} == {6 * 13 + 6} == {84}
    # window 2 (torchvision's define_relative_position_index by hand, coords (0,0) (0,1)
    # (1,0) (1,1)): (dh + 1) * 3 + (dw + 1)
    assert relative_index(2) == [4, 3, 1, 0, 5, 4, 2, 1, 7, 6, 4, 3, 8, 7, 5, 4]


# -- class_token ----------------------------------------------------------------------------

def test_class_token_of_vit_b_16():
    # 196 patches of 768 -> 197 tokens; 768 params; reads 196 * 768 = 150,528 and the token's
    # 768, writes 197 * 768 = 151,296
    out, cost = run("class_token", (1, 196, 768))
    assert out == (1, 197, 768)
    assert cost == Cost(weights=768, input_reads=150_528, param_reads=768,
                        output_writes=151_296)
    with pytest.raises(RuleError, match=r"needs tokens \(N, L, C\)"):
        run("class_token", (1, 768, 14, 14))


# -- ONNX: the patterns PyTorch writes, read back as one op ----------------------------------

onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed")


def figures(model: Model) -> Cost:
    return total_cost(model.graph.node_costs())


def round_trip(tmp_path, builder: GraphBuilder) -> tuple[Model, Model]:
    from cnncost.frontends.onnx.onnx_export import export_onnx
    from cnncost.frontends.onnx.onnx_import import load_onnx

    model = Model(builder.graph())
    path = tmp_path / "m.onnx"
    path.write_bytes(export_onnx(model).SerializeToString())
    return model, load_onnx(path)


def test_swins_shifted_windows_read_back_op_for_op(tmp_path):
    """roll, window_partition, window_reverse, roll back: 4 ops written as 2 x (2 Slices +
    Concat) + 2 x (Reshape, Transpose, Reshape) + 2 x (2 Slices + Concat) = 18 ONNX nodes,
    read back as the 4 ops with equal figures."""
    b = GraphBuilder("shifted", (1, 8, 8, 16))
    x = b.add("shift", make_op("roll", shifts=[-2, -2], axes=[1, 2]), [0])
    x = b.add("partition", make_op("window_partition", window=4), [x])
    x = b.add("reverse", make_op("window_reverse", window=4, height=8, width=8), [x])
    b.add("unshift", make_op("roll", shifts=[2, 2], axes=[1, 2]), [x])
    model, back = round_trip(tmp_path, b)
    assert [n.op.op_name for n in back.graph.nodes[1:]] == [
        "roll", "window_partition", "window_reverse", "roll"]
    # the shifts as written: -2 back (the tail Slice starts at 2), 2 forward (at -2)
    assert [n.op for n in back.graph.nodes[1:]] == [n.op for n in model.graph.nodes[1:]]
    assert figures(back) == figures(model)


def _model_file(tmp_path, nodes, inits, in_shape, out_shape, opset=17):
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(in_shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(out_shape))],
        [numpy_helper.from_array(np.asarray(v), name) for name, v in inits.items()])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    path = tmp_path / "m.onnx"
    path.write_bytes(proto.SerializeToString())
    return path


def test_a_class_token_the_exporter_folded_reads_as_class_token(tmp_path):
    """torch.onnx.export folds class_token.expand(1, -1, -1) for a batch of 1: Concat of the
    (1, 1, C) initializer and the tokens; 16 params."""
    from onnx import helper

    from cnncost.frontends.onnx.onnx_import import load_onnx

    path = _model_file(tmp_path, [helper.make_node("Concat", ["token", "x"], ["y"], axis=1)],
                       {"token": np.zeros((1, 1, 16), np.float32)}, (1, 4, 16), (1, 5, 16))
    (node,) = load_onnx(path).graph.nodes[1:]
    assert node.op.op_name == "class_token" and node.shape == (1, 5, 16)
    assert figures(load_onnx(path)).params == 16


def test_reduce_max_reads_its_axes_as_an_input_from_opset_18(tmp_path):
    from onnx import helper

    from cnncost.frontends.onnx.onnx_import import load_onnx

    path = _model_file(tmp_path, [helper.make_node("ReduceMax", ["x", "axes"], ["y"],
                                                   keepdims=0)],
                       {"axes": np.array([-1], np.int64)}, (1, 4, 16), (1, 4), opset=18)
    (node,) = load_onnx(path).graph.nodes[1:]
    assert node.op == make_op("reduce_max", axes=[2], keepdims=False)


def test_a_gather_of_constants_stays_folded(tmp_path):
    """Gather of an initializer by a constant index, added to the input: folded into the
    constant of the add (the bias picked: 4 values), no gather node."""
    from onnx import helper

    from cnncost.frontends.onnx.onnx_import import load_onnx

    nodes = [helper.make_node("Gather", ["table", "index"], ["bias"], axis=0),
             helper.make_node("Add", ["x", "bias"], ["y"])]
    path = _model_file(tmp_path, nodes, {"table": np.ones((9, 4), np.float32),
                                         "index": np.array(2, np.int64)}, (1, 3, 4), (1, 3, 4))
    assert [n.op.op_name for n in load_onnx(path).graph.nodes[1:]] == ["const"]


@pytest.mark.parametrize("nodes, inits, message", [
    ([("Gather", ["table", "x_index"], {"axis": 0})], {"table": np.ones((9, 4), np.float32)},
     "its indices are computed by the network"),
    ([("Where", ["x", "x", "zero"], {})], {"zero": np.zeros((1, 3, 4), np.float32)},
     "a Where with 1 constant operand"),
])
def test_what_cannot_be_read_is_refused_with_a_reason(tmp_path, nodes, inits, message):
    from onnx import helper

    from cnncost.frontends.onnx.onnx_import import load_onnx

    made = [helper.make_node("Cast", ["x"], ["x_index"], to=7)] + \
        [helper.make_node(op, inputs, ["y"], **attrs) for op, inputs, attrs in nodes]
    path = _model_file(tmp_path, made, inits, (1, 3, 4), (1, 3, 4))
    with pytest.raises(SpecError, match=message):
        load_onnx(path)
