"""Every op's shape rule and cost rule, with the arithmetic written out.

Notation: N batch, C channels, H x W feature map; mem_access = input elements read +
parameter elements read + output elements written (what ShuffleNet V2 calls "MAC").
"""

from __future__ import annotations

import pytest

from cnncost.core.errors import RuleError
from cnncost.core.ir import Cost
from cnncost.ops.activation import (GELU, HardSigmoid, HardSwish, LeakyReLU, ReLU, ReLU6,
                                    Sigmoid, Softmax, Swish, Tanh)
from cnncost.ops.base import lookup
from cnncost.ops.conv import Conv2d, Linear
from cnncost.ops.elementwise import Add, Mul
from cnncost.ops.norm import BatchNorm, LayerNorm, LocalResponseNorm
from cnncost.ops.pool import AdaptiveAvgPool, AvgPool, GlobalAvgPool, MaxPool
from cnncost.ops.tensor import (ChannelShuffle, Concat, Dropout, Flatten, Identity, Slice,
                                Split)


def run(op, *shapes):
    out = op.infer(tuple(shapes))
    return out, op.cost(tuple(shapes), out)


# -- conv2d ---------------------------------------------------------------------------------

@pytest.mark.parametrize("h, w, c1, c2", [(56, 56, 128, 128), (56, 56, 36, 432), (7, 7, 1024, 1024),
                                          (14, 28, 3, 5)])
def test_conv_1x1_mem_access_is_the_shufflenet_v2_formula(h, w, c1, c2):
    # ShuffleNet V2, Sec. 2, G1: B = hw c1 c2 and memory access cost = hw(c1 + c2) + c1 c2
    out, cost = run(Conv2d(out_channels=c2, kernel=(1, 1)), (1, c1, h, w))
    assert out == (1, c2, h, w)
    assert cost.mult_adds == h * w * c1 * c2
    assert cost.mem_access == h * w * (c1 + c2) + c1 * c2
    assert cost.weights == c1 * c2 and cost.biases == 0


def test_conv_1x1_mem_access_numbers():
    # 56*56*(128+128) + 128*128 = 802,816 + 16,384 = 819,200
    _, cost = run(Conv2d(out_channels=128, kernel=(1, 1)), (1, 128, 56, 56))
    assert cost.mem_access == 819_200
    # 1:12 ratio at about the same mult_adds: 56*56*(36+432) + 36*432 = 1,467,648 + 15,552
    _, cost = run(Conv2d(out_channels=432, kernel=(1, 1)), (1, 36, 56, 56))
    assert cost.mem_access == 1_483_200


def test_conv_3x3_stride_2_same_padding():
    # MobileNet v1 Conv2d_0: 224 -> ceil(224/2) = 112; weights 3*3*3*32 = 864;
    # mult_adds 864 * 112*112 = 10,838,016
    out, cost = run(Conv2d(out_channels=32, kernel=(3, 3), stride=(2, 2)), (1, 3, 224, 224))
    assert out == (1, 32, 112, 112)
    assert cost.weights == 864
    assert cost.mult_adds == 10_838_016
    # reads 3*224*224 = 150,528 input + 864 weights, writes 32*112*112 = 401,408
    assert cost.mem_access == 150_528 + 864 + 401_408


def test_seed_worked_example_standard_vs_depthwise_separable():
    # Seed 000 (MobileNet v1 section): 12x12x3 -> 8x8x256 with 5x5 kernels, no padding.
    # standard: 5*5*3*256 = 19,200 weights; 19,200 * 8*8 = 1,228,800 multiplications
    out, full = run(Conv2d(out_channels=256, kernel=(5, 5), padding="valid"), (1, 3, 12, 12))
    assert out == (1, 256, 8, 8)
    assert (full.weights, full.mult_adds) == (19_200, 1_228_800)
    # depthwise 5*5*1*3 = 75 weights, 75 * 8*8 = 4,800; pointwise 3*256 = 768, 768*64 = 49,152
    dw_out, dw = run(Conv2d(out_channels=3, kernel=(5, 5), groups=3, padding="valid"),
                     (1, 3, 12, 12))
    _, pw = run(Conv2d(out_channels=256, kernel=(1, 1)), dw_out)
    assert dw.weights + pw.weights == 843
    assert dw.mult_adds + pw.mult_adds == 53_952


@pytest.mark.parametrize("size, kernel, stride, padding, dilation, expected", [
    (224, 3, 2, "same", 1, 112),  # ceil(224/2)
    (7, 3, 2, "same", 1, 4),  # ceil(7/2)
    (224, 7, 2, 3, 1, 112),  # floor((224 + 6 - 7)/2) + 1 = 111 + 1
    (12, 5, 1, "valid", 1, 8),  # 12 - 5 + 1
    (32, 3, 1, 2, 2, 32),  # dilated span 5: (32 + 4 - 5)/1 + 1
    (299, 3, 2, "valid", 1, 149),  # (299 - 3)//2 + 1
])
def test_conv_output_size(size, kernel, stride, padding, dilation, expected):
    pad = padding if isinstance(padding, str) else (padding, padding)
    out, _ = run(Conv2d(out_channels=8, kernel=(kernel, kernel), stride=(stride, stride),
                        padding=pad, dilation=(dilation, dilation)), (1, 8, size, size))
    assert out[2:] == (expected, expected)


def test_depthwise_conv():
    # 3x3 depthwise on 32 x 112 x 112: weights 3*3*32 = 288, mult_adds 288 * 112*112
    op = Conv2d(out_channels=32, kernel=(3, 3), groups=32)
    out, cost = run(op, (1, 32, 112, 112))
    assert cost.weights == 288
    assert cost.mult_adds == 288 * 112 * 112 == 3_612_672
    assert op.kind(((1, 32, 112, 112),)) == "conv2d depthwise 3x3"


def test_grouped_conv_and_bias():
    # 1x1 conv 240 -> 240 in 3 groups: weights 240 * 240/3 = 19,200; bias 240
    op = Conv2d(out_channels=240, kernel=(1, 1), groups=3, bias=True)
    out, cost = run(op, (1, 240, 28, 28))
    assert cost.weights == 19_200 and cost.biases == 240
    assert cost.mult_adds == 28 * 28 * 19_200
    assert cost.elementwise_ops == 240 * 28 * 28  # one bias add per output element
    # Eq. 2 of ShuffleNet V2 plus the bias read: hw(c1 + c2) + c1 c2 / g + c2
    assert cost.mem_access == 28 * 28 * (240 + 240) + 240 * 240 // 3 + 240
    assert op.kind(((1, 240, 28, 28),)) == "conv2d grouped 1x1"


def test_linear():
    # 1024 -> 1000 with bias: 1,024,000 weights + 1,000 biases, 1,024,000 mult_adds
    out, cost = run(Linear(out_features=1000), (1, 1024))
    assert out == (1, 1000)
    assert (cost.weights, cost.biases, cost.mult_adds) == (1_024_000, 1_000, 1_024_000)
    assert cost.mem_access == 1024 + 1_025_000 + 1000


def test_linear_batch_scales_work_not_weights():
    _, cost = run(Linear(out_features=10, bias=False), (8, 100))
    assert cost.weights == 1000 and cost.mult_adds == 8 * 1000


# -- normalisation and activations ------------------------------------------------------------

def test_batchnorm():
    # 64 channels: gamma, beta = 128 params; running mean, var = 128 buffers
    out, cost = run(BatchNorm(), (1, 64, 56, 56))
    n = 64 * 56 * 56
    assert out == (1, 64, 56, 56)
    assert (cost.norm_params, cost.buffers, cost.params) == (128, 128, 128)
    assert cost.elementwise_ops == 2 * n  # scale and shift
    assert cost.mem_access == n + 4 * 64 + n


def test_layer_norm_over_the_channels():
    # ConvNeXt-T's LayerNorm2d after its stem: 96 channels at 56x56 = 301,056 elements;
    # gamma and beta = 192 params, no buffers (the statistics come from the input)
    out, cost = run(LayerNorm(), (1, 96, 56, 56))
    n = 96 * 56 * 56
    assert out == (1, 96, 56, 56)
    assert (cost.norm_params, cost.buffers, cost.params, cost.mult_adds) == (192, 0, 192, 0)
    # per element: sum for the mean, subtract it, square, sum of squares, times 1/std = 5;
    # then scale and shift = 2: 7 x 301,056
    assert cost.elementwise_ops == 7 * n == 2_107_392
    assert cost.mem_access == n + 192 + n  # read the map and gamma, beta; write the map


def test_layer_norm_over_the_last_axis():
    # ViT-B/16's nn.LayerNorm on (1, 197, 768) tokens: 151,296 elements, 2 x 768 params
    out, cost = run(LayerNorm(axis="last"), (1, 197, 768))
    n = 197 * 768
    assert out == (1, 197, 768) and cost.norm_params == 2 * 768 == 1_536
    assert cost == Cost(norm_params=1_536, elementwise_ops=7 * n, input_reads=n,
                        param_reads=1_536, output_writes=n)
    # without gamma and beta: 5 per element, nothing to read but the tokens
    _, cost = run(LayerNorm(axis="last", affine=False), (1, 197, 768))
    assert cost == Cost(elementwise_ops=5 * n, input_reads=n, output_writes=n)
    # over the channels of the same tensor: its 197 "channels" are normalised instead
    assert run(LayerNorm(), (1, 197, 768))[1].norm_params == 2 * 197


def test_layer_norm_needs_a_dimension_to_normalise():
    with pytest.raises(RuleError, match=r"layer_norm needs a batch .* got \(8\)"):
        run(LayerNorm(), (8,))


def test_layer_norm_is_never_folded_into_a_conv():
    """Its statistics come from the conv's output at run time: --fuse bn-act folds a batch
    norm after a conv, not a layer norm (its family is element-wise, as LRN's)."""
    from cnncost.frontends.builder import GraphBuilder, make_op
    from cnncost.passes.fuse import fusion_hosts

    for norm, folded in (("batchnorm", True), ("layer_norm", False)):
        b = GraphBuilder("g", (1, 3, 8, 8))
        conv = b.add("conv", make_op("conv2d", out_channels=8, kernel=3), [0])
        b.add("norm", make_op(norm), [conv])
        assert (fusion_hosts(b.graph(), "bn-act")[2] == conv) is folded, norm


def test_what_the_tools_count_for_layer_norm():
    """nn.LayerNorm(8) on 2 x 8 x 14 x 14 = 3,136 elements (axis last: the last 8 are the
    channels of an NHWC map); LayerNorm2d (axis channels) is a subclass of nn.LayerNorm."""
    from cnncost.conventions.tools import CONVENTIONS, Site

    def counted(convention, functional=False, **attributes):
        op = LayerNorm(**attributes)
        shape = (2, 14, 14, 8) if op.axis == "last" else (2, 8, 14, 14)
        out, cost = run(op, shape)
        site = Site(op, (shape,), out, cost, functional, 2)
        return sum(item.count for item in CONVENTIONS[convention].count(site))

    n = 2 * 8 * 14 * 14
    # fvcore: aten::layer_norm, 5 per element with a weight, 4 without; module or function
    assert counted("fvcore", axis="last") == counted("fvcore") == 5 * n == 15_680
    assert counted("fvcore", functional=True, affine=False) == 4 * n
    # ptflops: the nn.LayerNorm hook counts 1 per element (it doubles for `affine`, which
    # LayerNorm lacks), divided by the batch; F.layer_norm is not patched; a subclass is
    # not hooked
    assert counted("ptflops", axis="last") == counted("ptflops", axis="last",
                                                      affine=False) == n // 2 == 1_568
    assert counted("ptflops", functional=True, axis="last") == counted("ptflops") == 0
    # thop: count_normalization, 2 per element, doubled for elementwise_affine; exact types
    assert counted("thop", axis="last") == 4 * n == 12_544
    assert counted("thop", axis="last", affine=False) == 2 * n
    assert counted("thop") == counted("thop", functional=True, axis="last") == 0
    # torchinfo: weight and bias (2 x 8) once a sample, any module: 2 x 16 = 32
    assert counted("torchinfo") == counted("torchinfo", axis="last") == 2 * 16 == 32
    assert counted("torchinfo", affine=False) == 0
    assert counted("ptflops-aten") == counted("paper") == 0


@pytest.mark.parametrize("cls", [ReLU, ReLU6, Sigmoid, HardSigmoid, HardSwish, Swish, Tanh, GELU,
                                 Softmax, LeakyReLU])
def test_activations_read_and_write_every_element_once(cls):
    # 16 * 10 * 10 = 1,600 elements: 1,600 ops, 1,600 read + 1,600 written
    out, cost = run(cls(), (1, 16, 10, 10))
    assert out == (1, 16, 10, 10)
    assert cost == Cost(elementwise_ops=1600, input_reads=1600, output_writes=1600)


def test_activation_aliases():
    assert lookup("silu") is Swish and lookup("hswish") is HardSwish


# -- element-wise between tensors -------------------------------------------------------------

def test_add():
    # residual add of two 24x56x56 maps: 75,264 adds; reads 2 * 75,264, writes 75,264
    n = 24 * 56 * 56
    out, cost = run(Add(), (1, 24, 56, 56), (1, 24, 56, 56))
    assert cost == Cost(elementwise_ops=n, input_reads=2 * n, output_writes=n)


def test_add_of_different_shapes_is_an_error():
    with pytest.raises(RuleError, match=r"add needs inputs of one shape; got \(1, 24, 56, 56\), "
                                        r"\(1, 32, 56, 56\)"):
        Add().infer(((1, 24, 56, 56), (1, 32, 56, 56)))


def test_mul_broadcasts_squeeze_excite_scale():
    # (1, 96, 14, 14) * (1, 96, 1, 1): 18,816 products; reads 18,816 + 96
    out, cost = run(Mul(), (1, 96, 14, 14), (1, 96, 1, 1))
    assert out == (1, 96, 14, 14)
    assert cost == Cost(elementwise_ops=18_816, input_reads=18_816 + 96, output_writes=18_816)


def test_mul_rejects_incompatible_shapes():
    with pytest.raises(RuleError, match="cannot broadcast"):
        Mul().infer(((1, 96, 14, 14), (1, 48, 1, 1)))


# -- data movement and views ---------------------------------------------------------------------

def test_concat():
    out, cost = run(Concat(), (1, 64, 55, 55), (1, 64, 55, 55))
    n = 64 * 55 * 55
    assert out == (1, 128, 55, 55)
    assert cost == Cost(input_reads=2 * n, output_writes=2 * n)


def test_concat_of_different_spatial_sizes_is_an_error():
    with pytest.raises(RuleError, match="differ only in channels"):
        Concat().infer(((1, 64, 28, 28), (1, 64, 14, 14)))


def test_split_and_slice_are_views():
    out, cost = run(Split(index=1, parts=2), (1, 116, 28, 28))
    assert out == (1, 58, 28, 28) and cost == Cost()
    out, cost = run(Slice(start=10, stop=30), (1, 116, 28, 28))
    assert out == (1, 20, 28, 28) and cost == Cost()


def test_split_must_divide_channels():
    with pytest.raises(RuleError, match="parts=2 must divide the 117 channels"):
        Split(index=0).infer(((1, 117, 28, 28),))


def test_slice_must_be_inside_channels():
    with pytest.raises(RuleError, match=r"slice \[10, 40\) is not inside the 32 channels"):
        Slice(start=10, stop=40).infer(((1, 32, 7, 7),))


def test_channel_shuffle_copies():
    n = 240 * 28 * 28
    out, cost = run(ChannelShuffle(groups=3), (1, 240, 28, 28))
    assert out == (1, 240, 28, 28) and cost == Cost(input_reads=n, output_writes=n)
    with pytest.raises(RuleError, match="groups=7 must divide the 240 channels"):
        ChannelShuffle(groups=7).infer(((1, 240, 28, 28),))


@pytest.mark.parametrize("op, expected", [(Flatten(), (1, 1024 * 7 * 7)),
                                          (Dropout(p=0.2), (1, 1024, 7, 7)),
                                          (Identity(), (1, 1024, 7, 7))])
def test_views_cost_nothing(op, expected):
    out, cost = run(op, (1, 1024, 7, 7))
    assert out == expected and cost == Cost()


# -- pooling ---------------------------------------------------------------------------------

def test_maxpool():
    # 3x3 stride 2 on 64x112x112, padding 1: floor((112 + 2 - 3)/2) + 1 = 56
    out, cost = run(MaxPool(kernel=(3, 3), stride=(2, 2), padding=(1, 1)), (1, 64, 112, 112))
    assert out == (1, 64, 56, 56)
    assert cost.elementwise_ops == 64 * 56 * 56 * 9  # 9 comparisons per output
    assert cost.mem_access == 64 * 112 * 112 + 64 * 56 * 56


def test_maxpool_ceil_mode():
    # SqueezeNet: 3x3 stride 2 on 111 with ceil_mode: ceil((111 - 3)/2) + 1 = 55
    out, _ = run(MaxPool(kernel=(3, 3), stride=(2, 2), ceil_mode=True), (1, 96, 111, 111))
    assert out == (1, 96, 55, 55)
    # 3x3 stride 2 on 56: ceil(53/2) + 1 = 28, and the last window starts inside (54 < 56)
    out, _ = run(MaxPool(kernel=(3, 3), stride=(2, 2), ceil_mode=True), (1, 8, 56, 56))
    assert out == (1, 8, 28, 28)


def test_avgpool_stride_defaults_to_kernel():
    out, cost = run(AvgPool(kernel=(2, 2)), (1, 16, 8, 8))
    assert out == (1, 16, 4, 4)
    assert cost.elementwise_ops == 16 * 4 * 4 * 4


def test_global_avgpool():
    out, cost = run(GlobalAvgPool(), (1, 1024, 7, 7))
    assert out == (1, 1024, 1, 1)
    assert cost == Cost(elementwise_ops=50_176, input_reads=50_176, output_writes=1024)


def test_kernel_larger_than_padded_input_is_an_error():
    with pytest.raises(RuleError, match=r"kernel 7 is larger than the height of the padded "
                                        r"input \(5 \+ 2\*0 = 5\)"):
        Conv2d(out_channels=8, kernel=(7, 7), padding="valid").infer(((1, 8, 5, 5),))


def test_groups_must_divide_channels():
    with pytest.raises(RuleError, match="groups=3 must divide in_channels=32"):
        Conv2d(out_channels=48, kernel=(1, 1), groups=3).infer(((1, 32, 8, 8),))
    with pytest.raises(RuleError, match="groups=4 must divide out_channels=30"):
        Conv2d(out_channels=30, kernel=(1, 1), groups=4)


def test_conv_needs_a_feature_map():
    with pytest.raises(RuleError, match=r"conv2d needs a feature map \(N, C, H, W\)"):
        Conv2d(out_channels=8, kernel=(1, 1)).infer(((1, 128),))


def test_linear_needs_vectors():
    with pytest.raises(RuleError, match=r"linear needs vectors \(N, features\)") as info:
        Linear(out_features=10).infer(((1, 1024, 1, 1),))
    assert info.value.hint and "flatten" in info.value.hint


def test_adaptive_avgpool():
    # VGG/AlexNet: 7x7 -> 7x7 reads each element once: 512*49 additions
    out, cost = run(AdaptiveAvgPool(size=(7, 7)), (1, 512, 7, 7))
    assert out == (1, 512, 7, 7)
    assert cost == Cost(elementwise_ops=512 * 49, input_reads=512 * 49, output_writes=512 * 49)
    # 5 -> 3 per axis: windows [0,2), [1,4), [3,5) have lengths 2 + 3 + 2 = 7; 7*7 per channel
    out, cost = run(AdaptiveAvgPool(size=(3, 3)), (1, 2, 5, 5))
    assert out == (1, 2, 3, 3) and cost.elementwise_ops == 2 * 7 * 7


def test_local_response_norm():
    # AlexNet's LRN after conv1: 96x55x55 = 290,400 elements, window 5:
    # (5 + 2) * 290,400 = 2,032,800 operations; no parameters; read and write every element
    out, cost = run(LocalResponseNorm(size=5), (1, 96, 55, 55))
    assert out == (1, 96, 55, 55)
    assert cost == Cost(elementwise_ops=2_032_800, input_reads=290_400, output_writes=290_400)


# -- ops the ONNX front end needs --------------------------------------------------------------

def _op(name, in_shapes, **attributes):
    from cnncost.frontends.builder import make_op

    op = make_op(name, **attributes)
    out = op.infer(tuple(in_shapes))
    return out, op.cost(tuple(in_shapes), out)


def test_asymmetric_padding():
    # TensorFlow's SAME for a 3x3 stride-2 conv on 224: pads 0 before, 1 after -> 112
    out, _ = _op("conv2d", [(1, 3, 224, 224)], out_channels=8, kernel=3, stride=2,
                 padding=[0, 0, 1, 1])
    assert out == (1, 8, 112, 112)  # (224 + 0 + 1 - 3) // 2 + 1
    out, _ = _op("maxpool", [(1, 8, 112, 112)], kernel=3, stride=2, padding=[0, 0, 1, 1])
    assert out == (1, 8, 56, 56)


def test_conv_transpose():
    # 32 -> 16 channels, 4x4 kernel, stride 2, padding 1: 14 -> (14-1)*2 - 2 + 3 + 1 = 28
    out, cost = _op("conv_transpose2d", [(1, 32, 14, 14)], out_channels=16, kernel=4,
                    stride=2, padding=1)
    assert out == (1, 16, 28, 28)
    assert cost.weights == 32 * 16 * 4 * 4 == 8_192
    # every input element times a 4*4*16 kernel: 32*14*14 * 256
    assert cost.mult_adds == 32 * 14 * 14 * 256 == 1_605_632


def test_matmul_of_two_activations():
    out, cost = _op("matmul", [(1, 8, 49, 32), (1, 8, 32, 49)])
    assert out == (1, 8, 49, 49)
    assert cost.mult_adds == 8 * 49 * 49 * 32 and cost.params == 0
    assert cost.input_reads == 2 * 8 * 49 * 32 and cost.output_writes == 8 * 49 * 49


def test_arithmetic_with_a_constant():
    # a learned per-channel bias: 16 biases, one add per element, the bias read once
    out, cost = _op("const", [(1, 16, 8, 8)], fn="add", shape=[1, 16, 1, 1], learned=True)
    assert out == (1, 16, 8, 8)
    assert (cost.biases, cost.weights, cost.elementwise_ops) == (16, 0, 16 * 64)
    assert cost.mem_access == 16 * 64 + 16 + 16 * 64
    # hardswish's "+ 3" at opset 11: a scalar, no parameter
    _, cost = _op("const", [(1, 16, 8, 8)], fn="add")
    assert cost.params == 0 and cost.param_reads == 1


def test_sub_div_broadcast_like_mul():
    out, cost = _op("div", [(1, 16, 8, 8), (1, 16, 1, 1)])
    assert out == (1, 16, 8, 8) and cost.elementwise_ops == 16 * 64
    assert cost.input_reads == 16 * 64 + 16


def test_clip_prelu_and_reduce_mean():
    _, cost = _op("clip", [(1, 4, 2, 2)], low=-1.0, high=1.0)
    assert cost.elementwise_ops == 16 and cost.params == 0
    _, cost = _op("prelu", [(1, 4, 2, 2)])
    assert cost.weights == 4 and cost.elementwise_ops == 16  # a slope per channel
    out, cost = _op("reduce_mean", [(1, 32, 7, 7)], axes=[2, 3])
    assert out == (1, 32, 1, 1) and cost.elementwise_ops == 32 * 49  # as global_avgpool


def test_reshape_transpose_pad_upsample():
    out, cost = _op("reshape", [(1, 116, 28, 28)], shape=[1, 2, 58, 28, 28])
    assert out == (1, 2, 58, 28, 28) and cost.mem_access == 0  # a view
    out, cost = _op("transpose", [(1, 2, 58, 28, 28)], perm=[0, 2, 1, 3, 4])
    assert out == (1, 58, 2, 28, 28) and cost.mem_access == 2 * 116 * 784  # read + write
    out, cost = _op("pad", [(1, 3, 224, 224)], pads=[0, 0, 1, 1])
    assert out == (1, 3, 225, 225)
    assert cost.mem_access == 3 * 224 * 224 + 3 * 225 * 225
    out, cost = _op("upsample", [(1, 8, 14, 14)], size=28, mode="linear")
    assert out == (1, 8, 28, 28) and cost.elementwise_ops == 4 * 8 * 28 * 28
    assert _op("upsample", [(1, 8, 14, 14)], size=28)[1].elementwise_ops == 0


def test_concat_and_slice_along_another_axis():
    out, _ = _op("concat", [(1, 4, 8, 8), (1, 4, 8, 3)], axis=3)
    assert out == (1, 4, 8, 11)
    out, cost = _op("slice", [(1, 4, 8, 8)], start=2, stop=6, axis=2)
    assert out == (1, 4, 4, 8) and cost.mem_access == 0
