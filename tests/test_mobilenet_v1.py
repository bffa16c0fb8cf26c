"""MobileNet v1 reproduces its published tables exactly.

Sources:
- TF-slim, tensorflow/models research/slim/nets/mobilenet_v1.py, the docstring table of
  "75% Mobilenet V1 (base) with input size 128x128" (reproduced in
  ../shared/seeds/001_3cfeb7786b29950e.txt): conv weights and multiply-adds (its column
  "macs") per layer, base network without the classifier; BN not counted.
- TF-slim, same file, 1.0 Mobilenet V1 (base) at 224x224: 3,185,088 weights and
  567,716,352 multiply-adds.
- Howard et al. 2017 (arXiv:1704.04861), Table 8: 1.0 MobileNet-224 has 4.2M parameters and
  569M mult-adds; Table 2 gives the share of each layer type.
"""

from __future__ import annotations

import pytest

from cnncost.pipeline import analyze
from cnncost.frontends.yamlspec import load_graph
from conftest import SPECS, cli_json

SPEC = SPECS / "mobilenet_v1.yaml"

# TF-slim: (layer, weights, multiply-adds) for alpha=0.75 at 128x128.
TF_SLIM_075_128 = [
    ("Conv2d_0", 648, 2_654_208),
    ("Conv2d_1_depthwise", 216, 884_736),
    ("Conv2d_1_pointwise", 1_152, 4_718_592),
    ("Conv2d_2_depthwise", 432, 442_368),
    ("Conv2d_2_pointwise", 4_608, 4_718_592),
    ("Conv2d_3_depthwise", 864, 884_736),
    ("Conv2d_3_pointwise", 9_216, 9_437_184),
    ("Conv2d_4_depthwise", 864, 221_184),
    ("Conv2d_4_pointwise", 18_432, 4_718_592),
    ("Conv2d_5_depthwise", 1_728, 442_368),
    ("Conv2d_5_pointwise", 36_864, 9_437_184),
    ("Conv2d_6_depthwise", 1_728, 110_592),
    ("Conv2d_6_pointwise", 73_728, 4_718_592),
    ("Conv2d_7_depthwise", 3_456, 221_184),
    ("Conv2d_7_pointwise", 147_456, 9_437_184),
    ("Conv2d_8_depthwise", 3_456, 221_184),
    ("Conv2d_8_pointwise", 147_456, 9_437_184),
    ("Conv2d_9_depthwise", 3_456, 221_184),
    ("Conv2d_9_pointwise", 147_456, 9_437_184),
    ("Conv2d_10_depthwise", 3_456, 221_184),
    ("Conv2d_10_pointwise", 147_456, 9_437_184),
    ("Conv2d_11_depthwise", 3_456, 221_184),
    ("Conv2d_11_pointwise", 147_456, 9_437_184),
    ("Conv2d_12_depthwise", 3_456, 55_296),
    ("Conv2d_12_pointwise", 294_912, 4_718_592),
    ("Conv2d_13_depthwise", 6_912, 110_592),
    ("Conv2d_13_pointwise", 589_824, 9_437_184),
]


def our_name(tf_name: str) -> str:
    """TF-slim 'Conv2d_3_pointwise' is our 'Conv2d_3.pointwise.conv'; 'Conv2d_0' is
    'Conv2d_0.conv'."""
    unit, _, part = tf_name.partition("wise")[0].rpartition("_")
    if tf_name == "Conv2d_0":
        return "Conv2d_0.conv"
    return f"{unit}.{part}wise.conv"


def conv_rows(alpha: float, resolution: int) -> dict[str, dict]:
    doc = cli_json("analyze", str(SPEC), "--set", f"alpha={alpha}", "--set",
                   f"resolution={resolution}", "--set", "classifier=false")
    return {row["name"]: row for row in doc["layers"]}, doc["totals"]


def test_tf_slim_table_row_for_row_alpha_075_resolution_128():
    rows, totals = conv_rows(0.75, 128)
    for tf_name, weights, mult_adds in TF_SLIM_075_128:
        row = rows[our_name(tf_name)]
        assert (tf_name, row["weights"], row["mult_adds"]) == (tf_name, weights, mult_adds)
    # the table's total line
    assert sum(w for _, w, _ in TF_SLIM_075_128) == 1_800_144
    assert sum(m for _, _, m in TF_SLIM_075_128) == 106_002_432
    assert totals["weights"] == 1_800_144
    assert totals["mult_adds"] == 106_002_432
    # no conv of ours is missing from the table: 27 convs, as in TF-slim
    assert sum(1 for r in rows.values() if r["op"] == "conv2d") == 27


def test_tf_slim_row_arithmetic_spot_checks():
    rows, _ = conv_rows(0.75, 128)
    # Conv2d_0: 3x3x3 x depth(32)=24 -> 648 weights, at 64x64 output: 648 * 4096 = 2,654,208
    assert rows["Conv2d_0.conv"]["out_shape"] == [1, 24, 64, 64]
    # Conv2d_13_pointwise: depth(1024) = 768 from 768: 768 * 768 = 589,824; at 4x4: * 16
    assert rows["Conv2d_13.pointwise.conv"]["weights"] == 768 * 768
    assert rows["Conv2d_13.pointwise.conv"]["mult_adds"] == 768 * 768 * 4 * 4


def test_tf_slim_base_alpha_1_resolution_224():
    _, totals = conv_rows(1.0, 224)
    assert totals["weights"] == 3_185_088
    assert totals["mult_adds"] == 567_716_352
    assert totals["biases"] == 0  # TF-slim convs with batch norm have no biases


def test_paper_table_8_with_classifier():
    doc = cli_json("analyze", str(SPEC))
    totals = doc["totals"]
    # classifier: 1024 x 1000 weights + 1000 biases, 1024 x 1000 mult-adds
    assert totals["weights"] + totals["biases"] == 3_185_088 + 1_025_000 == 4_210_088
    assert totals["mult_adds"] == 567_716_352 + 1_024_000 == 568_740_352
    # the paper's "4.2M" parameters and "569M" mult-adds, to their rounding
    assert round(totals["weights"] + totals["biases"], -5) == 4_200_000
    assert round(totals["params"], -5) == 4_200_000  # with BN gamma/beta (21,888) too
    assert round(totals["mult_adds"], -6) == 569_000_000


def test_paper_table_2_resource_per_layer_type():
    # Table 2: Conv 1x1 94.86% / 74.59%, Conv DW 3x3 3.06% / 1.06%, Conv 3x3 1.19% / 0.02%,
    # Fully Connected 0.18% / 24.33% (mult-adds / parameters). The parameter shares are of
    # weights only (the FC's 1,000 biases and BN are left out): 3,139,584 / 4,209,088 = 74.59%.
    # The paper's 1.19% for the 3x3 conv is a transposition of 1.91%:
    # 10,838,016 / 568,740,352 = 1.906%, and the paper's column sums to 99.29% with 1.19.
    doc = cli_json("analyze", str(SPEC), "--by", "op")
    shares = {row["kind"]: (round(100 * row["mult_adds_share"], 2),
                            round(100 * row["weights_share"], 2)) for row in doc["by_op"]}
    assert shares["conv2d 1x1"] == (94.86, 74.59)
    assert shares["conv2d depthwise 3x3"] == (3.06, 1.06)
    assert shares["conv2d 3x3"] == (1.91, 0.02)
    assert shares["linear"] == (0.18, 24.33)


@pytest.mark.parametrize("alpha, resolution, params_m, mult_adds_m", [
    # Howard et al. 2017, Table 6 (width multiplier, 224x224): millions of parameters and
    # mult-adds, with the 1000-class classifier, BN not counted.
    (1.0, 224, 4.2, 569),
    (0.75, 224, 2.6, 325),
    (0.5, 224, 1.3, 149),
    (0.25, 224, 0.5, 41),
    # Table 7 (resolution, alpha 1.0)
    (1.0, 192, 4.2, 418),
    (1.0, 128, 4.2, 186),
])
def test_paper_tables_6_and_7(alpha, resolution, params_m, mult_adds_m):
    graph = load_graph(SPEC, {"alpha": alpha, "resolution": resolution})
    totals = analyze(graph).totals
    assert round((totals.weights + totals.biases) / 1e6, 1) == params_m
    assert round(totals.mult_adds / 1e6) == mult_adds_m


def test_paper_table_7_at_160_is_truncated_not_rounded():
    # Table 7 gives 290M for 1.0 MobileNet-160; the count is 290,675,200, which rounds to 291M.
    # The paper truncated here (it rounds elsewhere: 568.7M -> 569M), so we pin the exact count
    # and its truncation.
    totals = analyze(load_graph(SPEC, {"resolution": 160})).totals
    # every feature map is 160/224 = 5/7 of its size at 224, so the convs' mult-adds scale by
    # 25/49: 567,716,352 * 25/49 = 289,651,200; plus the classifier's 1,024,000
    assert 567_716_352 * 25 // 49 == 289_651_200
    assert totals.mult_adds == 289_651_200 + 1_024_000 == 290_675_200
    assert totals.mult_adds // 10**6 == 290


def test_width_multiplier_rule_restated():
    # TF-slim depth(d) = max(int(d * alpha), 8), at alpha 0.5 (base network, no classifier):
    # first conv 3*3*3*16 = 432; each separable unit 3*3*depth(a) + depth(a)*depth(b):
    # (16,32) 656, (32,64) 2,336, (64,64) 4,672, (64,128) 8,768, (128,128) 17,536,
    # (128,256) 33,920, 5 x (256,256) 339,200, (256,512) 133,376, (512,512) 266,752
    # = 807,216; with the first conv 807,648.
    graph = load_graph(SPEC, {"alpha": 0.5, "classifier": False})
    assert analyze(graph).totals.weights == 807_648
    # 0.50 MobileNet-160 (Howard et al., Table 9): 1.32M parameters, 76M mult-adds; the count is
    # 76,524,800, truncated to 76M like Table 7's 160 row
    with_classifier = analyze(load_graph(SPEC, {"alpha": 0.5, "resolution": 160})).totals
    params = with_classifier.weights + with_classifier.biases
    assert params == 807_648 + 512 * 1000 + 1000 == 1_320_648
    assert round(params / 1e6, 2) == 1.32
    assert with_classifier.mult_adds == 76_524_800
    assert with_classifier.mult_adds // 10**6 == 76
