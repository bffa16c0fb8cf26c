"""Fitting a profile (cnncost.estimate.calibrate.fit), shared by the micro-benchmark calibration
and `cnncost calibrate --timings FILE`: the timings file reader, the bounded robust fit of only
the parameters the data determines, its refusal, leave-one-out figures and the CLI."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("scipy")

from cnncost.core.errors import SpecError  # noqa: E402
from cnncost.estimate.calibrate import (FUSE, NotDetermined, determinable,  # noqa: E402
                                        determined, fit, from_timings, held_out,
                                        layer_kernels, machine_prior,
                                        micro_benchmarks, parameters_of, predict,
                                        profile_predictor, scaled_predictor, with_parameters)
from cnncost.estimate.devices import device_yaml, load_device, read_device  # noqa: E402
from cnncost.estimate.timings import read_timings  # noqa: E402
from cnncost.frontends.builder import GraphBuilder, make_op  # noqa: E402
from cnncost.frontends.library import load_model, resolve  # noqa: E402
from cnncost.passes.latency import KINDS, Device, Kernel, kernel_seconds  # noqa: E402
from cnncost.pipeline import estimate, kernels  # noqa: E402

from conftest import cli  # noqa: E402


def pointwise():
    b = GraphBuilder("pw", (1, 16, 8, 8))
    b.add("conv", make_op("conv2d", out_channels=32, kernel=1), [0])
    return b.graph()


def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text)
    return path


# -- the timings file ------------------------------------------------------------------------

def test_a_csv_file_with_defaults_units_comments_and_blank_lines(tmp_path):
    path = write(tmp_path, "t.csv", "# my phone, TFLite benchmark_model\n"
                                    "Model , seconds,batch,note\n"
                                    "\n"
                                    "mobilenet_v2,6.1ms,1,warm\n"
                                    '"resnet18",0.03,2,\n'
                                    "squeezenet,850us,,\n")
    rows = read_timings(path)
    assert [(r.model, r.seconds, r.batch, r.dtype, r.threads) for r in rows] == [
        ("mobilenet_v2", pytest.approx(6.1e-3), 1, "fp32", 1),
        ("resnet18", 0.03, 2, "fp32", 1), ("squeezenet", pytest.approx(850e-6), 1, "fp32", 1)]
    assert rows[1].loc[:3] == (str(path), 5, 1) and rows[1].where("seconds")[1:3] == (5, 12)


def test_a_yaml_file(tmp_path):
    path = write(tmp_path, "t.yaml", "- {model: mobilenet_v2, seconds: 6.1ms, threads: 4}\n"
                                     "- model: resnet18@torchvision\n"
                                     "  seconds: 0.03\n  dtype: fp16\n")
    rows = read_timings(path)
    assert [(r.model, r.dtype, r.threads) for r in rows] == [
        ("mobilenet_v2", "fp32", 4), ("resnet18@torchvision", "fp16", 1)]
    assert rows[1].where("dtype")[1:3] == (4, 3)  # the key, as in a profile


BAD_CSV = [  # text, line, column, what the message says
    ("model,secs\nmobilenet_v2,1\n", 1, 7, "unknown column 'secs'"),  # did you mean seconds
    ("model,layr,seconds\nnet,conv1,1\n", 1, 7, "unknown column 'layr'"),  # did you mean layer
    ("model,seconds,device\nnet,1,phone\n", 2, 7, "unknown device 'phone'"),
    ("model,batch\nmobilenet_v2,1\n", 1, 1, "the header has no 'seconds' column"),
    ("model,seconds,model\nnet,1,net\n", 1, 15, "column 'model' is given twice"),
    ("model,seconds\nmobilenet_v2,1,2\n", 2, 1, "3 fields, but the header names 2"),
    ("model,seconds\n,1\n", 2, 1, "'model' is empty"),
    ("model,seconds\nmobilenet_v2,\n", 2, 14, "'seconds' is empty"),
    ("model,seconds\nmobilenet_v2,-1\n", 2, 14, "positive, finite time, not '-1'"),
    ("model,seconds\nmobilenet_v2,-6ms\n", 2, 14, "positive, finite time, not '-6ms'"),
    ("model,seconds\nmobilenet_v2,0\n", 2, 14, "positive, finite time, not '0'"),
    ("model,seconds\nmobilenet_v2,nan\n", 2, 14, "positive, finite time, not 'nan'"),
    ("model,seconds\nmobilenet_v2,inf\n", 2, 14, "positive, finite time, not 'inf'"),
    ("model,seconds\nmobilenet_v2,fast\n", 2, 14, "a time such as 0.0061 or 6.1ms"),
    ("model,seconds\nmobilenet_v2,5min\n", 2, 14, "a time such as 0.0061 or 6.1ms"),
    ("model,seconds,batch\nmobilenet_v2,1,0\n", 2, 16, "batch is a whole number from 1"),
    ("model,seconds,batch\nmobilenet_v2,1,1.5\n", 2, 16, "batch is a whole number from 1"),
    ("model,seconds,threads\nmobilenet_v2,1,2000\n", 2, 16, "threads is a whole number"),
    ("model,seconds,dtype\nmobilenet_v2,1,fp64\n", 2, 16, "unknown dtype 'fp64'"),
    ("", 1, 1, "no timings in the file"),
    ("# only a comment\nmodel,seconds\n", 1, 1, "no timings in the file"),
]
BAD_YAML = [
    ("model: mobilenet_v2\nseconds: 1\n", 1, 1, "a timings file is a list of rows"),
    ("- mobilenet_v2\n", 1, 3, "a row is a mapping"),
    ("- {model: mobilenet_v2, secs: 1}\n", 1, 25, "unknown key 'secs'"),  # keys' places
    ("- {model: mobilenet_v2}\n", 1, 3, "missing 'seconds'"),
    ("- {model: 42, seconds: 1}\n", 1, 4, "a model is a spec name or a file, not 42"),
    ("- {model: mobilenet_v2, seconds: true}\n", 1, 25, "a time such as 0.0061"),
    ("- {model: mobilenet_v2, seconds: 1, batch: true}\n", 1, 37, "batch is a whole number"),
    ("- {model: mobilenet_v2, seconds: [1]}\n", 1, 25, "a time such as 0.0061"),
    ("- {model: mobilenet_v2, seconds: 1, layer: 3}\n", 1, 37, "a layer is a layer's name"),
    ("- {model: mobilenet_v2, seconds: 1, device: [a]}\n", 1, 37, "unknown device"),
    ("[]\n", 1, 1, "no timings in the file"),
]


@pytest.mark.parametrize("name, text, line, column, words",
                         [("t.csv", *case) for case in BAD_CSV] +
                         [("t.yaml", *case) for case in BAD_YAML])
def test_every_bad_row_is_an_error_at_its_line_and_column(tmp_path, name, text, line,
                                                          column, words):
    path = write(tmp_path, name, text)
    with pytest.raises(SpecError) as caught:
        read_timings(path)
    problem = caught.value.problems[0]  # 'secs': also "no 'seconds'" (CSV), "missing" (YAML)
    assert words in problem.message
    assert (problem.loc.file, problem.loc.line, problem.loc.column) == (str(path), line, column)


def test_every_problem_of_every_row_at_once(tmp_path):
    path = write(tmp_path, "t.csv", "model,seconds,batch\nnet,-1,1\nnet,1,x\n,2,1\n")
    with pytest.raises(SpecError) as caught:
        read_timings(path)
    assert [(p.loc.line, p.loc.path) for p in caught.value.problems] == [
        (2, "seconds"), (3, "batch"), (4, "model")]


def test_models_are_found_beside_the_timings_file_and_a_missing_one_is_named(tmp_path,
                                                                              monkeypatch):
    folder = tmp_path / "phone"
    folder.mkdir()
    (folder / "net.yaml").write_text(resolve("mobilenet_v1").read_text())
    write(folder, "t.csv", "model,seconds\nnet.yaml,1\nnet.yaml@alpha=0.5,0.5\n"
                           "mobilenet_v2,1\nnone_such,1\n")
    monkeypatch.chdir(tmp_path)  # the paths are the timings file's, not the shell's
    with pytest.raises(SpecError) as caught:
        from_timings(str(folder / "t.csv"), load_device("desktop_cpu"))
    (problem,) = caught.value.problems
    assert "cannot load model none_such: no such file or bundled spec" in problem.message
    assert (problem.loc.line, problem.loc.column, problem.loc.path) == (5, 1, "model")


def test_rows_on_different_thread_counts_are_refused(tmp_path):
    path = write(tmp_path, "t.csv", "model,seconds,threads\nmobilenet_v2,1,4\nresnet18,2,8\n")
    with pytest.raises(SpecError) as caught:
        from_timings(str(path), load_device("desktop_cpu"))
    (problem,) = caught.value.problems
    assert "8 threads and the first on 4" in problem.message and problem.loc.line == 3


# -- the fit ---------------------------------------------------------------------------------

def test_fitting_recovers_a_known_device():
    # synthetic timings of the 53 micro-benchmarks from a known device: every parameter is
    # determined, and the fit from desktop_cpu reproduces the times and the device's estimate
    truth = Device(name="truth", peak_mult_adds={"fp32": 4e10}, bandwidth=2e10,
                   efficiency={"conv": 0.9, "pointwise": 0.8, "depthwise": 0.3,
                               "grouped": 0.5, "linear": 0.6},
                   vector_ops=1e10, cache_bytes=1 << 25, cache_bandwidth=8e10, launch=1e-6,
                   overhead=5e-6, overlap=0.3, fuse=FUSE, im2col=True)
    work = [kernels(b.graph, FUSE) for b in micro_benchmarks()]
    seconds = predict(work, truth)
    result = fit(work, seconds, machine_prior(load_device("desktop_cpu"), truth.cache_bytes))
    assert sorted(result.fitted) == sorted(parameters_of(truth)) and result.kept == ()
    assert result.rms_log_error < 0.05  # the synthetic timings are reproduced to a few percent
    for guess, real in zip(predict(work, result.device), seconds):
        assert guess == pytest.approx(real, rel=0.15)
    graph = load_model("mobilenet_v2").graph
    assert estimate(graph, result.device).total == pytest.approx(
        estimate(graph, truth).total, rel=0.05)


def test_few_timings_fit_the_parameters_of_most_leverage_and_keep_the_rest():
    # five dense-conv benchmarks cannot tell depthwise, grouped or linear rates: those stay at
    # the prior's figures exactly; those they determine are recovered from synthetic times
    prior = machine_prior(load_device("desktop_cpu"), 1 << 25)
    benches = {b.name: b for b in micro_benchmarks()}
    names = ("conv3x3_64_56", "conv3x3_128_28", "conv3x3_256_14", "conv3x3_512_7",
             "conv3x3_stem")
    work = [kernels(benches[n].graph, FUSE) for n in names]
    chosen = determined(work, prior)
    assert 1 <= len(chosen) <= len(work) - 1 and chosen[0] == "conv"
    assert not {"depthwise", "grouped", "linear", "pointwise"} & set(chosen)
    start = parameters_of(prior)
    truth = with_parameters(prior, {"conv": start["conv"] * 0.6})  # 40% slower convs
    result = fit(work, predict(work, truth), prior)
    assert result.fitted == chosen
    assert set(result.kept) == set(parameters_of(prior)) - set(chosen)
    got, want = parameters_of(result.device), parameters_of(truth)
    for name in result.fitted:
        assert got[name] == pytest.approx(want[name], rel=0.02), name
    for name in result.kept:
        assert got[name] == pytest.approx(start[name], rel=1e-12), name


def test_a_fit_changes_only_the_fp32_rate_and_other_dtypes_keep_their_ratio():
    prior = load_device("desktop_cpu")
    rates = parameters_of(prior)
    device = with_parameters(prior, {"conv": rates["conv"] / 2, "linear": 1e17})
    # the peak is the fastest conv kind's rate; linear is capped at it (efficiency 1)
    peak = max(rates[k] for k in KINDS if k not in ("conv", "linear"))
    assert device.peak_mult_adds["fp32"] == pytest.approx(max(peak, rates["conv"] / 2))
    ratio = device.peak_mult_adds["fp32"] / prior.peak_mult_adds["fp32"]
    for dtype, rate in prior.peak_mult_adds.items():
        assert device.peak_mult_adds[dtype] == pytest.approx(rate * ratio)
    assert device.efficiency["linear"] == 1.0
    assert device.throughput("conv", "fp32") == pytest.approx(rates["conv"] / 2)


@pytest.mark.parametrize("count", [1, 2])
def test_timings_that_determine_nothing_are_refused(count):
    # one timing cannot tell any parameter from the noise; and kernels with no work on a
    # device with no launch or overhead time change with no parameter at all
    if count == 1:
        work, prior = [kernels(pointwise(), "none")], load_device("desktop_cpu")
    else:
        work = [(Kernel(1, "conv", 0, 0, 0),)] * 2
        prior = replace(load_device("desktop_cpu"), launch=0.0, setup=0.0, overhead=0.0)
    with pytest.raises(NotDetermined) as caught:
        fit(work, [1e-3] * count, prior)
    assert "none of the profile's parameters" in str(caught.value)


@pytest.mark.parametrize("seconds", [[], [0.0], [-1.0], [math.inf], [math.nan]])
def test_the_fit_refuses_times_that_are_not_positive_and_finite(seconds):
    with pytest.raises(ValueError):
        fit([kernels(pointwise(), "none")] * len(seconds), seconds, load_device("desktop_cpu"))


_counts = st.integers(min_value=0, max_value=10**13)
_kernel = st.builds(Kernel, node=st.just(1), kind=st.sampled_from(("", *KINDS)),
                    mult_adds=_counts, elementwise_ops=_counts, bytes=_counts,
                    im2col_bytes=_counts)


@settings(max_examples=40, deadline=None)
@given(work=st.lists(st.lists(_kernel, min_size=1, max_size=3).map(tuple), min_size=1,
                     max_size=6),
       seconds=st.lists(st.floats(min_value=1e-300, max_value=1e300), min_size=6, max_size=6),
       prior=st.sampled_from(("desktop_cpu", "gtx1080ti", "phone_soc")))
def test_the_fit_never_overflows_and_its_profile_reads_back(tmp_path_factory, work, seconds,
                                                             prior):
    # times no device could give (1e-300 s, 1e300 s) push every fitted parameter to its
    # limit; the parameters are bounded in log space, so the fit ends with a finite device
    # that read_device accepts, or refuses data that determines nothing
    device = load_device(prior)
    try:
        result = fit(work, seconds[:len(work)], device)
    except NotDetermined:
        return
    d = result.device
    figures = [*d.peak_mult_adds.values(), *d.efficiency.values(), d.bandwidth,
               d.vector_ops, d.cache_bandwidth, d.launch, d.overhead, d.overlap,
               result.rms_log_error, *predict(work, d)]
    assert all(math.isfinite(v) for v in figures), figures
    start = parameters_of(device)
    for name in result.kept:
        assert parameters_of(d)[name] == pytest.approx(start[name], rel=1e-12)
    path = tmp_path_factory.mktemp("fit") / "fitted.yaml"
    path.write_text(device_yaml(d))
    assert read_device(path).peak_mult_adds["fp32"] == pytest.approx(d.peak_mult_adds["fp32"])


# -- leave-one-out ---------------------------------------------------------------------------

def test_leave_one_out_by_hand_on_four_rows():
    # mult_adds x one constant, the constant the median seconds per mult-add of the other rows
    counts = [1e9, 2e9, 4e9, 8e9]
    seconds = [1e-3, 3e-3, 2.2e-3, 10e-3]  # ms per G: 1, 1.5, 0.55, 1.25
    check = held_out(seconds, scaled_predictor(counts, seconds))
    # row 0: median(1.5, 0.55, 1.25) = 1.25 -> 1.25 ms, error 0.25
    # row 1: median(1, 0.55, 1.25) = 1 -> 2 ms, error 1/3
    # row 2: median(1, 1.5, 1.25) = 1.25 -> 5 ms, error 5/2.2 - 1 = 1.2727
    # row 3: median(1, 1.5, 0.55) = 1 -> 8 ms, error 0.2
    assert check.predictions == pytest.approx((1.25e-3, 2e-3, 5e-3, 8e-3))
    assert check.median_error == pytest.approx((0.25 + 1 / 3) / 2)  # of 0.2, 0.25, 1/3, 1.27
    # ranks of the predictions 1 2 3 4, of the times 1 3 2 4: d^2 = 0+1+1+0 = 2;
    # rho = 1 - 6 * 2 / (4 * (16 - 1)) = 0.8
    assert check.spearman == pytest.approx(0.8)


def test_leave_one_out_of_the_fit_refits_without_the_row(tmp_path):
    prior = load_device("desktop_cpu")
    names = ["mobilenet_v1", "mobilenet_v2", "squeezenet", "shufflenet_v2@1.0x"]
    work = [kernels(load_model(n).graph, prior.fuse) for n in names]
    seconds = [2.1e-2, 1.6e-2, 1.0e-2, 7e-3]
    check = held_out(seconds, profile_predictor(work, seconds, prior))
    alone = fit(work[1:], seconds[1:], prior)
    assert check.predictions[0] == pytest.approx(predict(work[:1], alone.device)[0])
    assert held_out(seconds[:2], profile_predictor(work[:2], seconds[:2], prior)) is None


# -- the command -----------------------------------------------------------------------------

TIMINGS = "model,seconds\nmobilenet_v1,21ms\nmobilenet_v2,16ms\nsqueezenet,10ms\n" \
          "shufflenet_v2@1.0x,7ms\nresnet18,55ms\n"


def test_calibrate_timings_writes_a_profile_that_analyze_uses(tmp_path):
    timings = write(tmp_path, "phone.csv", TIMINGS)
    out = tmp_path / "phone.yaml"
    result = cli("calibrate", "--timings", str(timings), "-o", str(out))
    assert result.exit_code == 0, result.stderr
    assert "leave-one-out" in result.stderr and "mult_adds x one constant" in result.stderr
    device = read_device(out)
    assert device.name == "calibrated from phone.csv"
    assert device.calibration["rows"] == 5 and device.calibration["prior"] == "desktop_cpu"
    assert device.calibration["fitted"] and "profile_loo_median_error" in device.calibration
    doc = json.loads(cli("analyze", "mobilenet_v2", "--device", str(out), "-f", "json").stdout)
    assert doc["totals"]["latency"] == pytest.approx(
        estimate(load_model("mobilenet_v2").graph, device).total)


def test_calibrate_timings_reports_json_and_takes_a_prior(tmp_path):
    timings = write(tmp_path, "t.csv", TIMINGS)
    out = tmp_path / "p.yaml"
    result = cli("calibrate", "--timings", str(timings), "--prior", "phone_soc", "-o",
                 str(out), "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["prior"] == "phone_soc" and report["rows"] == 5
    assert set(report["fitted"]) | set(report["kept"]) == set(
        parameters_of(load_device("phone_soc")))
    assert [m["model"] for m in report["models"]][:2] == ["mobilenet_v1", "mobilenet_v2"]
    assert set(report["leave_one_out"]) == {"profile", "mult_adds"}
    assert read_device(out).calibration["prior"] == "phone_soc"


@pytest.mark.parametrize("text, words", [
    ("model,seconds\nmobilenet_v2,6ms\n", "1 timing determines none of the profile's"),
    ("model,seconds\nmobilenet_v2,-6ms\n", "t.csv:2:14: seconds: seconds must be a positive"),
])
def test_calibrate_timings_refuses_bad_data_and_writes_nothing(tmp_path, text, words):
    timings = write(tmp_path, "t.csv", text)
    result = cli("calibrate", "--timings", str(timings), "-o", str(tmp_path / "p.yaml"))
    assert result.exit_code == 2 and words in result.stderr and not result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv"]


# -- per-layer rows --------------------------------------------------------------------------

def test_a_layer_is_its_kernels_and_a_fused_layer_is_its_host_kernel():
    graph = load_model("mobilenet_v2").graph
    fuse = load_device("desktop_cpu").fuse  # bn-act: BN and ReLU6 run inside the conv
    (stem,) = layer_kernels(graph, "stem.conv", fuse)
    assert graph.nodes[stem.node].name == "stem.conv"
    assert layer_kernels(graph, "stem.bn", fuse) == layer_kernels(graph, "stem.relu6", fuse) \
        == (stem,)
    # a dotted prefix is a block: its expand, depthwise and project convs (BN, ReLU6 fused)
    block = layer_kernels(graph, "stage2.block1", fuse)
    assert [k.kind for k in block] == ["pointwise", "depthwise", "pointwise"]
    assert layer_kernels(graph, "stage2.block", fuse) is None  # a prefix ends at a dot
    assert layer_kernels(graph, "flatten", fuse) == ()  # a view: no kernel of its own


def test_a_layer_row_is_its_kernels_time_without_the_per_inference_overhead(tmp_path):
    path = write(tmp_path, "t.csv", "model,layer,seconds\nmobilenet_v2,,9ms\n"
                                    "mobilenet_v2,stem.conv,0.3ms\n"
                                    "mobilenet_v2,stage2.block1,0.6ms\n"
                                    "resnet18,layer1.block1.conv1,1.1ms\n")
    rows = read_timings(path)
    assert [r.layer for r in rows] == ["", "stem.conv", "stage2.block1", "layer1.block1.conv1"]
    assert rows[1].label == "mobilenet_v2: stem.conv"
    device, report = from_timings(str(path), leave_one_out=False)
    assert report["layer_rows"] == 3 and device.calibration["layer_rows"] == 3
    graph = load_model("mobilenet_v2").graph
    (stem,) = layer_kernels(graph, "stem.conv", device.fuse)
    assert report["models"][1]["fitted"] == pytest.approx(kernel_seconds(stem, device, "fp32"))
    assert report["models"][0]["fitted"] == pytest.approx(estimate(graph, device).total)
    assert estimate(graph, device).total == pytest.approx(
        sum(kernel_seconds(k, device, "fp32") for k in kernels(graph, device.fuse)) +
        device.overhead)


def test_an_unknown_layer_is_an_error_at_its_cell_with_a_did_you_mean(tmp_path):
    path = write(tmp_path, "t.csv", "model,layer,seconds\nmobilenet_v2,stem.cnv,1ms\n"
                                    "mobilenet_v2,stem.conv,1ms\nresnet18,flatten,1ms\n")
    with pytest.raises(SpecError) as caught:
        from_timings(str(path))
    unknown, view = caught.value.problems  # every bad layer at once
    assert unknown.message == "mobilenet_v2 has no layer 'stem.cnv'"
    assert "did you mean 'stem.conv'" in unknown.hint
    assert (unknown.loc.file, unknown.loc.line, unknown.loc.column) == (str(path), 2, 14)
    assert "launches no kernel" in view.message and view.loc.line == 4
    result = cli("calibrate", "--timings", str(path), "-o", str(tmp_path / "p.yaml"))
    assert result.exit_code == 2 and "t.csv:2:14" in result.stderr and not result.stdout
    assert "Traceback" not in result.stderr and not (tmp_path / "p.yaml").exists()


# twelve single layers of each kind a profiler reports, and twelve whole networks
LAYERS = [("mobilenet_v2", "stem"), ("mobilenet_v2", "stage2.block1.expand"),
          ("mobilenet_v2", "stage2.block1.depthwise"), ("mobilenet_v2", "stage2.block1.project"),
          ("mobilenet_v2", "stage2.block2.add"), ("mobilenet_v2", "classifier"),
          ("resnet18", "conv1"), ("resnet18", "maxpool"), ("resnet18", "layer1.block1.conv1"),
          ("resnet18", "layer4.block2.conv2"), ("shufflenet_v1", "stage2.unit2.pw1"),
          ("shufflenet_v1", "stage2.unit2.shuffle")]
NETWORKS = ["mobilenet_v1", "mobilenet_v2", "squeezenet", "shufflenet_v2@1.0x", "resnet18",
            "efficientnet_b0", "mobilenet_v3_large", "mnasnet", "resnet50", "vgg16", "alexnet",
            "googlenet"]


def test_per_layer_rows_determine_more_parameters_than_as_many_whole_networks():
    prior = load_device("desktop_cpu")
    graphs = {m: load_model(m).graph for m in {m for m, _ in LAYERS} | set(NETWORKS)}
    layers = [layer_kernels(graphs[m], name, prior.fuse) for m, name in LAYERS]
    networks = [kernels(graphs[m], prior.fuse) for m in NETWORKS]
    alone = [False] * len(layers)
    # a network's time mixes every kind of layer in about the same shares as the next
    # network's; single layers separate them. What the 12 rows can tell apart:
    by_layer = determinable(layers, prior, whole=alone)
    by_network = determinable(networks, prior)
    assert len(by_layer) == 8 and len(by_network) == 4
    assert {"depthwise", "linear", "vector_ops"} <= set(by_layer)
    # a fit still rests on 3 rows per parameter (12 // 3 = 4) whatever the rows are
    assert len(determined(layers, prior, whole=alone)) == len(determined(networks, prior)) == 4


def test_a_fit_to_every_layer_of_three_networks_recovers_the_device():
    # synthetic per-layer times (203 kernels of mobilenet_v2, resnet18, shufflenet_v1) from
    # the prior with 9 parameters changed; per-layer rows carry no per-inference overhead
    # and, at batch 1 in a 32 MB cache, no DRAM traffic: those two stay at the prior's
    prior = load_device("desktop_cpu")
    work = []
    for model in ("mobilenet_v2", "resnet18", "shufflenet_v1"):
        work += [(k,) for k in kernels(load_model(model).graph, prior.fuse)]
    alone = [False] * len(work)
    start = parameters_of(prior)
    change = {"conv": 0.6, "pointwise": 1.5, "depthwise": 0.5, "grouped": 0.7, "linear": 2.0,
              "vector_ops": 0.8, "cache_bandwidth": 1.3, "launch": 2.0}
    truth = with_parameters(prior, {**{k: start[k] * f for k, f in change.items()},
                                    "overlap": 0.5})
    result = fit(work, predict(work, truth, whole=alone), prior, whole=alone)
    assert set(result.fitted) == {*change, "overlap"} and len(work) == 203
    # setup (0.3 us a conv kernel) moves these layers' times by well under MIN_INFLUENCE (2%
    # per e-fold): kept, as the truth has it
    assert set(result.kept) == {"bandwidth", "overhead", "setup"}
    got, want = parameters_of(result.device), parameters_of(truth)
    for name in result.fitted:
        assert got[name] == pytest.approx(want[name], rel=0.02), name
    for name in result.kept:
        assert got[name] == start[name], name


# -- the prior from the rows ---------------------------------------------------------------

def test_the_prior_is_the_device_column_when_no_prior_is_given(tmp_path):
    rows = TIMINGS.replace("model,seconds\n", "model,seconds,device\n").replace(
        "ms\n", "ms,phone_soc\n")
    path = write(tmp_path, "t.csv", rows)
    _, report = from_timings(str(path), leave_one_out=False)
    assert (report["prior"], report["prior_from"]) == ("phone_soc", "the timings' device column")
    _, report = from_timings(str(path), load_device("gtx1080ti"), leave_one_out=False)
    assert (report["prior"], report["prior_from"]) == ("gtx1080ti", "--prior")
    _, report = from_timings(str(write(tmp_path, "u.csv", TIMINGS)), leave_one_out=False)
    assert (report["prior"], report["prior_from"]) == ("desktop_cpu", "the default")
    result = cli("calibrate", "--timings", str(path), "-o", str(tmp_path / "p.yaml"))
    assert result.exit_code == 0, result.stderr
    assert "kept from phone_soc (the prior, from the timings' device column)" in \
        result.stderr.replace("\n", " ")
    assert read_device(tmp_path / "p.yaml").calibration["prior_from"] == \
        "the timings' device column"


def test_rows_on_different_devices_are_refused(tmp_path):
    path = write(tmp_path, "t.csv", "model,seconds,device\nmobilenet_v2,1,phone_soc\n"
                                    "resnet18,2,\nsqueezenet,2,phone_soc\n")
    with pytest.raises(SpecError) as caught:
        from_timings(str(path))
    (problem,) = caught.value.problems
    assert "device is not given and the first's phone_soc" in problem.message
    assert (problem.loc.line, problem.loc.column) == (3, 12)


# -- timings of this machine, fitted with its micro-benchmarks ---------------------------------

def test_micro_benchmarks_join_the_fit_to_timings_and_are_never_held_out(tmp_path,
                                                                           monkeypatch):
    # synthetic: a device with 6 parameters off the prior, as onnxruntime runs here (the
    # machine's cache); the 5 networks alone determine 1 parameter, with the 53
    # micro-benchmarks (their times, as timed, from the same device) all 6 are recovered
    import cnncost.estimate.calibrate as calibrate_module

    monkeypatch.setattr(calibrate_module, "cache_size", lambda: 32 * 2 ** 20)
    prior = machine_prior(load_device("desktop_cpu"), 32 * 2 ** 20)
    start = parameters_of(prior)
    change = {"conv": 0.7, "pointwise": 1.3, "depthwise": 0.5, "vector_ops": 0.6,
              "bandwidth": 0.8, "launch": 2.0}
    truth = with_parameters(prior, {k: start[k] * f for k, f in change.items()})
    benches = micro_benchmarks()
    micro = [kernels(b.graph, FUSE) for b in benches]
    also = (micro, predict(micro, truth))
    models = ["mobilenet_v1", "mobilenet_v2", "squeezenet", "shufflenet_v2@1.0x", "resnet18"]
    seconds = predict([kernels(load_model(m).graph, FUSE) for m in models], truth)
    timings = write(tmp_path, "here.csv", "model,seconds\n" + "".join(
        f"{m},{s!r}\n" for m, s in zip(models, seconds)))
    alone, _ = from_timings(str(timings), leave_one_out=False)
    both, report = from_timings(str(timings), also=also)
    assert len(alone.calibration["fitted"].split(", ")) == 1
    fitted = report["fitted"]
    assert set(change) <= set(fitted) and report["micro_benchmarks"] == len(benches) == 53
    got, want = parameters_of(both), parameters_of(truth)
    for name in change:
        assert got[name] == pytest.approx(want[name], rel=0.02), name
    # leave-one-out holds out the 5 timings only: each predicted by a fit to the other 4
    # and all 53 micro-benchmarks
    assert [m["model"] for m in report["models"]] == models
    assert report["leave_one_out"]["profile"]["median_error"] < 0.02
    assert both.calibration["micro_benchmarks"] == 53 and "micro-benchmarks" in both.description


def test_micro_benchmarks_need_timings_to_join():
    result = cli("calibrate", "--micro-benchmarks")
    assert result.exit_code == 2
    assert "--micro-benchmarks adds this machine's micro-benchmarks to a fit to --timings" \
        in result.stderr


@pytest.mark.slow
def test_calibrate_timings_with_micro_benchmarks_timed_here(tmp_path):
    pytest.importorskip("onnxruntime")
    timings = write(tmp_path, "here.csv", TIMINGS)
    out = tmp_path / "here.yaml"
    result = cli("calibrate", "--timings", str(timings), "--micro-benchmarks", "-o", str(out))
    assert result.exit_code == 0, result.stderr
    assert "to 5 timings and 53 micro-benchmarks timed here" in result.stderr
    device = read_device(out)
    assert device.calibration["micro_benchmarks"] == 53 and device.fuse == FUSE
