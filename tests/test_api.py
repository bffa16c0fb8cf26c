"""The Python API: docs/api.md's examples run as they are written, and a graph built in code
through the public builder has the figures of the same network written as a spec."""

from __future__ import annotations

import doctest
import re
import subprocess
import sys
from pathlib import Path

import pytest

import cnncost
from cnncost import GraphBuilder, analyze, make_op, totals
from cnncost.core.errors import ArgumentError, ArgumentTypeError, ArgumentValueError
from conftest import ROOT, build


def test_the_api_document_runs():
    result = doctest.testfile(str(ROOT / "docs" / "api.md"), module_relative=False,
                              optionflags=doctest.ELLIPSIS)
    assert result.attempted > 20 and result.failed == 0


def test_builder_modules_doctest():
    import cnncost
    import cnncost.frontends.builder

    for module in (cnncost, cnncost.frontends.builder):
        result = doctest.testmod(module)
        assert result.attempted and result.failed == 0, module.__name__


SPEC = """
    name: block
    input: {shape: [24, 28, 28]}
    layers:
      - {name: pw1, op: conv2d, out_channels: 48, kernel: 1}
      - {name: bn1, op: batchnorm}
      - {name: relu1, op: relu}
      - {name: dw, op: conv2d, out_channels: 48, kernel: 3, stride: 2, groups: 48}
      - {name: bn2, op: batchnorm}
      - {name: pw2, op: conv2d, out_channels: 24, kernel: 1}
      - {name: pool, op: maxpool, kernel: 3, stride: 2, padding: 1, inputs: input}
      - {name: cat, op: concat, inputs: [pw2, pool]}
      - {name: shuffle, op: channel_shuffle, groups: 2}
"""


def test_the_builder_gives_the_figures_of_the_spec():
    b = GraphBuilder("block", (1, 24, 28, 28))
    pw1 = b.add("pw1", make_op("conv2d", out_channels=48, kernel=1), [0])
    bn1 = b.add("bn1", make_op("batchnorm"), [pw1])
    relu1 = b.add("relu1", make_op("relu"), [bn1])
    dw = b.add("dw", make_op("conv2d", out_channels=48, kernel=3, stride=2, groups=48), [relu1])
    bn2 = b.add("bn2", make_op("batchnorm"), [dw])
    pw2 = b.add("pw2", make_op("conv2d", out_channels=24, kernel=1), [bn2])
    pool = b.add("pool", make_op("maxpool", kernel=3, stride=2, padding=1), [0])
    cat = b.add("cat", make_op("concat"), [pw2, pool])
    b.add("shuffle", make_op("channel_shuffle", groups=2), [cat])
    in_code, in_yaml = analyze(b.graph()), analyze(build(SPEC))
    assert in_code.graph.nodes == tuple(n._replace(loc=None) for n in in_yaml.graph.nodes)
    assert totals(in_code) == totals(in_yaml)
    # pw1 28*28*48*24, dw 14*14*48*9, pw2 14*14*24*48: 903,168 + 84,672 + 225,792
    assert totals(in_code)["mult_adds"] == 903_168 + 84_672 + 225_792 == 1_213_632


# -- arguments: every function of the API says what it expected --------------------------------


@pytest.fixture(scope="module")
def v1():
    return analyze(cnncost.load_model("mobilenet_v1@alpha=0.25,resolution=128"))


GRID = {"alpha": [0.25]}
TYPE, VALUE = ArgumentTypeError, ArgumentValueError
BAD = [  # (function, positional arguments, keyword arguments, error, words in the message)
    ("load_model", (None,), {}, TYPE, ["load_model(): the spec must be a spec reference",
                                       "not None"]),
    ("load_model", (3,), {}, TYPE, ["spec reference", "not int 3"]),
    ("load_model", ("mobilenet_v1", ["alpha"]), {}, TYPE,
     ["settings must be a dict", "not list ['alpha']"]),
    ("load_model", ("mobilenet_v1", {1: 0.5}), {}, TYPE, ["settings key", "not int 1"]),
    ("load_model", ("mobilenet_v1",), {"variant": 2}, TYPE, ["variant must be", "not int 2"]),
    ("load_model", ("mobilenet_v1",), {"batch": -1}, VALUE,
     ["batch must be a whole number of at least 1", "not -1"]),
    ("load_model", ("mobilenet_v1",), {"batch": True}, TYPE, ["batch", "not bool True"]),
    ("load_model", ("mobilenet_v1",), {"batch": 2.0}, TYPE, ["batch", "not float 2.0"]),
    ("load_model", ("m.onnx",), {"input_shape": (1, 0, 224, 224)}, VALUE,
     ["input_shape must be 1 to 8 whole numbers of at least 1", "not (1, 0, 224, 224)"]),
    ("load_model", ("m.onnx",), {"input_shape": "1x3x8x8"}, TYPE, ["input_shape", "not str"]),
    ("load_model", ("mobilenet_v1",), {"allow_unknown": 1}, TYPE,
     ["allow_unknown must be True or False", "not int 1"]),
    ("analyze", (None,), {}, TYPE, ["analyze(): model must be a Model", "a Graph",
                                    "spec reference", "not None"]),
    ("analyze", (7,), {}, TYPE, ["model must be", "not int 7"]),
    ("analyze", ("mobilenet_v1",), {"fuse": "bn_act"}, VALUE,
     ["fuse must be one of 'none', 'bn-act'", "not 'bn_act'", "did you mean 'bn-act'?"]),
    ("analyze", ("mobilenet_v1",), {"fuse": None}, TYPE, ["fuse must be one of", "not None"]),
    ("analyze", ("mobilenet_v1",), {"dtype": "fp8"}, VALUE,
     ["dtype must be one of 'fp32', 'fp16', 'bf16', 'int8'", "not 'fp8'"]),
    ("analyze", ("mobilenet_v1",), {"device": "phone"}, VALUE,
     ["device must be a bundled profile name", "not 'phone'", "did you mean 'phone_soc'?",
      "valid: adreno_740, apple_m1_gpu, desktop_cpu,"]),
    ("analyze", ("mobilenet_v1",), {"device": 3}, TYPE,
     ["device must be a profile name", "cnncost.passes.latency.Device", "not int 3"]),
    ("analyze", ("mobilenet_v1",), {"depth": 0}, VALUE, ["depth must be", "not 0"]),
    ("analyze", ("mobilenet_v1",), {"depth": False}, TYPE, ["depth", "not bool False"]),
    ("analyze", ("mobilenet_v1",), {"thresholds": {"g3_max_branches": 2}}, TYPE,
     ["thresholds must be a cnncost.passes.guidelines.Thresholds", "not dict"]),
    ("totals", (None,), {}, TYPE, ["totals(): a must be an Analysis", "not None"]),
    ("layers", ("mobilenet_v1",), {}, TYPE, ["layers(): a must be an Analysis",
                                             "not str 'mobilenet_v1'"]),
    ("document", (1,), {}, TYPE, ["document(): a must be an Analysis", "not int 1"]),
    ("to_json", ([],), {}, TYPE, ["to_json(): a must be an Analysis", "not list []"]),
    ("blocks", ("ANALYSIS",), {"depth": 0}, VALUE, ["blocks(): depth must be", "not 0"]),
    ("blocks", ("ANALYSIS",), {"depth": "1"}, TYPE, ["depth", "not str '1'"]),
    ("blocks", (None,), {}, TYPE, ["blocks(): a must be an Analysis"]),
    ("check_graph", (None,), {}, TYPE, ["check_graph(): graph must be a Graph", "not None"]),
    ("sweep", (None, GRID), {}, TYPE, ["sweep(): the spec must be", "not None"]),
    ("sweep", ("mobilenet_v1", ["alpha", 0.25]), {}, TYPE,
     ["sweep(): grid must be a dict of variable name -> values", "not list"]),
    ("sweep", ("mobilenet_v1", {}), {}, VALUE, ["one variable at least", "not {}"]),
    ("sweep", ("mobilenet_v1", {"alpha": []}), {}, VALUE,
     ["grid['alpha'] must be a list of 1 to 1,000,000 numbers", "not []"]),
    ("sweep", ("mobilenet_v1", {"alpha": 0.5}), {}, TYPE, ["grid['alpha']", "not float 0.5"]),
    ("sweep", ("mobilenet_v1", {"alpha": [0.5, None]}), {}, TYPE,
     ["grid['alpha']: each value must be a finite number", "not None"]),
    ("sweep", ("mobilenet_v1", {"alpha": [True]}), {}, TYPE, ["each value", "not bool True"]),
    ("sweep", ("mobilenet_v1", {"alpha": [float("inf")]}), {}, VALUE,
     ["finite number", "not inf"]),
    ("sweep", ("mobilenet_v1", {2: [1]}), {}, TYPE, ["a grid key must be", "not int 2"]),
    ("sweep", ("mobilenet_v1", GRID), {"fuse": "all"}, VALUE, ["sweep(): fuse must be one of",
                                                              "not 'all'"]),
    ("sweep", ("mobilenet_v1", GRID), {"dtype": 16}, TYPE, ["sweep(): dtype", "not int 16"]),
    ("sweep", ("mobilenet_v1", GRID), {"device": "h10"}, VALUE,
     ["sweep(): device must be a bundled profile name", "did you mean 'h100'?"]),
    ("sweep", ("mobilenet_v1", GRID), {"batch": 0}, VALUE, ["sweep(): batch", "not 0"]),
    ("sweep", ("mobilenet_v1", GRID), {"settings": "resolution=128"}, TYPE,
     ["sweep(): settings must be a dict", "not str"]),
]


@pytest.mark.parametrize("function, args, kwargs, error, words", BAD,
                         ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)])
def test_a_bad_argument_says_what_was_expected(v1, function, args, kwargs, error, words):
    args = tuple(v1 if a == "ANALYSIS" else a for a in args)
    with pytest.raises(error) as caught:
        getattr(cnncost, function)(*args, **kwargs)
    message = str(caught.value)
    assert message.startswith(f"error: {function}(): "), message
    for word in words:
        assert word in message, (word, message)
    # one base for all (the CLI's exit 2), and the flavour Python programmers catch
    assert isinstance(caught.value, cnncost.CnncostError) and caught.value.exit_code == 2
    assert isinstance(caught.value, TypeError if error is TYPE else ValueError)


def test_the_exception_classes_are_exported_and_both_flavours_catch_them():
    assert cnncost.ArgumentError is ArgumentError
    assert issubclass(cnncost.ArgumentTypeError, cnncost.CnncostError)
    assert issubclass(cnncost.ArgumentValueError, cnncost.CnncostError)
    for caught in (TypeError, cnncost.CnncostError, cnncost.ArgumentError):
        with pytest.raises(caught):
            cnncost.totals(None)
    with pytest.raises(ValueError):
        cnncost.analyze("mobilenet_v1", dtype="fp64")


def test_a_good_argument_of_a_less_common_type_is_accepted():
    import numpy as np

    from_path = cnncost.load_model(Path("specs/mobilenet_v1.yaml").resolve())
    assert from_path.file.endswith("mobilenet_v1.yaml")
    # MobileNet paper Table 6: alpha 0.5 at 224 is 149,497,088 mult-adds, alpha 1.0 is 568,740,352
    rows = cnncost.sweep(Path("specs/mobilenet_v1.yaml").resolve(),
                         {"alpha": np.array([0.5, 1.0])})
    assert rows["mult_adds"].tolist() == [149_497_088, 568_740_352]


def test_analyze_loads_a_reference():
    by_name = cnncost.analyze("mobilenet_v2@width=0.5")
    loaded = analyze(cnncost.load_model("mobilenet_v2", {"width": 0.5}))
    assert by_name.model.label == "mobilenet_v2@width=0.5"
    assert totals(by_name) == totals(loaded)
    with pytest.raises(cnncost.SpecError, match="no such file or bundled spec: mobilenet_v9"):
        cnncost.analyze("mobilenet_v9")


def test_analyze_takes_a_device_by_name_as_sweep_does(tmp_path):
    from cnncost.estimate.devices import load_device

    by_name = cnncost.analyze("mobilenet_v2", device="phone_soc")
    by_object = cnncost.analyze("mobilenet_v2", device=load_device("phone_soc"))
    assert by_name.latency.device.name == "phone_soc"
    assert totals(by_name)["latency"] == totals(by_object)["latency"] > 0
    swept = cnncost.sweep("mobilenet_v2", {"width": [1.0]}, device="phone_soc")
    assert swept["latency"].tolist() == [totals(by_name)["latency"]]
    # a profile file, given as a Path, is read as --device FILE reads it
    profile = tmp_path / "mine.yaml"
    profile.write_text(Path(load_device("phone_soc").file).read_text())
    assert totals(cnncost.analyze("mobilenet_v2", device=profile))["latency"] == \
        totals(by_name)["latency"]
    # a reference with changes, as --device desktop_cpu@threads=4 takes it
    threaded = cnncost.analyze("mobilenet_v2", device="desktop_cpu@threads=4")
    assert threaded.latency.device.name == "desktop_cpu@threads=4"
    assert totals(threaded)["latency"] == totals(cnncost.analyze(
        "mobilenet_v2", device=load_device("desktop_cpu@threads=4")))["latency"] < \
        totals(cnncost.analyze("mobilenet_v2", device="desktop_cpu"))["latency"]


def test_docs_list_the_exceptions_of_every_function():
    text = (ROOT / "docs" / "api.md").read_text()
    section = text[text.index("## Exceptions"):]
    functions = [name for name in cnncost.api.__all__ if name[0].islower()]
    for name in functions:
        assert re.search(rf"^\|[^|]*`{name}`", section, re.M), f"{name} not in the Exceptions table"
    for error in cnncost._ERRORS:
        assert error in section, error


def test_import_stays_light():
    """The exceptions come from cnncost.core.errors alone: catching them loads no pass, no numpy."""
    code = "import sys, cnncost; cnncost.ArgumentError; print(' '.join(sorted(sys.modules)))"
    loaded = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                check=True).stdout.split())
    assert "cnncost.core.errors" in loaded
    assert not loaded & {"cnncost.api", "cnncost.pipeline", "cnncost.frontends.library", "numpy",
                         "yaml"}
