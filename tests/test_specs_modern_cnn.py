"""RegNet X and Y (the RegNet design space, specs/regnet.yaml) and EfficientNetV2-S
(specs/efficientnet_v2_s.yaml) reproduce torchvision's parameter counts and multiply-adds.

Sources:
- torchvision torchvision/models/regnet.py: regnet_y_400mf ... regnet_x_32gf call
  BlockParams.from_init_params(depth, w_0, w_a, w_m, group_width[, se_ratio=0.25]); the
  weight entries (RegNet_Y_400MF_Weights.IMAGENET1K_V1 and _V2, ...) give num_params and "_ops"
  (GFLOPS, i.e. multiply-adds of conv and linear layers, to three decimals; the docs' table
  rounds them further, e.g. regnet_y_400mf 0.4) at the 224 crop, and at 384 for the
  IMAGENET1K_SWAG_E2E_V1 weights of regnet_y_16gf, _32gf and _128gf.
- torchvision torchvision/models/efficientnet.py: _efficientnet_conf("efficientnet_v2_s")
  (FusedMBConvConfig x 3, MBConvConfig x 3, last_channel 1280), FusedMBConv, MBConv;
  EfficientNet_V2_S_Weights.IMAGENET1K_V1: num_params 21,458,488, "_ops" 8.366 at the weights'
  384 crop (8.37 in the docs' table).

Each figure is checked three ways: against torchvision's published number, against the exact
integer the spec gives, and against a count written here from torchvision's constructors
(``regnet_count``, ``efficientnet_v2_s_count``: plain arithmetic, no cnncost code), so a spec
that drifts from the reference implementation fails even where a rounded GFLOPS figure would
still agree.
"""

from __future__ import annotations

import csv
import io
import itertools
import math
from functools import cache

import pytest
from conftest import analyze_ref, cli, cli_json

from cnncost.frontends.library import catalog, load_model
from cnncost.pipeline import analyze


@cache
def analysis(ref: str):
    return analyze_ref(ref)


def totals(ref: str):
    return analysis(ref).totals


def shapes(ref: str) -> dict[str, tuple[int, ...]]:
    return {node.name: tuple(node.shape) for node in analysis(ref).graph.nodes}


def under(ref: str, prefix: str) -> tuple[int, int]:
    """Parameters and multiply-adds of every layer whose dotted name starts with ``prefix.``."""
    a = analysis(ref)
    costs = [a.costs[i] for i, node in enumerate(a.graph.nodes)
             if i and node.name.startswith(prefix + ".")]
    return sum(c.params for c in costs), sum(c.mult_adds for c in costs)


# -- Reference counts, written from torchvision's constructors --------------------------------


def make_divisible(v: float, divisor: int, min_value: int | None = None) -> int:
    """torchvision/models/_utils.py _make_divisible."""
    min_value = divisor if min_value is None else min_value
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


class Count:
    """Parameters and multiply-adds of conv (padding (k - 1) // 2) + BN and linear layers."""

    def __init__(self) -> None:
        self.params = 0
        self.mult_adds = 0

    def conv(self, cin: int, cout: int, size: int, k: int = 1, stride: int = 1,
             groups: int = 1, bias: bool = False, bn: bool = True) -> int:
        out = (size + 2 * ((k - 1) // 2) - k) // stride + 1
        weights = cout * (cin // groups) * k * k
        self.params += weights + (cout if bias else 0) + (2 * cout if bn else 0)
        self.mult_adds += weights * out * out
        return out

    def squeeze_excite(self, channels: int, squeeze: int) -> None:
        # torchvision.ops.SqueezeExcitation: two 1x1 convs with bias on the pooled 1x1 map
        self.conv(channels, squeeze, 1, bias=True, bn=False)
        self.conv(squeeze, channels, 1, bias=True, bn=False)

    def linear(self, fin: int, fout: int) -> None:
        self.params += fin * fout + fout
        self.mult_adds += fin * fout


def from_init_params(depth: int, w_0: int, w_a: float, w_m: float) -> tuple[list, list]:
    """BlockParams.from_init_params, first step: per-block widths quantized linear in log
    space, grouped into stages (runs of equal width). torchvision computes in float32; every
    ratio below lies at least 0.003 from a rounding boundary, so float64 gives the same."""
    capacity = [round(math.log((w_0 + w_a * j) / w_0) / math.log(w_m)) for j in range(depth)]
    widths = [round(w_0 * w_m ** c / 8) * 8 for c in capacity]
    runs = [(w, len(list(g))) for w, g in itertools.groupby(widths)]
    return [w for w, _ in runs], [d for _, d in runs]


def regnet_count(widths, depths, group_width, se_ratio, resolution=224, bottleneck=1.0,
                 stem=32, num_classes=1000) -> Count:
    """torchvision RegNet: SimpleStemIN, AnyStage of ResBottleneckBlock, avgpool, fc."""
    n = Count()
    size, w_in = n.conv(3, stem, resolution, k=3, stride=2), stem
    for width, depth in zip(widths, depths):
        # BlockParams._adjust_widths_groups_compatibilty
        w_bot = int(width * bottleneck)
        g = min(group_width, w_bot)
        width = int(make_divisible(w_bot, g) / bottleneck)
        for i in range(depth):
            stride = 2 if i == 0 else 1
            if w_in != width or stride != 1:
                n.conv(w_in, width, size, stride=stride)            # proj
            w_b = round(width * bottleneck)                        # int(round(...)) in torchvision
            n.conv(w_in, w_b, size)                                 # f.a
            out = n.conv(w_b, w_b, size, k=3, stride=stride, groups=w_b // g)  # f.b
            if se_ratio:
                n.squeeze_excite(w_b, round(se_ratio * w_in))       # f.se
            n.conv(w_b, width, out)                                 # f.c
            size, w_in = out, width
    n.linear(w_in, num_classes)
    return n


# _efficientnet_conf("efficientnet_v2_s"): fused, expand_ratio, kernel, stride, out, layers
V2_S = [(True, 1, 3, 1, 24, 2), (True, 4, 3, 2, 48, 4), (True, 4, 3, 2, 64, 4),
        (False, 4, 3, 2, 128, 6), (False, 6, 3, 1, 160, 9), (False, 6, 3, 2, 256, 15)]


def efficientnet_v2_s_count(resolution=384, num_classes=1000) -> Count:
    """torchvision EfficientNet with FusedMBConv and MBConv blocks, last_channel 1280."""
    n = Count()
    size, cin = n.conv(3, 24, resolution, k=3, stride=2), 24
    for fused, expand, k, s, cout, layers in V2_S:
        for i in range(layers):
            stride = s if i == 0 else 1
            hidden = make_divisible(cin * expand, 8)
            if fused and hidden != cin:
                out = n.conv(cin, hidden, size, k=k, stride=stride)
                n.conv(hidden, cout, out)
            elif fused:
                out = n.conv(cin, cout, size, k=k, stride=stride)
            else:
                if hidden != cin:
                    n.conv(cin, hidden, size)
                out = n.conv(hidden, hidden, size, k=k, stride=stride, groups=hidden)
                n.squeeze_excite(hidden, max(1, cin // 4))
                n.conv(hidden, cout, out)
            size, cin = out, cout
    n.conv(cin, 1280, size)
    n.linear(1280, num_classes)
    return n


# -- RegNet ----------------------------------------------------------------------------------

TORCHVISION_REGNET = [
    # variant: from_init_params(depth, w_0, w_a, w_m, group_width), SE, num_params, "_ops"
    ("y_400mf", (16, 48, 27.89, 2.09, 8), True, 4_344_144, 0.402),
    ("y_800mf", (14, 56, 38.84, 2.4, 16), True, 6_432_512, 0.834),
    ("y_1_6gf", (27, 48, 20.71, 2.65, 24), True, 11_202_430, 1.612),
    ("y_3_2gf", (21, 80, 42.63, 2.66, 24), True, 19_436_338, 3.176),
    ("y_8gf", (17, 192, 76.82, 2.19, 56), True, 39_381_472, 8.473),
    ("y_16gf", (18, 200, 106.23, 2.48, 112), True, 83_590_140, 15.912),
    ("y_32gf", (20, 232, 115.89, 2.53, 232), True, 145_046_770, 32.28),
    ("y_128gf", (27, 456, 160.83, 2.52, 264), True, 644_812_894, 127.518),  # SWAG_LINEAR, 224
    ("x_400mf", (22, 24, 24.48, 2.54, 16), False, 5_495_976, 0.414),
    ("x_800mf", (16, 56, 35.73, 2.28, 16), False, 7_259_656, 0.8),
    ("x_1_6gf", (18, 80, 34.01, 2.25, 24), False, 9_190_136, 1.603),
    ("x_3_2gf", (25, 88, 26.31, 2.25, 48), False, 15_296_552, 3.177),
    ("x_8gf", (23, 80, 49.56, 2.88, 120), False, 39_572_648, 7.995),
    ("x_16gf", (22, 216, 55.59, 2.1, 128), False, 54_278_536, 15.941),
    ("x_32gf", (23, 320, 69.86, 2.0, 168), False, 107_811_560, 31.736),
]
DESIGN = {variant: design for variant, design, *_ in TORCHVISION_REGNET}


def regnet_settings(variant: str) -> dict:
    """The spec's variables for a torchvision model, derived from its design parameters."""
    depth, w_0, w_a, w_m, group_width = DESIGN[variant]
    widths, depths = from_init_params(depth, w_0, w_a, w_m)
    return {"stage_widths": widths, "stage_depths": depths, "group_width": group_width,
            "se_ratio": 0.25 if variant.startswith("y") else 0.0}


@cache
def regnet_totals(variant: str, resolution: int = 224):
    return analyze(load_model("regnet", {**regnet_settings(variant), "resolution": resolution}))\
        .totals


def test_regnet_y_400mf_torchvision_exact():
    t = totals("regnet")                              # the spec's default is RegNetY-400MF
    assert t.params == 4_344_144                      # torchvision num_params
    assert t.mult_adds == 401_842_848
    assert round(t.mult_adds / 1e9, 3) == 0.402       # torchvision "_ops"
    assert round(t.mult_adds / 1e9, 1) == 0.4         # the docs' GFLOPS column
    assert totals("regnet@y_400mf") == t == regnet_totals("y_400mf")


def test_regnet_variants_are_torchvision_models():
    # each variant's stage lists are what from_init_params derives from the design parameters
    # (regnet_y_128gf is no variant: its weights do not fit in one ONNX file)
    names = [v for v, *_ in TORCHVISION_REGNET if v != "y_128gf"]
    assert list({e.name: e.variants for e in catalog()}["regnet"]) == names
    for name in names:
        variables = dict(load_model(f"regnet@{name}").variables)
        for key, value in regnet_settings(name).items():
            assert variables[key] == value, (name, key)


@pytest.mark.parametrize("variant, design, se, params, gflops", TORCHVISION_REGNET,
                         ids=[row[0] for row in TORCHVISION_REGNET])
def test_regnet_torchvision(variant, design, se, params, gflops):
    t = regnet_totals(variant)
    # torchvision's published figures
    assert t.params == params
    assert round(t.mult_adds / 1e9, 3) == gflops
    # the count written from torchvision's constructors, exactly
    settings = regnet_settings(variant)
    ref = regnet_count(settings["stage_widths"], settings["stage_depths"], design[4],
                       0.25 if se else None)
    assert (t.params, t.mult_adds) == (ref.params, ref.mult_adds)


@pytest.mark.parametrize("variant, gflops", [
    # IMAGENET1K_SWAG_E2E_V1 weights: crop 384, "_ops"
    ("y_16gf", 46.735), ("y_32gf", 94.826), ("y_128gf", 374.57)])
def test_regnet_swag_at_384(variant, gflops):
    t = regnet_totals(variant, 384)
    assert round(t.mult_adds / 1e9, 3) == gflops
    settings = regnet_settings(variant)
    assert t.mult_adds == regnet_count(settings["stage_widths"], settings["stage_depths"],
                                       settings["group_width"], 0.25, resolution=384).mult_adds


def test_regnet_y_400mf_stage1_arithmetic():
    # stem 3 -> 32 at 112x112; stage1 is one block, 32 -> 48, stride 2, group width 8
    # proj  1x1 32 -> 48, stride 2:   1,536 weights + BN 96, at 56x56
    # a     1x1 32 -> 48:             1,536 weights + BN 96, at 112x112 (no stride)
    # b     3x3 48 -> 48, 48 // 8 = 6 groups: 48 * 8 * 9 = 3,456 weights + BN 96, at 56x56
    # se    squeeze int(round(0.25 * 32)) = 8 (of the block's input): 48 * 8 + 8 and
    #       8 * 48 + 48, on the pooled 1x1 map
    # c     1x1 48 -> 48:             2,304 weights + BN 96, at 56x56
    params = (1536 + 96) + (1536 + 96) + (3456 + 96) + (48 * 8 + 8 + 8 * 48 + 48) + (2304 + 96)
    mult_adds = (1536 + 3456 + 2304) * 56 * 56 + 1536 * 112 * 112 + 48 * 8 + 8 * 48
    assert under("regnet", "stage1") == (params, mult_adds) == (10_040, 42_148_608)
    s = shapes("regnet")
    assert s["stage1.block1.se.fc1"] == (1, 8, 1, 1)
    assert s["stage1.block1.relu"] == (1, 48, 56, 56)
    # the stage outputs: 48, 104, 208, 440 channels at 56, 28, 14, 7; 1 + 3 + 6 + 6 blocks
    assert s["stage2.block3.relu"] == (1, 104, 28, 28)
    assert s["stage3.block6.relu"] == (1, 208, 14, 14)
    assert s["stage4.block6.relu"] == (1, 440, 7, 7)
    assert "stage4.block7.relu" not in s
    # a projection only in each stage's first block (width and stride change)
    assert sorted(n for n in s if n.endswith(".proj.conv")) == [
        f"stage{k}.block1.proj.conv" for k in range(1, 5)]


def test_regnet_group_width_adjustment():
    # regnet_y_800mf: stage widths 56, 136, 320, 776 with group width 16 become
    # make_divisible(w, 16) = 64, 144, 320, 784 (_adjust_widths_groups_compatibilty)
    s = shapes("regnet@y_800mf")
    assert [s[f"stage{k}.block1.relu"][1] for k in range(1, 5)] == [64, 144, 320, 784]
    # regnet_x_8gf: group width 120 is more than stage1's width 80, so stage1's group width is
    # min(120, 80) = 80: one group, 80 * 80 * 9 weights in its 3x3 conv; 240 // 120 = 2 after
    a = analysis("regnet@x_8gf")
    costs = {node.name: a.costs[i] for i, node in enumerate(a.graph.nodes) if i}
    assert costs["stage1.block1.b.conv"].weights == 80 * 80 * 9
    assert costs["stage2.block1.b.conv"].weights == 240 * 120 * 9


def test_regnet_x_has_no_squeeze_excite():
    x, y = totals("regnet@x_400mf"), totals("regnet@y_400mf")
    assert x.biases == 1000                           # the classifier's only
    assert not any(".se." in n for n in shapes("regnet@x_400mf"))
    # RegNetY: the classifier's 1000 plus each SE's squeeze + w_b biases, squeeze a quarter of
    # the block's input width: 8 + 48; 12 + 104, 2 x (26 + 104); 26 + 208, 5 x (52 + 208);
    # 52 + 440, 5 x (110 + 440)
    se = (8 + 48) + (12 + 104) + 2 * (26 + 104) + (26 + 208) + 5 * (52 + 208) \
        + (52 + 440) + 5 * (110 + 440)
    assert y.biases == 1000 + se == 6_208


# -- EfficientNetV2-S ------------------------------------------------------------------------


def test_efficientnet_v2_s_torchvision_exact():
    t = totals("efficientnet_v2_s")                   # resolution 384 by default
    assert t.params == 21_458_488                     # torchvision num_params
    assert t.mult_adds == 8_365_617_152
    assert round(t.mult_adds / 1e9, 3) == 8.366       # torchvision "_ops"
    assert round(t.mult_adds / 1e9, 2) == 8.37        # the docs' GFLOPS column
    ref = efficientnet_v2_s_count()
    assert (t.params, t.mult_adds) == (ref.params, ref.mult_adds)


@pytest.mark.parametrize("resolution", [224, 288, 480])
def test_efficientnet_v2_s_other_resolutions_follow_the_reference(resolution):
    t = totals(f"efficientnet_v2_s@resolution={resolution}")
    assert t.params == 21_458_488
    assert t.mult_adds == efficientnet_v2_s_count(resolution).mult_adds


def test_efficientnet_v2_s_parts():
    # stage1: two Fused-MBConv with expansion 1, i.e. one 3x3 conv 24 -> 24 each (5,184
    # weights + BN 48) at 192x192, with a residual add; no SE in stages 1-3
    assert under("efficientnet_v2_s", "stage1") == (2 * (5184 + 48), 2 * 5184 * 192 * 192)
    s = shapes("efficientnet_v2_s")
    assert s["stage1.block2.add"] == (1, 24, 192, 192)
    assert not any(".se." in n for n in s if n.split(".")[0] in ("stage1", "stage2", "stage3"))
    # stage2.block1: fused 3x3 24 -> make_divisible(24 * 4, 8) = 96 with stride 2, project to 48
    assert s["stage2.block1.expand.conv"] == (1, 96, 96, 96)
    assert s["stage2.block1.project.bn"] == (1, 48, 96, 96)
    assert "stage2.block1.add" not in s and s["stage2.block4.add"] == (1, 48, 96, 96)
    # stage4.block1 (MBConv, expansion 4, 64 -> 128, stride 2, 48x48 -> 24x24):
    # expand 64 * 256 = 16,384 + BN 512; depthwise 256 * 9 = 2,304 + BN 512; SE squeezes to
    # 64 // 4 = 16: 256 * 16 + 16 + 16 * 256 + 256 = 8,464; project 256 * 128 = 32,768 + BN 256
    params, _ = under("efficientnet_v2_s", "stage4.block1")
    assert params == (16384 + 512) + (2304 + 512) + 8464 + (32768 + 256) == 61_200
    assert s["stage4.block1.se.fc1"] == (1, 16, 1, 1)
    assert s["stage4.block1.project.bn"] == (1, 128, 24, 24)
    # the stage outputs and layer counts of Table 4: 2, 4, 4, 6, 9, 15
    for stage, (blocks, channels, size) in enumerate(
            [(2, 24, 192), (4, 48, 96), (4, 64, 48), (6, 128, 24), (9, 160, 24),
             (15, 256, 12)], start=1):
        assert s[f"stage{stage}.block{blocks}.add"] == (1, channels, size, size)
        assert f"stage{stage}.block{blocks + 1}.add" not in s
    assert s["head.conv"] == (1, 1280, 12, 12)


def test_efficientnet_v2_s_width_and_depth_scale_every_stage():
    # depth 0.5: ceil(n / 2) blocks, 2 4 4 6 9 15 -> 1 2 2 3 5 8
    s = shapes("efficientnet_v2_s@depth=0.5")
    for stage, blocks in enumerate([1, 2, 2, 3, 5, 8], start=1):
        assert any(n.startswith(f"stage{stage}.block{blocks}.") for n in s)
        assert not any(n.startswith(f"stage{stage}.block{blocks + 1}.") for n in s)
    # width 0.5: channels make_divisible(c / 2, 8): stem 16 (12 -> 16), 256 -> 128, head 640
    s = shapes("efficientnet_v2_s@width=0.5")
    assert s["stem.conv"][1] == 16 and s["stage6.block1.project.bn"][1] == 128
    assert s["head.conv"][1] == 640


# -- Both: the CLI, sweeps ------------------------------------------------------------------


@pytest.mark.parametrize("spec, stages", [("regnet", 4), ("efficientnet_v2_s", 6)])
def test_analyses_cleanly_and_shows_its_stages(spec, stages):
    result = cli("analyze", spec, "--strict")
    assert result.exit_code == 0 and result.stderr == ""
    report = cli_json("analyze", spec, "--by", "block")
    assert report["warnings"] == []
    names = [row["name"] for row in report["blocks"]]
    assert [n for n in names if n.startswith("stage")] == [
        f"stage{k}" for k in range(1, stages + 1)]
    guidelines = cli("guidelines", spec)
    assert guidelines.exit_code == 0       # its findings name layers and blocks of the stages
    assert any(f"stage{k}" in guidelines.stdout for k in range(1, stages + 1))


@pytest.mark.parametrize("spec", ["regnet", "regnet@x_8gf", "efficientnet_v2_s"])
def test_a_sweep_row_equals_analyze(spec):
    result = cli("sweep", spec, "--grid", "resolution=224:384:32", "--format", "csv")
    assert result.exit_code == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [int(r["resolution"]) for r in rows] == [224, 256, 288, 320, 352, 384]
    row = rows[2]                                      # resolution 288
    sep = "," if "@" in spec else "@"
    want = cli_json("analyze", f"{spec}{sep}resolution=288")["totals"]
    assert (int(row["params"]), int(row["mult_adds"]), int(row["mem_access"])) == \
        (want["params"], want["mult_adds"], want["mem_access"])
