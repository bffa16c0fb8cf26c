"""Latency: device profiles, the per-kernel estimate (its arithmetic shown), roll-ups, the
CLI's --device on analyze/compare/check, budgets in seconds, calibration and measuring."""

from __future__ import annotations

import json
from dataclasses import replace
from fractions import Fraction

import pytest

from cnncost.analysis import analyze, figures
from cnncost.builder import GraphBuilder, make_op
from cnncost.errors import SpecError, UsageError
from cnncost.latency import (Device, bundled_devices, device_yaml, estimate, kernel_time, kernels,
                             load_device, read_device)
from cnncost.library import load_model
from cnncost.spec.budget import SECONDS, parse_quantity

from conftest import cli, cli_json

# a device with round numbers, so that every time below is exact arithmetic
PLAIN = Device(name="plain", peak_mult_adds={"fp32": 1e9, "fp16": 2e9}, bandwidth=1e9,
               efficiency={"pointwise": 0.5, "depthwise": 0.25})


def pointwise(c1: int = 16, c2: int = 32, size: int = 8, bn_relu: bool = False):
    b = GraphBuilder("pw", (1, c1, size, size))
    last = b.add("conv", make_op("conv2d", out_channels=c2, kernel=1), [0])
    if bn_relu:
        last = b.add("bn", make_op("bn"), [last])
        b.add("relu", make_op("relu"), [last])
    return b.graph()


# -- the per-kernel model --------------------------------------------------------------------

def test_one_pointwise_conv_by_hand():
    # 1x1 conv 16 -> 32 on 8x8: mult_adds = hw*c1*c2 = 64*16*32 = 32,768;
    # mem_access = hw(c1+c2) + c1c2 = 64*48 + 512 = 3,584 elements = 14,336 bytes (fp32)
    (k,) = kernels(pointwise(), "none")
    assert (k.kind, k.mult_adds, k.bytes, k.im2col_bytes) == ("pointwise", 32_768, 14_336, 0)
    # compute at 1e9 * 0.5 = 5e8/s: 65.536 us; memory at 1e9 B/s: 14.336 us; roofline: max
    seconds, bound = kernel_time(k, PLAIN, "fp32")
    assert seconds == pytest.approx(32_768 / 5e8) and bound == "compute"
    # no overlap: both terms add; plus 1 us to launch
    seconds, _ = kernel_time(k, replace(PLAIN, overlap=0.0, launch=1e-6), "fp32")
    assert seconds == pytest.approx(32_768 / 5e8 + 14_336 / 1e9 + 1e-6)
    # fp16: twice the peak, half the bytes
    seconds, _ = kernel_time(kernels(pointwise(), "none", "fp16")[0], PLAIN, "fp16")
    assert seconds == pytest.approx(32_768 / (2e9 * 0.5))


def test_memory_bound_and_the_cache_level():
    (k,) = kernels(pointwise(), "none")
    slow_memory = replace(PLAIN, bandwidth=1e8)  # 14,336 B at 1e8 B/s = 143.36 us > 65.5 us
    assert kernel_time(k, slow_memory, "fp32") == (pytest.approx(14_336 / 1e8), "memory")
    cached = replace(slow_memory, cache_bytes=14_336, cache_bandwidth=1e10)  # fits: at 1e10
    assert kernel_time(k, cached, "fp32") == (pytest.approx(32_768 / 5e8), "compute")
    too_small = replace(cached, cache_bytes=14_335)  # one byte too many: main memory
    assert kernel_time(k, too_small, "fp32")[1] == "memory"


def test_im2col_charges_the_column_matrix_of_a_3x3_conv():
    b = GraphBuilder("c", (1, 8, 10, 10))
    b.add("conv", make_op("conv2d", out_channels=8, kernel=3), [0])
    (k,) = kernels(b.graph(), "none")
    # output 8x10x10 ("same"); column matrix 100 positions x 8 channels x 9 = 7,200 elements,
    # written then read: 14,400 elements, 57,600 bytes
    assert k.kind == "conv" and k.im2col_bytes == 57_600
    memory_only = replace(PLAIN, peak_mult_adds={"fp32": 1e30})
    with_copy = replace(memory_only, im2col=True)
    assert kernel_time(k, with_copy, "fp32")[0] - kernel_time(k, memory_only, "fp32")[0] == \
        pytest.approx(57_600 / 1e9)


def test_the_device_fusion_decides_the_kernels():
    graph = pointwise(bn_relu=True)
    fused = replace(PLAIN, fuse="bn-act", launch=1e-6)
    e = estimate(graph, fused)
    names = [n.name for n in graph.nodes]
    seconds = dict(zip(names, e.seconds))
    assert seconds["bn"] == seconds["relu"] == 0.0 and seconds["conv"] > 0
    assert e.bound[names.index("conv")] == "compute"
    unfused = estimate(graph, replace(fused, fuse="none"))
    assert sum(1 for s in unfused.seconds if s) == 3  # three kernels, three launches
    assert unfused.total > e.total


def test_total_adds_the_per_inference_overhead():
    e = estimate(pointwise(), replace(PLAIN, overhead=1e-5))
    assert e.total == pytest.approx(sum(e.seconds) + 1e-5)


# -- analyze with a device -------------------------------------------------------------------

def test_a_device_changes_no_count_and_rolls_latency_up():
    model = load_model("mobilenet_v2")
    device = load_device("desktop_cpu")
    plain, timed = analyze(model), analyze(model, device=device)
    assert {k: v for k, v in figures(timed).items() if k != "latency"} == figures(plain)
    assert "latency" not in figures(plain)
    per_layer = sum(timed.latency.seconds)
    assert figures(timed)["latency"] == pytest.approx(per_layer + device.overhead)
    assert sum(b.column("latency") for b in timed.blocks) == pytest.approx(per_layer)
    assert sum(g.column("latency") for g in timed.by_kind) == pytest.approx(per_layer)
    assert timed.network.column("latency") == pytest.approx(per_layer)


def test_latency_grows_with_resolution_and_batch():
    device = load_device("phone_soc")

    def latency(ref: str, batch: int | None = None) -> float:
        return figures(analyze(load_model(ref, batch=batch), device=device))["latency"]

    assert latency("mobilenet_v1@resolution=128") < latency("mobilenet_v1") < \
        latency("mobilenet_v1", batch=4)


# -- profiles --------------------------------------------------------------------------------

def test_bundled_profiles_load_and_state_their_sources():
    names = set(bundled_devices())
    assert {"gtx1080ti", "snapdragon810", "desktop_cpu", "phone_soc", "h100"} <= names
    for name in names:
        d = load_device(name)
        assert d.sources and d.description and d.peak_mult_adds["fp32"] > 0
        assert all(0 < e <= 1 for e in d.efficiency.values())
    # the paper's GPU: 3584 cores x 1582 MHz = 5.67e12 fused multiply-adds per second
    assert load_device("gtx1080ti").peak_mult_adds["fp32"] == pytest.approx(3584 * 1.582e9,
                                                                              rel=1e-3)


def test_a_profile_written_is_read_back_equal(tmp_path):
    d = load_device("snapdragon810")
    path = tmp_path / "copy.yaml"
    path.write_text(device_yaml(d))
    back = read_device(path)
    assert replace(back, file="") == replace(d, file="")


@pytest.mark.parametrize("text, message", [
    ("name: x\npeak_mult_adds: {fp32: 1e9}\n", "missing 'bandwidth'"),
    ("name: x\npeak_mult_adds: {fp32: 1e9}\nbandwidth: 1e9\nspeed: 3\n", "speed"),
    ("name: x\npeak_mult_adds: {fp32: 1e9}\nbandwidth: -1\n", "negative"),
    ("name: x\npeak_mult_adds: {fp32: 1e9}\nbandwidth: 5GB\n", "plain number"),
    ("name: x\npeak_mult_adds: {fp32: 1e9}\nbandwidth: 1e9\nfuse: all\n", "fuse is none or"),
    ("name: x\npeak_mult_adds: {fp32: 1e9}\nbandwidth: 1e9\nefficiency: {conv: 2}\n",
     "at most 1"),
    ("name: x\npeak_mult_adds: {fp32: 1e9}\nbandwidth: 1e9\nim2col: maybe\n", "true or false"),
    ("name: x\npeak_mult_adds: 1e9\nbandwidth: 1e9\n", "with fp32 at least"),
    ("- a list\n", "a device profile is a mapping"),
])
def test_bad_profiles_are_refused_with_file_and_line(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(SpecError) as caught:
        read_device(path)
    shown = caught.value.format()
    assert message in shown and "bad.yaml" in shown
    result = cli("analyze", "mobilenet_v1", "--device", str(path))
    assert result.exit_code == 2 and message in result.stderr and not result.stdout
    assert "Traceback" not in result.stderr


def test_unknown_device_names_the_bundled_ones():
    result = cli("analyze", "mobilenet_v1", "--device", "gtx1080")
    assert result.exit_code == 2 and "no such device profile: gtx1080" in result.stderr
    assert "gtx1080ti" in result.stderr and not result.stdout


# -- the command line ------------------------------------------------------------------------

def test_analyze_with_a_device_in_every_format():
    table = cli("analyze", "mobilenet_v2", "--device", "desktop_cpu", "--layers")
    assert table.exit_code == 0
    assert "estimated latency on desktop_cpu" in table.stdout
    assert "latency estimated for desktop_cpu" in " ".join(table.stdout.split())
    doc = cli_json("analyze", "mobilenet_v2", "--device", "desktop_cpu")
    assert doc["convention"]["device"] == "desktop_cpu"
    layers = doc["layers"]
    assert sum(r["latency"] for r in layers) == pytest.approx(
        doc["totals"]["latency"] - load_device("desktop_cpu").overhead)
    assert {r["bound"] for r in layers} <= {"compute", "memory", None}
    assert sum(b["latency"] for b in doc["blocks"]) == pytest.approx(
        sum(r["latency"] for r in layers))
    plain = cli_json("analyze", "mobilenet_v2")
    assert plain["convention"]["device"] is None and "latency" not in plain["totals"]
    csv = cli("analyze", "mobilenet_v2", "--device", "h100", "--by", "op", "-f", "csv")
    assert csv.exit_code == 0 and "latency" in csv.stdout.splitlines()[0]


def test_compare_sorts_by_latency_and_needs_a_device_for_it():
    doc = cli_json("compare", "resnet50", "mobilenet_v2", "shufflenet_v2", "--device",
                   "desktop_cpu", "--sort", "latency")
    values = [m["totals"]["latency"] for m in doc["models"]]
    assert values == sorted(values) and "latency" in doc["columns"]
    for option in ("--sort", "--columns"):
        result = cli("compare", "mobilenet_v2", "shufflenet_v2", option, "latency")
        assert result.exit_code == 2 and "add --device NAME" in result.stderr
        assert not result.stdout


def test_latency_budgets(tmp_path):
    estimate_ms = 1e3 * cli_json("analyze", "mobilenet_v2", "--device",
                                 "desktop_cpu")["totals"]["latency"]
    for limit, code in ((estimate_ms * 1.01, 0), (estimate_ms * 0.99, 1)):
        path = tmp_path / "b.yaml"
        path.write_text(f"models:\n  mobilenet_v2: {{latency: {limit:.6f}ms}}\n")
        result = cli("check", "mobilenet_v2", "--budget", str(path), "--device", "desktop_cpu")
        assert result.exit_code == code, result.stdout + result.stderr
    no_device = cli("check", "mobilenet_v2", "--budget", str(path))
    assert no_device.exit_code == 2 and "needs a device profile" in no_device.stderr
    assert "b.yaml:2" in no_device.stderr and not no_device.stdout


@pytest.mark.parametrize("text, value", [("5ms", Fraction(1, 200)), ("300us", Fraction(3, 10**4)),
                                         ("0.25", Fraction(1, 4)), ("2 s", Fraction(2)),
                                         ("40ns", Fraction(4, 10**8))])
def test_time_quantities(text, value):
    assert parse_quantity(text, SECONDS) == value


@pytest.mark.parametrize("text", ["5MB", "5%", "5 min", "-1ms"])
def test_bad_time_quantities(text):
    with pytest.raises(ValueError):
        parse_quantity(text, SECONDS)


def test_regression_on_latency_and_a_baseline_from_another_device(tmp_path):
    saved = cli("analyze", "mobilenet_v2", "--device", "desktop_cpu", "-f", "json")
    path = tmp_path / "base.json"
    path.write_text(saved.stdout)
    same = cli("check", "mobilenet_v2", "--against", str(path), "--device", "desktop_cpu",
               "-f", "json")
    assert same.exit_code == 0
    assert "latency" in {o["metric"] for o in json.loads(same.stdout)["results"]}
    other = cli("check", "mobilenet_v2", "--against", str(path), "--device", "phone_soc")
    assert other.exit_code == 2 and "device=desktop_cpu" in other.stderr
    bigger = cli("check", "mobilenet_v2@width=1.4", "--against", str(path), "--device",
                 "desktop_cpu")
    assert bigger.exit_code in (1, 2)  # other variables are refused, never passed


def test_devices_lists_every_profile():
    result = cli("devices")
    assert result.exit_code == 0
    for name in bundled_devices():
        assert name in result.stdout
    doc = cli_json("devices")
    assert {d["name"] for d in doc["devices"]} == set(bundled_devices())
    assert all(d["sources"] for d in doc["devices"])


# -- the paper's micro-benchmarks on its two platforms -----------------------------------------

def speeds(spec: str) -> dict:
    from cnncost.library import resolve
    from cnncost.spec.yamldoc import load

    return load(resolve(f"bench/{spec}"))["reference"]["speed"]


@pytest.mark.parametrize("platform, device, prefix", [("gpu", "gtx1080ti", ""),
                                                      ("arm", "snapdragon810", "arm-")])
def test_table_2_group_convs_rank_as_the_paper_measured(platform, device, prefix):
    # ShuffleNet V2 (Ma et al. 2018), Table 2: at equal FLOPs, more groups run slower on both
    # the GTX 1080Ti (2451, 1725, 1026, 634 batches/s) and the Snapdragon 810 (40.0, 35.0,
    # 32.9, 27.8 images/s); the bundled profiles' estimates give the same order
    names = [prefix + g for g in ("g1", "g2", "g4", "g8")]
    measured = speeds("g2_group_conv")
    seconds = [estimate(load_model(f"bench/g2_group_conv@{n}").graph,
                        load_device(device)).total for n in names]
    assert sorted(names, key=lambda n: -measured[n]) == \
        [n for _, n in sorted(zip(seconds, names))]


def test_table_3_fragments_slow_the_gpu_as_measured():
    # Table 3, GPU, c = 128: 1-fragment 2446 batches/s is the fastest and 4-fragment-parallel
    # 691 the slowest; each fragment is one more kernel launch in the estimate
    device = load_device("gtx1080ti")
    seconds = {s: estimate(load_model(f"bench/g3_fragmentation@{s}").graph, device).total
               for s in speeds("g3_fragmentation")["gpu"]}
    assert min(seconds, key=seconds.get) == "1-fragment"
    assert max(seconds, key=seconds.get) == "4-fragment-parallel"


# -- calibration -----------------------------------------------------------------------------

def test_fitting_recovers_a_known_device():
    from cnncost.calibrate import FUSE, fit, micro_benchmarks, predict

    truth = Device(name="truth", peak_mult_adds={"fp32": 4e10}, bandwidth=2e10,
                   efficiency={"conv": 0.9, "pointwise": 0.8, "depthwise": 0.3,
                               "grouped": 0.5, "linear": 0.6},
                   vector_ops=1e10, cache_bytes=1 << 25, cache_bandwidth=8e10, launch=1e-6,
                   overhead=5e-6, overlap=0.3, fuse=FUSE, im2col=True)
    work = [kernels(b.graph, FUSE) for b in micro_benchmarks()]
    seconds = predict(work, truth)
    fitted, rms = fit(work, seconds, truth.cache_bytes)
    assert rms < 0.05  # the synthetic timings are reproduced to within a few percent
    for guess, real in zip(predict(work, fitted), seconds):
        assert guess == pytest.approx(real, rel=0.15)
    graph = load_model("mobilenet_v2").graph
    assert estimate(graph, fitted).total == pytest.approx(estimate(graph, truth).total,
                                                          rel=0.05)


def test_calibrate_measures_and_writes_a_profile_that_loads(tmp_path):
    pytest.importorskip("onnxruntime")
    from cnncost.calibrate import calibrate, micro_benchmarks

    device, record = calibrate(seconds_per_bench=0.0)
    assert len(record) == len(micro_benchmarks()) and device.calibration["micro_benchmarks"]
    assert all(r["measured"] > 0 for r in record.values())
    path = tmp_path / "mine.yaml"
    path.write_text(device_yaml(device))
    assert read_device(path).peak_mult_adds == pytest.approx(device.peak_mult_adds, rel=1e-5)
    result = cli("analyze", "mobilenet_v1", "--device", str(path), "-f", "json")
    assert result.exit_code == 0 and json.loads(result.stdout)["totals"]["latency"] > 0


def test_measure_reports_min_median_and_threads(tmp_path):
    pytest.importorskip("onnxruntime")
    doc = cli_json("measure", "mobilenet_v1@alpha=0.25,resolution=128", "--runs", "5",
                   "--seconds", "0", "--warmup", "1", "--device", "desktop_cpu")
    m = doc["measured"]
    assert m["min"] <= m["median"] <= m["max"] and m["runs"] >= 5 and m["threads"] == 1
    assert doc["estimate_error"] == pytest.approx(doc["totals"]["latency"] / m["min"] - 1)
    onnx_file = tmp_path / "m.onnx"
    assert cli("export", "mobilenet_v1@alpha=0.25,resolution=128", "-o",
               str(onnx_file)).exit_code == 0
    table = cli("measure", str(onnx_file), "--runs", "3", "--seconds", "0")
    assert table.exit_code == 0 and "fastest run" in table.stdout and "1 thread" in table.stdout


def test_measure_without_onnxruntime_says_what_to_install(monkeypatch):
    import builtins

    real = builtins.__import__

    def no_runtime(name, *args, **kwargs):
        if name == "onnxruntime":
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_runtime)
    with pytest.raises(UsageError) as caught:
        from cnncost.measure import runtime
        runtime()
    assert "cnncost[measure]" in caught.value.format()
