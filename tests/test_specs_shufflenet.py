"""ShuffleNet v1 and v2 reproduce their published figures.

Sources:
- ShuffleNet v1: Zhang, Zhou, Lin, Sun, "ShuffleNet: An Extremely Efficient Convolutional
  Neural Network for Mobile Devices", CVPR 2018, arXiv:1707.01083: Table 1 (architecture;
  complexity 143M / 140M / 137M / 133M / 137M for g = 1, 2, 3, 4, 8 at 1x), Table 2 and Table 5
  (ShuffleNet 2x (g=3) 524 MFLOPs, 1.5x (g=3) 292 MFLOPs; 140 / 38 / 13 MFLOPs as the nominal
  budgets of 1x / 0.5x / 0.25x).
- The authors' code, megvii-model/ShuffleNet-Series: ShuffleNetV1/network.py, blocks.py and
  README.md (FLOPs / #Params: 2.0x g=3 524M / 5.4M, 2.0x g=8 522M / 6.5M, 1.5x g=3 292M / 3.4M,
  1.5x g=8 290M / 4.3M, 1.0x g=3 138M / 1.9M, 1.0x g=8 138M / 2.4M, 0.5x g=3 38M / 0.7M,
  0.5x g=8 40M / 1.0M); ShuffleNetV2/network.py, blocks.py and README.md (2.0x 591M / 7.4M,
  1.5x 299M / 3.5M, 1.0x 146M / 2.3M, 0.5x 41M / 1.4M).
- mmpretrain (MMClassification 0.x) documentation, ShuffleNet V1 page: 1.0x (group=3) 1.87M
  params (its implementation is the authors' architecture with a biased classifier).
- ShuffleNet v2: Ma, Zhang, Zheng, Sun, ECCV 2018, arXiv:1807.11164, Table 5 (FLOPs 41M / 146M /
  299M / 591M, # of weights 1.4M / 2.3M / 3.5M / 7.4M for 0.5x / 1x / 1.5x / 2x).
- torchvision, torchvision/models/shufflenetv2.py: num_params 1,366,792 / 2,278,604 /
  3,503,624 / 7,393,996 and _ops 0.04 / 0.145 / 0.296 / 0.583 GFLOPS (multiply-adds), shown as
  0.04 / 0.14 / 0.30 / 0.58 in the documentation's table of weights.

FLOPs in all of these are multiply-adds (cnncost's mult_adds).
"""

from __future__ import annotations

import math

import pytest

from cnncost.core.errors import SpecError
from conftest import analyze_ref, layer_costs

M = 1e6

# --------------------------------------------------------------------------------------------
# Independent re-derivations of the counts from the papers' descriptions (plain arithmetic,
# no cnncost): they check that the specs build what the header comments say, layer for layer.

V1_TABLE1 = {1: 144, 2: 200, 3: 240, 4: 272, 8: 384}  # stage 2 output channels at 1x


def v1_by_hand(g: int, scale: float, stem: int, classifier: bool = True,
               fc_bias: bool = False) -> tuple[int, int]:
    """(params with BN, mult_adds) of ShuffleNet v1 at 224x224, authors' code."""
    params = 3 * 3 * 3 * stem + 2 * stem          # conv1 + its BN
    mult_adds = 3 * 3 * 3 * stem * 112 * 112
    c_in, h = stem, 56                             # after the 3x3/2 maxpool
    for stage, repeats in enumerate([4, 8, 4]):
        out = int(V1_TABLE1[g] * scale) * 2 ** stage
        mid = out // 4
        for i in range(repeats):
            stride = 2 if i == 0 else 1
            h_out = h // stride
            g1 = 1 if stage == 0 and i == 0 else g  # first pointwise of stage 2 not grouped
            branch_out = out - c_in if stride == 2 else out
            pw1, dw, pw2 = c_in * mid // g1, 3 * 3 * mid, mid * branch_out // g
            params += pw1 + dw + pw2 + 2 * (mid + mid + branch_out)
            mult_adds += pw1 * h * h + (dw + pw2) * h_out * h_out
            c_in, h = out, h_out
    if classifier:
        params += c_in * 1000 + (1000 if fc_bias else 0)
        mult_adds += c_in * 1000
    return params, mult_adds


def v2_by_hand(channels: list[int], conv5: int, megvii: bool = False) -> tuple[int, int]:
    """(params with BN, mult_adds) of ShuffleNet v2 at 224x224: torchvision, or the authors'
    code (megvii: down-sampling unit's left branch inp -> inp, right branch to out - inp)."""
    params = 3 * 3 * 3 * 24 + 2 * 24
    mult_adds = 3 * 3 * 3 * 24 * 112 * 112
    c_in, h = 24, 56
    for out, repeats in zip(channels, [4, 8, 4]):
        m, h2 = out // 2, h // 2
        left = c_in if megvii else m
        right = out - left
        # down-sampling unit: branch1 dw 3x3/2 + pw; branch2 pw, dw 3x3/2, pw
        params += 9 * c_in + c_in * left + 2 * (c_in + left)
        params += c_in * m + 9 * m + m * right + 2 * (m + m + right)
        mult_adds += (9 * c_in + c_in * left) * h2 * h2
        mult_adds += c_in * m * h * h + (9 * m + m * right) * h2 * h2
        # basic units on the right half: pw m -> m, dw, pw m -> m
        params += (repeats - 1) * (m * m + 9 * m + m * m + 6 * m)
        mult_adds += (repeats - 1) * (m * m + 9 * m + m * m) * h2 * h2
        c_in, h = out, h2
    params += c_in * conv5 + 2 * conv5 + conv5 * 1000 + (0 if megvii else 1000)
    mult_adds += c_in * conv5 * 7 * 7 + conv5 * 1000
    return params, mult_adds


def totals(ref: str):
    return analyze_ref(ref).totals


# --------------------------------------------------------------------------------------------
# ShuffleNet v1

V1_VARIANTS = {  # variant: (g, scale, stem) as in the authors' network.py / Table 1
    "g1_1.0x": (1, 1.0, 24), "g2_1.0x": (2, 1.0, 24), "g3_1.0x": (3, 1.0, 24),
    "g4_1.0x": (4, 1.0, 24), "g8_1.0x": (8, 1.0, 24),
    "g3_0.5x": (3, 0.5, 12), "g3_1.5x": (3, 1.5, 24), "g3_2.0x": (3, 2.0, 48),
    "g8_0.5x": (8, 0.5, 16), "g8_1.5x": (8, 1.5, 24), "g8_2.0x": (8, 2.0, 48),
}


@pytest.mark.parametrize("variant", V1_VARIANTS)
def test_v1_every_variant_matches_the_hand_count(variant):
    t = totals(f"shufflenet_v1@{variant}")
    assert (t.params, t.mult_adds) == v1_by_hand(*V1_VARIANTS[variant])
    assert t.biases == 0  # bias-free convs and classifier (the authors' code)


def test_v1_default_is_g3_1x():
    assert totals("shufflenet_v1").mult_adds == totals("shufflenet_v1@g3_1.0x").mult_adds


def test_v1_first_layers_and_stage_shapes_g3():
    a = analyze_ref("shufflenet_v1@g3_1.0x")
    costs = layer_costs(a)
    shapes = {node.name: node.shape for node in a.graph.nodes}
    # conv1: 3*3*3*24 = 648 weights, at 112x112: 648 * 12,544 = 8,128,512
    assert costs["conv1.conv"].weights == 648
    assert costs["conv1.conv"].mult_adds == 8_128_512
    # stage 2, unit 1: the first pointwise is not grouped (24 -> 60: 1,440 weights, on the
    # 56x56 map: 4,515,840); the depthwise conv has stride 2; the last pointwise is grouped
    # (g=3) and gives 240 - 24 = 216 channels: 60/3 * 216 = 4,320 weights
    assert costs["stage2.unit1.pw1"].weights == 24 * 60 == 1_440
    assert costs["stage2.unit1.pw1"].mult_adds == 1_440 * 56 * 56 == 4_515_840
    assert shapes["stage2.unit1.dw"] == (1, 60, 28, 28)
    assert costs["stage2.unit1.pw2"].weights == 60 // 3 * 216 == 4_320
    assert shapes["stage2.unit1.shortcut.avgpool"] == (1, 24, 28, 28)
    # later units group their first pointwise too: 240/3 * 60 = 4,800
    assert costs["stage2.unit2.pw1"].weights == 4_800
    # Table 1's output sizes and channels
    assert shapes["stage2.unit4.relu"] == (1, 240, 28, 28)
    assert shapes["stage3.unit8.relu"] == (1, 480, 14, 14)
    assert shapes["stage4.unit4.relu"] == (1, 960, 7, 7)
    assert shapes["fc"] == (1, 1000)


@pytest.mark.parametrize("variant, table1_mflops, with_fc_mflops", [
    # Table 1, "Complexity": 143M, 140M, 137M, 133M, 137M. The counts match all five only
    # without the fully connected layer (which adds stage-4 channels x 1000: 0.58M to 1.54M);
    # with it they would read 143, 141, 137, 134, 138.
    ("g1_1.0x", 143, 143),  # 142,502,976 without FC; 143,078,976 with
    ("g2_1.0x", 140, 141),  # 140,036,512; 140,836,512
    ("g3_1.0x", 137, 137),  # 136,500,672; 137,460,672
    ("g4_1.0x", 133, 134),  # 133,251,776; 134,339,776
    ("g8_1.0x", 137, 138),  # 136,829,952; 138,365,952
])
def test_v1_paper_table_1_complexity_leaves_out_the_classifier(variant, table1_mflops,
                                                               with_fc_mflops):
    without = totals(f"shufflenet_v1@{variant},classifier=false").mult_adds
    with_fc = totals(f"shufflenet_v1@{variant}").mult_adds
    g = V1_VARIANTS[variant][0]
    assert with_fc - without == 4 * V1_TABLE1[g] * 1000  # stage 4 channels x 1000 classes
    assert round(without / M) == table1_mflops
    assert round(with_fc / M) == with_fc_mflops


@pytest.mark.parametrize("variant, mflops, mparams", [
    # the authors' README.md (FLOPs with the classifier; #Params in millions)
    ("g3_2.0x", 524, 5.4),  # 524,045,184; 5,449,776 (also Table 5: "ShuffleNet 2x (g=3)" 524)
    ("g8_2.0x", 522, 6.5),  # 521,942,016; 6,521,232
    ("g3_1.5x", 292, 3.4),  # 292,443,552; 3,441,168 (also Table 5: "ShuffleNet 1.5x (g=3)" 292)
    ("g8_1.5x", 290, 4.3),  # 290,188,800; 4,268,952
    ("g8_1.0x", 138, 2.4),  # 138,365,952; 2,433,768
    ("g3_0.5x", 38, 0.7),   # 37,589,856; 717,324
    ("g8_0.5x", 40, 1.0),   # 40,469,760; 1,010,448
])
def test_v1_authors_readme(variant, mflops, mparams):
    t = totals(f"shufflenet_v1@{variant}")
    assert round(t.mult_adds / M) == mflops
    assert round(t.params / M, 1) == mparams
    # the README counts BN gamma/beta (PyTorch's trainable parameters): without them g=8 at
    # 1.5x and 2.0x would read 4.2M (4,210,200) and 6.4M (6,442,896)
    weights_only = round((t.weights + t.biases) / M, 1)
    assert weights_only == {"g8_1.5x": 4.2, "g8_2.0x": 6.4}.get(variant, mparams)


def test_v1_authors_readme_g3_1x_disagrees_by_half_a_million():
    # README.md lists ShuffleNetV1 1.0x (group=3) at 138M FLOPs, 1.9M params. The params agree;
    # the count is 137,460,672 mult-adds (137M; 136,500,672 = Table 1's 137M without the
    # classifier). Rounding up would give 138M, but also 293M for 1.5x g=3 (292,443,552) and
    # 139M for 1.0x g=8 (138,365,952), where the README says 292M and 138M: no one rounding
    # rule gives all its rows, so this 138M is taken to be off by one.
    t = totals("shufflenet_v1@g3_1.0x")
    assert t.mult_adds == 137_460_672
    assert round(t.mult_adds / M) == 137
    assert round(t.params / M, 1) == 1.9


def test_v1_mmpretrain_params_with_a_biased_classifier():
    # mmpretrain's ShuffleNetV1 1.0x (group=3): 1.87M params; its linear head has a bias:
    # 1,864,728 + 1,000 = 1,865,728 (without the bias, 1.86M)
    t = totals("shufflenet_v1@g3_1.0x,fc_bias=true")
    assert t.params == 1_864_728 + 1_000
    assert round(t.params / M, 2) == 1.87


def test_v1_paper_140_mflops_is_a_nominal_budget():
    # Tables 2 and 5 label every 1x model "140 MFLOPs" (and 0.5x "38", 0.25x "13"); Table 1
    # gives the actual 133M to 143M. All 1x counts are within 5% of 140M.
    for variant in ("g1_1.0x", "g2_1.0x", "g3_1.0x", "g4_1.0x", "g8_1.0x"):
        assert abs(totals(f"shufflenet_v1@{variant}").mult_adds / (140 * M) - 1) < 0.05


def test_v1_shuffle_position_changes_only_memory_access():
    # The paper's Figure 2 shuffles after the first pointwise conv; the code after the
    # depthwise conv. Params and mult-adds are the same. In a stride-2 unit the paper's shuffle
    # copies the map before the stride: read + write of mid channels at 2h x 2h instead of h x h.
    code = analyze_ref("shufflenet_v1@g3_1.0x").totals
    paper = analyze_ref("shufflenet_v1@g3_1.0x,shuffle_before_dw=true").totals
    assert (paper.params, paper.mult_adds) == (code.params, code.mult_adds)
    extra = sum(2 * mid * (h_in * h_in - h_in * h_in // 4)
                for mid, h_in in [(60, 56), (120, 28), (240, 14)])
    assert extra == 282_240 + 141_120 + 70_560
    assert paper.mem_access - code.mem_access == extra


def test_v1_scale_uses_the_nearest_multiple_of_g_for_the_bottleneck():
    # g=4 at 0.5x: stage 2 has 136 channels and 136/4 = 34 is no multiple of 4: the spec takes
    # make_divisible(34, 4) = 36 (documented assumption; published configurations never round)
    a = analyze_ref("shufflenet_v1@groups=4,scale=0.5,stem=12")
    assert {n.name: n.shape for n in a.graph.nodes}["stage2.unit2.dw"] == (1, 36, 28, 28)


def test_v1_rejects_a_group_count_table_1_does_not_have():
    with pytest.raises(SpecError, match="5 is not one of 1, 2, 3, 4, 8"):
        analyze_ref("shufflenet_v1@groups=5")


# --------------------------------------------------------------------------------------------
# ShuffleNet v2

V2_VARIANTS = {  # Table 5 / torchvision stages_out_channels
    "0.5x": ([48, 96, 192], 1024), "1.0x": ([116, 232, 464], 1024),
    "1.5x": ([176, 352, 704], 1024), "2.0x": ([244, 488, 976], 2048),
}


@pytest.mark.parametrize("variant, num_params, ops_3, gflops_2", [
    # torchvision: num_params and _ops (shufflenetv2.py); the documentation's GFLOPS column
    ("0.5x", 1_366_792, 0.040, 0.04),
    ("1.0x", 2_278_604, 0.145, 0.14),
    ("1.5x", 3_503_624, 0.296, 0.30),
    ("2.0x", 7_393_996, 0.583, 0.58),
])
def test_v2_torchvision(variant, num_params, ops_3, gflops_2):
    t = totals(f"shufflenet_v2@{variant}")
    assert t.params == num_params
    assert round(t.mult_adds / 1e9, 3) == ops_3
    assert round(t.mult_adds / 1e9, 2) == gflops_2
    assert (t.params, t.mult_adds) == v2_by_hand(*V2_VARIANTS[variant])


@pytest.mark.parametrize("variant, mflops, mparams, counted", [
    # the paper's Table 5 and the authors' README: FLOPs, params in millions; they count the
    # authors' code (layout=megvii)
    ("0.5x", 41, 1.4, 40_476_448),
    ("1.0x", 146, 2.3, 145_814_296),
    ("1.5x", 299, 3.5, 298_970_656),
    ("2.0x", 591, 7.4, 590_783_000),
])
def test_v2_paper_table_5_counts_the_authors_code(variant, mflops, mparams, counted):
    t = totals(f"shufflenet_v2@{variant},layout=megvii")
    assert (t.params, t.mult_adds) == v2_by_hand(*V2_VARIANTS[variant], megvii=True)
    assert t.mult_adds == counted
    assert round(t.params / M, 1) == mparams
    assert round((t.weights + t.biases) / M, 1) == mparams  # BN or not (2x: 7.37M, 7.40M)
    # every figure is the count rounded up; to the nearest million 0.5x would be 40M
    # (40,476,448): the only one of the four that nearest rounding misses
    assert math.ceil(t.mult_adds / M) == mflops
    assert round(t.mult_adds / M) == (40 if variant == "0.5x" else mflops)


@pytest.mark.parametrize("variant, paper_mflops, torchvision_mflops", [
    ("0.5x", 41, 40), ("1.0x", 146, 145), ("1.5x", 299, 296), ("2.0x", 591, 583),
])
def test_v2_torchvision_layout_differs_from_the_paper_in_stage_2(variant, paper_mflops,
                                                                 torchvision_mflops):
    # Only stage 2's down-sampling unit differs (inp = 24; stages 3, 4 have inp = out/2):
    # torchvision's branches give out/2 each (24 -> m, m -> m), the authors' 24 -> 24 and
    # m -> out - 24, on the 28x28 map. Weights differ by the same amount (BN: 2*24 + 2*(out-24)
    # = 2*m + 2*m, unchanged), and the authors' classifier has no bias (-1,000).
    out = V2_VARIANTS[variant][0][0]
    m = out // 2
    delta = 24 * 24 + m * (out - 24) - 24 * m - m * m
    tv = totals(f"shufflenet_v2@{variant}")
    authors = totals(f"shufflenet_v2@{variant},layout=megvii")
    assert authors.mult_adds - tv.mult_adds == delta * 28 * 28
    assert authors.params - tv.params == delta - 1_000
    assert round(tv.mult_adds / M) == torchvision_mflops
    assert math.ceil(authors.mult_adds / M) == paper_mflops
    if variant == "0.5x":
        assert delta == 0  # out = 48: m = 24 = inp, the two layouts agree


def test_v2_structure_and_names():
    a = analyze_ref("shufflenet_v2@1.0x")
    costs = layer_costs(a)
    shapes = {node.name: node.shape for node in a.graph.nodes}
    # stage 2, unit 1 (down-sampling): branch1 dw 3x3/2 on 24 channels, then 24 -> 58
    assert shapes["stage2.unit1.branch1.dw"] == (1, 24, 28, 28)
    assert costs["stage2.unit1.branch1.pw"].weights == 24 * 58
    # branch2's first pointwise runs on the 56x56 input: 24 * 58 * 56 * 56 = 4,365,312
    assert costs["stage2.unit1.branch2.pw1"].mult_adds == 24 * 58 * 56 * 56 == 4_365_312
    # basic units split the input: the halves are views, branch2 works on 58 channels
    assert shapes["stage2.unit3.branch1.chunk"] == (1, 58, 28, 28)
    assert costs["stage2.unit3.branch1.chunk"].mem_access == 0
    assert costs["stage2.unit3.branch2.pw1"].weights == 58 * 58 == 3_364
    # Table 5's output sizes and channels
    assert shapes["stage2.unit4.shuffle"] == (1, 116, 28, 28)
    assert shapes["stage3.unit8.shuffle"] == (1, 232, 14, 14)
    assert shapes["stage4.unit4.shuffle"] == (1, 464, 7, 7)
    assert shapes["conv5.relu"] == (1, 1024, 7, 7)
    assert shapes["fc"] == (1, 1000)
    # one shuffle per unit (16); the authors' code has one per basic unit (13)
    shuffles = sum(1 for n in a.graph.nodes if n.name.endswith(".shuffle"))
    megvii = analyze_ref("shufflenet_v2@1.0x,layout=megvii")
    assert (shuffles, sum(1 for n in megvii.graph.nodes if n.name.endswith(".shuffle"))) == (16, 13)


def test_v2_default_is_1x_and_rejects_an_unknown_layout():
    assert totals("shufflenet_v2").params == 2_278_604
    with pytest.raises(SpecError, match="'megvi' is not one of torchvision, megvii"):
        analyze_ref("shufflenet_v2@layout=megvi")
