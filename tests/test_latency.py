"""Latency: device profiles, the per-kernel estimate (its arithmetic shown), roll-ups, the
CLI's --device on analyze/compare/check, budgets in seconds, calibration and measuring."""

from __future__ import annotations

import json
from dataclasses import replace
from fractions import Fraction

import pytest

from cnncost.pipeline import analyze, figures
from cnncost.frontends.builder import GraphBuilder, make_op
from cnncost.core.errors import SpecError, UsageError
from cnncost.estimate.devices import bundled_devices, device_yaml, load_device, read_device
from cnncost.passes.latency import Device, kernel_time
from cnncost.pipeline import estimate, kernels
from cnncost.frontends.library import load_model
from cnncost.core.budget import SECONDS, parse_quantity

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


def test_setup_is_paid_by_kernels_that_multiply_and_by_pooling_windows_only():
    # setup: seconds per conv, linear, matmul or pooling kernel, beyond launch and its work
    b = GraphBuilder("s", (1, 16, 8, 8))
    conv = b.add("conv", make_op("conv2d", out_channels=16, kernel=1), [0])
    relu = b.add("relu", make_op("relu"), [conv])
    b.add("pool", make_op("avgpool", kernel=3, stride=1, padding=1), [relu])
    work = kernels(b.graph(), "none")
    device = replace(PLAIN, launch=1e-6)
    with_setup = replace(device, setup=5e-6)
    extra = [kernel_time(k, with_setup, "fp32")[0] - kernel_time(k, device, "fp32")[0]
             for k in work]
    assert [k.kind for k in work] == ["pointwise", "", "depthwise"]
    assert extra == [pytest.approx(5e-6), 0.0, pytest.approx(5e-6)]
    # a bundled CPU profile states its figure and where it comes from
    cpu = load_device("desktop_cpu")
    assert cpu.setup == 0.3e-6 and any(s.startswith("setup:") for s in cpu.sources)


def test_a_pooling_window_runs_at_the_depthwise_rate_and_counts_the_same():
    # avgpool 3x3 stride 1 pad 1 on (1, 16, 8, 8): 16*8*8 = 1,024 outputs x 9 window
    # operations = 9,216, counted as element-wise operations (no multiply-adds), as before
    b = GraphBuilder("p", (1, 16, 8, 8))
    b.add("pool", make_op("avgpool", kernel=3, stride=1, padding=1), [0])
    graph = b.graph()
    a = analyze(graph)
    assert (a.totals.mult_adds, a.totals.elementwise_ops) == (0, 9_216)
    (k,) = kernels(graph, "none")
    assert (k.kind, k.mult_adds, k.elementwise_ops, k.window_ops) == ("depthwise", 0, 0, 9_216)
    # the estimate runs them at peak x depthwise efficiency = 1e9 x 0.25 = 2.5e8/s, as a
    # depthwise conv with fixed weights: 9,216 / 2.5e8 = 36.864 us; memory 2 x 4,096 B / 1e9
    # = 8.192 us; the element-wise rate (vector_ops) does not enter
    seconds, bound = kernel_time(k, replace(PLAIN, vector_ops=1e12), "fp32")
    assert seconds == pytest.approx(9_216 / 2.5e8) and bound == "compute"
    # a global pool is a reduction, not a window: element-wise, at vector_ops
    g = GraphBuilder("g", (1, 16, 8, 8))
    g.add("gap", make_op("global_avgpool"), [0])
    (k,) = kernels(g.graph(), "none")
    assert (k.kind, k.elementwise_ops, k.window_ops) == ("", 1_024, 0)


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
    ("name: x\npeak_mult_adds: {fp32: 1e9}\nbandwidth: 1e9\nsetup: 2\n", "at most 1"),
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


def test_layers_fused_by_the_device_say_where_they_run_in_every_format():
    # phone_soc fuses bn-act while the counts stay under fuse=none: mobilenet_v2's stem is
    # conv -> bn -> relu6, one kernel on the device, three layers in the counts
    doc = cli_json("analyze", "mobilenet_v2", "--device", "phone_soc", "--layers")
    rows = {r["name"]: r for r in doc["layers"]}
    assert [rows[n]["latency_fused_into"] for n in ("stem.conv", "stem.bn", "stem.relu6")] == \
        [None, "stem.conv", "stem.conv"]
    assert [rows[n]["fused_into"] for n in ("stem.bn", "stem.relu6")] == [None, None]  # counts
    assert rows["stem.bn"]["latency"] == 0 and rows["stem.conv"]["latency"] > 0
    # each conv's BN, and its ReLU6 where there is one (not after a projection), run in the
    # conv's kernel: stem 2 + first block (dw bn, relu6; project bn) 3 + 16 blocks x (expand
    # bn, relu6; dw bn, relu6; project bn) 5 + head 2 = 87
    fused = [r for r in doc["layers"] if r["latency_fused_into"]]
    assert len(fused) == 2 + 3 + 16 * 5 + 2 and {r["op"] for r in fused} == {"batchnorm", "relu6"}
    csv = cli("analyze", "mobilenet_v2", "--device", "phone_soc", "--layers", "-f", "csv")
    header, *lines = csv.stdout.splitlines()
    row = dict(zip(header.split(","), next(line for line in lines if line.startswith("stem.bn,"))
                   .split(",")))
    assert (row["latency"], row["bound"], row["latency_fused_into"]) == \
        ("", "fused -> conv", "stem.conv")
    table = cli("analyze", "mobilenet_v2", "--device", "phone_soc", "--layers").stdout
    stem_bn = next(line for line in table.splitlines() if line.startswith("stem.bn "))
    assert stem_bn.rstrip().endswith("fused -> conv") and " 0 " not in stem_bn[-30:]
    assert "project_bn" in table and "fused -> project" in table  # named within the block
    words = " ".join(table.split())
    assert "estimated latency on phone_soc (fuse=bn-act)" in words
    assert "latency estimated for phone_soc under its own fusion (fuse=bn-act: BN folded" in words
    assert "counts under fuse=none" in words
    # a device that fuses nothing: no layer runs in another's kernel
    unfused = cli_json("analyze", "mobilenet_v2", "--device", "gtx1080ti")
    assert not any(r["latency_fused_into"] for r in unfused["layers"])


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
    from cnncost.frontends.library import resolve
    from cnncost.core.yamldoc import load

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

# the fit itself (recovering a known device, bounds, refusals): tests/test_calibrate.py


@pytest.mark.slow
def test_calibrate_measures_and_writes_a_profile_that_loads(tmp_path):
    pytest.importorskip("onnxruntime")
    from cnncost.estimate.calibrate import calibrate, micro_benchmarks

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
        from cnncost.estimate.measure import runtime
        runtime()
    assert "cnncost[measure]" in caught.value.format()


# -- how many runs measure times, and models onnxruntime cannot run --------------------------

class FakeSession:
    """An onnxruntime session stand-in: counts its runs, each of which moves ``clock`` on by
    ``step`` seconds, and raises ``error`` (onnxruntime's words) when given one."""

    def __init__(self, clock: list[float], step: float = 0.25, error: str = ""):
        self.clock, self.step, self.error, self.calls = clock, step, error, 0

    def get_inputs(self):
        from types import SimpleNamespace

        return [SimpleNamespace(name="x", shape=["N", 3, 4, 4])]

    def run(self, outputs, feed):
        assert feed["x"].shape == (1, 3, 4, 4)  # a symbolic batch runs as 1
        self.calls += 1
        self.clock[0] += self.step
        if self.error:
            raise RuntimeError(self.error)


@pytest.fixture
def clock(monkeypatch):
    """measure's clock, moved on only by FakeSession runs: no real time is asserted on."""
    import cnncost.estimate.measure
    from types import SimpleNamespace

    now = [0.0]
    monkeypatch.setattr(cnncost.estimate.measure, "time",
                        SimpleNamespace(perf_counter=lambda: now[0]))
    return now


@pytest.mark.parametrize("runs, seconds, timed", [
    (20, None, 20),  # --runs alone: exactly that many
    (1, None, 1),
    (None, 1.0, 4),  # --seconds alone: until 1 s has passed, at 0.25 s a run: 4 runs
    (None, 0.0, 1),  # at least one run
    (10, 1.0, 10),  # both: 10 runs take 2.5 s, past the second
    (2, 1.0, 4),  # both: 2 runs take 0.5 s, two more reach the second
    (None, None, 20),  # neither: 20 runs (5 s here) and at least 1 s
])
def test_measure_times_the_runs_asked_for(clock, runs, seconds, timed):
    from cnncost.estimate.measure import time_session

    session = FakeSession(clock)
    timing = time_session(session, warmup=3, runs=runs, seconds=seconds)
    assert (timing.runs, session.calls, timing.warmup) == (timed, 3 + timed, 3)


def test_measure_by_seconds_stops_at_the_run_limit(clock, monkeypatch):
    import cnncost.estimate.measure

    monkeypatch.setattr(cnncost.estimate.measure, "MAX_RUNS", 50)
    session = FakeSession(clock, step=0.0)  # runs that take no time never reach the second
    assert cnncost.estimate.measure.time_session(session, warmup=0, seconds=1.0).runs == 50


def test_a_model_that_fails_when_run_names_the_model_and_the_node(clock):
    from cnncost.estimate.measure import time_session

    said = ("[ONNXRuntimeError] : 1 : FAIL : Non-zero status code returned while running Conv "
            "node. Name:'stage2.conv1' Status Message: Invalid input shape: {1,3}")
    with pytest.raises(SpecError) as caught:
        time_session(FakeSession(clock, error=said), warmup=1, runs=5, name="net.onnx")
    assert ("onnxruntime cannot run net.onnx, node 'stage2.conv1': Non-zero status code"
            in caught.value.format())


def _exported(tmp_path, change) -> str:
    """A small exported model, changed by ``change(model)`` with onnx's own API."""
    pytest.importorskip("onnxruntime")
    onnx = pytest.importorskip("onnx")
    from cnncost.frontends.onnx.onnx_export import export_onnx

    model = export_onnx(load_model("mobilenet_v1@alpha=0.25,resolution=32"))
    change(model)
    path = tmp_path / "model.onnx"
    onnx.save(model, str(path))
    return str(path)


def _double_first_weight(model) -> None:
    # float64 weights for a float32 conv: cnncost counts it, onnxruntime refuses its types
    import numpy as np
    from onnx import numpy_helper

    name = model.graph.node[0].input[1]
    for tensor in model.graph.initializer:
        if tensor.name == name:
            tensor.CopyFrom(numpy_helper.from_array(
                numpy_helper.to_array(tensor).astype(np.float64), name))


@pytest.mark.parametrize("change, words", [
    (_double_first_weight, "node 'Conv2d_0.conv'"),
    (lambda model: setattr(model, "ir_version", 99), "IR version: 99"),
])
def test_measure_refuses_a_model_onnxruntime_cannot_load(tmp_path, change, words):
    path = _exported(tmp_path, change)
    assert cli("analyze", path).exit_code == 0  # cnncost reads it: only onnxruntime fails
    result = cli("measure", path, "--runs", "1")
    assert result.exit_code == 2 and not result.stdout
    assert f"onnxruntime cannot load {path}" in result.stderr and words in result.stderr
    assert "Traceback" not in result.stderr and ".cc:" not in result.stderr


def test_measure_runs_exactly_the_runs_asked_for():
    pytest.importorskip("onnxruntime")
    doc = cli_json("measure", "mobilenet_v1@alpha=0.25,resolution=32", "--runs", "7",
                   "--warmup", "1")
    assert (doc["measured"]["runs"], doc["measured"]["warmup"]) == (7, 1)


def test_measure_estimates_on_the_threads_it_times():
    from cnncost.estimate.devices import on_threads

    desktop = load_device("desktop_cpu")  # threads: {count: 1, ...}
    assert on_threads(desktop, 1) is desktop  # already so: unchanged, name and all
    assert on_threads(desktop, 2) == load_device("desktop_cpu@threads=2")
    gpu = load_device("gtx1080ti")  # no threads: section: as it is
    assert on_threads(gpu, 4) is gpu
    with pytest.raises(UsageError) as caught:  # a reference that set another count
        on_threads(load_device("desktop_cpu@threads=4"), 2)
    assert "is for 4 threads, the run for 2" in caught.value.format()

    pytest.importorskip("onnxruntime")
    spec = "mobilenet_v1@alpha=0.25,resolution=32"
    doc = cli_json("measure", spec, "--runs", "1", "--warmup", "0", "--threads", "2",
                   "--device", "desktop_cpu")
    assert (doc["measured"]["threads"], doc["convention"]["device"]) == \
        (2, "desktop_cpu@threads=2")
    two = figures(analyze(load_model(spec), device=load_device("desktop_cpu@threads=2")))
    one = figures(analyze(load_model(spec), device=desktop))
    assert doc["totals"]["latency"] == two["latency"] != one["latency"]
    result = cli("measure", spec, "--runs", "1", "--threads", "2",
                 "--device", "desktop_cpu@threads=4")
    assert result.exit_code == 2 and "hint: leave @threads= out" in result.stderr
    assert not result.stdout and "Traceback" not in result.stderr


@pytest.mark.parametrize("output, words", [
    ("{tmp}", "it is a directory"),
    ("{tmp}/no/such/folder/mine.yaml", "its folder does not exist"),
    ("{tmp}/a_file/mine.yaml", "Not a directory"),
    ("/proc/mine.yaml", "cannot create a file in /proc"),
])
def test_calibrate_refuses_an_output_it_cannot_write_before_measuring(tmp_path, monkeypatch,
                                                                       output, words):
    import cnncost.estimate.calibrate

    def measuring(**options):
        raise AssertionError("measured before checking the output")

    monkeypatch.setattr(cnncost.estimate.calibrate, "calibrate", measuring)
    (tmp_path / "a_file").write_text("")
    target = output.format(tmp=tmp_path)
    result = cli("calibrate", "-o", target)
    assert result.exit_code == 2 and words in result.stderr and not result.stdout
    assert f"cannot write {target}" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]  # no probe left behind
