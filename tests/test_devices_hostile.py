"""Hostile device profiles (``--device FILE``, issue 17): every class of bad figure or shape is
refused with the file, the line and the key path, exit 2 from the CLI and a CnncostError from
the API, never a ZeroDivisionError, a traceback or a silent default."""

from __future__ import annotations

import pytest

from cnncost import api
from cnncost.core.errors import CnncostError
from cnncost.estimate.devices import load_device

from conftest import cli

GOOD = "name: mine\npeak_mult_adds: {fp32: 1.0e9}\nbandwidth: 1.0e9\n"

# (what, profile text, line, key path or None for the whole document, words of the message)
CASES = [
    ("zero peak", "name: x\npeak_mult_adds: {fp32: 0}\nbandwidth: 1e9\n",
     2, "peak_mult_adds.fp32", "more than 0"),
    ("zero bandwidth", "name: x\npeak_mult_adds: {fp32: 1e9}\nbandwidth: 0\n",
     3, "bandwidth", "more than 0"),
    ("zero efficiency", GOOD + "efficiency: {conv: 0, depthwise: 0.5}\n",
     4, "efficiency.conv", "more than 0"),
    ("zero cache bandwidth", GOOD + "cache: {bytes: 1048576, bandwidth: 0}\n",
     4, "cache.bandwidth", "more than 0"),
    ("negative bandwidth", "name: x\npeak_mult_adds: {fp32: 1e9}\nbandwidth: -1\n",
     3, "bandwidth", "cannot be negative"),
    ("negative launch", GOOD + "launch: -1e-6\n", 4, "launch", "cannot be negative"),
    ("tiny rate", GOOD + "vector_ops: 1e-300\n", 4, "vector_ops", "at least 1"),
    ("overlap above 1", GOOD + "overlap: 1.5\n", 4, "overlap", "at most 1"),
    ("nan", GOOD.replace("1.0e9\n", ".nan\n"), 3, "bandwidth", "finite"),
    ("inf", GOOD.replace("{fp32: 1.0e9}", "{fp32: .inf}"), 2, "peak_mult_adds.fp32", "finite"),
    ("inf as text", GOOD + "launch: '1e999'\n", 4, "launch", "finite"),
    ("text for a number", GOOD + "overhead: fast\n", 4, "overhead", "plain number"),
    ("a unit", GOOD.replace("bandwidth: 1.0e9", "bandwidth: 5GB"), 3, "bandwidth",
     "plain number"),
    ("a boolean for a number", GOOD + "launch: true\n", 4, "launch", "plain number"),
    ("a list where a map belongs", GOOD + "efficiency: [0.5]\n", 4, "efficiency",
     "expected a mapping"),
    ("a list for the peak", "peak_mult_adds: [1e9]\nbandwidth: 1e9\n", 1, "peak_mult_adds",
     "expected a mapping"),
    ("a list for the cache", GOOD + "cache: [1, 2]\n", 4, "cache", "expected a mapping"),
    ("a map where a number belongs", GOOD + "launch: {us: 5}\n", 4, "launch",
     "plain number, not a mapping"),
    ("a map for the name", GOOD.replace("name: mine", "name: {a: 1}"), 1, "name",
     "expected text"),
    ("a number for the sources", GOOD + "sources: 3\n", 4, "sources", "list of text"),
    ("a list for the calibration", GOOD + "calibration: [1]\n", 4, "calibration",
     "expected a mapping"),
    ("a text for im2col", GOOD + "im2col: maybe\n", 4, "im2col", "true or false"),
    ("an unknown fusion", GOOD + "fuse: bn_act\n", 4, "fuse", "did you mean 'bn-act'"),
    ("an unknown key", GOOD + "lanch: 5e-6\n", 4, "lanch", "did you mean 'launch'"),
    ("an unknown dtype", GOOD.replace("{fp32: 1.0e9}", "{fp32: 1.0e9, fp46: 1.0e9}"), 2,
     "peak_mult_adds.fp46", "did you mean 'fp16'"),
    ("an unknown layer kind", GOOD + "efficiency: {depthwis: 0.5}\n", 4,
     "efficiency.depthwis", "did you mean 'depthwise'"),
    ("an unknown cache key", GOOD + "cache: {bytes: 1024, bandwidth: 1e10, size: 3}\n", 4,
     "cache.size", "unknown key 'size'"),
    ("no threads", GOOD + "threads: {count: 0}\n", 4, "threads.count", "more than 0"),
    ("part of a thread", GOOD + "threads: {count: 2.5}\n", 4, "threads.count",
     "whole number"),
    ("a parallel efficiency above 1", GOOD + "threads: {count: 8, efficiency: 1.5}\n", 4,
     "threads.efficiency", "at most 1"),
    ("a negative grain", GOOD + "threads: {count: 8, grain: -1}\n", 4, "threads.grain",
     "cannot be negative"),
    ("text for the sync", GOOD + "threads: {count: 8, sync: 1us}\n", 4, "threads.sync",
     "plain number"),
    ("an unknown threads key", GOOD + "threads: {count: 8, grian: 1e5}\n", 4,
     "threads.grian", "did you mean 'grain'"),
    ("threads without a count", GOOD + "threads: {efficiency: 0.8}\n", 4, "threads",
     "missing 'count'"),
    ("a number for threads", GOOD + "threads: 8\n", 4, "threads", "expected a mapping"),
    ("threads slower than one", GOOD + "threads: {count: 8, bandwidth: 1e8}\n", 4,
     "threads.bandwidth", "at least one thread's bandwidth"),
    ("an unknown compute dtype", GOOD + "compute_dtype: fp61\n", 4, "compute_dtype",
     "did you mean 'fp16'"),
    ("a compute dtype without its peak", GOOD + "compute_dtype: fp16\n", 4, "compute_dtype",
     "peak_mult_adds has no fp16"),
    ("a Winograd tile of 3", GOOD + "winograd: {tile: 3}\n", 4, "winograd.tile",
     "tile is 2 or 4"),
    ("a list for the Winograd tile", GOOD + "winograd: {tile: [2]}\n", 4, "winograd.tile",
     "tile is 2 or 4"),
    ("Winograd as yes", GOOD + "winograd: yes\n", 4, "winograd", "expected none or a mapping"),
    ("Winograd without a tile", GOOD + "winograd: {}\n", 4, "winograd", "missing 'tile'"),
    ("an unknown Winograd key", GOOD + "winograd: {tile: 2, size: 3}\n", 4, "winograd.size",
     "unknown key 'size'"),
    ("missing bandwidth", "name: x\npeak_mult_adds: {fp32: 1e9}\n", 1, None,
     "missing 'bandwidth'"),
    ("missing peak", "name: x\nbandwidth: 1e9\n", 1, None, "missing 'peak_mult_adds'"),
    ("peak without fp32", GOOD.replace("fp32", "fp16"), 2, "peak_mult_adds",
     "needs fp32"),
    ("cache without bandwidth", GOOD + "cache: {bytes: 1024}\n", 4, "cache",
     "missing 'bandwidth'"),
    ("an empty file", "", 1, None, "is empty"),
    ("a comment only", "# nothing here\n", 1, None, "is empty"),
    ("not YAML", "name: [x\nbandwidth: 1\n", 2, None, "not valid YAML"),
    ("a list document", "- a\n- b\n", 1, None, "a device profile is a mapping"),
    ("a text document", "just words\n", 1, None, "a device profile is a mapping"),
]


def write(tmp_path, text: str):
    path = tmp_path / "colleague.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("what, text, line, key, words", CASES, ids=[c[0] for c in CASES])
def test_a_bad_profile_is_refused_where_it_is_wrong(tmp_path, what, text, line, key, words):
    path = write(tmp_path, text)
    where = f"{path}:{line}:"
    # the API: a CnncostError whose message names file, line and key path
    with pytest.raises(CnncostError) as caught:
        load_device(str(path))
    message = caught.value.format()
    assert where in message and words in message, message
    if key:
        assert f": {key}: " in message, message
    with pytest.raises(CnncostError) as through_analyze:  # the documented entry point too
        api.analyze("mobilenet_v1", device=str(path))
    assert through_analyze.value.format() == message
    # the command line: exit 2, the same message, nothing on standard output
    result = cli("analyze", "mobilenet_v2", "--device", str(path))
    assert result.exit_code == 2, result.stderr
    assert where in result.stderr and words in result.stderr and not result.stdout
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr


def test_every_problem_of_a_profile_is_reported_at_once(tmp_path):
    path = write(tmp_path, "peak_mult_adds: {fp32: 0}\nbandwidth: -5\nlaunch: x\n")
    with pytest.raises(CnncostError) as caught:
        load_device(path)
    message = caught.value.format()
    assert [f"{path}:{n}:" in message for n in (1, 2, 3)] == [True] * 3
    assert "3 problems found" in message


def test_the_smallest_good_profile_loads_with_stated_defaults(tmp_path):
    device = load_device(str(write(tmp_path, GOOD)))
    # no cache, no launch or overhead, a full overlap (a pure roofline), no fusion
    assert (device.name, device.peak_mult_adds, device.bandwidth) == ("mine", {"fp32": 1e9}, 1e9)
    assert (device.cache_bytes, device.launch, device.overhead, device.overlap, device.fuse) == \
        (0.0, 0.0, 0.0, 1.0, "none")


@pytest.mark.parametrize("ref", [None, 5, ["gtx1080ti"], ""])
def test_a_device_that_is_no_name_nor_path_is_refused(ref):
    with pytest.raises(CnncostError) as caught:
        load_device(ref)
    assert "a device is a profile name or a file" in caught.value.format()


@pytest.mark.parametrize("ref, words", [("no/such/profile.yaml", "no such file"),
                                        (".", "no such device profile"),
                                        ("gtx1080", "did you mean 'gtx1080ti'")])
def test_a_path_that_names_no_profile_says_so(ref, words):
    result = cli("analyze", "mobilenet_v2", "--device", ref)
    assert result.exit_code == 2 and words in result.stderr and not result.stdout
