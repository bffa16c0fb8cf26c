"""Other tools' figures (cnncost/conventions.py, docs/conventions.md): fvcore's, ptflops',
thop's and torchinfo's totals on torchvision networks reproduced exactly from the specs, each
with its parts; single layers; the batch; explain's rows summing to the gap; the CLI.

Where the numbers come from. Every total and part below is the tool's own output, recorded on
2026-12-01 with fvcore 0.1.5.post20221221, ptflops 0.7.5, thop 0.1.1.post2209072238 and
torchinfo 1.8.0, on torch 2.14.1+cu130, torchvision 0.29.1+cu130, Python 3.11.7, CPU, one
thread. Recipe: ``torchvision.models.<name>(weights=None)`` after ``torch.manual_seed(0)``,
``model.eval()``, ``x = torch.randn(1, 3, 224, 224)``, a fresh model for every run, then

- fvcore: ``FlopCountAnalysis(model, x).total()`` (its ``by_operator()`` gives the parts);
- ptflops: ``get_model_complexity_info(model, (3, 224, 224), as_strings=False,
  print_per_layer_stat=False)[0]`` (backend pytorch, the default), and the same with
  ``backend='aten'``; parts from its per-module hooks and patched-function wrappers;
- thop: ``profile(model, inputs=(x,))[0]`` (a float, integral here); parts per module;
- torchinfo: ``summary(model, input_size=(1, 3, 224, 224), verbose=0).total_mult_adds``;
  parts per layer.

googlenet is built with torchvision's defaults for weights=None (aux_logits=True): in eval its
auxiliary heads do not run, so no tool counts them. The single-layer figures were recorded the
same way on one module (or a small module whose forward makes the call) and a 1x8x14x14 input.
No test runs PyTorch.
"""

from __future__ import annotations

import csv
import io
import json

import pytest

from cnncost.conventions.tools import (ACTIVATIONS, BIASES, CONVENTIONS, NAMES, NORM, PER_SAMPLE,
                                 POOLING, PRODUCTS, tally)
from cnncost.frontends.library import load_model
from conftest import build_model, cli, cli_json

TOOLS = ("fvcore", "ptflops", "ptflops-aten", "thop", "torchinfo")

# network: (bundled spec, mult_adds = conv + linear multiply-accumulates,
#           {tool: (recorded total, its parts beyond mult_adds)}).
# Element counts (torchvision's forward, instrumented): BN = batch norm elements (channels),
# ReLU = elements through nn.ReLU, pool = input elements of the adaptive average pools.
RECORDED = {
    # 52 BN on 6,678,112 (17,056 channels); 35 nn.ReLU6 on 6,105,792; classifier bias 1,000;
    # the global pool is F.adaptive_avg_pool2d (a function) on 1280 x 7 x 7 = 62,720
    "mobilenet_v2": ("mobilenet_v2", 300_774_272, {
        "fvcore": (314_193_216, {NORM: 2 * 6_678_112, POOLING: 62_720}),
        "ptflops": (320_300_008, {BIASES: 1_000, NORM: 2 * 6_678_112, ACTIVATIONS: 6_105_792,
                                  POOLING: 62_720}),
        "ptflops-aten": (300_775_272, {BIASES: 1_000}),
        "thop": (327_486_720, {NORM: 4 * 6_678_112}),
        "torchinfo": (300_809_384, {BIASES: 1_000, NORM: 2 * 17_056}),
    }),
    # BN 4,399,808 (12,200 ch); nn.ReLU 2,315,392; conv biases 5,080 (SE), linear 2,280;
    # 9 nn.AdaptiveAvgPool2d(1): 644,448 in, 5,016 out; hardswish, hardsigmoid: 0 everywhere
    "mobilenet_v3_large": ("mobilenet_v3_large", 216_589_760, {
        "fvcore": (226_033_824, {NORM: 2 * 4_399_808, POOLING: 644_448}),
        "ptflops": (231_316_416, {BIASES: 5_080 + 2_280, NORM: 2 * 4_399_808,
                                  ACTIVATIONS: 2 * 2_315_392, POOLING: 2 * 644_448}),
        "ptflops-aten": (216_597_120, {BIASES: 5_080 + 2_280}),
        "thop": (234_838_456, {NORM: 4 * 4_399_808, POOLING: 644_448 + 5_016}),
        "torchinfo": (216_621_520, {BIASES: 5_080 + 2_280, NORM: 2 * 12_200}),
    }),
    # BN 1,412,768 (6,056 ch); nn.ReLU 470,992; biases 2,888 + 2,024; pools 313,600 in, 2,872 out
    "mobilenet_v3_small": ("mobilenet_v3_small", 56_510_400, {
        "fvcore": (59_649_536, {NORM: 2 * 1_412_768, POOLING: 313_600}),
        "ptflops": (60_910_032, {BIASES: 2_888 + 2_024, NORM: 2 * 1_412_768,
                                 ACTIVATIONS: 2 * 470_992, POOLING: 2 * 313_600}),
        "ptflops-aten": (56_515_312, {BIASES: 2_888 + 2_024}),
        "thop": (62_477_944, {NORM: 4 * 1_412_768, POOLING: 313_600 + 2_872}),
        "torchinfo": (56_527_424, {BIASES: 2_888 + 2_024, NORM: 2 * 6_056}),
    }),
    # BN 1,950,200 (8,090 ch); nn.ReLU 1,488,032; nn.MaxPool2d on 301,056; x.mean([2, 3]): 0
    "shufflenet_v2_x1_0": ("shufflenet_v2@1.0x", 144_907_992, {
        "fvcore": (148_808_392, {NORM: 2 * 1_950_200}),
        "ptflops": (152_387_568, {BIASES: 1_000, NORM: 2 * 1_950_200,
                                  ACTIVATIONS: 2 * 1_488_032, POOLING: 2 * 301_056}),
        "ptflops-aten": (144_908_992, {BIASES: 1_000}),
        "thop": (152_708_792, {NORM: 4 * 1_950_200}),
        "torchinfo": (144_925_172, {BIASES: 1_000, NORM: 2 * 8_090}),
    }),
    # BN 2,483,712 (4,800 ch); nn.ReLU 2,308,096; maxpool on 802,816; avgpool 25,088 in, 512 out
    "resnet18": ("resnet18", 1_814_073_344, {
        "fvcore": (1_819_065_856, {NORM: 2 * 2_483_712, POOLING: 25_088}),
        "ptflops": (1_825_313_768, {BIASES: 1_000, NORM: 2 * 2_483_712,
                                    ACTIVATIONS: 2 * 2_308_096,
                                    POOLING: 2 * 802_816 + 2 * 25_088}),
        "ptflops-aten": (1_814_074_344, {BIASES: 1_000}),
        "thop": (1_824_033_792, {NORM: 4 * 2_483_712, POOLING: 512 * (7 * 7 + 1)}),
        "torchinfo": (1_814_083_944, {BIASES: 1_000, NORM: 2 * 4_800}),
    }),
    # BN 11,113,984 (26,560 ch); nn.ReLU 9,608,704; maxpool on 802,816; avgpool 100,352 in
    "resnet50": ("resnet50", 4_089_184_256, {
        "fvcore": (4_111_512_576, {NORM: 2 * 11_113_984, POOLING: 100_352}),
        "ptflops": (4_132_436_968, {BIASES: 1_000, NORM: 2 * 11_113_984,
                                    ACTIVATIONS: 2 * 9_608_704,
                                    POOLING: 2 * 802_816 + 2 * 100_352}),
        "ptflops-aten": (4_089_185_256, {BIASES: 1_000}),
        "thop": (4_133_742_592, {NORM: 4 * 11_113_984, POOLING: 2048 * (7 * 7 + 1)}),
        "torchinfo": (4_089_238_376, {BIASES: 1_000, NORM: 2 * 26_560}),
    }),
    # no BN; 26 conv biases on 4,346,248; nn.ReLU 4,346,248; maxpools on 2,260,320;
    # the final nn.AdaptiveAvgPool2d on 1000 x 13 x 13 = 169,000
    "squeezenet1_0": ("squeezenet@1.0", 818_924_576, {
        "fvcore": (819_093_576, {POOLING: 169_000}),
        "ptflops": (836_821_960, {BIASES: 4_346_248, ACTIVATIONS: 2 * 4_346_248,
                                  POOLING: 2 * 2_260_320 + 2 * 169_000}),
        "ptflops-aten": (823_270_824, {BIASES: 4_346_248}),
        "thop": (819_094_576, {POOLING: 1000 * (13 * 13 + 1)}),
        "torchinfo": (823_270_824, {BIASES: 4_346_248}),
    }),
    # conv biases 2,589,352; nn.ReLU 2,589,352; maxpools on 1,362,368; avgpool 169,000
    "squeezenet1_1": ("squeezenet@1.1", 349_151_936, {
        "fvcore": (349_320_936, {POOLING: 169_000}),
        "ptflops": (359_982_728, {BIASES: 2_589_352, ACTIVATIONS: 2 * 2_589_352,
                                  POOLING: 2 * 1_362_368 + 2 * 169_000}),
        "ptflops-aten": (351_741_288, {BIASES: 2_589_352}),
        "thop": (349_321_936, {POOLING: 1000 * (13 * 13 + 1)}),
        "torchinfo": (351_741_288, {BIASES: 2_589_352}),
    }),
    # conv biases 484,992, linear 9,192; nn.ReLU 493,184; maxpools on 376,832;
    # nn.AdaptiveAvgPool2d((6, 6)) on 256 x 6 x 6 = 9,216 (ratio 1: thop 2 per output)
    "alexnet": ("alexnet", 714_188_480, {
        "fvcore": (714_197_696, {POOLING: 9_216}),
        "ptflops": (716_441_128, {BIASES: 484_992 + 9_192, ACTIVATIONS: 2 * 493_184,
                                  POOLING: 2 * 376_832 + 2 * 9_216}),
        "ptflops-aten": (714_682_664, {BIASES: 484_992 + 9_192}),
        "thop": (714_206_912, {POOLING: (1 + 1) * 9_216}),
        "torchinfo": (714_682_664, {BIASES: 484_992 + 9_192}),
    }),
    # conv biases 13,547,520, linear 9,192; nn.ReLU 13,555,712; maxpools on 6,121,472;
    # nn.AdaptiveAvgPool2d((7, 7)) on 512 x 7 x 7 = 25,088
    "vgg16": ("vgg16", 15_470_264_320, {
        "fvcore": (15_470_289_408, {POOLING: 25_088}),
        "ptflops": (15_523_225_576, {BIASES: 13_547_520 + 9_192,
                                     ACTIVATIONS: 2 * 13_555_712,
                                     POOLING: 2 * 6_121_472 + 2 * 25_088}),
        "ptflops-aten": (15_483_821_032, {BIASES: 13_547_520 + 9_192}),
        "thop": (15_470_314_496, {POOLING: (1 + 1) * 25_088}),
        "torchinfo": (15_483_821_032, {BIASES: 13_547_520 + 9_192}),
    }),
    # BN 3,226,160 (7,280 ch); the ReLUs are F.relu calls in BasicConv2d (3,226,160: once in
    # ptflops, never in thop); 13 nn.MaxPool2d on 2,875,712; avgpool 50,176 in, 1,024 out
    "googlenet": ("googlenet", 1_498_376_192, {
        "fvcore": (1_504_878_688, {NORM: 2 * 3_226_160, POOLING: 50_176}),
        "ptflops": (1_513_907_448, {BIASES: 1_000, NORM: 2 * 3_226_160,
                                    ACTIVATIONS: 3_226_160,
                                    POOLING: 2 * 2_875_712 + 2 * 50_176}),
        "ptflops-aten": (1_498_377_192, {BIASES: 1_000}),
        "thop": (1_511_332_032, {NORM: 4 * 3_226_160, POOLING: 50_176 + 1_024}),
        "torchinfo": (1_498_391_752, {BIASES: 1_000, NORM: 2 * 7_280}),
    }),
    # BN 6,737,696 (21,008 ch); nn.SiLU 6,157,916 (F.silu inside: once in ptflops); conv
    # biases 9,340 (SE), linear 1,000; 17 nn.AdaptiveAvgPool2d: 2,369,248 in, 10,240 out
    "efficientnet_b0": ("efficientnet_b0", 385_814_752, {
        "fvcore": (401_659_392, {NORM: 2 * 6_737_696, POOLING: 2_369_248}),
        "ptflops": (410_196_896, {BIASES: 9_340 + 1_000, NORM: 2 * 6_737_696,
                                  ACTIVATIONS: 6_157_916, POOLING: 2 * 2_369_248}),
        "ptflops-aten": (385_825_092, {BIASES: 9_340 + 1_000}),
        "thop": (415_145_024, {NORM: 4 * 6_737_696, POOLING: 2_369_248 + 10_240}),
        "torchinfo": (385_867_108, {BIASES: 9_340 + 1_000, NORM: 2 * 21_008}),
    }),
    # BN 5,456,640 (18,960 ch); nn.ReLU 4,798,080; x.mean([2, 3]): 0 everywhere
    "mnasnet1_0": ("mnasnet@1.0", 314_415_872, {
        "fvcore": (325_329_152, {NORM: 2 * 5_456_640}),
        "ptflops": (334_926_312, {BIASES: 1_000, NORM: 2 * 5_456_640,
                                  ACTIVATIONS: 2 * 4_798_080}),
        "ptflops-aten": (314_416_872, {BIASES: 1_000}),
        "thop": (336_242_432, {NORM: 4 * 5_456_640}),
        "torchinfo": (314_454_792, {BIASES: 1_000, NORM: 2 * 18_960}),
    }),
}
CASES = [(network, tool) for network in RECORDED for tool in TOOLS]


@pytest.fixture(scope="module")
def models():
    return {network: load_model(spec) for network, (spec, _, _) in RECORDED.items()}


@pytest.mark.parametrize("network,tool", CASES, ids=[f"{n}-{t}" for n, t in CASES])
def test_recorded_totals_are_reproduced_exactly(models, network, tool):
    _, mult_adds, recorded = RECORDED[network]
    total, parts = recorded[tool]
    assert mult_adds + sum(parts.values()) == total  # the recorded parts add up
    t = tally(models[network], tool)
    assert t.mult_adds == mult_adds
    assert t.figure == total
    assert {c: count for c, _, count in t.by_category()} == {PRODUCTS: mult_adds, **parts}


def test_the_issues_figures_for_mobilenet_v2():
    m = load_model("mobilenet_v2")
    figures = {name: tally(m, name).figure for name in ("fvcore", "ptflops", "thop", "paper")}
    assert figures == {"fvcore": 314_193_216, "ptflops": 320_300_008, "thop": 327_486_720,
                       "paper": 300_774_272}


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("network", ["mobilenet_v3_small", "googlenet", "efficientnet_b0"])
def test_every_layer_sums_to_the_gap(models, network, name):
    t = tally(models[network], name)
    assert sum(layer.difference for layer in t.layers) == t.difference
    assert sum(item.count for layer in t.layers for item in layer.items) == t.figure
    assert sum(count for _, _, count in t.by_category()) == t.figure
    if name == "paper":
        assert t.figure == t.mult_adds and t.difference == 0


# -- single layers -----------------------------------------------------------------------
# A one-layer spec on a 1x8x14x14 input (1,568 elements), and each tool's recorded figure for
# the same PyTorch layer: (fvcore, ptflops, ptflops-aten, thop, torchinfo).

CONV = "{op: conv2d, out_channels: 16, kernel: 3, padding: 1"
SINGLE = {
    # 16 x 14 x 14 outputs x 3 x 3 x 8 = 225,792; the bias 16 x 14 x 14 = 3,136
    "nn.Conv2d(8, 16, 3, padding=1)": (CONV + ", bias: true}", (225_792, 228_928, 228_928,
                                                                 225_792, 228_928)),
    "nn.Conv2d(8, 16, 3, padding=1, bias=False)": (CONV + ", bias: false}", (225_792,) * 5),
    "nn.Conv2d(..., groups=4, bias=False)": (CONV + ", groups: 4, bias: false}", (56_448,) * 5),
    # depthwise: 8 x 196 x 9 = 14,112, bias 1,568
    "nn.Conv2d(8, 8, 3, padding=1, groups=8)": (
        "{op: conv2d, out_channels: 8, kernel: 3, padding: 1, groups: 8, bias: true}",
        (14_112, 15_680, 15_680, 14_112, 15_680)),
    # 14 -> 28: mult_adds 1,568 inputs x 3 x 3 x 4 = 56,448; bias 4 x 28 x 28 = 3,136; thop:
    # 3,136 outputs x 8 x 9 = 225,792; torchinfo: 288 weights x 784 positions + 3,136
    "nn.ConvTranspose2d(8, 4, 3, 2, 1, 1)": (
        "{op: conv_transpose2d, out_channels: 4, kernel: 3, stride: 2, padding: 1, "
        "output_padding: 1, bias: true}", (56_448, 59_584, 59_584, 225_792, 228_928)),
    "nn.ConvTranspose2d(8, 4, 3, 2, 1, 1, groups=2, bias=False)": (
        "{op: conv_transpose2d, out_channels: 4, kernel: 3, stride: 2, padding: 1, "
        "output_padding: 1, groups: 2}", (28_224, 28_224, 28_224, 112_896, 112_896)),
    # 1,568 elements: fvcore 2 per element, thop 4, torchinfo 2 x 8 channels
    "nn.BatchNorm2d(8)": ("{op: batchnorm}", (3_136, 3_136, 0, 6_272, 16)),
    "nn.BatchNorm2d(8, affine=False)": ("{op: batchnorm, affine: false}",
                                        (1_568, 1_568, 0, 3_136, 0)),
    "nn.ReLU()": ("{op: relu}", (0, 3_136, 0, 0, 0)),  # ptflops: hook + F.relu inside
    "F.relu": ("{op: relu, torch_call: functional}", (0, 1_568, 0, 0, 0)),
    "nn.ReLU6()": ("{op: relu6}", (0, 1_568, 0, 0, 0)),  # its F.hardtanh is not patched
    "F.relu6": ("{op: relu6, torch_call: functional}", (0, 1_568, 0, 0, 0)),
    "nn.LeakyReLU()": ("{op: leaky_relu}", (0, 1_568, 0, 0, 0)),
    "F.leaky_relu": ("{op: leaky_relu, torch_call: functional}", (0,) * 5),
    "nn.GELU()": ("{op: gelu}", (0, 3_136, 0, 0, 0)),
    "F.gelu": ("{op: gelu, torch_call: functional}", (0, 1_568, 0, 0, 0)),
    "nn.SiLU()": ("{op: swish}", (0, 1_568, 0, 0, 0)),  # no hook; F.silu inside
    "F.silu": ("{op: swish, torch_call: functional}", (0, 1_568, 0, 0, 0)),
    "nn.PReLU(8)": ("{op: prelu}", (0, 3_136, 0, 1_568, 8)),
    "nn.PReLU()": ("{op: prelu, shared: true}", (0, 3_136, 0, 1_568, 1)),
    "nn.Hardswish()": ("{op: hardswish}", (0,) * 5),
    "F.hardswish": ("{op: hardswish, torch_call: functional}", (0,) * 5),
    "nn.Hardsigmoid()": ("{op: hardsigmoid}", (0,) * 5),
    "nn.Sigmoid()": ("{op: sigmoid}", (0,) * 5),
    "nn.Tanh()": ("{op: tanh}", (0,) * 5),
    "nn.Hardtanh(0, 6)": ("{op: clip, low: 0, high: 6}", (0,) * 5),
    # thop: 196 positions x (3 x 8 - 1) = 4,508
    "nn.Softmax(dim=1)": ("{op: softmax}", (0, 1_568, 0, 4_508, 0)),
    "nn.MaxPool2d(3, 2, 1)": ("{op: maxpool, kernel: 3, stride: 2, padding: 1}",
                              (0, 3_136, 0, 0, 0)),
    "F.max_pool2d(x, 2)": ("{op: maxpool, kernel: 2, torch_call: functional}",
                           (0, 1_568, 0, 0, 0)),
    "nn.AvgPool2d(2, 2)": ("{op: avgpool, kernel: 2}", (0, 3_136, 0, 392, 0)),  # thop: outputs
    "nn.AvgPool2d(3, 1, 1)": ("{op: avgpool, kernel: 3, stride: 1, padding: 1}",
                              (0, 3_136, 0, 1_568, 0)),
    "F.avg_pool2d(x, 3, 1, 1)": ("{op: avgpool, kernel: 3, stride: 1, padding: 1, "
                                 "torch_call: functional}", (0, 1_568, 0, 0, 0)),
    # thop: 8 outputs x (14 x 14 + 1) = 1,576
    "nn.AdaptiveAvgPool2d(1)": ("{op: global_avgpool}", (1_568, 3_136, 0, 1_576, 0)),
    "F.adaptive_avg_pool2d(x, 1)": ("{op: global_avgpool, torch_call: functional}",
                                    (1_568, 1_568, 0, 0, 0)),
    # thop: 392 outputs x (2 x 2 + 1) = 1,960; 200 x (2.8 x 2.8 + 1) = 1,768
    "nn.AdaptiveAvgPool2d(7)": ("{op: adaptive_avgpool, size: 7}", (1_568, 3_136, 0, 1_960, 0)),
    "nn.AdaptiveAvgPool2d(5)": ("{op: adaptive_avgpool, size: 5}", (1_568, 3_136, 0, 1_768, 0)),
    "F.adaptive_avg_pool2d(x, 4)": ("{op: adaptive_avgpool, size: 4, torch_call: functional}",
                                    (1_568, 1_568, 0, 0, 0)),
    "x.mean([2, 3])": ("{op: reduce_mean, axes: [2, 3]}", (0,) * 5),
    # 14 -> 28: 6,272 outputs; fvcore nearest 1, bilinear 4; thop 1, 11, 259
    "nn.Upsample(scale_factor=2)": ("{op: upsample, size: 28}", (6_272, 12_544, 0, 6_272, 0)),
    "F.interpolate(x, scale_factor=2)": ("{op: upsample, size: 28, torch_call: functional}",
                                         (6_272, 6_272, 0, 0, 0)),
    "nn.Upsample(scale_factor=2, mode='bilinear')": ("{op: upsample, size: 28, mode: linear}",
                                                     (25_088, 12_544, 0, 68_992, 0)),
    "nn.Upsample(scale_factor=2, mode='bicubic')": ("{op: upsample, size: 28, mode: cubic}",
                                                    (0, 12_544, 0, 1_624_448, 0)),
    # ptflops: x.mul(x), .mul(alpha), .add(k): 3 x 1,568, and the average over channels of the
    # squares padded to 8 + 4 channels: 12 x 196 = 2,352
    "nn.LocalResponseNorm(5)": ("{op: lrn, size: 5}", (0, 7_056, 0, 0, 0)),
    "x + x": ("{op: add, inputs: [input, input]}", (0,) * 5),
    "torch.add(x, x)": ("{op: add, inputs: [input, input], torch_call: functional}",
                        (0, 1_568, 0, 0, 0)),
    "x * x": ("{op: mul, inputs: [input, input]}", (0,) * 5),
    "torch.mul(x, x)": ("{op: mul, inputs: [input, input], torch_call: functional}",
                        (0, 1_568, 0, 0, 0)),
    "torch.cat([x, x], 1)": ("{op: concat, inputs: [input, input]}", (0,) * 5),
    "nn.Dropout(0.5)": ("{op: dropout, p: 0.5}", (0,) * 5),
    "nn.Flatten()": ("{op: flatten}", (0,) * 5),
    "nn.Identity()": ("{op: identity}", (0,) * 5),
}
SINGLE_VECTOR = {  # on a 1x8 or 1x10 input
    "nn.Linear(8, 4)": ([8], "{op: linear, out_features: 4}", (32, 36, 36, 32, 36)),
    "nn.Linear(8, 4, bias=False)": ([8], "{op: linear, out_features: 4, bias: false}",
                                    (32,) * 5),
    "nn.Softmax(dim=1) on 1x10": ([10], "{op: softmax}", (0, 10, 0, 29, 0)),  # thop 3 x 10 - 1
}


def one_layer(layer: str, shape: list[int], batch: int = 1):
    return build_model(f"""
        name: single
        input: {{shape: {shape}, batch: {batch}}}
        layers:
          - {layer}
        """)


@pytest.mark.parametrize("probe", list(SINGLE) + list(SINGLE_VECTOR))
def test_single_layers_as_recorded(probe):
    if probe in SINGLE:
        (layer, expected), shape = SINGLE[probe], [8, 14, 14]
    else:
        shape, layer, expected = SINGLE_VECTOR[probe]
    model = one_layer(layer, shape)
    assert tuple(tally(model, name).figure for name in TOOLS) == expected


def test_matmul_operator_and_function():
    """Recorded on x (1x8x14x14) @ w (14x5): 1,568 x 5 = 7,840 (fvcore, ptflops-aten), and by
    ptflops only for torch.matmul; thop and torchinfo count no function. Here the second
    operand is an activation slice of the same 14x5 shape."""
    def spec(call: str):
        return build_model(f"""
            name: matmul
            input: {{shape: [8, 14, 14]}}
            layers:
              - {{name: one, op: slice, start: 0, stop: 1}}
              - {{name: w, op: slice, start: 0, stop: 5, axis: 3}}
              - {{name: product, op: matmul, inputs: [input, w]{call}}}
            """)
    operator, function = spec(""), spec(", torch_call: functional")
    assert tuple(tally(operator, name).figure for name in TOOLS) == (7_840, 0, 7_840, 0, 0)
    assert tuple(tally(function, name).figure for name in TOOLS) == (7_840,) * 3 + (0, 0)
    assert tally(operator, "paper").figure == 8 * 14 * 5 * 14 == 7_840


BATCH_NET = """
    name: batch_probe
    input: {{shape: [8, 14, 14], batch: {batch}}}
    layers:
      - {{name: conv, op: conv2d, out_channels: 16, kernel: 3, padding: 1, bias: true}}
      - {{name: bn, op: batchnorm}}
      - {{name: relu, op: relu}}
      - {{name: pool, op: maxpool, kernel: 2}}
      - {{name: frelu, op: relu, torch_call: functional}}
      - {{name: gap, op: global_avgpool}}
      - {{name: fgap, op: global_avgpool, inputs: frelu, torch_call: functional}}
      - {{name: add, op: add, inputs: [gap, fgap]}}
      - {{name: flatten, op: flatten}}
      - {{name: fc, op: linear, out_features: 10}}
    """


@pytest.mark.parametrize("batch,expected", [
    # recorded on the same network in PyTorch (nn.Conv2d(8, 16, 3, padding=1), BatchNorm2d,
    # ReLU, MaxPool2d(2), F.relu, AdaptiveAvgPool2d(1) and F.adaptive_avg_pool2d of it added,
    # flatten, Linear(16, 10)), input N x 8 x 14 x 14. ptflops divides its module hooks by N
    # but not its patched functions: N=2 is 242,426 a sample from hooks + 17,248 from calls.
    (1, (233_792, 251_050, 229_098, 239_296, 229_130)),
    (2, (467_584, 259_674, 458_196, 478_592, 458_260)),
    (3, (701_376, 268_298, 687_294, 717_888, 687_390)),
])
def test_batch_handling_as_recorded(batch, expected):
    model = build_model(BATCH_NET.format(batch=batch))
    assert tuple(tally(model, name).figure for name in TOOLS) == expected
    t = tally(model, "ptflops")
    per_sample = sum(i.count for layer in t.layers for i in layer.items
                     if i.category == PER_SAMPLE)
    assert per_sample == (0 if batch == 1 else -(batch - 1) * 242_426)


def test_torch_call_is_checked_and_kept():
    model = one_layer("{name: r, op: relu, torch_call: functional}", [8, 14, 14])
    assert [model.graph.nodes[i].name for i in model.torch_functional] == ["r"]
    assert one_layer("{op: relu, torch_call: module}", [8, 14, 14]).torch_functional == ()
    from cnncost.core.errors import SpecError

    with pytest.raises(SpecError) as bad:
        one_layer("{op: relu, torch_call: lambda}", [8, 14, 14])
    assert "torch_call must be module or functional, got 'lambda'" in str(bad.value)


def test_the_bundled_specs_carry_torchvisions_function_calls():
    names = {spec: [load_model(spec).graph.nodes[i].name
                    for i in load_model(spec).torch_functional]
             for spec in ("mobilenet_v2", "googlenet", "googlenet@aux", "resnet18")}
    assert names["mobilenet_v2"] == ["avgpool"]
    assert len(names["googlenet"]) == 57 and all(n.endswith(".relu") for n in names["googlenet"])
    assert {"aux1.pool", "aux1.relu", "aux2.conv.relu"} <= set(names["googlenet@aux"])
    assert names["resnet18"] == []


# -- the command line --------------------------------------------------------------------

def test_cli_choices_are_the_conventions():
    from cnncost.cli import ToolConvention

    assert tuple(c.value for c in ToolConvention) == NAMES == tuple(CONVENTIONS)


def test_analyze_convention_in_every_format():
    table = cli("analyze", "mobilenet_v2", "--convention", "fvcore").stdout
    assert "mobilenet_v2: as fvcore 0.1.5.post20221221 counts it" in table
    assert "314,193,216" in table and "300,774,272" in table and "13,418,944" in table
    assert "not counted by fvcore: relu6 (35 layers), add (10 layers)" in table
    doc = cli_json("analyze", "mobilenet_v2", "--convention", "thop")
    section = doc["tool_convention"]
    assert doc["totals"]["mult_adds"] == section["mult_adds"] == 300_774_272
    assert (section["name"], section["version"]) == ("thop", "0.1.1.post2209072238")
    assert section["figure"] == 327_486_720 and section["difference"] == 4 * 6_678_112
    assert section["by_category"] == [
        {"category": PRODUCTS, "layers": 53, "count": 300_774_272},
        {"category": NORM, "layers": 52, "count": 26_712_448}]
    rows = list(csv.DictReader(io.StringIO(
        cli("analyze", "mobilenet_v2", "--convention", "ptflops", "-f", "csv").stdout)))
    assert {r["item"]: int(r["count"]) for r in rows}["figure"] == 320_300_008
    markdown = cli("analyze", "mobilenet_v2", "--convention", "torchinfo", "-f",
                   "markdown").stdout
    assert "### mobilenet_v2: as torchinfo 1.8.0 counts it" in markdown
    assert "| torchinfo's figure |  | 300,809,384 |" in markdown


def test_analyze_without_convention_is_unchanged():
    assert "tool_convention" not in cli_json("analyze", "mobilenet_v2")


@pytest.mark.parametrize("fmt", ["table", "json", "csv", "markdown"])
def test_explain_in_every_format(fmt):
    result = cli("explain", "resnet18", "--convention", "ptflops", "--format", fmt,
                 env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    if fmt == "json":
        doc = json.loads(out)
        assert list(doc)[:3] == ["cnncost_version", "command", "convention"]
        assert doc["command"] == "explain" and doc["label"] == "resnet18"
        gap = doc["tool_convention"]["difference"]
        assert gap == 1_825_313_768 - 1_814_073_344
        assert sum(r["difference"] for r in doc["by_op"]) == gap
        assert sum(r["difference"] for r in doc["layers"]) == gap
        relu = next(r for r in doc["by_op"] if r["kind"] == "relu")
        assert relu["layers"] == 17 and relu["difference"] == 2 * 2_308_096
    elif fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(out)))
        assert sum(int(r["difference"]) for r in rows) == 1_825_313_768 - 1_814_073_344
        assert rows[0]["kind"] == "batchnorm"  # the largest difference first
    else:
        assert "resnet18: as ptflops 0.7.5 counts it, against mult_adds, by op type" in out
        assert "1,825,313,768" in out and "11,240,424" in out  # the figure and the gap
        assert "nn.ReLU hook: 1 per element; F.relu in it: 1 per element" in out


def test_explain_layer_by_layer():
    doc = cli_json("explain", "googlenet", "--convention", "ptflops", "--layers")
    relu = next(r for r in doc["layers"] if r["name"] == "conv1.relu")
    # F.relu on 64 x 112 x 112: counted once
    assert relu["counted"] == relu["difference"] == 64 * 112 * 112
    assert relu["rule"] == "F.relu: 1 per element" and relu["items"] == {ACTIVATIONS: 802_816}
    rows = list(csv.DictReader(io.StringIO(cli(
        "explain", "googlenet", "--convention", "thop", "--layers", "-f", "csv").stdout)))
    assert rows[0]["name"] == "conv1.conv"
    assert sum(int(r["counted"]) for r in rows) == 1_511_332_032
    table = cli("explain", "googlenet", "--convention", "thop", "--layers").stdout
    assert "googlenet: as thop 0.1.1.post2209072238 counts it, against mult_adds, by layer" \
        in table


def test_explain_paper_has_no_difference():
    doc = cli_json("explain", "shufflenet_v2", "--convention", "paper")
    assert doc["tool_convention"]["difference"] == 0
    assert all(r["difference"] == 0 for r in doc["by_op"])


@pytest.mark.parametrize("args,message", [
    (("explain", "mobilenet_v2"), "Missing option '--convention'"),
    (("explain", "mobilenet_v2", "--convention", "flops"), "'flops' is not one of"),
    (("analyze", "mobilenet_v2", "--convention", "flop"), "is not one of"),
    (("explain", "no_such_spec", "--convention", "thop"), "no such file or bundled spec"),
    (("analyze", "mobilenet_v2", "--convention", "thop", "--layers", "-f", "csv"),
     "--format csv writes one table"),
])
def test_bad_input_exits_2_without_a_traceback(args, message):
    result = cli(*args)
    assert result.exit_code == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""


def test_a_bad_torch_call_in_a_spec_file(write_spec):
    path = write_spec("""
        name: bad
        input: {shape: [3, 8, 8]}
        layers:
          - {op: relu, torch_call: function}
        """)
    result = cli("explain", path, "--convention", "ptflops")
    assert result.exit_code == 2
    assert f"{path}:4" in result.stderr and "torch_call must be module or functional" in \
        result.stderr


def test_the_conventions_document_ships():
    text = cli("docs", "conventions").stdout
    assert text.startswith("# Other tools' figures")
    for c in CONVENTIONS.values():
        assert c.version in text and c.tool in text
