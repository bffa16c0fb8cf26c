"""Device classes (issue 20): Winograd, fp16 arithmetic and threads as profile properties, and
the bundled profiles of mobile and integrated GPUs and of a many-threaded server CPU. Each
property changes the latency estimate only, never a count; the tests write out the arithmetic."""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import pytest
from conftest import cli, cli_json

from cnncost.core.errors import CnncostError
from cnncost.estimate.devices import (
    bundled_devices,
    device_yaml,
    load_device,
    read_device,
)
from cnncost.frontends.builder import GraphBuilder, make_op
from cnncost.frontends.library import load_model
from cnncost.jobs.sweep import Sweep, parse_axis
from cnncost.passes.latency import (
    Device,
    Threads,
    kernel_bytes,
    kernel_terms,
    kernel_time,
)
from cnncost.pipeline import analyze, estimate, figures, kernels

# round numbers; memory so fast that every kernel below is compute-bound unless a test says not
PLAIN = Device(name="plain", peak_mult_adds={"fp32": 1e9, "fp16": 4e9}, bandwidth=1e15,
               vector_ops=1e9, efficiency={"conv": 0.5, "pointwise": 0.5})


def conv(kernel: int = 3, stride: int = 1, groups: int = 1, dilation: int = 1,
         c1: int = 16, c2: int = 32, size: int = 8):
    b = GraphBuilder("c", (1, c1, size, size))
    b.add("conv", make_op("conv2d", out_channels=c2, kernel=kernel, stride=stride,
                          groups=groups, dilation=dilation), [0])
    return b.graph()


def compute_seconds(graph, device: Device, dtype: str = "fp32") -> float:
    (k,) = kernels(graph, "none", dtype)
    return kernel_terms(k, device, dtype)[0]


# -- Winograd -----------------------------------------------------------------------------------

def test_winograd_2x2_divides_a_3x3_convs_multiplies_by_2_25_and_adds_its_transforms():
    # 3x3 conv 16 -> 32 on 8x8, "same": 64 positions; mult_adds = 64 x 16 x 32 x 9 = 294,912
    (k,) = kernels(conv(), "none")
    assert (k.kind, k.mult_adds, k.winograd) == ("conv", 294_912, 294_912)
    assert (k.winograd_in, k.winograd_out) == (64 * 16, 64 * 32)
    direct = compute_seconds(conv(), PLAIN)
    assert direct == pytest.approx(294_912 / 5e8)
    # F(2x2, 3x3): 16 multiplies per 4 outputs instead of 36: 294,912 / 2.25 = 131,072 at
    # 5e8/s; transforms per 2x2 tile: 32 ops per input channel, 24 per output channel:
    # (1,024 x 32 + 2,048 x 24) / 4 = 20,480 element-wise ops at 1e9/s
    f2 = compute_seconds(conv(), replace(PLAIN, winograd=2))
    assert f2 == pytest.approx(131_072 / 5e8 + 20_480 / 1e9)
    # F(4x4, 3x3): 36 multiplies per 16 outputs, 4x fewer: 73,728; transforms 192 and 140 per
    # 4x4 tile: (1,024 x 192 + 2,048 x 140) / 16 = 30,208
    f4 = compute_seconds(conv(), replace(PLAIN, winograd=4))
    assert f4 == pytest.approx(73_728 / 5e8 + 30_208 / 1e9)
    assert f4 < f2 < direct


@pytest.mark.parametrize("what, graph", [
    ("1x1", conv(kernel=1)),
    ("stride 2", conv(stride=2)),
    ("grouped", conv(groups=4)),
    ("depthwise", conv(groups=16, c2=16)),
    ("dilated", conv(dilation=2)),
    ("5x5", conv(kernel=5)),
])
def test_winograd_leaves_every_other_conv_as_it_was(what, graph):
    (k,) = kernels(graph, "none")
    assert k.winograd == 0, what
    device = replace(PLAIN, efficiency={}, im2col=True)
    assert kernel_time(k, replace(device, winograd=4), "fp32") == kernel_time(k, device, "fp32")


def test_a_winograd_conv_builds_no_column_matrix():
    (k,) = kernels(conv(), "none")
    # im2col: 64 positions x 16 channels x 9 = 9,216 elements, written and read, 4 bytes each
    assert k.im2col_bytes == 2 * 9_216 * 4
    im2col = replace(PLAIN, im2col=True)
    assert kernel_bytes(k, im2col) == k.bytes + 73_728
    assert kernel_bytes(k, replace(im2col, winograd=2)) == k.bytes


def test_winograd_changes_the_estimate_and_no_count():
    model = load_model("resnet18")
    device = load_device("iris_xe_96eu")
    direct, fast = analyze(model, device=replace(device, winograd=0)), analyze(model,
                                                                                device=device)
    assert {k: v for k, v in figures(fast).items() if k != "latency"} == \
        {k: v for k, v in figures(direct).items() if k != "latency"} == figures(analyze(model))
    assert figures(fast)["latency"] < figures(direct)["latency"]


# -- fp16 arithmetic ------------------------------------------------------------------------------

def test_compute_dtype_fp16_moves_half_the_bytes_at_the_fp16_peak():
    graph = conv(kernel=1)  # 1x1 16 -> 32 on 8x8: 32,768 mult_adds; 3,584 elements moved
    half = replace(PLAIN, compute_dtype="fp16", bandwidth=1e6)  # memory-bound now
    e32, e16 = estimate(graph, replace(half, compute_dtype="")), estimate(graph, half)
    (k32,), (k16,) = e32.kernels, e16.kernels
    assert (k32.bytes, k16.bytes) == (3_584 * 4, 3_584 * 2)
    assert e16.dtype == "fp16" and e32.dtype == "fp32"
    assert e16.total == pytest.approx(3_584 * 2 / 1e6)  # half the time of ...
    assert e32.total == pytest.approx(3_584 * 4 / 1e6)  # ... the fp32 bytes
    compute_bound = replace(half, bandwidth=1e15)
    assert estimate(graph, compute_bound).total == pytest.approx(32_768 / (4e9 * 0.5))
    # a model already in another dtype is computed as it is; the counts never change
    assert compute_bound.computes_in("int8") == "int8"
    assert compute_bound.computes_in("fp32") == "fp16"
    model = load_model("mobilenet_v2")
    mali = load_device("mali_g78")
    assert {k: v for k, v in figures(analyze(model, device=mali)).items()
            if k != "latency"} == figures(analyze(model))


# -- threads -------------------------------------------------------------------------------------

EIGHT = replace(PLAIN, threads=Threads(count=8, efficiency=0.75, grain=1e5, sync=1e-6))


def test_a_large_kernel_speeds_up_by_about_threads_times_efficiency():
    graph = conv(c1=64, c2=64, size=32)  # 1,024 x 64 x 64 x 9 = 37,748,736 mult_adds
    (k,) = kernels(graph, "none")
    one, _ = kernel_time(k, PLAIN, "fp32")
    eight, _ = kernel_time(k, EIGHT, "fp32")
    assert one == pytest.approx(37_748_736 / 5e8)
    # its work fills all 8 threads (37.7M / 1e5 > 8): 1 + 7 x 0.75 = 6.25 times the rate,
    # and 7 threads' synchronisation, 1 us each
    assert eight == pytest.approx(one / 6.25 + 7e-6)
    assert one / eight == pytest.approx(6.25, rel=0.05)  # about 8 x 0.75 = 6


def test_a_tiny_kernel_gains_nothing_from_threads():
    graph = conv(kernel=1, c1=4, c2=4, size=4)  # 16 x 4 x 4 = 256 mult_adds: far below a grain
    (k,) = kernels(graph, "none")
    assert kernel_time(k, EIGHT, "fp32") == kernel_time(k, PLAIN, "fp32")
    # a kernel of 2.5 grains runs on 2.5 threads: 1 + 1.5 x 0.75 = 2.125 times, 1.5 us of sync
    (k,) = kernels(conv(kernel=1), "none")  # 32,768 mult_adds + 3,584 x 4 bytes = 47,104
    grain = replace(EIGHT, threads=replace(EIGHT.threads, grain=47_104 / 2.5))
    assert kernel_time(k, grain, "fp32")[0] == pytest.approx(32_768 / 5e8 / 2.125 + 1.5e-6)


def test_threads_share_main_memory_up_to_its_limit():
    (k,) = kernels(conv(kernel=1), "none")  # 14,336 bytes
    slow = replace(EIGHT, bandwidth=1e6, threads=replace(EIGHT.threads, grain=0.0, sync=0.0))
    # grain 0: every kernel on all 8 threads; the bandwidth would grow 6.25x, to 6.25e6 B/s,
    # but all threads together reach only 2e6
    capped = replace(slow, threads=replace(slow.threads, bandwidth=2e6))
    assert kernel_terms(k, capped, "fp32")[1] == pytest.approx(14_336 / 2e6)
    unshared = replace(slow, threads=replace(slow.threads, bandwidth=1e9))
    assert kernel_terms(k, unshared, "fp32")[1] == pytest.approx(14_336 / 6.25e6)
    # no limit given: main memory does not grow with threads
    assert kernel_terms(k, slow, "fp32")[1] == pytest.approx(14_336 / 1e6)


def test_one_thread_keeps_every_figure_of_the_profile():
    model = load_model("mobilenet_v2")
    desktop = load_device("desktop_cpu")
    assert desktop.threads is not None and desktop.threads.count == 1
    assert figures(analyze(model, device=desktop))["latency"] == \
        figures(analyze(model, device=replace(desktop, threads=None)))["latency"]


def test_threads_from_the_device_reference():
    d = load_device("desktop_cpu@threads=8")
    assert (d.name, d.threads.count) == ("desktop_cpu@threads=8", 8)
    assert replace(d, name="desktop_cpu", threads=replace(d.threads, count=1)) == \
        load_device("desktop_cpu")
    model = load_model("resnet18")
    one, eight = (figures(analyze(model, device=load_device(ref)))["latency"]
                  for ref in ("desktop_cpu", "desktop_cpu@threads=8"))
    assert one / 8 < eight < one / 4  # about 1 + 7 x 0.85 = 6.95 on the large convs
    assert load_device("xeon_gold_6338@threads=4").threads.count == 4
    doc = cli_json("analyze", "mobilenet_v2", "--device", "desktop_cpu@threads=8")
    assert doc["convention"]["device"] == "desktop_cpu@threads=8"


@pytest.mark.parametrize("ref, words", [
    ("gtx1080ti@threads=8", "gtx1080ti has no threads: section"),
    ("desktop_cpu@threads=0", "whole number from 1 to 1024"),
    ("desktop_cpu@threads=eight", "whole number from 1 to 1024"),
    ("desktop_cpu@thread=8", "did you mean 'threads'"),
])
def test_a_bad_device_reference_is_refused(ref, words):
    with pytest.raises(CnncostError) as caught:
        load_device(ref)
    assert words in caught.value.format()
    result = cli("analyze", "mobilenet_v2", "--device", ref)
    assert result.exit_code == 2 and words in result.stderr and not result.stdout
    assert "Traceback" not in result.stderr


# -- the bundled classes ------------------------------------------------------------------------

NEW = ("mali_g78", "apple_m1_gpu", "iris_xe_96eu", "xeon_gold_6338")


def test_the_device_classes_are_bundled_with_their_sources():
    assert set(NEW) <= set(bundled_devices())
    mali, m1, xe, xeon = (load_device(n) for n in NEW)
    # Mali-G78 MP20: 20 cores x 32 fused multiply-adds x 848 MHz
    assert mali.peak_mult_adds["fp32"] == pytest.approx(20 * 32 * 848e6, rel=1e-3)
    # Apple M1: 1,024 ALUs x 1.278 GHz; Iris Xe: 96 EUs x 8 lanes x 1.35 GHz
    assert m1.peak_mult_adds["fp32"] == pytest.approx(1024 * 1.278e9, rel=1e-3)
    assert xe.peak_mult_adds["fp32"] == pytest.approx(96 * 8 * 1.35e9, rel=1e-3)
    # Xeon Gold 6338: 32 fp32 fused multiply-adds per cycle x 2.0 GHz per core, 32 threads
    assert xeon.peak_mult_adds["fp32"] == 32 * 2.0e9 and xeon.threads.count == 32
    assert (mali.compute_dtype, mali.winograd, xe.compute_dtype, xe.winograd) == \
        ("fp16", 4, "fp16", 2)
    assert (m1.compute_dtype, m1.winograd) == ("fp16", 0)
    for d in (mali, m1, xe, xeon):
        assert len(d.sources) >= 3 and any("assumption" in s for s in d.sources)


PHONE_GPUS = ("adreno_740", "mali_g710")


def test_the_phone_gpus_derive_their_peaks_and_assume_as_mali_g78_does():
    adreno, g710, g78 = (load_device(n) for n in PHONE_GPUS + ("mali_g78",))
    # Adreno 740: Qualcomm gives its XR2 Gen 2 part 1.8 TFLOPS at 600 MHz, 1.8e12 / (2 x 600e6)
    # = 1,500 -> 1,536 ALUs; on Snapdragon 8 Gen 2 at 680 MHz: 1,536 x 680e6 = 1.044e12
    assert adreno.peak_mult_adds["fp32"] == pytest.approx(1536 * 680e6, rel=1e-3)
    # Mali-G710 MC10: 10 cores x 64 fused multiply-adds (twice a G78 core's 32) x 850 MHz
    assert g710.peak_mult_adds["fp32"] == pytest.approx(10 * 64 * 850e6, rel=1e-3)
    # sustained bandwidth: the share of peak mali_g78 assumes (35 of 51.2 GB/s, 0.68) of
    # LPDDR5X-8400 (67.2 GB/s) and LPDDR5X-7500 (60 GB/s) on 4 x 16 bits
    assert adreno.bandwidth / 67.2e9 == pytest.approx(35e9 / 51.2e9, abs=0.02)
    assert g710.bandwidth / 60e9 == pytest.approx(35e9 / 51.2e9, abs=0.02)
    for d in (adreno, g710):
        assert d.peak_mult_adds["fp16"] == pytest.approx(2 * d.peak_mult_adds["fp32"], rel=1e-3)
        assert d.peak_mult_adds["int8"] == pytest.approx(4 * d.peak_mult_adds["fp32"], rel=1e-3)
        assert (d.compute_dtype, d.winograd, d.fuse, d.launch, d.overhead, d.overlap,
                d.efficiency) == (g78.compute_dtype, g78.winograd, g78.fuse, g78.launch,
                                  g78.overhead, g78.overlap, g78.efficiency)
        assert len(d.sources) >= 5 and any("assumption" in s for s in d.sources)
    # where third-party figures disagree, the profile says so
    assert any("disagreeing figures" in s and "3.7 TFLOPS" in s for s in adreno.sources)


@pytest.mark.parametrize("name", NEW + PHONE_GPUS + ("desktop_cpu",))
def test_a_profile_with_the_new_keys_is_written_and_read_back_equal(tmp_path, name):
    d = load_device(name)
    path = tmp_path / "copy.yaml"
    path.write_text(device_yaml(d))
    assert replace(read_device(path), file="") == replace(d, file="")


def test_devices_lists_how_each_device_runs():
    result = cli("devices")
    assert result.exit_code == 0
    assert "32 threads" in result.stdout and "Winograd F(4x4,3x3)" in result.stdout
    rows = {d["name"]: d for d in cli_json("devices")["devices"]}
    assert rows["mali_g78"]["compute_dtype"] == "fp16" and rows["mali_g78"]["winograd"] == 4
    assert rows["xeon_gold_6338"]["threads"] == {"count": 32, "efficiency": 0.8,
                                                 "grain": 65536.0, "sync": 1.5e-7,
                                                 "bandwidth": 160e9}
    assert rows["gtx1080ti"]["threads"] is None and rows["gtx1080ti"]["winograd"] is None


@pytest.mark.parametrize("device", ["xeon_gold_6338", "mali_g78"])
def test_a_sweep_estimates_as_analyze_does(device):
    profile = load_device(device)
    job = Sweep("resnet50", [parse_axis("resolution=128:256:64")], fuse="bn-act",
                device=profile)
    blocks = list(job.blocks())
    rows = {k: np.concatenate([np.asarray(b[k]) for b in blocks]) for k in job.columns}
    for i in random.Random(device).sample(range(len(rows["latency"])), 2):
        resolution = rows["resolution"][i].item()
        want = figures(analyze(load_model("resnet50", {"resolution": resolution}),
                               fuse="bn-act", device=profile))["latency"]
        assert rows["latency"][i] == pytest.approx(want, rel=1e-12)
