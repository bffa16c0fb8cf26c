"""specs/nasbench201.yaml: NAS-Bench-201's cells in its CIFAR-10 network (xautodl TinyNetwork).

The reference figures come from the benchmark's own PyTorch models: xautodl 1.0.0's
TinyNetwork(C=16, N=5, genotype, 10), recorded for 32 cells (30 random, all-nor_conv_3x3,
all-none) by benchmarks/nasbench201_reference.py into benchmarks/nasbench201_reference.json
(params: trainable tensors; mult_adds: forward hooks on nn.Conv2d and nn.Linear). No torch here.
"""

from __future__ import annotations

import json
import random

import pytest
from conftest import ROOT

import cnncost

SPEC = "specs/nasbench201.yaml"
REFERENCE = json.loads((ROOT / "benchmarks" / "nasbench201_reference.json").read_text())
OPS = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]


def figures(codes, **settings):
    model = cnncost.load_model(str(ROOT / SPEC), {**{f"e{k}": c for k, c in enumerate(codes)},
                                                  **settings})
    totals = cnncost.totals(cnncost.analyze(model))
    return totals["params"], totals["mult_adds"]


# The skeleton alone (every edge none: x.mul(0.0), no parameters, no multiply-adds):
#   stem      conv 3x3 3->16: 3*16*9 = 432 params + BN 2*16 = 32;  32*32*16*27 = 442,368
#   reduce1   conv_a 3x3/2 16->32: 4,608 + BN 64; 16*16*32*144  = 1,179,648
#             conv_b 3x3 32->32:   9,216 + BN 64; 16*16*32*288  = 2,359,296
#             shortcut 2x2 avg pool, 1x1 conv 16->32: 512;  16*16*32*16 = 131,072
#   reduce2   conv_a 32->64: 18,432 + 128; 8*8*64*288 = 1,179,648
#             conv_b 64->64: 36,864 + 128; 8*8*64*576 = 2,359,296
#             shortcut 1x1 32->64: 2,048;  8*8*64*32 = 131,072
#   head      BN 128; linear 64->10: 640 + 10 bias;  640
# params 464 + 14,464 + 57,600 + 128 + 650 = 73,306
# mult_adds 442,368 + 2 * 3,670,016 + 640 = 7,783,040
SKELETON = (73_306, 7_783_040)
# One nor_conv_3x3 edge (ReLU, 3x3 conv C->C, BN) in each of the 5 cells of each stage:
#   params    5 * [(16*16*9 + 2*16) + (32*32*9 + 2*32) + (64*64*9 + 2*64)]
#           = 5 * (2,336 + 9,280 + 36,992) = 243,040
#   mult_adds 5 * (32*32*16*16*9 + 16*16*32*32*9 + 8*8*64*64*9) = 5 * 3 * 2,359,296 = 35,389,440
CONV3 = (243_040, 35_389_440)
# One nor_conv_1x1 edge: 5 * [(16*16 + 32) + (32*32 + 64) + (64*64 + 128)]
#   = 5 * (288 + 1,088 + 4,224) = 28,000 params; 5 * 3 * (32*32*16*16) = 3,932,160 mult_adds.
CONV1 = (28_000, 3_932_160)


def test_skeleton_by_hand():
    assert figures([0] * 6) == SKELETON


@pytest.mark.parametrize("edge", range(6))
def test_one_conv3_edge_adds_its_convs_wherever_it_is(edge):
    codes = [0] * 6
    codes[edge] = 3
    assert figures(codes) == (SKELETON[0] + CONV3[0], SKELETON[1] + CONV3[1])


def test_every_edge_conv3_and_conv1_by_hand():
    # 73,306 + 6 * 243,040 = 1,531,546; 7,783,040 + 6 * 35,389,440 = 220,119,680
    assert figures([3] * 6) == (1_531_546, 220_119_680)
    # skip and avg pool have no parameters and no multiply-adds
    assert figures([2, 1, 4, 2, 1, 4]) == (SKELETON[0] + 2 * CONV1[0], SKELETON[1] + 2 * CONV1[1])


@pytest.mark.parametrize("cell", REFERENCE["cells"], ids=lambda c: "".join(map(str, c["codes"])))
def test_matches_tinynetwork(cell):
    ops = [OPS[c] for c in cell["codes"]]
    assert cell["arch"] == (f"|{ops[0]}~0|+|{ops[1]}~0|{ops[2]}~1|+"
                            f"|{ops[3]}~0|{ops[4]}~1|{ops[5]}~2|")
    assert figures(cell["codes"]) == (cell["params"], cell["mult_adds"])


def test_matches_what_nasbench201_publishes():
    # NAS-Bench-201 records xautodl's get_model_infos: FLOPs = multiply-adds of convs and
    # linear layers + the classifier's 10 bias additions, in millions; params in millions.
    for cell in REFERENCE["cells"]:
        params, mult_adds = figures(cell["codes"])
        assert round((mult_adds + 10) / 1e6, 6) == cell["xautodl_flops_m"]
        assert params / 1e6 == pytest.approx(cell["xautodl_params_mb"], abs=5e-7)
    extremes = {tuple(c["codes"]): c for c in REFERENCE["cells"][:2]}
    assert extremes[(3,) * 6]["xautodl_flops_m"] == 220.11969
    assert extremes[(0,) * 6]["xautodl_flops_m"] == 7.78305


def test_reference_sample_is_what_its_script_says():
    # 30 random cells (seed 201) and the two extremes, in the recording script's order
    indices = random.Random(201).sample(range(5 ** 6), 30)
    expected = [[3] * 6, [0] * 6] + [[(i // 5 ** (5 - k)) % 5 for k in range(6)] for i in indices]
    assert [c["codes"] for c in REFERENCE["cells"]] == expected


def test_small_sweep_equals_analyze_row_by_row():
    grid = {"e0": [0, 1, 2, 3, 4], "e3": [0, 4], "e5": [1, 3]}
    rows = cnncost.sweep(str(ROOT / SPEC), grid, device="phone_soc")
    assert len(rows["params"]) == 20
    i = 0
    for e0 in grid["e0"]:
        for e3 in grid["e3"]:
            for e5 in grid["e5"]:
                model = cnncost.load_model(str(ROOT / SPEC), {"e0": e0, "e3": e3, "e5": e5})
                a = cnncost.analyze(model, device="phone_soc")
                totals = cnncost.totals(a)
                for column in ("params", "mult_adds", "mem_access", "peak_activation_bytes"):
                    assert int(rows[column][i]) == totals[column], (e0, e3, e5, column)
                assert float(rows["latency"][i]) == pytest.approx(totals["latency"], rel=1e-12)
                i += 1


def test_variants_and_settings():
    assert figures([3] * 6) == figures([3] * 6, C=16, N=5, num_classes=10, resolution=32)
    # CIFAR-100: the classifier grows by 64 * 90 weights + 90 biases, 64 * 90 mult_adds
    params, mult_adds = figures([3] * 6, num_classes=100)
    assert (params, mult_adds) == (1_531_546 + 64 * 90 + 90, 220_119_680 + 64 * 90)


# The whole space, 15,625 rows, takes about 2 minutes: benchmarks/bench_nasbench201_latency.py
# --full-sweep sweeps it and checks every row's mult_adds and mem_access.
