"""The attention-side ops of issue 19, with the arithmetic written out: token inputs, linear
over the last dimension, gelu's approximation, softmax's axis, attention, einsum, group norm
and instance norm; their refusals, what the peer tools count for them, and their ONNX forms.

The peer tools' figures were recorded with /work/torchenv (torch 2.14.1, fvcore
0.1.5.post20221221, ptflops 0.7.5, thop 0.1.1.post2209072238, torchinfo 1.8.0), one thread,
each layer wrapped in a module whose forward calls it on a random input:
FlopCountAnalysis(m, (x,)).total(); thop.profile(m, inputs=(x,))[0];
torchinfo.summary(m, input_data=[x]).total_mult_adds; get_model_complexity_info(m, shape,
backend="pytorch"|"aten", input_constructor=...) (a keyword input: ptflops' batch counter sees
none and divides by 1):

    F.scaled_dot_product_attention(q, q, q), q (2, 3, 5, 4), with or without a (2, 3, 5, 5)
        attn_mask: 0 in fvcore, ptflops, ptflops-aten, thop and torchinfo
    torch.einsum("bhld,bhmd->bhlm", x, x), x (2, 3, 5, 4): fvcore 600, ptflops-aten 600,
        ptflops 0, thop 0, torchinfo 0;  "bhld,bhld->bhld": fvcore 60, every other 0
    nn.GroupNorm(3, 6) on (2, 6, 5, 4): fvcore 1200 (960 not affine), ptflops 480 (240),
        ptflops-aten 0, thop 0, torchinfo 24 (0)
    nn.InstanceNorm2d(6) on (2, 6, 5, 4): fvcore 960 (1200 affine), ptflops 240 (480),
        ptflops-aten 0, thop 480 (960), torchinfo 0 (24)
    nn.Softmax(-1) on (2, 6, 5, 4): thop 660; F.softmax: thop 0; both ptflops 240
    nn.Linear(4, 7) on (2, 5, 4): fvcore 280, ptflops 350, ptflops-aten 350, thop 280,
        torchinfo 70
"""

from __future__ import annotations

import numpy as np
import pytest

from cnncost.conventions.tools import CONVENTIONS, Site
from cnncost.core.errors import RuleError, SpecError
from cnncost.core.ir import Cost
from cnncost.frontends.builder import GraphBuilder, make_op
from cnncost.ops.activation import GELU, Softmax
from cnncost.ops.attention import Attention, Einsum
from cnncost.ops.conv import Linear
from cnncost.ops.norm import GroupNorm, InstanceNorm

from conftest import build


def run(op, *shapes):
    out = op.infer(tuple(shapes))
    return out, op.cost(tuple(shapes), out)


def counted(convention: str, op, *shapes, functional: bool = False, batch: int = 1) -> int:
    out, cost = run(op, *shapes)
    site = Site(op, tuple(shapes), out, cost, functional, batch)
    return sum(item.count for item in CONVENTIONS[convention].count(site))


# -- token inputs ----------------------------------------------------------------------------

def test_a_spec_takes_tokens_as_its_input():
    # ViT-B/16 after its patch embedding and class token: 197 tokens of 768 channels
    graph = build("""
        name: tokens
        input: {shape: [197, 768]}
        layers:
          - {name: fc1, op: linear, out_features: 3072}
        """)
    assert graph.nodes[0].shape == (1, 197, 768)
    assert graph.nodes[1].shape == (1, 197, 3072)


def test_an_input_of_four_dimensions_is_refused():
    with pytest.raises(SpecError, match=r"input shape must be \[C, H, W\], \[L, C\] \(tokens\)"):
        build("""
            name: bad
            input: {shape: [1, 3, 8, 8]}
            layers:
              - {name: r, op: relu}
            """)


# -- linear over the last dimension ----------------------------------------------------------

def test_linear_on_tokens_acts_on_the_last_dimension():
    # ViT-B/16's MLP fc1 on (1, 197, 768): 768 x 3072 weights + 3072 biases; each of the
    # 197 x 3072 outputs sums 768 products
    out, cost = run(Linear(out_features=3072), (1, 197, 768))
    assert out == (1, 197, 3072)
    assert (cost.weights, cost.biases) == (768 * 3072, 3072) == (2_359_296, 3_072)
    assert cost.mult_adds == 197 * 3072 * 768 == 464_781_312
    assert cost.elementwise_ops == 197 * 3072  # the bias add


def test_linear_on_a_channels_last_map():
    # ConvNeXt-T stage 1's pwconv1 (nn.Linear(96, 384)) on a (1, 56, 56, 96) NHWC map
    out, cost = run(Linear(out_features=384), (1, 56, 56, 96))
    assert out == (1, 56, 56, 384)
    assert cost.mult_adds == 56 * 56 * 384 * 96 == 115_605_504
    assert cost.params == 96 * 384 + 384


def test_linear_needs_a_batch_and_features():
    with pytest.raises(RuleError, match=r"linear needs a batch and features .* got \(8\)"):
        run(Linear(out_features=3), (8,))


def test_what_the_tools_count_for_linear_on_tokens():
    # nn.Linear(4, 7) on (2, 5, 4): 70 outputs x 4 = 280 mult_adds; 70 bias adds
    op, x = Linear(out_features=7), (2, 5, 4)
    assert counted("fvcore", op, x, batch=2) == 280  # aten::linear, no bias
    assert counted("thop", op, x, batch=2) == 280  # in_features (the last dim) x y.numel()
    assert counted("ptflops-aten", op, x, batch=2) == 350  # addmm on (10, 4): + bias
    # torchinfo: (weights + biases) x batch, not x the 5 tokens: (28 + 7) x 2
    assert counted("torchinfo", op, x, batch=2) == 70
    # ptflops' hook: (4 x 7 + 7) x 10 = 350 for the batch, divided by it (recorded with a
    # batch of 1: 350)
    assert counted("ptflops", op, x, batch=2) == 175
    assert counted("ptflops", op, x, batch=1) == 350


# -- gelu and softmax ------------------------------------------------------------------------

def test_gelu_has_its_tanh_approximation_and_costs_one_op_an_element():
    n = 197 * 3072
    for approximate in ("none", "tanh"):
        _, cost = run(GELU(approximate=approximate), (1, 197, 3072))
        assert cost == Cost(elementwise_ops=n, input_reads=n, output_writes=n)
    with pytest.raises(RuleError, match="'erf' is not one of none, tanh"):
        make_op("gelu", approximate="erf")


def test_softmax_along_an_axis():
    # ViT-B/16's attention weights: 12 heads of 197 x 197, softmax over the last axis
    out, cost = run(Softmax(axis=-1), (1, 12, 197, 197))
    assert out == (1, 12, 197, 197) and cost.elementwise_ops == 12 * 197 * 197
    for axis in (0, 4, -5):
        with pytest.raises(RuleError, match=f"axis={axis} must be a dimension of"):
            run(Softmax(axis=axis), (1, 12, 197, 197))


def test_thop_counts_softmax_along_its_dim():
    # thop's count_softmax: nfeatures = x.size()[m.dim]; (3 x nfeatures - 1) a position.
    # nn.Softmax(-1) on (2, 6, 5, 4): 60 positions x 11 = 660 (recorded); over dim 1 (6):
    # 40 positions x 17 = 680
    assert counted("thop", Softmax(axis=-1), (2, 6, 5, 4), batch=2) == 660
    assert counted("thop", Softmax(axis=1), (2, 6, 5, 4), batch=2) == 40 * 17
    assert counted("thop", Softmax(axis=-1), (2, 6, 5, 4), functional=True, batch=2) == 0


# -- attention -------------------------------------------------------------------------------

VIT_HEADS = (1, 12, 197, 64)  # ViT-B/16, one block: N = 1, H = 12, L = S = 197, d = 64


def test_vit_b16_attention_in_one_block():
    out, cost = run(Attention(), VIT_HEADS, VIT_HEADS, VIT_HEADS)
    logits = 12 * 197 * 197  # N H L S = 465,708
    assert out == VIT_HEADS
    # q k^T: N H L S d; the weights times v: N H L S dv
    assert cost.mult_adds == 2 * 12 * 197 * 197 * 64 == 59_610_624
    assert cost.elementwise_ops == 2 * logits  # the scale and the softmax
    # one fused kernel: q, k, v read, the output written; no parameters
    assert cost == Cost(mult_adds=59_610_624, elementwise_ops=2 * logits,
                        input_reads=3 * 12 * 197 * 64, output_writes=12 * 197 * 64)
    assert Attention().latency_kind(12) == "linear"


def test_attention_with_a_bias_on_the_logits():
    # Swin-T stage 1: 64 windows of 49 tokens, 3 heads of 32 channels, a (1, 3, 49, 49)
    # relative position bias broadcast over the windows
    q = (64, 3, 49, 32)
    out, cost = run(Attention(), q, q, q, (1, 3, 49, 49))
    logits = 64 * 3 * 49 * 49
    assert out == q
    assert cost.mult_adds == logits * (32 + 32) == 29_503_488
    assert cost.elementwise_ops == 3 * logits  # the scale, the bias add, the softmax
    assert cost.input_reads == 3 * 64 * 3 * 49 * 32 + 3 * 49 * 49


def test_attention_with_other_key_and_value_sizes():
    # 10 queries of 8, 20 keys of 8, values of 16: 10 x 20 x (8 + 16) products a head
    out, cost = run(Attention(), (2, 4, 10, 8), (2, 4, 20, 8), (2, 4, 20, 16))
    assert out == (2, 4, 10, 16) and cost.mult_adds == 2 * 4 * 10 * 20 * (8 + 16)


@pytest.mark.parametrize("shapes, message", [
    (((1, 2, 5, 4), (1, 2, 5, 3), (1, 2, 5, 4)), "q's last dimension 4 must equal k's 3"),
    (((1, 2, 5, 4), (1, 2, 6, 4), (1, 2, 5, 4)), "k has 6 positions and v 5"),
    (((1, 2, 5, 4), (1, 3, 5, 4), (1, 3, 5, 4)), "the same leading"),
    (((1, 2, 5, 4), (1, 2, 5, 4), (2, 5, 4)), "of one rank"),
    (((5, 4), (5, 4), (5, 4)), "of one rank, at least"),
    (((1, 2, 5, 4),) * 3 + ((1, 2, 5, 4),), r"does not broadcast to the attention logits"),
])
def test_attention_refusals(shapes, message):
    with pytest.raises(RuleError, match=message):
        run(Attention(), *shapes)


def test_no_tool_counts_scaled_dot_product_attention():
    """Called as a function, 0 in every tool, as recorded (the module docstring); as a module
    (nn.MultiheadAttention) only ptflops' hook counts; cnncost's paper convention is its
    mult_adds."""
    x = (2, 3, 5, 4)
    for tool in ("fvcore", "ptflops", "ptflops-aten", "thop", "torchinfo"):
        assert counted(tool, Attention(), x, x, x, functional=True, batch=2) == 0, tool
        if tool != "ptflops":
            assert counted(tool, Attention(), x, x, x, batch=2) == 0, tool
    # ptflops' nn.MultiheadAttention hook, per sample (ptflops divides by the batch), with
    # D = 3 heads x 4 = 12, L = S = 5: projections 4 x 5 x 12^2 = 2,880; q k^T and weights x v
    # 3 x 5 x 5 x (4 + 4) = 600; biases (5 + 2 x 5) x 12 + 5 x 12 = 240; softmax 3 x 25 = 75;
    # the q scale 5 x 12 = 60 (tests/test_conventions_transformers.py pins it on ViT-B/16)
    assert counted("ptflops", Attention(), x, x, x, batch=2) == 2_880 + 600 + 240 + 75 + 60
    assert counted("paper", Attention(), x, x, x, batch=2) == 2 * 3 * 5 * 5 * (4 + 4) == 1_200


# -- einsum ----------------------------------------------------------------------------------

def test_einsum_contraction_counts_every_letter():
    # MaxViT's q k^T by einsum: b g h i d, b g h j d -> b g h i j; every letter once:
    # 1 x 64 x 2 x 49 x 49 x 32 products (each output element sums 32)
    op = Einsum(equation="bghid,bghjd->bghij")
    q = (1, 64, 2, 49, 32)
    out, cost = run(op, q, q)
    assert out == (1, 64, 2, 49, 49)
    assert cost.mult_adds == 64 * 2 * 49 * 49 * 32 == 9_834_496 and cost.elementwise_ops == 0
    assert op.latency_kind(64) == "linear"
    # as a matmul of the same operands: the same figure
    matmul = make_op("matmul")
    assert run(matmul, q, (1, 64, 2, 32, 49))[1].mult_adds == cost.mult_adds


def test_einsum_without_a_summed_letter():
    # an element-wise product: 1 per output element, no mult_adds, no latency kind
    op = Einsum(equation="nchw,nchw->nchw")
    out, cost = run(op, (2, 3, 4, 5), (2, 3, 4, 5))
    assert out == (2, 3, 4, 5) and (cost.mult_adds, cost.elementwise_ops) == (0, 120)
    assert op.latency_kind(3) == ""
    # an outer product: 4 x 5 outputs, 1 each
    assert run(Einsum(equation="i,j->ij"), (4,), (5,))[1].elementwise_ops == 20
    # one operand: a sum over the summed letter (1 per input element), a permutation (a copy)
    assert run(Einsum(equation="nlc->nc"), (2, 7, 3))[1].elementwise_ops == 42
    assert run(Einsum(equation="nlc->ncl"), (2, 7, 3))[1] == Cost(input_reads=42,
                                                                   output_writes=42)


@pytest.mark.parametrize("equation, message", [
    ("...c,...c->...", "an ellipsis"),
    ("ij,jk", "needs one '->'"),
    ("ii,ij->ij", "a letter repeated in one term"),
    ("ij,jk,kl->il", "has 3 operands"),
    ("ij,jk->iz", "output letters z are in no operand"),
    ("i1,jk->ik", "subscripts are letters"),
])
def test_einsum_equation_refusals(equation, message):
    with pytest.raises(RuleError, match=message):
        make_op("einsum", equation=equation)


def test_einsum_shape_refusals():
    with pytest.raises(RuleError, match="letter 'j' is 4 in one place and 5 in another"):
        run(Einsum(equation="ij,jk->ik"), (3, 4), (5, 6))
    with pytest.raises(RuleError, match="term 'ij' names 2 dimensions; its input is"):
        run(Einsum(equation="ij,jk->ik"), (3, 4, 1), (4, 6))
    with pytest.raises(RuleError, match="has 2 operand"):
        run(Einsum(equation="ij,jk->ik"), (3, 4))


def test_what_the_tools_count_for_einsum():
    x = (2, 3, 5, 4)
    contraction, product = Einsum(equation="bhld,bhmd->bhlm"), Einsum(equation="bhld,bhld->bhld")
    # fvcore: numpy einsum_path's flop / 2: 2 x 3 x 5 x 5 x 4 x 2 / 2 = 600; 120 x 1 / 2 = 60
    assert counted("fvcore", contraction, x, x, batch=2) == 600
    assert counted("fvcore", product, x, x, batch=2) == 60
    # ptflops-aten: the contraction's aten::bmm (600); the product's aten::mul is not counted
    assert counted("ptflops-aten", contraction, x, x, batch=2) == 600
    assert counted("ptflops-aten", product, x, x, batch=2) == 0
    for tool in ("ptflops", "thop", "torchinfo"):  # torch.einsum is not patched, no module
        assert counted(tool, contraction, x, x, batch=2) == 0, tool


# -- group norm and instance norm ------------------------------------------------------------

def test_group_norm():
    # 32 groups over 256 channels of a 14 x 14 map: 2 x 256 params; 7 ops an element
    out, cost = run(GroupNorm(groups=32), (1, 256, 14, 14))
    n = 256 * 14 * 14
    assert out == (1, 256, 14, 14)
    assert cost == Cost(norm_params=512, elementwise_ops=7 * n, input_reads=n, param_reads=512,
                        output_writes=n)
    assert run(GroupNorm(groups=32, affine=False), (1, 256, 14, 14))[1] == Cost(
        elementwise_ops=5 * n, input_reads=n, output_writes=n)
    with pytest.raises(RuleError, match="groups=3 must divide the 256 channels"):
        run(GroupNorm(groups=3), (1, 256, 14, 14))
    with pytest.raises(RuleError, match=r"group_norm needs channels and positions"):
        run(GroupNorm(groups=2), (1, 256))
    with pytest.raises(RuleError, match="groups must be at least 1"):
        GroupNorm(groups=0)


def test_instance_norm():
    # nn.InstanceNorm2d(64) (not affine by default) on a 32 x 32 map: 5 ops an element
    out, cost = run(InstanceNorm(), (1, 64, 32, 32))
    n = 64 * 32 * 32
    assert out == (1, 64, 32, 32)
    assert cost == Cost(elementwise_ops=5 * n, input_reads=n, output_writes=n)
    assert run(InstanceNorm(affine=True), (1, 64, 32, 32))[1].norm_params == 2 * 64
    with pytest.raises(RuleError, match="instance_norm needs channels and positions"):
        run(InstanceNorm(), (1, 64))


def test_the_statistics_norms_are_never_folded_into_a_conv():
    from cnncost.passes.fuse import fusion_hosts

    for norm, attributes in (("group_norm", {"groups": 2}), ("instance_norm", {})):
        b = GraphBuilder("g", (1, 3, 8, 8))
        conv = b.add("conv", make_op("conv2d", out_channels=8, kernel=3), [0])
        b.add("norm", make_op(norm, **attributes), [conv])
        assert fusion_hosts(b.graph(), "bn-act")[2] == 2 != conv, norm  # its own host


def test_what_the_tools_count_for_group_and_instance_norm():
    x, n = (2, 6, 5, 4), 2 * 6 * 5 * 4  # 240 elements, batch 2
    for affine, fvcore, thop, torchinfo in ((True, 1200, 960, 24), (False, 960, 480, 0)):
        norm = InstanceNorm(affine=affine)
        assert counted("fvcore", norm, x, batch=2) == fvcore  # 5 or 4 per element
        assert counted("thop", norm, x, batch=2) == thop  # count_normalization: 4 or 2
        assert counted("torchinfo", norm, x, batch=2) == torchinfo  # 2 x 6 x batch
        # ptflops' bn_flops_counter_hook: 2 or 1 per element, divided by the batch
        assert counted("ptflops", norm, x, batch=2) == (2 if affine else 1) * n // 2
        group = GroupNorm(groups=3, affine=affine)
        assert counted("fvcore", group, x, batch=2) == fvcore
        assert counted("thop", group, x, batch=2) == 0  # no rule for nn.GroupNorm
        assert counted("torchinfo", group, x, batch=2) == torchinfo
        assert counted("ptflops", group, x, batch=2) == (2 if affine else 1) * n // 2
        assert counted("ptflops-aten", group, x, batch=2) == 0


# -- ONNX: what PyTorch writes reads back as one op ------------------------------------------

onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed")


def _load(tmp_path, nodes, x_shape, y_shape, initializers=(), opset=17):
    from onnx import TensorProto, helper

    from cnncost.frontends.onnx.onnx_import import load_onnx

    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x_shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(y_shape))],
        list(initializers))
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    onnx.checker.check_model(proto)
    path = tmp_path / "m.onnx"
    path.write_bytes(proto.SerializeToString())
    return load_onnx(path)


def test_pytorch_group_norm_export_reads_as_group_norm(tmp_path):
    """nn.GroupNorm(2, 4) as torch.onnx.export (opset 17) writes it: Reshape [0, 2, -1],
    InstanceNormalization (ones, zeros), Reshape to Shape(x), Mul gamma, Add beta."""
    from onnx import helper, numpy_helper

    consts = [numpy_helper.from_array(np.array(v, dtype=t), name) for name, v, t in (
        ("groups", [0, 2, -1], np.int64), ("ones", [1.0, 1.0], np.float32),
        ("zeros", [0.0, 0.0], np.float32), ("gamma", np.ones((4, 1, 1)), np.float32),
        ("beta", np.zeros((4, 1, 1)), np.float32))]
    nodes = [helper.make_node("Reshape", ["x", "groups"], ["g"]),
             helper.make_node("InstanceNormalization", ["g", "ones", "zeros"], ["n"]),
             helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Reshape", ["n", "s"], ["b"]),
             helper.make_node("Mul", ["b", "gamma"], ["m"]),
             helper.make_node("Add", ["m", "beta"], ["y"])]
    model = _load(tmp_path, nodes, (1, 4, 3, 3), (1, 4, 3, 3), consts)
    (node,) = model.graph.nodes[1:]
    assert node.op == make_op("group_norm", groups=2)
    assert model.graph.node_costs()[1].params == 2 * 4


def test_instance_normalization_with_ones_and_zeros_is_not_affine(tmp_path):
    from onnx import helper, numpy_helper

    def read(scale: float):
        weights = [numpy_helper.from_array(np.full(4, scale, np.float32), "scale"),
                   numpy_helper.from_array(np.zeros(4, np.float32), "bias")]
        node = helper.make_node("InstanceNormalization", ["x", "scale", "bias"], ["y"])
        (read_node,) = _load(tmp_path, [node], (1, 4, 3, 3), (1, 4, 3, 3), weights).graph.nodes[1:]
        return read_node.op

    assert read(1.0) == make_op("instance_norm")  # as PyTorch writes nn.InstanceNorm2d(4)
    assert read(0.5) == make_op("instance_norm", affine=True)


def test_softmax_reads_its_axis_and_onnxs_default(tmp_path):
    from onnx import helper

    def read(opset: int, **attributes):
        node = helper.make_node("Softmax", ["x"], ["y"], **attributes)
        return _load(tmp_path, [node], (1, 3, 4, 5), (1, 3, 4, 5), opset=opset).graph.nodes[1].op

    assert read(17) == make_op("softmax", axis=-1)  # the default from opset 13
    assert read(17, axis=1) == make_op("softmax", axis=1)
    assert read(11, axis=3) == make_op("softmax", axis=3)
    with pytest.raises(SpecError, match="normalises axes 1 to 3 together"):
        read(11)  # before 13: axis 1 and every one after it, together


def test_onnx_gelu_reads_its_approximation(tmp_path):
    from onnx import helper

    node = helper.make_node("Gelu", ["x"], ["y"], approximate="tanh")
    model = _load(tmp_path, [node], (1, 8), (1, 8), opset=20)
    assert model.graph.nodes[1].op == make_op("gelu", approximate="tanh")


def test_attention_exports_unfused_and_reads_back_as_one(tmp_path):
    """Transpose(k), MatMul, Mul(scale), Add(bias), Softmax(-1), MatMul: one attention."""
    from cnncost.core.model import Model
    from cnncost.frontends.onnx.onnx_export import export_onnx
    from cnncost.frontends.onnx.onnx_import import load_onnx

    b = GraphBuilder("att", (1, 2, 4, 4))  # q = k = v = the bias: L = S = d = 4
    b.add("att", make_op("attention"), [0, 0, 0, 0])
    proto = export_onnx(Model(b.graph()))
    assert [n.op_type for n in proto.graph.node] == ["Transpose", "MatMul", "Mul", "Add",
                                                      "Softmax", "MatMul"]
    path = tmp_path / "att.onnx"
    path.write_bytes(proto.SerializeToString())
    (node,) = load_onnx(path).graph.nodes[1:]
    assert node.op == make_op("attention") and node.inputs == (0, 0, 0, 0)
