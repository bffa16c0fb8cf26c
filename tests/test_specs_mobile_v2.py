"""MobileNet v2, MobileNeXt, MnasNet (torchvision) and MnasNet-A1 against their published figures.

Sources:
- MobileNet v2: Sandler et al. 2018 (arXiv:1801.04381), Table 2 (configuration) and Table 4
  (3.4M params, 300M multiply-adds; 1.4: 6.9M, 585M); torchvision models/mobilenetv2.py and
  its weight metadata (mobilenet_v2: 3,504,872 params, 0.30 GFLOPS); TF-slim
  research/slim/nets/mobilenet/README.md, "Mobilenet V2 Imagenet Checkpoints"
  (multiply-adds, "MACs (M)", and Parameters (M) of 22 checkpoints, 1001-class classifier,
  BN not counted).
- MnasNet (B1, torchvision): torchvision models/mnasnet.py weight metadata: mnasnet0_5
  2,218,512 params / _ops 0.104; mnasnet0_75 3,170,208 / 0.215; mnasnet1_0 4,383,312 / 0.314;
  mnasnet1_3 6,282,256 / 0.526 (GFLOPS = multiply-adds).
- MnasNet-A1: Tan et al. 2019 (arXiv:1807.11626), Table 1: 3.9M params, 312M multiply-adds;
  tensorflow/tpu models/official/mnasnet/README.md (params and multiply-adds per depth
  multiplier and resolution).
- MobileNeXt: Zhou et al. 2020 (arXiv:2007.02269), the table with Figure 1 (1.0: 3.4M, 300M;
  1.4: 6.1M, 590M; 0.75: 2.5M, 210M); the official README (yitu-opensource/MobileNeXt, also
  zhoudaquan/rethinking_bottleneck_design): 1.4: 6.1M, 590M; 1.0: 3.5M, 300M; 0.75: 2.5M, 210M;
  0.5: 2.1M, 110M; 0.35: 1.8M, 80M. The sources disagree with each other and with the official
  code (mnext.py); each agreement is pinned and each disagreement written down below.
"""

from __future__ import annotations

import pytest

from conftest import analyze_ref, layer_costs


def totals(ref: str):
    return analyze_ref(ref).totals


def shapes(ref: str) -> dict[str, tuple]:
    return {node.name: tuple(node.shape) for node in analyze_ref(ref).graph.nodes}


def without_bn(t) -> int:
    """Weights and biases: the parameter count of sources that leave batch norm out."""
    return t.weights + t.biases


# --- MobileNet v2 ---------------------------------------------------------------------------


def test_mobilenet_v2_torchvision():
    t = totals("mobilenet_v2")
    assert t.params == 3_504_872  # torchvision MobileNet_V2_Weights num_params
    assert round(t.mult_adds / 1e9, 2) == 0.30  # torchvision GFLOPS
    assert t.mult_adds == 300_774_272
    # the parts: 1000 biases (the classifier); BN gamma + beta on every conv's output channels:
    # stem 32; stage1 32 + 16; stage2 (96 + 96 + 24) + (144 + 144 + 24); stage3 (144 + 144 + 32)
    # + 2 x (192 + 192 + 32); stage4 (192 + 192 + 64) + 3 x (384 + 384 + 64); stage5
    # (384 + 384 + 96) + 2 x (576 + 576 + 96); stage6 (576 + 576 + 160) + 2 x (960 + 960 + 160);
    # stage7 960 + 960 + 320; last conv 1280
    bn_channels = (32 + 48 + 216 + 312 + 320 + 2 * 416 + 448 + 3 * 832 + 864 + 2 * 1248
                   + 1312 + 2 * 2080 + 2240 + 1280)
    assert t.biases == 1_000
    assert t.norm_params == 2 * bn_channels == 2 * 17_056
    # classifier: 1280 x 1000 weights + 1000 biases, 1280 x 1000 multiply-adds
    costs = layer_costs(analyze_ref("mobilenet_v2"))
    assert costs["classifier"].weights + costs["classifier"].biases == 1280 * 1000 + 1000
    # the stem: 3x3x3x32 = 864 weights, at 112x112: 864 * 12,544 = 10,838,016
    assert costs["stem.conv"].weights == 3 * 3 * 3 * 32 == 864
    assert costs["stem.conv"].mult_adds == 864 * 112 * 112 == 10_838_016


def test_mobilenet_v2_table_2_shapes():
    # Table 2: the output of each row (t, c, n, s) at 224x224
    s = shapes("mobilenet_v2")
    assert s["stem.relu6"] == (1, 32, 112, 112)
    assert s["stage1.block1.project_bn"] == (1, 16, 112, 112)
    assert s["stage2.block2.add"] == (1, 24, 56, 56)
    assert s["stage3.block3.add"] == (1, 32, 28, 28)
    assert s["stage4.block4.add"] == (1, 64, 14, 14)
    assert s["stage5.block3.add"] == (1, 96, 14, 14)
    assert s["stage6.block3.add"] == (1, 160, 7, 7)
    assert s["stage7.block1.project_bn"] == (1, 320, 7, 7)
    assert s["conv_last.relu6"] == (1, 1280, 7, 7)
    # t = 1 in the first row: no expansion conv; 17 bottlenecks, 10 of them with a residual
    assert "stage1.block1.expand.conv" not in s
    assert sum(1 for n in s if n.endswith(".project")) == 1 + 2 + 3 + 4 + 3 + 3 + 1 == 17
    assert sum(1 for n in s if n.endswith(".add")) == 0 + 1 + 2 + 3 + 2 + 2 + 0 == 10
    # the expansion is 6 x the input: 24 -> 144 in stage2.block2
    assert s["stage2.block2.expand.conv"] == (1, 144, 56, 56)


def test_mobilenet_v2_paper_table_4():
    t = totals("mobilenet_v2")
    # 3.4M parameters: the count without BN, 3,470,760, truncated (it rounds to 3.5M)
    assert without_bn(t) == 3_470_760
    assert without_bn(t) // 100_000 == 34
    # 300M multiply-adds
    assert t.mult_adds // 10**6 == 300


def test_mobilenet_v2_paper_table_4_width_1_4_disagrees():
    # The paper gives 6.9M and 585M for MobileNetV2 (1.4). The network of Table 2 at width 1.4
    # (channels make_divisible(c * 1.4, 8), last conv 1792) has 6.06M without BN, 6.11M with,
    # and 582M: the TF-slim README's 6.06M and 582M (test below), not the paper's figures.
    t = totals("mobilenet_v2@1.4_224")
    assert round(without_bn(t) / 1e6, 2) == 6.06
    assert round(t.params / 1e6, 2) == 6.11
    assert t.mult_adds // 10**6 == 582
    assert round(t.params / 1e6, 1) != 6.9 and t.mult_adds // 10**6 != 585


# TF-slim README: checkpoint, multiply-adds ("MACs (M)"), Parameters (M)
TF_SLIM_V2 = [
    ("1.4_224", 582, 6.06), ("1.3_224", 509, 5.34),
    ("1.0_224", 300, 3.47), ("1.0_192", 221, 3.47), ("1.0_160", 154, 3.47),
    ("1.0_128", 99, 3.47), ("1.0_96", 56, 3.47),
    ("0.75_224", 209, 2.61), ("0.75_192", 153, 2.61), ("0.75_160", 107, 2.61),
    ("0.75_128", 69, 2.61), ("0.75_96", 39, 2.61),
    ("0.5_224", 97, 1.95), ("0.5_192", 71, 1.95), ("0.5_160", 50, 1.95),
    ("0.5_128", 32, 1.95), ("0.5_96", 18, 1.95),
    ("0.35_224", 59, 1.66), ("0.35_192", 43, 1.66), ("0.35_160", 30, 1.66),
    ("0.35_128", 20, 1.66), ("0.35_96", 11, 1.66),
]


@pytest.mark.parametrize("checkpoint, macs_m, params_m", TF_SLIM_V2)
def test_mobilenet_v2_tf_slim_readme(checkpoint, macs_m, params_m):
    # TF-slim's classifier has 1001 classes; its parameter column leaves BN out; its
    # multiply-adds are truncated to whole millions (see the next test).
    t = totals(f"mobilenet_v2@{checkpoint},num_classes=1001")
    assert round(without_bn(t) / 1e6, 2) == params_m
    assert t.mult_adds // 10**6 == macs_m


def test_mobilenet_v2_tf_slim_conventions_spelled_out():
    # 1001 classes: one more output of the 1280-feature classifier, 1280 + 1 more parameters and
    # 1280 more multiply-adds than torchvision's 1000
    t = totals("mobilenet_v2@1.0_224,num_classes=1001")
    assert without_bn(t) == 3_470_760 + 1281 == 3_472_041  # README 3.47
    assert t.mult_adds == 300_774_272 + 1280 == 300_775_552  # README 300, i.e. truncated
    # Rounding instead of truncating would disagree with 8 of the 22 rows, e.g. 1.0_224
    # (300.78 -> 301) and 0.35_96 (11,935,408 -> 12, listed as 11).
    assert round(t.mult_adds / 1e6) == 301
    assert totals("mobilenet_v2@0.35_96,num_classes=1001").mult_adds == 11_935_408
    # All checkpoints keep the last conv at 1280 (finegrain mode). Scaling it with the width
    # (TF-slim's default without finegrain mode) gives 0.74M for 0.35_224, not the README's
    # 1.66M: last conv make_divisible(1280 * 0.35, 8) = 448, so the classifier alone shrinks
    # from 1280 * 1001 + 1001 to 448 * 1001 + 1001.
    fine = totals("mobilenet_v2@0.35_224,num_classes=1001")
    coarse = totals("mobilenet_v2@0.35_224,num_classes=1001,finegrain=false")
    assert round(without_bn(coarse) / 1e6, 2) == 0.74
    # last conv 112 -> 1280 or 448 (1x1, no bias), classifier 1280 or 448 -> 1001
    assert without_bn(fine) - without_bn(coarse) == 112 * (1280 - 448) + (1280 - 448) * 1001


def test_mobilenet_v2_width_rounding():
    # width 0.35: stem make_divisible(11.2, 8) = 16, first row make_divisible(5.6, 8) = 8,
    # 320 -> make_divisible(112, 8) = 112, last conv stays 1280
    s = shapes("mobilenet_v2@0.35_224")
    assert s["stem.conv"][1] == 16
    assert s["stage1.block1.project"][1] == 8
    assert s["stage7.block1.project"][1] == 112
    assert s["conv_last.conv"][1] == 1280
    # width 1.4: the last conv is make_divisible(1280 * 1.4, 8) = 1792
    assert shapes("mobilenet_v2@1.4_224")["conv_last.conv"][1] == 1792


# --- MnasNet (torchvision, B1) ---------------------------------------------------------------

TORCHVISION_MNASNET = [
    # variant, num_params, _ops (GFLOPS to 3 decimals)
    ("0.5", 2_218_512, 0.104),
    ("0.75", 3_170_208, 0.215),
    ("1.0", 4_383_312, 0.314),
    ("1.3", 6_282_256, 0.526),
]


@pytest.mark.parametrize("variant, params, gflops", TORCHVISION_MNASNET)
def test_mnasnet_torchvision(variant, params, gflops):
    t = totals(f"mnasnet@{variant}")
    assert t.params == params
    assert round(t.mult_adds / 1e9, 3) == gflops


def test_mnasnet_structure():
    a = analyze_ref("mnasnet")
    s = {node.name: tuple(node.shape) for node in a.graph.nodes}
    # six stacks of 3, 3, 3, 2, 4, 1 inverted residuals; the first of each has no residual
    assert sum(1 for n in s if n.endswith(".project")) == 3 + 3 + 3 + 2 + 4 + 1 == 16
    assert sum(1 for n in s if n.endswith(".add")) == 2 + 2 + 2 + 1 + 3 + 0 == 10
    assert s["sep.pointwise_bn"] == (1, 16, 112, 112)
    assert s["stack1.block3.add"] == (1, 24, 56, 56)
    assert s["stack2.block3.add"] == (1, 40, 28, 28)
    assert s["stack3.block3.add"] == (1, 80, 14, 14)
    assert s["stack4.block2.add"] == (1, 96, 14, 14)
    assert s["stack5.block4.add"] == (1, 192, 7, 7)
    assert s["stack6.block1.project_bn"] == (1, 320, 7, 7)
    # a 5x5 depthwise conv with expansion 3 in stack2: 24 * 3 = 72 channels, 72 * 25 weights
    costs = layer_costs(a)
    assert costs["stack2.block1.depthwise.conv"].weights == 72 * 5 * 5
    assert s["stack2.block1.depthwise.conv"] == (1, 72, 28, 28)


def test_mnasnet_stem_versions():
    # torchvision's version-1 stem (32 and 16 channels whatever alpha) at alpha 0.5 has
    # 2,312 more parameters than version 2 (16 and 8 channels), whose count is the published one.
    # v1: conv 3->32 (864 + BN 64), dw 32 (288 + 64), pw 32->16 (512 + 32), then stack1.block1
    #     16 -> 48 -> 16: 768 + 96, 432 + 96, 768 + 32                                = 4,016
    # v2: conv 3->16 (432 + 32), dw 16 (144 + 32), pw 16->8 (128 + 16), then stack1.block1
    #     8 -> 24 -> 16: 192 + 48, 216 + 48, 384 + 32                                 = 1,704
    v1 = totals("mnasnet@0.5,stem_v1=true")
    assert v1.params - 2_218_512 == 4_016 - 1_704 == 2_312
    # alpha 1.0 is the same network either way
    assert totals("mnasnet@1.0,stem_v1=true").params == 4_383_312


# --- MnasNet-A1 ------------------------------------------------------------------------------


def test_mnasnet_a1_paper_table_1():
    t = totals("mnasnet_a1")
    # 3.9M parameters (3,887,038 with BN; 3,853,550 without: both round to 3.9M)
    assert round(t.params / 1e6, 1) == 3.9
    assert round(without_bn(t) / 1e6, 1) == 3.9
    # 312M multiply-adds
    assert round(t.mult_adds / 1e6) == 312


def test_mnasnet_a1_squeeze_excite():
    a = analyze_ref("mnasnet_a1")
    costs = layer_costs(a)
    s = {node.name: tuple(node.shape) for node in a.graph.nodes}
    # SE only in the stages Figure 7 marks (40, 112, 160 channels): 3 + 2 + 3 blocks
    se_blocks = {n.rsplit(".se.", 1)[0] for n in s if ".se." in n}
    assert sorted(se_blocks) == [f"stage{k}.block{i}" for k, n in ((3, 3), (5, 2), (6, 3))
                                 for i in range(1, n + 1)]
    # stage3.block1: 24 -> expand x3 = 72; SE reduced from the block input: int(24 * 0.25) = 6
    assert costs["stage3.block1.se.reduce"].weights + costs["stage3.block1.se.reduce"].biases \
        == 72 * 6 + 6
    assert costs["stage3.block1.se.expand"].weights + costs["stage3.block1.se.expand"].biases \
        == 6 * 72 + 72
    # stage6.block2: 160 -> 960; reduced int(160 * 0.25) = 40
    assert s["stage6.block2.se.reduce"] == (1, 40, 1, 1)
    assert s["stage6.block2.se.mul"] == (1, 960, 7, 7)
    # first block: separable conv, no expansion, no residual (noskip) ; 32 -> 16
    assert "stage1.block1.expand.conv" not in s and "stage1.block1.add" not in s
    assert s["stage1.block1.project_bn"] == (1, 16, 112, 112)
    # residuals: 1 + 2 + 3 + 1 + 2 (stage 2 to 6) = 9
    assert sum(1 for n in s if n.endswith(".add")) == 9


# tensorflow/tpu mnasnet README: resolution, depth multiplier, Parameters (M), Multi-Adds (M)
TPU_README_A1 = [
    (224, 1.4, 6.1, 591.5), (224, 1.0, 3.9, 315.2), (224, 0.75, 2.9, 226.7),
    (224, 0.5, 2.1, 105.2), (224, 0.35, 1.7, 63.2),
    (192, 1.4, 6.1, 435.1), (192, 1.0, 3.9, 232.0), (192, 0.75, 2.9, 166.9),
    (192, 0.5, 2.1, 77.6), (192, 0.35, 1.7, 46.8),
    (160, 1.4, 6.1, 302.8), (160, 1.0, 3.9, 161.6), (160, 0.75, 2.9, 116.4),
    (160, 0.5, 2.1, 54.4), (160, 0.35, 1.7, 32.9),
    (128, 1.4, 6.1, 194.5), (128, 1.0, 3.9, 104.1), (128, 0.75, 2.9, 75.0),
    (128, 0.5, 2.1, 35.3), (128, 0.35, 1.7, 21.6),
    (96, 1.4, 6.1, 110.3), (96, 1.0, 3.9, 59.3), (96, 0.75, 2.9, 42.9),
    (96, 0.5, 2.1, 20.5), (96, 0.35, 1.7, 12.7),
]


@pytest.mark.parametrize("resolution, multiplier, params_m, madds_m", TPU_README_A1)
def test_mnasnet_a1_tpu_readme(resolution, multiplier, params_m, madds_m):
    t = totals(f"mnasnet_a1@depth_multiplier={multiplier},resolution={resolution}")
    # parameters agree (BN counted, as Keras counts trainable parameters)
    assert round(t.params / 1e6, 1) == params_m
    # Disagreement: the README's multiply-adds are 0.9% to 2.8% above ours in every row (315.2M
    # against 311.6M at 1.0, 224), while the paper's 312M for the same network agrees with ours.
    # We found no convention (BN, activations, SE, adds counted or not) that gives all 25 rows.
    gap = madds_m * 1e6 / t.mult_adds - 1
    assert 0.008 < gap < 0.028


# --- MobileNeXt ------------------------------------------------------------------------------


def test_mobilenext_official_readme_width_1():
    t = totals("mobilenext")
    assert t.params == 3_535_416
    assert round(t.params / 1e6, 1) == 3.5  # README 3.5M
    # Disagreement: 311M multiply-adds, not the README's (and paper's) 300M; the paper's 3.4M
    # is not ours either (3.54M with BN, 3.48M without)
    assert t.mult_adds == 311_342_592
    assert round(without_bn(t) / 1e6, 2) == 3.48


def test_mobilenext_one_960_block():
    # The paper's table has two 960 blocks, the official code three. One 960 -> 960 block at
    # 7x7: two depthwise 3x3 (2 * 9 * 960 = 17,280), 960 -> 160 and 160 -> 960 (2 * 153,600)
    # = 324,480 weights, BN 2 * (960 + 160 + 960 + 960) = 6,080; 324,480 * 49 = 15,899,520.
    three, two = totals("mobilenext"), totals("mobilenext@paper")
    assert three.params - two.params == 324_480 + 6_080 == 330_560
    assert three.mult_adds - two.mult_adds == 324_480 * 49 == 15_899_520
    # two blocks: 295M, i.e. the paper's 300M to the nearest 10M, but 3.2M parameters, not 3.4M
    assert (two.params, two.mult_adds) == (3_204_856, 295_443_072)
    assert round(two.mult_adds, -7) == 300_000_000
    assert round(two.params / 1e6, 1) == 3.2


@pytest.mark.parametrize("width, params_m, madds_m", [
    # README rows that agree with the official code, multiply-adds to the README's 10M
    ("1.4", 6.1, 590),
    ("1.0", 3.5, None),
    ("0.75", None, 210),
    ("0.35", None, 80),
])
def test_mobilenext_readme_rows_that_agree(width, params_m, madds_m):
    t = totals(f"mobilenext@{width}")
    if params_m is not None:
        assert round(t.params / 1e6, 1) == params_m
    if madds_m is not None:
        assert round(t.mult_adds, -7) == madds_m * 10**6


def test_mobilenext_readme_rows_that_disagree():
    # Official code against the README (and the paper's 2.5M for 0.75):
    # 0.75: 2,766,168 params (2.8M, README 2.5M); 0.5: 2,152,304 (2.2M; 2,123,008 = 2.1M
    # without BN) and 103,256,448 multiply-adds (100M, README 110M); 0.35: 1,913,976 (1.9M,
    # README 1.8M). The paper table's two 960 blocks give 2,575,848 (2.6M) and 1,868,168 (1.9M);
    # the other reading of the hidden width (make_divisible(inp // t, 16) in every block) only
    # adds parameters at these widths: no reading gives 2.5M or 1.8M.
    assert totals("mobilenext@0.75").params == 2_766_168
    half = totals("mobilenext@0.5")
    assert (half.params, without_bn(half), half.mult_adds) == (2_152_304, 2_123_008, 103_256_448)
    assert round(without_bn(half) / 1e6, 1) == 2.1
    assert totals("mobilenext@0.35").params == 1_913_976
    assert totals("mobilenext@0.75,n960=2").params == 2_575_848
    assert totals("mobilenext@0.35,n960=2").params == 1_868_168
    # the classifier: 1280 * 1000 + 1000 at every width
    assert layer_costs(analyze_ref("mobilenext@0.35"))["classifier"].weights == 1280 * 1000


def test_mobilenext_sandglass_blocks():
    a = analyze_ref("mobilenext")
    s = {node.name: tuple(node.shape) for node in a.graph.nodes}
    # first block (t = 2): dw 32, reduce to 32 // 2 = 16, expand to 96, dw with stride 2
    assert s["stage1.block1.body.reduce.conv"] == (1, 16, 112, 112)
    assert s["stage1.block1.body.dw2.conv"] == (1, 96, 56, 56)
    # 96 -> 144 (keep_3x3): 96 // 6 = 16 < 144 / 6 = 24, so make_divisible(24, 16) = 32; both
    # depthwise convs, no residual
    assert s["stage2.block1.body.reduce.conv"] == (1, 32, 56, 56)
    assert "stage2.block1.body.dw1.conv" in s and "stage2.block1.body.dw2.conv" in s
    assert "stage2.block1.add" not in s
    # 288 -> 384, stride 1, channels change: no depthwise conv at all
    assert "stage5.block1.body.dw1.conv" not in s and "stage5.block1.body.dw2.conv" not in s
    # stride 2 and channels change: only the second depthwise conv, with the stride
    assert "stage6.block1.body.dw1.conv" not in s
    assert s["stage6.block1.body.dw2.conv"] == (1, 576, 7, 7)
    # 960 -> 1280: ceil(1280 / 6) = 214 -> make_divisible(214, 16) = 208
    assert s["stage8.block1.body.reduce.conv"] == (1, 208, 7, 7)
    # residuals where stride 1 and channels equal: 2 + 2 + 3 + 3 + 2 blocks
    assert sum(1 for n in s if n.endswith(".add")) == 12


def test_mobilenext_identity_tensor_multiplier():
    full, half = analyze_ref("mobilenext"), analyze_ref("mobilenext@id-0.5")
    # no parameter and no multiply-add changes (the README lists 300M for every multiplier)
    assert half.totals.params == full.totals.params
    assert half.totals.mult_adds == full.totals.mult_adds
    # the residual adds half the channels (all residual channel counts are even): the adds'
    # element-wise work halves
    adds_full = sum(c.elementwise_ops for n, c in layer_costs(full).items() if n.endswith(".add"))
    adds_half = sum(c.elementwise_ops for n, c in layer_costs(half).items()
                    if n.endswith(".partial_add.add"))
    assert adds_full == 2 * adds_half
    # 192 channels at 28x28: x[:, :96] + out[:, :96], then cat with out[:, 96:]
    s = {node.name: tuple(node.shape) for node in half.graph.nodes}
    assert s["stage3.block2.partial_add.add"] == (1, 96, 28, 28)
    assert s["stage3.block2.partial_add.concat"] == (1, 192, 28, 28)
