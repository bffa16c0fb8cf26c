"""ConvNeXt (specs/convnext.yaml), the Vision Transformer (specs/vit.yaml) and the Swin
Transformer (specs/swin.yaml) reproduce torchvision's parameter counts and multiply-adds.

Sources (torchvision 0.29, read in the recording environment, never imported here):
- torchvision/models/convnext.py: convnext_tiny ... convnext_large (CNBlockConfig widths and
  depths), ConvNeXt_*_Weights.IMAGENET1K_V1 meta: num_params and "_ops" (GFLOPS at the 224
  crop): tiny 28,589,128 4.456; small 50,223,688 8.684; base 88,591,464 15.355; large
  197,767,336 34.361.
- torchvision/models/vision_transformer.py: vit_b_16 ... vit_l_32 (patch, layers, heads,
  hidden, mlp); ViT_*_Weights meta: b_16 86,567,656 17.564 (IMAGENET1K_V1, 224) and
  86,859,496 55.484 (IMAGENET1K_SWAG_E2E_V1, 384); b_32 88,224,232 4.409; l_16 304,326,632
  61.555 and 305,174,504 361.986 (SWAG_E2E, 512); l_32 306,535,400 15.378.
- torchvision/models/swin_transformer.py: swin_t, swin_s, swin_b; Swin_*_Weights meta:
  t 28,288,354 4.491; s 49,606,258 8.741; b 87,768,224 15.431.

The exact multiply-adds are PyTorch's own count, recorded with torch 2.14.1: the model built
with torchvision's constructor, random init, eval, run on a 1x3xRxR input under
torch.utils.flop_counter.FlopCounterMode inside torch.nn.attention.sdpa_kernel(MATH); the
total / 2, by aten op (``FLOP_COUNTER``). FlopCounterMode counts aten.convolution, mm, addmm
and bmm (and the fused SDPA kernels of CUDA); on the CPU it has no formula for
aten._scaled_dot_product_flash_attention_for_cpu, so without the math kernel it leaves ViT's
attention out (16,848,500,736 for vit_b_16), and under torch.no_grad nn.MultiheadAttention's
fast path (aten._native_multi_head_attention) hides the projections too (11,271,124,992).
torchvision's "_ops" include the attention matmuls Q K^T and A V: vit_b_16's 17.564 is
17,563,828,224 rounded and would be 16.849 without them; that is the count cnncost gives.

Each figure is checked against torchvision's published number, against PyTorch's exact
count, and against a count written here from torchvision's constructors (``convnext_count``,
``vit_count``, ``swin_count``: plain arithmetic, no cnncost code).
"""

from __future__ import annotations

import csv
import io
from collections import Counter

import pytest
from conftest import cli, cli_json, layer_costs
from test_specs_modern_cnn import analysis, shapes, totals, under

from cnncost.frontends.library import catalog, load_model


def by_aten(ref: str) -> dict[str, int]:
    """The spec's multiply-adds grouped as PyTorch's flop counter groups them: conv2d is
    aten.convolution; a linear with bias aten.addmm, without aten.mm; attention and matmul
    (batched) aten.bmm. A layer with multiply-adds of any other op fails the test."""
    a = analysis(ref)
    groups: Counter[str] = Counter()
    for i, node in enumerate(a.graph.nodes):
        if i and a.costs[i].mult_adds:
            op = node.op
            aten = {"conv2d": "aten.convolution", "attention": "aten.bmm",
                    "matmul": "aten.bmm"}.get(op.op_name)
            if op.op_name == "linear":
                aten = "aten.addmm" if op.bias else "aten.mm"
            assert aten, f"{node.name}: {op.op_name} has multiply-adds"
            groups[aten] += a.costs[i].mult_adds
    return dict(groups)


# -- Reference counts, written from torchvision's constructors --------------------------------


def convnext_count(widths, depths, resolution=224, num_classes=1000) -> tuple[int, int]:
    """torchvision ConvNeXt: parameters and multiply-adds."""
    size, c = resolution // 4, widths[0]
    params = 3 * c * 16 + c + 2 * c                  # stem: 4x4 conv with bias, LayerNorm2d
    mult_adds = size * size * c * 3 * 16
    for i, (c, depth) in enumerate(zip(widths, depths)):
        if i:                                         # downsample: LayerNorm2d, 2x2 conv
            prev = widths[i - 1]
            size //= 2
            params += 2 * prev + prev * c * 4 + c
            mult_adds += size * size * c * prev * 4
        # CNBlock: dw 7x7 C*49 + C, LN 2C, pw 4C*C + 4C, 4C*C + C, layer scale C
        params += depth * (c * 49 + c + 2 * c + 4 * c * c + 4 * c + 4 * c * c + c + c)
        mult_adds += depth * size * size * (c * 49 + 8 * c * c)
    params += 2 * c + c * num_classes + num_classes  # classifier: LayerNorm2d, linear
    mult_adds += c * num_classes
    return params, mult_adds


def vit_count(patch, layers, hidden, heads, mlp, resolution=224, num_classes=1000):
    """torchvision VisionTransformer: parameters and multiply-adds (attention included)."""
    grid = resolution // patch
    seq = grid * grid + 1
    params = 3 * patch * patch * hidden + hidden     # conv_proj
    params += hidden + seq * hidden                   # class token, position embedding
    block = 2 * hidden + (3 * hidden * hidden + 3 * hidden) + (hidden * hidden + hidden) \
        + 2 * hidden + (hidden * mlp + mlp) + (mlp * hidden + hidden)
    params += layers * block + 2 * hidden + hidden * num_classes + num_classes
    mult_adds = grid * grid * hidden * 3 * patch * patch
    # per block: in_proj, out_proj, the MLP on every token; Q K^T and A V: heads * seq * seq *
    # (hidden / heads) each
    mult_adds += layers * (seq * (4 * hidden * hidden + 2 * hidden * mlp) + 2 * seq * seq * hidden)
    return params, mult_adds + hidden * num_classes


def swin_count(embed, depths, heads, window=7, resolution=224, patch=4, num_classes=1000):
    """torchvision SwinTransformer (no padding needed): parameters and multiply-adds."""
    size, c = resolution // patch, embed
    params = 3 * patch * patch * c + c + 2 * c       # stem conv with bias, LayerNorm
    mult_adds = size * size * c * 3 * patch * patch
    for i, (depth, h) in enumerate(zip(depths, heads)):
        # a block: norm1 2C, qkv 3C*C + 3C, proj C*C + C, the bias table (2w-1)^2 * heads,
        # norm2 2C, MLP 4C*C + 4C, 4C*C + C
        params += depth * (2 * c + 3 * c * c + 3 * c + c * c + c + (2 * window - 1) ** 2 * h
                           + 2 * c + 4 * c * c + 4 * c + 4 * c * c + c)
        # the linears on every token, and Q K^T and A V: windows * heads * (w^2)^2 * (C / heads)
        # each = size^2 * w^2 * C
        mult_adds += depth * (size * size * 12 * c * c + 2 * size * size * window * window * c)
        if i < len(depths) - 1:                       # PatchMerging: LayerNorm 4C, 4C -> 2C
            size //= 2
            params += 2 * 4 * c + 4 * c * 2 * c
            mult_adds += size * size * 4 * c * 2 * c
            c *= 2
    params += 2 * c + c * num_classes + num_classes
    return params, mult_adds + c * num_classes


# -- ConvNeXt ----------------------------------------------------------------------------------

CONVNEXT = [
    # variant, widths, depths, num_params, "_ops", FlopCounterMode by op
    ("tiny", [96, 192, 384, 768], [3, 3, 9, 3], 28_589_128, 4.456,
     {"aten.convolution": 292_965_120, "aten.addmm": 4_162_566_144}),
    ("small", [96, 192, 384, 768], [3, 3, 27, 3], 50_223_688, 8.684,
     {"aten.convolution": 359_347_968, "aten.addmm": 8_324_364_288}),
    ("base", [128, 256, 512, 1024], [3, 3, 27, 3], 88_591_464, 15.355,
     {"aten.convolution": 556_200_960, "aten.addmm": 14_798_528_512}),
    ("large", [192, 384, 768, 1536], [3, 3, 27, 3], 197_767_336, 34.361,
     {"aten.convolution": 1_065_512_448, "aten.addmm": 33_295_921_152}),
]


@pytest.mark.parametrize("variant, widths, depths, params, gflops, flop_counter", CONVNEXT,
                         ids=[row[0] for row in CONVNEXT])
def test_convnext_torchvision(variant, widths, depths, params, gflops, flop_counter):
    t = totals(f"convnext@{variant}")
    assert t.params == params                                  # torchvision num_params
    assert t.mult_adds == sum(flop_counter.values())           # PyTorch's count, exactly
    assert round(t.mult_adds / 1e9, 3) == gflops               # torchvision "_ops"
    assert by_aten(f"convnext@{variant}") == flop_counter
    assert (t.params, t.mult_adds) == convnext_count(widths, depths)


def test_convnext_default_is_tiny_and_variants_are_torchvision_models():
    assert totals("convnext") == totals("convnext@tiny")
    assert totals("convnext").mult_adds == 4_455_531_264
    assert list({e.name: e.variants for e in catalog()}["convnext"]) == [
        row[0] for row in CONVNEXT]
    for variant, widths, depths, *_ in CONVNEXT:
        variables = dict(load_model(f"convnext@{variant}").variables)
        assert (variables["stage_widths"], variables["stage_depths"]) == (widths, depths)


def test_convnext_block_arithmetic():
    # stage1.block1 of ConvNeXt-T, C = 96 at 56x56:
    # dw 7x7 96 * 49 + 96 = 4,800; LN 2 * 96 = 192; pw1 384 * 96 + 384 = 37,248;
    # pw2 96 * 384 + 96 = 36,960; layer scale 96
    params = 4_800 + 192 + 37_248 + 36_960 + 96
    mult_adds = 56 * 56 * (96 * 49 + 384 * 96 + 96 * 384)
    assert under("convnext", "stage1.block1") == (params, mult_adds) == (79_296, 245_962_752)
    s = shapes("convnext")
    assert s["stem.conv"] == (1, 96, 56, 56)
    # channels last between the permutes, as torchvision's block.1 ... block.6
    assert s["stage1.block1.to_nhwc"] == (1, 56, 56, 96)
    assert s["stage1.block1.pwconv1"] == (1, 56, 56, 384)
    assert s["stage1.block1.to_nchw"] == (1, 96, 56, 56)
    costs = layer_costs(analysis("convnext"))
    assert costs["stage1.block1.layer_scale"].params == 96
    assert costs["stage1.block1.stochastic_depth"].params == 0
    # stage outputs and depths 3, 3, 9, 3; downsampling 2x2 convs between them
    for k, (blocks, c, size) in enumerate([(3, 96, 56), (3, 192, 28), (9, 384, 14),
                                           (3, 768, 7)], start=1):
        assert s[f"stage{k}.block{blocks}.add"] == (1, c, size, size)
        assert f"stage{k}.block{blocks + 1}.add" not in s
    assert s["down3.conv"] == (1, 768, 7, 7)
    assert s["fc"] == (1, 1000)


@pytest.mark.parametrize("resolution, mult_adds", [(288, 7_364_764_416)])
def test_convnext_other_resolution_is_pytorchs_count(resolution, mult_adds):
    # convnext_tiny on 1x3x288x288, FlopCounterMode: convolution 484,289,280 + addmm
    # 6,880,475,136
    t = totals(f"convnext@resolution={resolution}")
    assert (t.params, t.mult_adds) == (28_589_128, mult_adds) \
        == convnext_count([96, 192, 384, 768], [3, 3, 9, 3], resolution)


# -- ViT ---------------------------------------------------------------------------------------

VIT = [
    # variant, (patch, layers, hidden, heads, mlp), resolution, num_params, "_ops", by op
    ("b_16", (16, 12, 768, 12, 3072), 224, 86_567_656, 17.564,
     {"aten.convolution": 115_605_504, "aten.addmm": 16_732_895_232, "aten.bmm": 715_327_488}),
    ("b_16", (16, 12, 768, 12, 3072), 384, 86_859_496, 55.484,           # SWAG_E2E
     {"aten.convolution": 339_738_624, "aten.addmm": 49_008_064_512,
      "aten.bmm": 6_136_547_328}),
    ("b_32", (32, 12, 768, 12, 3072), 224, 88_224_232, 4.409,
     {"aten.convolution": 115_605_504, "aten.addmm": 4_247_500_800, "aten.bmm": 46_080_000}),
    ("l_16", (16, 24, 1024, 16, 4096), 224, 304_326_632, 61.555,
     {"aten.convolution": 154_140_672, "aten.addmm": 59_493_031_936,
      "aten.bmm": 1_907_539_968}),
    ("l_16", (16, 24, 1024, 16, 4096), 512, 305_174_504, 361.986,        # SWAG_E2E
     {"aten.convolution": 805_306_368, "aten.addmm": 309_540_659_200,
      "aten.bmm": 51_640_320_000}),
    ("l_32", (32, 24, 1024, 16, 4096), 224, 306_535_400, 15.378,
     {"aten.convolution": 154_140_672, "aten.addmm": 15_100_518_400, "aten.bmm": 122_880_000}),
]


@pytest.mark.parametrize("variant, design, resolution, params, gflops, flop_counter", VIT,
                         ids=[f"{row[0]}-{row[2]}" for row in VIT])
def test_vit_torchvision(variant, design, resolution, params, gflops, flop_counter):
    ref = f"vit@{variant},resolution={resolution}"
    t = totals(ref)
    assert t.params == params
    assert t.mult_adds == sum(flop_counter.values())
    assert round(t.mult_adds / 1e9, 3) == gflops
    assert by_aten(ref) == flop_counter
    assert (t.params, t.mult_adds) == vit_count(*design, resolution)


def test_vit_gflops_include_the_attention_matmuls():
    # torchvision's 17.564 for vit_b_16 counts Q K^T and A V: 12 layers x 12 heads x 197 x
    # 197 x 64, twice = 715,327,488; without them the total would round to 16.849
    t = totals("vit")
    attention = 12 * 2 * 12 * 197 * 197 * 64
    assert attention == 715_327_488 == by_aten("vit")["aten.bmm"]
    assert round(t.mult_adds / 1e9, 3) == 17.564
    assert round((t.mult_adds - attention) / 1e9, 3) == 16.849


def test_vit_block_arithmetic():
    # encoder.layer1 of ViT-B/16, 197 tokens of 768: ln_1 1,536; in_proj 768 * 2,304 + 2,304;
    # out_proj 768 * 768 + 768; ln_2 1,536; MLP 768 * 3,072 + 3,072 and 3,072 * 768 + 768
    params = 1_536 + 1_771_776 + 590_592 + 1_536 + 2_362_368 + 2_360_064
    # the linears on 197 tokens, and 12 heads x 197 x 197 x 64 twice
    mult_adds = 197 * (768 * 2304 + 768 * 768 + 2 * 768 * 3072) + 2 * 12 * 197 * 197 * 64
    assert under("vit", "encoder.layer1") == (params, mult_adds) == (7_087_872, 1_453_954_560)
    s = shapes("vit")
    assert s["conv_proj"] == (1, 768, 14, 14)
    assert s["to_tokens"] == (1, 196, 768)
    assert s["class_token"] == (1, 197, 768)
    assert s["encoder.layer1.self_attention.q_heads.permute"] == (1, 12, 197, 64)
    assert s["encoder.layer1.self_attention.sdpa"] == (1, 12, 197, 64)
    assert s["encoder.layer12.add2"] == (1, 197, 768) and "encoder.layer13.add2" not in s
    assert s["cls"] == (1, 768) and s["head"] == (1, 1000)
    costs = layer_costs(analysis("vit"))
    assert costs["class_token"].params == 768
    assert costs["encoder.pos_embedding"].params == 197 * 768


def test_vit_resolution_builds_another_model():
    # the position embedding has a row per token: (384 / 16)^2 + 1 = 577 rows instead of 197
    assert totals("vit@resolution=384").params - totals("vit").params == (577 - 197) * 768


def test_vit_variants_are_torchvision_models():
    assert list({e.name: e.variants for e in catalog()}["vit"]) == ["b_16", "b_32", "l_16",
                                                                    "l_32"]
    assert totals("vit") == totals("vit@b_16")
    for variant, design, *_ in VIT:
        variables = dict(load_model(f"vit@{variant}").variables)
        assert tuple(variables[k] for k in ("patch", "layers", "hidden", "heads", "mlp")) \
            == design


# -- Swin --------------------------------------------------------------------------------------

SWIN = [
    # variant, (embed, depths, heads), resolution, window, num_params, "_ops", by op
    ("t", (96, [2, 2, 6, 2], [3, 6, 12, 24]), 224, 7, 28_288_354, 4.491,
     {"aten.convolution": 14_450_688, "aten.addmm": 4_162_566_144, "aten.bmm": 140_141_568,
      "aten.mm": 173_408_256}),
    ("s", (96, [2, 2, 18, 2], [3, 6, 12, 24]), 224, 7, 49_606_258, 8.741,
     {"aten.convolution": 14_450_688, "aten.addmm": 8_324_364_288, "aten.bmm": 228_652_032,
      "aten.mm": 173_408_256}),
    ("b", (128, [2, 2, 18, 2], [4, 8, 16, 32]), 224, 7, 87_768_224, 15.431,
     {"aten.convolution": 19_267_584, "aten.addmm": 14_798_528_512, "aten.bmm": 304_869_376,
      "aten.mm": 308_281_344}),
    # no published weights: swin_t's layout at 448 (stage4 14x14, so its odd blocks shift
    # too), and SwinTransformer([4, 4], 96, [2, 2, 6, 2], [3, 6, 12, 24], [8, 8]) at 256
    ("t", (96, [2, 2, 6, 2], [3, 6, 12, 24]), 448, 7, 28_288_354, None,
     {"aten.convolution": 57_802_752, "aten.addmm": 16_647_960_576, "aten.bmm": 560_566_272,
      "aten.mm": 693_633_024}),
    ("t", (96, [2, 2, 6, 2], [3, 6, 12, 24]), 256, 8, 28_296_082, None,
     {"aten.convolution": 18_874_368, "aten.addmm": 5_436_585_984, "aten.bmm": 239_075_328,
      "aten.mm": 226_492_416}),
]


@pytest.mark.parametrize("variant, design, resolution, window, params, gflops, flop_counter",
                         SWIN, ids=[f"{r[0]}-{r[2]}-w{r[3]}" for r in SWIN])
def test_swin_torchvision(variant, design, resolution, window, params, gflops, flop_counter):
    ref = f"swin@{variant},resolution={resolution},window={window}"
    t = totals(ref)
    assert t.params == params
    assert t.mult_adds == sum(flop_counter.values())
    if gflops is not None:
        assert round(t.mult_adds / 1e9, 3) == gflops
    assert by_aten(ref) == flop_counter
    assert (t.params, t.mult_adds) == swin_count(*design, window, resolution)


def test_swin_block_arithmetic():
    # stage1.block2 of Swin-T (shifted), C = 96, 3 heads of 32, 56x56 in 64 windows of 7x7:
    # norm1 192; qkv 288 * 96 + 288 = 27,936; proj 96 * 96 + 96 = 9,312; the bias table
    # (2 * 7 - 1)^2 * 3 = 507; norm2 192; MLP 384 * 96 + 384 = 37,248 and 96 * 384 + 96 = 36,960
    params = 192 + 27_936 + 9_312 + 507 + 192 + 37_248 + 36_960
    # the linears on 3,136 tokens; Q K^T and A V: 64 windows x 3 heads x 49 x 49 x 32 each
    mult_adds = 3136 * (288 * 96 + 96 * 96 + 2 * 384 * 96) + 2 * 64 * 3 * 49 * 49 * 32
    assert under("swin", "stage1.block2") == (params, mult_adds) == (112_347, 376_320_000)
    assert under("swin", "stage1.block1") == under("swin", "stage1.block2")  # the shift is free
    s = shapes("swin")
    assert s["stem.norm"] == (1, 56, 56, 96)
    assert s["stage1.block1.attn.partition"] == (64, 49, 96)
    assert s["stage1.block1.attn.q"] == (64, 3, 49, 32)
    assert s["stage1.block1.attn.logits"] == (64, 3, 49, 49)
    assert s["stage1.block2.attn.mask_view"] == (1, 64, 3, 49, 49)
    assert s["stage1.block1.attn.reverse"] == (1, 56, 56, 96)
    # the odd blocks roll (shift 3) and add the mask; stage4's 7x7 map is one window: no shift
    rolled = sorted(n for n in s if n.endswith(".attn.roll"))
    assert rolled == ["stage1.block2.attn.roll", "stage2.block2.attn.roll",
                      "stage3.block2.attn.roll", "stage3.block4.attn.roll",
                      "stage3.block6.attn.roll"]
    assert sum(n.endswith(".attn.mask") for n in s) == 5
    # PatchMerging: 56x56x96 -> 28x28x384 -> LayerNorm -> 28x28x192, 384 * 192 weights, no bias
    assert s["merge1.joined"] == (1, 28, 28, 384)
    costs = layer_costs(analysis("swin"))
    assert costs["merge1.reduction"].params == 384 * 192
    assert costs["merge1.reduction"].mult_adds == 28 * 28 * 384 * 192
    assert costs["stage1.block1.attn.rel_pos_bias"].params == 13 * 13 * 3
    assert s["stage4.block2.add2"] == (1, 7, 7, 768) and s["head"] == (1, 1000)


def test_swin_resolution_that_needs_padding_is_refused():
    # 256 / 4 = 64 is no multiple of 7: torchvision pads, this spec cannot (see the spec)
    result = cli("analyze", "swin@resolution=256")
    assert result.exit_code == 2 and result.stdout == ""
    assert "window=7 must divide the height 64" in result.stderr


def test_swin_variants_are_torchvision_models():
    assert list({e.name: e.variants for e in catalog()}["swin"]) == ["t", "s", "b"]
    assert totals("swin") == totals("swin@t")
    for variant, (embed, depths, heads), *_ in SWIN[:3]:
        variables = dict(load_model(f"swin@{variant}").variables)
        assert (variables["embed_dim"], variables["depths"], variables["num_heads"]) == \
            (embed, depths, heads)


# -- All three: the CLI, sweeps --------------------------------------------------------------


@pytest.mark.parametrize("spec, blocks", [
    ("convnext", ["stem", "stage1", "down1", "stage2", "down2", "stage3", "down3", "stage4",
                  "avgpool", "norm", "flatten", "fc"]),
    ("vit", ["conv_proj", "flatten", "to_tokens", "class_token", "encoder", "cls", "head"]),
    ("swin", ["stem", "stage1", "merge1", "stage2", "merge2", "stage3", "merge3", "stage4",
              "norm", "to_nchw", "avgpool", "flatten", "head"]),
])
def test_analyses_cleanly_and_shows_its_blocks(spec, blocks):
    result = cli("analyze", spec, "--strict")
    assert result.exit_code == 0 and result.stderr == ""
    report = cli_json("analyze", spec, "--by", "block")
    assert report["warnings"] == []
    assert [row["name"] for row in report["blocks"]] == blocks
    guidelines = cli("guidelines", spec)
    assert guidelines.exit_code == 0, guidelines.stderr


@pytest.mark.parametrize("spec, grid, row, want", [
    ("convnext", "resolution=224:384:32", 2, 288),
    ("vit", "resolution=224:384:32", 2, 288),
    ("swin", "resolution=224,448", 1, 448),
])
def test_a_sweep_row_equals_analyze(spec, grid, row, want):
    result = cli("sweep", spec, "--grid", grid, "--format", "csv")
    assert result.exit_code == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert int(rows[row]["resolution"]) == want
    expected = cli_json("analyze", f"{spec}@resolution={want}")["totals"]
    got = rows[row]
    assert (int(got["params"]), int(got["mult_adds"]), int(got["mem_access"])) == \
        (expected["params"], expected["mult_adds"], expected["mem_access"])
