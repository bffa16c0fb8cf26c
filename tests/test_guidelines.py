"""The ShuffleNet V2 guidelines G1-G4: figures by hand, the paper's verdicts on the library,
and the micro-benchmarks of its Tables 1-4 ordered as the measured speeds.

Sources: Ma et al., "ShuffleNet V2: Practical Guidelines for Efficient CNN Architecture
Design", ECCV 2018, Section 2 (Eq. 1 and 2, Tables 1-4) and Section 3 (the verdicts:
ShuffleNet v1 breaks G2 and G1, MobileNet v2 breaks G1 and G4, NASNet-A breaks G3);
../shared/reference/shufflenet_v2_benchmarks.md; ../shared/seeds/000_a442cd7acf3bf1dd.txt.
"""

from __future__ import annotations

import csv
import io
import json
import math

import pytest

from cnncost.passes.guidelines import Thresholds, g1_bound
from cnncost.core.yamldoc import load
from conftest import SPECS, analysis, analyze_ref, cli


def verdicts(ref: str, **kw) -> dict[str, object]:
    return {v.guideline: v for v in analyze_ref(ref, **kw).guidelines}


def warned(ref: str) -> set[str]:
    return {g for g, v in verdicts(ref).items() if not v.passed}


# -- the figures, by hand -----------------------------------------------------------------------

def test_g1_bound_is_the_papers_for_a_1x1_conv():
    # Eq. 1: memory access cost (the paper's "MAC") = hw(c1 + c2) + c1c2
    #        >= 2 sqrt(hw B) + B/hw with B = hw c1 c2
    hw, c1, c2 = 56 * 56, 90, 180
    b = hw * c1 * c2
    actual, bound = g1_bound(hw, hw, 1.0, c1, c2)
    assert actual == hw * (c1 + c2) + c1 * c2 == 862_920
    assert bound == pytest.approx(2 * math.sqrt(hw * b) + b / hw)
    # equality iff c1 = c2: (128, 128)
    actual, bound = g1_bound(hw, hw, 1.0, 128, 128)
    assert actual == pytest.approx(bound) and actual == 819_200


def test_g1_figure_on_the_channel_ratio_benchmark():
    # 1:2 (90, 180): each block has two such convs; per conv excess =
    # 3136*270 - 2*sqrt(3136*3136*90*180) = 846,720 - 2*3136*127.2792 = 846,720 - 798,295.27
    # = 48,424.73, rounded to 48,425
    a = analyze_ref("bench/g1_channel_ratio@1:2")
    g1 = {v.guideline: v for v in a.guidelines}["G1"]
    per_conv = 3136 * 270 - 2 * math.sqrt(3136 * 3136 * 90 * 180)
    assert g1.mem_access == 20 * round(per_conv) == 20 * 48_425
    assert g1.value == pytest.approx(g1.mem_access / a.totals.mem_access)
    # at 1:1 the excess is zero
    assert verdicts("bench/g1_channel_ratio@1:1")["G1"].mem_access == 0


def test_g1_generalises_to_strided_convs_by_sizes():
    a = analysis("""
        name: strided
        input: {shape: [16, 8, 8]}
        layers:
          - {name: down, op: conv2d, out_channels: 64, kernel: 1, stride: 2}
    """)
    # input 16x8x8 = 1,024 elements, output 64x4x4 = 1,024: equal sizes, no excess
    g1 = {v.guideline: v for v in a.guidelines}["G1"]
    assert g1.mem_access == 0 and not g1.findings


def test_g2_extra_is_the_output_traffic_of_the_groups():
    # one 1x1 conv 240 -> 240 with g = 3 on 28x28: extra = 28*28*240*(1 - 1/3) = 125,440
    a = analysis("""
        name: grouped
        input: {shape: [240, 28, 28]}
        layers:
          - {name: gconv, op: conv2d, out_channels: 240, kernel: 1, groups: 3}
          - {name: dw, op: conv2d, out_channels: 240, kernel: 3, groups: 240}
    """)
    g2 = {v.guideline: v for v in a.guidelines}["G2"]
    assert g2.mem_access == 28 * 28 * 240 * 2 // 3 == 125_440
    assert [f.subject for f in g2.findings] == ["gconv"]  # the depthwise conv is G4's
    assert g2.findings[0].value == 3


def test_g4_share_counts_elementwise_ops_and_depthwise_convs():
    a = analysis("""
        name: g4
        input: {shape: [8, 4, 4]}
        layers:
          - {name: pw, op: conv2d, out_channels: 8, kernel: 1}
          - {name: dw, op: conv2d, out_channels: 8, kernel: 3, groups: 8}
          - {name: relu, op: relu}
          - {name: add, op: add, inputs: [pw, relu]}
    """)
    # pw 128 + 64 + 128 = 320; dw 128 + 72 + 128 = 328; relu 256; add 384
    g4 = {v.guideline: v for v in a.guidelines}["G4"]
    assert a.totals.mem_access == 320 + 328 + 256 + 384
    assert g4.mem_access == 328 + 256 + 384
    assert g4.value == pytest.approx(968 / 1288)
    # operations: pw 16*64 = 1,024 mult-adds; dw 16*8*9 = 1,152 mult-adds; relu 128; add 128.
    # element-wise work = 1,152 + 128 + 128 = 1,408 of 2,432 operations
    assert g4.details["elementwise_work_share"] == pytest.approx(1408 / 2432)


# -- the paper's verdicts (Section 3), under the default thresholds -----------------------------

def test_shufflenet_v1_breaks_g2_and_g1():
    assert {"G1", "G2"} <= warned("shufflenet_v1")
    g2 = verdicts("shufflenet_v1")["G2"]
    assert g2.findings and all("3 groups" in f.figure for f in g2.findings)


def test_mobilenet_v2_breaks_g1_and_g4():
    assert {"G1", "G4"} <= warned("mobilenet_v2")
    # the costliest G1 finding is an inverted-bottleneck expansion (6x)
    top = verdicts("mobilenet_v2")["G1"].findings[0]
    assert "expand" in top.subject and top.value == pytest.approx(6.0)


def test_nasnet_breaks_g3():
    assert "G3" in warned("nasnet_a_mobile")
    g3 = verdicts("nasnet_a_mobile")["G3"]
    assert g3.value > 2 and all(f.subject.startswith(("cell", "reduction")) for f in g3.findings)


@pytest.mark.parametrize("variant", ["0.5x", "1.0x", "1.5x", "2.0x"])
def test_shufflenet_v2_passes_all_four(variant):
    assert warned(f"shufflenet_v2@{variant}") == set()
    assert warned(f"shufflenet_v2@{variant},layout=megvii") == set()


def test_thresholds_are_documented_and_settable():
    t = Thresholds().with_settings({"g4.max_share": "80%", "g3.max_branches": 9})
    assert t.g4_max_share == 0.8 and t.g3_max_branches == 9
    a = analyze_ref("nasnet_a_mobile")
    from cnncost.pipeline import analyze
    relaxed = analyze(a.graph, thresholds=t)
    assert {v.guideline: v.passed for v in relaxed.guidelines}["G3"]
    assert set(Thresholds.keys()) == {"g1.max_excess_share", "g1.max_ratio",
                                      "g2.max_extra_share", "g2.max_groups", "g3.max_branches",
                                      "g4.max_share"}


# -- the micro-benchmarks of Tables 1-4 ------------------------------------------------------------

def speeds(spec: str) -> dict:
    return load(SPECS / "bench" / f"{spec}.yaml")["reference"]["speed"]


def order_by(values: dict[str, float], reverse: bool = False) -> list[str]:
    return sorted(values, key=values.get, reverse=reverse)


@pytest.mark.parametrize("prefix", ["", "arm-"])
def test_table_1_channel_ratios(prefix):
    names = [prefix + r for r in ("1:1", "1:2", "1:6", "1:12")]
    figures = {n: analyze_ref(f"bench/g1_channel_ratio@{n}").totals for n in names}
    measured = {n: speeds("g1_channel_ratio")[n] for n in names}
    # about equal FLOPs (within 6%: the paper's rounded channel counts)
    mult_adds = [f.mult_adds for f in figures.values()]
    assert max(mult_adds) / min(mult_adds) < 1.06
    # more memory access, slower: the order of mem_access is the order of the speeds
    assert order_by({n: f.mem_access for n, f in figures.items()}) == \
        order_by(measured, reverse=True) == names


@pytest.mark.parametrize("prefix", ["", "arm-"])
def test_table_2_group_counts(prefix):
    names = [prefix + g for g in ("g1", "g2", "g4", "g8")]
    figures = {n: analyze_ref(f"bench/g2_group_conv@{n}").totals for n in names}
    measured = {n: speeds("g2_group_conv")[n] for n in names}
    mult_adds = [f.mult_adds for f in figures.values()]
    # 10*3136*c^2/g: 513.8M or 508.0M on the GPU; ARM 128.5M or 127.0M, and 132.7M for g = 8
    assert max(mult_adds) / min(mult_adds) < (1.02 if not prefix else 1.05)
    # per conv: hw(2c) + c^2/g; g = 2, c = 180: 3136*360 + 16,200 = 1,145,160
    assert figures[prefix + "g2"].mem_access == 10 * (
        3136 * 360 + 180 * 180 // 2 if not prefix else 3136 * 180 + 90 * 90 // 2)
    # (ARM g = 8 uses c = 184, not the paper's 180, which 8 groups cannot divide)
    assert order_by({n: f.mem_access for n, f in figures.items()}) == \
        order_by(measured, reverse=True) == names


STRUCTURES = ["1-fragment", "2-fragment-series", "4-fragment-series", "2-fragment-parallel",
              "4-fragment-parallel"]


@pytest.mark.parametrize("column, c", [(0, 128), (1, 256)])
def test_table_3_fragmentation_on_the_gpu(column, c):
    figures = {s: analyze_ref(f"bench/g3_fragmentation@{s},c={c}") for s in STRUCTURES}
    kernels = {s: a.network.kernels for s, a in figures.items()}
    # 10 blocks of 1, 2, 4 convs; parallel blocks add a concat: 10, 20, 40, 30, 50
    assert list(kernels.values()) == [10, 20, 40, 30, 50]
    assert [a.network.branches for a in figures.values()] == [1, 1, 1, 2, 4]
    measured = {s: speeds("g3_fragmentation")["gpu"][s][column] for s in STRUCTURES}
    assert order_by(kernels) == order_by(measured, reverse=True)
    # equal FLOPs: parallel exactly, series within the rounding of c / sqrt(n)
    mult_adds = [a.totals.mult_adds for a in figures.values()]
    assert max(mult_adds) / min(mult_adds) < 1.02


def test_table_3_at_c512_the_paper_itself_breaks_the_order():
    # where each kernel is large the GPU is busy anyway: 4-fragment-series 349 > 2-series 336
    gpu = speeds("g3_fragmentation")["gpu"]
    assert gpu["4-fragment-series"][2] > gpu["2-fragment-series"][2]


@pytest.mark.parametrize("column, c", [(0, 32), (1, 64), (2, 128)])
def test_table_4_relu_and_shortcut(column, c):
    rows = ["relu+shortcut", "relu", "shortcut", "neither"]
    figures = {r: analyze_ref(f"bench/g4_elementwise@{r},c={c}").totals for r in rows}
    measured = {r: speeds("g4_elementwise")["gpu"][r][column] for r in rows}
    # removing ReLU or the shortcut changes no multiply-add
    assert len({f.mult_adds for f in figures.values()}) == 1
    access = {r: f.mem_access for r, f in figures.items()}
    # both on: most memory traffic and slowest; both off: least and fastest (GPU and ARM)
    for platform in ("gpu", "arm"):
        speed = {r: speeds("g4_elementwise")[platform][r][column] for r in rows}
        assert max(access, key=access.get) == min(speed, key=speed.get) == "relu+shortcut"
        assert min(access, key=access.get) == max(speed, key=speed.get) == "neither"
    # the two middle rows move the same elements: 3 ReLUs on c, c, 4c channels (2 reads+writes
    # each) = 2*6c*hw; one add of two 4c inputs into 4c = 12c*hw; per unit and x10
    assert access["relu"] == access["shortcut"]
    assert access["relu+shortcut"] - access["relu"] == 10 * 12 * c * 56 * 56
    assert measured["relu+shortcut"] < min(measured["relu"], measured["shortcut"])


# -- the command line ---------------------------------------------------------------------------

def test_analyze_shows_a_one_line_summary_per_guideline():
    result = cli("analyze", "mobilenet_v2")
    assert result.exit_code == 0
    lines = [line for line in result.stdout.splitlines()
             if line.strip().startswith(("G1", "G2", "G3", "G4"))]
    assert len(lines) == 4
    assert "warn" in lines[0] and "pass" in lines[1] and "warn" in lines[3]


def test_guidelines_json_for_tools():
    result = cli("guidelines", "shufflenet_v1", "--format", "json")
    doc = json.loads(result.stdout)
    by = {g["guideline"]: g for g in doc["guidelines"]}
    assert by["G2"]["verdict"] == "warn" and by["G3"]["verdict"] == "pass"
    finding = by["G2"]["findings"][0]
    assert {"subject", "figure", "value", "threshold", "mem_access", "suggestion"} <= set(finding)
    assert doc["thresholds"]["g2.max_extra_share"] == 0.01


def test_guidelines_table_csv_markdown_and_top():
    table = cli("guidelines", "mobilenet_v2", "--top", "2")
    assert table.exit_code == 0 and "findings (the 2 costliest per guideline" in table.stdout
    rows = list(csv.DictReader(io.StringIO(cli("guidelines", "mobilenet_v2", "--top", "0",
                                               "-f", "csv").stdout)))
    assert len(rows) == sum(len(v.findings) for v in analyze_ref("mobilenet_v2").guidelines)
    assert "### mobilenet_v2: ShuffleNet V2 guidelines" in cli(
        "guidelines", "mobilenet_v2", "-f", "markdown").stdout


def test_threshold_options_and_config_file(tmp_path):
    result = cli("guidelines", "nasnet_a_mobile", "--threshold", "g3.max_branches=10",
                 "-f", "json")
    g3 = {g["guideline"]: g for g in json.loads(result.stdout)["guidelines"]}["G3"]
    assert g3["verdict"] == "pass" and g3["threshold"] == 10
    config = tmp_path / "cnncost.yaml"
    config.write_text("guidelines:\n  g4.max_share: 80%\n")
    result = cli("guidelines", "mobilenet_v2", "--config", str(config), "-f", "json")
    g4 = {g["guideline"]: g for g in json.loads(result.stdout)["guidelines"]}["G4"]
    assert g4["verdict"] == "pass" and g4["threshold"] == 0.8
    # the command line wins over the file
    result = cli("guidelines", "mobilenet_v2", "--config", str(config),
                 "--threshold", "g4.max_share=0.5", "-f", "json")
    assert {g["guideline"]: g for g in json.loads(result.stdout)["guidelines"]}["G4"][
        "threshold"] == 0.5


def test_bad_thresholds_exit_2_with_a_hint(tmp_path):
    result = cli("guidelines", "mobilenet_v2", "--threshold", "g4.max_shar=0.5")
    assert result.exit_code == 2 and "unknown threshold 'g4.max_shar'" in result.stderr
    assert "did you mean 'g4.max_share'" in result.stderr
    result = cli("guidelines", "mobilenet_v2", "--threshold", "g4.max_share=lots")
    assert result.exit_code == 2 and "'lots' is not a number" in result.stderr
    config = tmp_path / "bad.yaml"
    config.write_text("guidelines:\n  g1.max_ratio: 2\n  g9.max: 1\nthresholds: {}\n")
    result = cli("guidelines", "mobilenet_v2", "--config", str(config))
    assert result.exit_code == 2
    assert f"{config}:3:3: guidelines.g9.max: unknown threshold 'g9.max'" in result.stderr
    assert f"{config}:4:1: thresholds: unknown key 'thresholds'" in result.stderr
    assert result.stdout == ""


def test_unavailable_names_do_not_cascade(write_spec):
    path = write_spec("""
        name: cascade
        input: {shape: [3, 8, 8]}
        let: {width: "undefined_name * 2", double: "width * 2"}
        layers:
          - {op: conv2d, out_channels: double, kernel: 1}
    """)
    result = cli("analyze", path)
    assert result.exit_code == 2
    assert result.stderr.count("error:") == 1 and "unknown name 'undefined_name'" in result.stderr


def test_a_network_without_findings_says_so():
    """ConvNeXt-T passes every guideline (G1 0.07% <= 2%, G2 0 <= 1%, G3 1 <= 2, G4 39.25% <=
    60%): its findings table has no rows, and a note says there are none instead of leaving
    an empty table to read."""
    result = cli("guidelines", "specs/convnext.yaml")
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    assert "no findings: no layer or block is past a guideline's threshold" in text
