"""NASNet-A Mobile (4 @ 1056) reproduces its published figures.

Sources:
- Zoph, Vasudevan, Shlens, Le, "Learning Transferable Architectures for Scalable Image
  Recognition" (CVPR 2018, arXiv:1707.07012), Table 2: NASNet-A (4 @ 1056), 224x224,
  5.3M parameters and 564M mult-adds.
- TF-slim, tensorflow/models research/slim/nets/nasnet/README.md: checkpoint
  NASNet-A_Mobile_224, 564 million multiply-adds ("MACs") and 5.3 million parameters; nasnet.py
  (mobile_imagenet_config, _imagenet_stem, _build_nasnet_base) and nasnet_utils.py (the cells)
  define the graph this spec follows.
- Keras applications, keras/applications/nasnet.py NASNetMobile (1000 classes, no aux head):
  the applications docs table lists 5,326,716 parameters, and NASNetMobile().summary() prints
  "Total params: 5,326,716 / Trainable params: 5,289,978 / Non-trainable params: 36,738"
  with len(model.weights) == 1126 and len(model.trainable_weights) == 742.
"""

from __future__ import annotations

import math

import pytest

from conftest import analyze_ref, cli_json

KERAS_TOTAL = 5_326_716
KERAS_TRAINABLE = 5_289_978
KERAS_NON_TRAINABLE = 36_738


@pytest.fixture(scope="module")
def mobile():
    return analyze_ref("nasnet_a_mobile")


def shapes(analysis) -> dict[str, tuple[int, ...]]:
    return {node.name: node.shape for node in analysis.graph.nodes}


# -- an independent count, restating TF-slim's rules in plain Python ---------------------------
#
# Every conv here writes an s x s map and costs weights * s * s multiply-adds (a 1x1 conv:
# c_in * c_out * s * s; a depthwise kxk: k * k * c * s * s). So each conv is recorded as
# (weights, output size); each BN as its channel count (gamma and beta: 2 per channel).

def _cell(kind: str, x: tuple[int, int], prev: tuple[int, int] | None, f: int):
    """Convs and BNs of one NASNet-A cell; x and prev are (channels, size)."""
    convs: list[tuple[int, int]] = []
    bns: list[int] = []
    size = x[1]
    # _reduce_prev_layer
    if prev is None:                      # cell_stem_0: prev is x itself, untouched
        p = x[0]
    elif prev[1] != size:                 # factorized_reduction: two 1x1 convs to f/2, BN
        convs += [(prev[0] * (f // 2), size)] * 2
        bns.append(f)
        p = f
    elif prev[0] != f:                    # prev_1x1, prev_bn
        convs.append((prev[0] * f, size))
        bns.append(f)
        p = f
    else:
        p = prev[0]
    # _cell_base: 1x1 conv to f on x, BN
    convs.append((x[0] * f, size))
    bns.append(f)

    def separable_x2(c_in: int, k: int, out: int) -> None:
        # twice (relu, depthwise kxk, pointwise 1x1 to f, BN); only the first may be strided
        convs.extend([(k * k * c_in, out), (c_in * f, out), (k * k * f, out), (f * f, out)])
        bns.extend([f, f])

    if kind == "normal":
        # separable ops of hiddenstate_indices [0,1, 1,1, 0,1, 1,1, 0,0]: sep5(h0), sep3(h1),
        # sep5(h1), sep3(h1), sep3(h0); pools and none have no convs
        for c_in, k in [(f, 5), (p, 3), (p, 5), (p, 3), (f, 3)]:
            separable_x2(c_in, k, size)
        return convs, bns, (6 * f, size)
    out = math.ceil(size / 2)             # SAME, stride 2
    # reduction: sep5(h0), sep7(h1), sep7(h1), sep5(h1) strided; sep3 on hidden state 2
    for c_in, k in [(f, 5), (p, 7), (p, 7), (p, 5), (f, 3)]:
        separable_x2(c_in, k, out)
    return convs, bns, (4 * f, out)


def independent_count(num_classes: int = 1000) -> dict[str, int]:
    conv0 = (3 * 3 * 3 * 32, (224 - 3) // 2 + 1)        # 864 weights, 111x111 (VALID)
    convs, bns = [conv0], [32]
    stem = (32, conv0[1])
    outputs: list[tuple[int, int] | None] = [None, stem]  # cell_outputs of _build_nasnet_base
    plan = [("reduction", 11), ("reduction", 22)]
    for f in (44, 88, 176):
        if f != 44:
            plan.append(("reduction", f))
        plan += [("normal", f)] * 4
    for kind, f in plan:
        c, b, out = _cell(kind, outputs[-1], outputs[-2], f)
        convs += c
        bns += b
        outputs.append(out)
    assert outputs[-1] == (1056, 7)
    weights = sum(w for w, _ in convs) + 1056 * num_classes
    return {
        "weights": weights,
        "norm_params": 2 * sum(bns),
        "params": weights + num_classes + 2 * sum(bns),
        "mult_adds": sum(w * s * s for w, s in convs) + 1056 * num_classes,
        "convs": len(convs),
        "bns": len(bns),
    }


# -- published figures ------------------------------------------------------------------------

def test_keras_exact_parameter_counts(mobile):
    t = mobile.totals
    # Keras "trainable" = conv and FC weights, FC bias, BN gamma and beta = cnncost params
    assert t.params == KERAS_TRAINABLE == 5_289_978
    # Keras "non-trainable" = BN moving mean and variance = cnncost buffers
    assert t.buffers == KERAS_NON_TRAINABLE == 36_738
    assert t.params + t.buffers == KERAS_TOTAL == 5_326_716
    # the parts: FC 1056 x 1000 weights + 1000 biases; BN gamma/beta equal the moving stats
    assert t.biases == 1000
    assert t.norm_params == t.buffers
    assert t.weights == 5_289_978 - 36_738 - 1000 == 5_252_240


def test_keras_weight_tensor_counts(mobile):
    # Keras holds one tensor per conv kernel (a SeparableConv2D: depthwise and pointwise), four
    # per BN (gamma, beta trainable; moving mean, variance not) and two for the Dense layer:
    # 356 + 2 * 192 + 2 = 742 trainable, + 2 * 192 = 1126 in all, as Keras prints.
    kinds = [type(node.op).__name__ for node in mobile.graph.nodes]
    convs, bns, linears = kinds.count("Conv2d"), kinds.count("BatchNorm"), kinds.count("Linear")
    assert (convs, bns, linears) == (356, 192, 1)
    assert convs + 2 * bns + 2 == 742
    assert convs + 4 * bns + 2 == 1126


def test_paper_table_2_and_tf_slim_readme(mobile):
    t = mobile.totals
    # 5.3M parameters (with or without BN gamma/beta: 5.29M and 5.25M both round to 5.3M)
    assert round(t.params / 1e6, 1) == 5.3
    assert round((t.weights + t.biases) / 1e6, 1) == 5.3
    # 564M mult-adds, classifier included
    assert round(t.mult_adds / 1e6) == 564


def test_independent_count_matches_exactly(mobile):
    ref = independent_count()
    t = mobile.totals
    assert ref["convs"] == 356 and ref["bns"] == 192
    assert (t.weights, t.norm_params, t.params) == (ref["weights"], ref["norm_params"],
                                                    ref["params"])
    assert t.params == KERAS_TRAINABLE
    assert t.mult_adds == ref["mult_adds"] == 563_638_816


def test_published_564m_includes_the_classifier():
    # the FC costs 1056 x 1000 = 1,056,000 mult-adds; without it the count would round to 563M
    base = analyze_ref("nasnet_a_mobile@classifier=false").totals
    assert base.mult_adds == 563_638_816 - 1_056_000 == 562_582_816
    assert round(base.mult_adds / 1e6) == 563
    assert base.params == 5_289_978 - 1_056_000 - 1000 == 4_232_978


def test_tf_slim_1001_classes():
    # the TF-slim ImageNet checkpoint has a background class: 1,056 + 1 more parameters and
    # 1,056 more mult-adds; the published figures are the same to their rounding
    t = analyze_ref("nasnet_a_mobile@tf-slim-imagenet").totals
    assert t.params == 5_289_978 + 1_057 == independent_count(1001)["params"]
    assert t.mult_adds == 563_638_816 + 1_056 == independent_count(1001)["mult_adds"]
    assert round(t.params / 1e6, 1) == 5.3
    assert round(t.mult_adds / 1e6) == 564


# -- structure: shapes, wiring, arithmetic of single cells ------------------------------------

def test_stem_and_cell_output_shapes(mobile):
    s = shapes(mobile)
    # conv0: 3x3/2 VALID, (224 - 3) // 2 + 1 = 111; 3*3*3*32 = 864 weights,
    # 864 * 111^2 multiply-adds
    assert s["conv0"] == (1, 32, 111, 111)
    # reduction cells output 4F, normal cells 6F; SAME stride 2: 111 -> 56 -> 28 -> 14 -> 7
    expected = {"cell_stem_0": (44, 56), "cell_stem_1": (88, 28), "reduction_cell_0": (352, 14),
                "reduction_cell_1": (704, 7)}
    expected.update({f"cell_{i}": (264, 28) for i in range(4)})
    expected.update({f"cell_{i}": (528, 14) for i in range(4, 8)})
    expected.update({f"cell_{i}": (1056, 7) for i in range(8, 12)})   # "4 @ 1056"
    for cell, (channels, size) in expected.items():
        assert s[f"{cell}.cell_output"] == (1, channels, size, size), cell
    assert s["final_layer.FC"] == (1, 1000)


def test_stem_conv_and_classifier_arithmetic():
    rows = {r["name"]: r for r in cli_json("analyze", "nasnet_a_mobile")["layers"]}
    assert rows["conv0"]["weights"] == 3 * 3 * 3 * 32 == 864
    assert rows["conv0"]["mult_adds"] == 864 * 111 * 111 == 10_645_344
    assert rows["final_layer.FC"]["weights"] == 1056 * 1000
    assert rows["final_layer.FC"]["mult_adds"] == 1_056_000


def test_cell_stem_0_by_hand():
    # F = int(44 / 4) = 11; x = conv0 (32 channels, 111x111); no prev: x itself.
    # base 1x1: 32*11 = 352; comb_iter_0 sep5x5(h0, 11 ch): 25*11 + 11*11 + 25*11 + 11*11 = 792;
    # sep7x7(conv0, 32 ch), twice (comb_iter_0 and 1): 49*32 + 32*11 + 49*11 + 11*11 = 2,580;
    # sep5x5(conv0): 25*32 + 32*11 + 25*11 + 11*11 = 1,548; comb_iter_4 sep3x3 on hidden state
    # 2: 9*11 + 121 + 9*11 + 121 = 440. Weights 352 + 792 + 2*2,580 + 1,548 + 440 = 8,292;
    # BN: base + 5 stacks x 2 = 11 layers x 11 channels x 2 = 242.
    doc = cli_json("analyze", "nasnet_a_mobile", "--by", "block")
    cell = next(b for b in doc["blocks"] if b["name"] == "cell_stem_0")
    assert cell["weights"] == 352 + 792 + 2 * 2_580 + 1_548 + 440 == 8_292
    assert cell["params"] == 8_292 + 242
    # mult-adds: the base 1x1 at 111x111, every separable conv at 56x56
    assert cell["mult_adds"] == 352 * 111 * 111 + (8_292 - 352) * 56 * 56 == 29_236_832


def test_prev_is_reduced_as_in_tf_slim(mobile):
    s = shapes(mobile)
    # cell_stem_0 has no prev: no reduce_prev layers at all
    assert not any(n.startswith("cell_stem_0.reduce_prev") for n in s)
    # cell_0 reads cell_stem_0 (44 x 56x56) as prev: factorized reduction to 44 x 28x28
    fr = "cell_0.reduce_prev.factorized_reduction"
    assert s[f"{fr}.path1_conv"] == s[f"{fr}.path2_conv"] == (1, 22, 28, 28)
    assert s[f"{fr}.final_path_bn"] == (1, 44, 28, 28)
    # the first cell after a reduction reads the cell before it: cell_4's prev is cell_3
    # (264 x 28x28), reduced to 88 x 14x14
    assert s["cell_4.reduce_prev.relu"] == (1, 264, 28, 28)
    assert s["cell_4.reduce_prev.factorized_reduction.final_path_bn"] == (1, 88, 14, 14)
    # the next one reads the reduction cell (352 channels, same size): a 1x1 projection
    assert s["cell_5.reduce_prev.relu"] == (1, 352, 14, 14)
    assert s["cell_5.reduce_prev.prev_1x1"] == (1, 88, 14, 14)
    assert "cell_5.reduce_prev.factorized_reduction.concat" not in s
    # the approximated shift of the second path costs nothing: a view
    assert s["cell_0.reduce_prev.factorized_reduction.path2_shift"] == (1, 44, 56, 56)


def test_fragmentation_by_block():
    # ShuffleNet V2's G3: a normal cell has 25 fragments: the prev 1x1, the base 1x1,
    # 5 separable stacks x 4 convs, 3 average pools; cell_0, cell_4 and cell_8 have the
    # factorized reduction instead of the prev 1x1 (2 pools + 2 convs): 28. A reduction cell:
    # 2 + 20 + 4 pools = 26.
    blocks = {b["name"]: b for b in cli_json("analyze", "nasnet_a_mobile", "--by",
                                             "block")["blocks"]}
    for i in range(12):
        assert blocks[f"cell_{i}"]["fragments"] == (28 if i in (0, 4, 8) else 25)
    assert blocks["reduction_cell_0"]["fragments"] == blocks["reduction_cell_1"]["fragments"] == 26
    # cnncost's widest branching inside a normal cell: at most 5 fragments at one depth
    assert blocks["cell_1"]["max_parallel_branches"] == 5
