"""The one pipeline (cnncost.pipeline): it gives what analyze gave before it was the only place
that orders the passes; the reports, charts and the tool conventions only read its results;
no call leaves the garbage collector disabled."""

from __future__ import annotations

import gc
import subprocess
import sys
import threading
from typing import Any

import pytest

from cnncost.core.gcpause import paused_gc
from cnncost.core.ir import Graph
from cnncost.estimate.devices import load_device
from cnncost.frontends.library import load_model
from cnncost.pipeline import Analysis, analyze, counts, figures, kernels

# Figures computed by analyze() and conventions.tally() before the passes were ordered in one
# place (commit f86487a): (mult_adds, mem_access, peak_activation_bytes, kernels, latency,
# blocks at the depth), then (fvcore's figure, thop's figure). The devices cover both ways:
# a device fusing bn-act under fuse none (desktop_cpu, phone_soc) and one fusing nothing
# under fuse bn-act (gtx1080ti). Two changes of the latency model since (issue 20) add to
# the latencies, nothing else: each conv, linear and pooling kernel pays the profile's setup
# (desktop_cpu 0.3 us x mobilenet_v2's 53 such kernels; phone_soc 1 us x shufflenet_v2's 58),
# and a max pool's window runs at the depthwise rate (shufflenet_v2's on phone_soc: 40.60 us
# instead of 42.40 us element-wise; resnet50's on gtx1080ti in fp16: 0.41 ms more).
BEFORE = [
    ("mobilenet_v2", {},
     (300774272, 43266256, 9633792, 151, None, 13),
     (314193216, 327486720)),
    ("mobilenet_v2", {"fuse": "bn-act", "device": "desktop_cpu"},
     (300774272, 17647280, 6021120, 64, 0.004848053234537325 + 53 * 0.3e-6, 13),
     (314193216, 327486720)),
    # latency: 0.00413835651010101 + 58 x 1e-6 + 4.0599127272727265e-05 - 4.2395200e-05
    # (its max pool, depthwise and element-wise), summed in the estimate's own order
    ("shufflenet_v2", {"device": "phone_soc"},
     (144907992, 16861416, 2408448, 184, 0.004194560437373736, 9),
     (148808392, 152708792)),
    ("resnet50", {"fuse": "bn-act", "dtype": "fp16", "device": "gtx1080ti"},
     (4089184256, 76012624, 4816896, 88, 0.08599358504681985 + 0.0004067114300677201, 11),
     (4111512576, 4133742592)),
    ("googlenet", {"fuse": "bn-act", "depth": 2},
     (1498376192, 21323808, 4014080, 81, None, 89),
     (1504878688, 1511332032)),
]


def options(given: dict[str, Any]) -> dict[str, Any]:
    return {**given, "device": load_device(given["device"])} if "device" in given else given


@pytest.mark.parametrize("spec, given, before, tools", BEFORE,
                         ids=[f"{s}-{'-'.join(map(str, g.values())) or 'defaults'}"
                              for s, g, _, _ in BEFORE])
def test_the_pipeline_gives_what_analyze_gave_before(spec, given, before, tools):
    model = load_model(spec)
    fvcore = analyze(model, convention="fvcore", **options(given))
    f = figures(fvcore)
    assert (f["mult_adds"], f["mem_access"], f["peak_activation_bytes"], f["kernels"],
            f.get("latency"), len(fvcore.blocks)) == before
    thop = analyze(model, convention="thop", **options(given))
    assert (fvcore.tally.figure, thop.tally.figure) == tools
    assert fvcore.tally.convention.name == "fvcore" and analyze(model).tally is None


def test_the_latency_runs_under_the_devices_own_fusion():
    """desktop_cpu fuses bn-act: its estimate is the same whatever fusion the counts use."""
    graph = load_model("mobilenet_v2").graph
    device = load_device("desktop_cpu")
    unfused, fused = counts(graph, "none", device=device), counts(graph, "bn-act", device=device)
    assert unfused.latency == fused.latency
    assert unfused.costs != fused.costs  # mem_access differs: 43,266,256 vs 17,647,280
    # the kernels on the estimate are those pipeline.kernels() gives for the device's fusion
    assert unfused.latency.kernels == kernels(graph, "bn-act")
    assert len(unfused.latency.kernels) == 64


def test_a_convention_the_pipeline_does_not_know_is_refused():
    with pytest.raises(ValueError, match="convention must be one of"):
        analyze(load_model("mobilenet_v1"), convention="flopco")


@pytest.mark.slow  # draws every chart and report: seconds
def test_reports_only_read_the_analysis(monkeypatch):
    """With every pass and the pipeline made to fail, each report of an Analysis is still
    made, and equal to the one made before: they read the results they are given."""
    pytest.importorskip("matplotlib")
    from cnncost.report.charts import layers_figure, roofline_figure, roofline_points
    from cnncost.report.explain_views import explain_text, with_tool_figure
    from cnncost.report.html import report_html
    from cnncost.report.views import analysis_text, specs_text

    a = analyze(load_model("shufflenet_v2"), device=load_device("phone_soc"),
                convention="ptflops")

    def reports() -> list[Any]:
        return [report_html(a, charts=True), roofline_figure(a, "svg"), layers_figure(a, "svg"),
                roofline_points(a), explain_text(a, "json", layers=True),
                with_tool_figure("{}", a, "json", other_tables=False),
                analysis_text(a, "json", layers=True, by="op"), specs_text("json", [a])]

    made = reports()

    def ran(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a report ran a pass")

    import cnncost.conventions.tools as tools
    import cnncost.passes.costs as costs
    import cnncost.passes.fuse as fuse
    import cnncost.passes.latency as latency
    import cnncost.passes.memory as memory
    import cnncost.passes.rollup as rollup
    import cnncost.pipeline as pipeline

    for module, names in ((pipeline, ("analyze", "counts", "kernels", "estimate",
                                      "_run_passes")),
                          (costs, ("node_costs", "node_kinds")),
                          (fuse, ("fusion_hosts", "fused_costs")),
                          (memory, ("liveness", "live_totals")),
                          (rollup, ("rollup", "network_group")),
                          (latency, ("kernel_work", "estimate_of")),
                          (tools, ("tally",))):
        for name in names:
            monkeypatch.setattr(module, name, ran)
    monkeypatch.setattr(Graph, "node_costs", ran)
    assert reports() == made
    assert len(made[3][0]) > 0  # kernels placed on the roofline


def test_a_report_of_an_analysis_without_a_convention_says_so():
    from cnncost.report.explain_views import explain_text

    with pytest.raises(ValueError, match="without a tool convention"):
        explain_text(analyze(load_model("mobilenet_v1")), "table")


def test_the_library_is_analysed_one_spec_at_a_time():
    from cnncost.jobs.survey import analyze_library

    first = next(analyze_library())
    assert isinstance(first, Analysis) and first.model.spec == "alexnet"


# -- the garbage collector ------------------------------------------------------------------

def test_import_analyze_and_sweep_leave_the_collector_enabled():
    code = ("import gc, cnncost\n"
            "assert gc.isenabled()\n"
            "a = cnncost.analyze('mobilenet_v1')\n"
            "assert gc.isenabled()\n"
            "from cnncost.jobs.sweep import Sweep, parse_axis\n"
            "rows = list(Sweep('mobilenet_v1', [parse_axis('resolution=128,160')]).blocks())\n"
            "assert len(rows[0]['mult_adds']) == 2 and gc.isenabled()\n"
            "print('enabled')\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.stdout.strip() == "enabled", result.stderr


def test_a_nested_pause_restores_the_collector_once_the_outer_ends():
    assert gc.isenabled()
    with paused_gc():
        with paused_gc():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer call is still building
    assert gc.isenabled()


def test_a_pause_keeps_a_disabled_collector_disabled():
    gc.disable()
    try:
        with paused_gc():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_pauses_in_threads_restore_the_collector_when_the_last_ends():
    """Thread A pauses, B pauses, A ends (B still inside: still paused), B ends: enabled."""
    a_in, b_in, a_out, b_out = (threading.Event() for _ in range(4))
    seen = {}

    def first() -> None:
        with paused_gc():
            a_in.set()
            b_in.wait(10)
        a_out.set()

    def second() -> None:
        a_in.wait(10)
        with paused_gc():
            b_in.set()
            a_out.wait(10)
            seen["after A ended"] = gc.isenabled()
        b_out.set()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert seen == {"after A ended": False} and b_out.is_set()
    assert gc.isenabled()
