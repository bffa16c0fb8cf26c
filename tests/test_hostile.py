"""Hostile input, class by class (issue 8): each ends in exit code 2 with a message that names
the file (with line and key where there is one), no traceback, nothing on standard output, and
in bounded time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from xml.etree import ElementTree

import pytest

from conftest import cli

CLI = [sys.executable, "-m", "cnncost"]
TINY = "name: tiny\ninput: {shape: [3, 8, 8]}\nlayers:\n  - {op: relu}\n"


def refused(*args: str, expect: tuple[str, ...] = ()) -> str:
    """Run the CLI; assert exit 2, an empty stdout, no traceback and each expected fragment in
    the message; return the message."""
    result = cli(*args)
    assert result.exit_code == 2, (args, result.exit_code, result.stdout, result.stderr)
    assert result.stdout == "", args
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    for fragment in expect:
        assert fragment in result.stderr, (fragment, result.stderr)
    return result.stderr


@pytest.fixture
def spec(tmp_path):
    def write(text: str, name: str = "bad.yaml") -> str:
        path = tmp_path / name
        path.write_text(text)
        return str(path)
    return write


# -- YAML values PyYAML resolves and then cannot construct, or that JSON cannot hold -----------

@pytest.mark.parametrize("value,fragment", [
    ("2023-02-30", "a date is not a value cnncost reads: 2023-02-30"),
    ("2020-01-01", "a date is not a value cnncost reads"),  # valid dates too: quote text
    ("!!timestamp 2023-13-01", "a date is not a value cnncost reads"),
    ("!!int abc", "cannot read abc as a whole number"),
    ("!!bool maybe", "cannot read maybe as true or false"),
    ("!!float x", "cannot read x as a number"),
    ("9" * 5000, "as a whole number: Exceeds the limit (4300 digits)"),
    ("!!binary aGVsbG8=", "YAML tag tag:yaml.org,2002:binary is not a value"),
    ("!!set {a, b}", "YAML tag tag:yaml.org,2002:set is not allowed"),
    (".inf", ".inf is not a finite number"),
    (".nan", ".nan is not a finite number"),
    ("1.0e+999", "1.0e+999 is not a finite number"),  # YAML 1.1: 1e999 (no dot, no sign) is text
    ("123456789012345678901234567890", "is not a finite number of at most 1e+18"),
])
def test_yaml_values_a_spec_cannot_hold(spec, value, fragment):
    path = spec(f"name: x\nvariables: {{v: {value}}}\ninput: {{shape: [3, 8, 8]}}\n"
                f"layers:\n  - {{op: relu}}\n")
    for fmt in ("table", "json"):  # never a crash of --format json either
        refused("analyze", path, "--format", fmt, expect=(f"{path}:2:", "variables.v", fragment))


@pytest.mark.parametrize("value,fragment", [
    ("2023-02-30", "a date is not a value cnncost reads"),
    ("!!int abc", "cannot read abc as a whole number"),
    ("1e999", "is not a finite number"),
    ("9" * 5000, "Exceeds the limit"),
    ("[" * 3000 + "]" * 3000, "not valid YAML"),  # libyaml's own depth limit: text, refused
])
def test_bad_values_through_set_and_at(value, fragment):
    message = refused("analyze", "mobilenet_v1", "--set", f"alpha={value}",
                      expect=("mobilenet_v1.yaml", "--set alpha="))
    assert fragment in message or "expected a number" in message
    refused("analyze", f"mobilenet_v1@alpha={value}" if "," not in value else "mobilenet_v1",
            *(["--set", f"alpha={value}"] if "," in value else []), expect=("alpha",))


def test_deep_and_aliased_set_values():
    bomb = "&a [x,x,x,x,x,x,x,x,x]"
    refused("analyze", "mobilenet_v1", "--set", f"alpha={bomb}", expect=("alpha",))
    nested = "a:\n" + "".join("  " * i + "- \n" for i in range(1, 300))
    refused("analyze", "mobilenet_v1", "--set", f"alpha={nested}",
            expect=("nesting deeper than 200 levels", "alpha"))


# -- unbounded work ----------------------------------------------------------------------------

def fast(*args: str, expect: tuple[str, ...] = (), limit: float = 20.0) -> str:
    start = time.perf_counter()
    message = refused(*args, expect=expect)
    assert time.perf_counter() - start < limit, args
    return message


def test_round_with_huge_digits(spec):
    path = spec("name: x\ninput: {shape: [3, 8, 8]}\nlayers:\n"
                "  - {op: conv2d, out_channels: 'round(5, -10**17)', kernel: 1}\n")
    fast("analyze", path, expect=(f"{path}:4:", "round(): digits must be a whole number"))


@pytest.mark.slow
def test_repeat_and_when_fan_out_is_bounded(spec):
    path = spec("name: fan\ninput: {shape: [3, 8, 8]}\nblocks:\n  inner:\n    layers:\n"
                "      - {op: relu, repeat: 1000000, when: 'index < 0'}\n"
                "layers:\n  - {op: relu}\n  - {block: inner, repeat: 1000000}\n")
    fast("analyze", path, limit=60,
         expect=(f"{path}:6:", "more than 2,000,000 layer instances"))


def test_adaptive_pool_with_a_huge_output_is_costed_in_constant_time(spec):
    from cnncost.ops.pool import _adaptive_windows

    # total window length along an axis: size + out - gcd(out, size), as a sum would give
    assert _adaptive_windows(7, 3) == sum(-(-(i + 1) * 7 // 3) - (i * 7 // 3) for i in range(3))
    path = spec("name: x\ninput: {shape: [1, 16, 16]}\nlayers:\n"
                "  - {op: adaptive_avgpool, size: [16000000, 1]}\n")
    start = time.perf_counter()
    result = cli("analyze", path, "--format", "json")
    assert result.exit_code == 0 and time.perf_counter() - start < 10
    # rows: 16 + 16,000,000 - gcd = 16,000,000; columns: 16 + 1 - gcd(1, 16) = 16
    assert json.loads(result.stdout)["totals"]["elementwise_ops"] == 16_000_000 * 16


def test_a_spec_over_16_mib(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_text(TINY + "# " + "x" * (17 * 1024 * 1024) + "\n")
    fast("analyze", str(big), expect=(str(big), "the limit is 16,777,216"))


@pytest.mark.parametrize("target", ["/dev/zero", "fifo", "dir"])
def test_devices_pipes_and_directories_are_not_read(tmp_path, target):
    if target == "fifo":
        path = tmp_path / "fifo"
        os.mkfifo(path)
    elif target == "dir":
        path = tmp_path
    else:
        path = Path(target)
    fast("check", "mobilenet_v1", "--against", str(path), limit=10,
         expect=(str(path), "not a file cnncost can read"))
    fast("analyze", str(path), limit=10, expect=(str(path),))


@pytest.mark.parametrize("quantity", ["1e999999999", "1e999999999%"])
def test_huge_quantities(spec, quantity):
    budget = spec(f"budget:\n  params: '{quantity}'\n", "budget.yaml")
    fast("check", "mobilenet_v1", "--budget", budget, expect=(f"{budget}:2:", "out of range"))
    fast("check", "mobilenet_v1", "--against", budget, "--max-increase", quantity,
         expect=("--max-increase", "out of range"))


# -- output failures ---------------------------------------------------------------------------

def run_process(args: list[str], **options) -> subprocess.CompletedProcess:
    return subprocess.run(CLI + args, capture_output=True, text=True, timeout=60, **options)


def test_a_full_disk():
    with open("/dev/full", "w") as full:
        result = subprocess.run(CLI + ["analyze", "mobilenet_v1"], stdout=full,
                                stderr=subprocess.PIPE, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr == "error: cannot write the output: No space left on device\n"


def test_a_closed_stdout():
    result = subprocess.run(CLI + ["analyze", "mobilenet_v1"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, timeout=60,
                            preexec_fn=lambda: os.close(1))
    assert result.returncode == 2
    assert result.stderr == "error: cannot write the output: standard output is closed\n"


def test_a_reader_that_closes_the_pipe():
    process = subprocess.Popen(CLI + ["analyze", "nasnet_a_mobile", "--layers", "-f", "json"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.read(10)
    process.stdout.close()  # like `| head -c 10`
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=60) == 2
    assert stderr == "error: cannot write the output: the reader closed the pipe\n"


# -- budgets -----------------------------------------------------------------------------------

@pytest.mark.parametrize("line,fragment", [
    ("params: -5", "a limit cannot be negative"),
    ("elementwise_mem_access_share: 60", "60 as a share would be 6000%; write 60% or 0.6"),
    ("elementwise_mem_access_share: 160%", "is over 100%"),
    ("elementwise_mem_access_share: 1.5", "as a share would be 150%"),
    ("params: .inf", "not a finite number"),
    ("params: .nan", "not a finite number"),
    ("params: 1.2345K", "1,234.5; a count limit is a whole number"),
])
def test_bad_budget_limits(spec, line, fragment):
    budget = spec(f"budget:\n  {line}\n", "budget.yaml")
    refused("check", "mobilenet_v1", "--budget", budget, expect=(f"{budget}:2:", fragment))


def test_max_increase_of_two_is_not_two_hundred_percent(tmp_path):
    baseline = tmp_path / "b.json"
    baseline.write_text(cli("analyze", "mobilenet_v1", "-f", "json").stdout)
    refused("check", "mobilenet_v1", "--against", str(baseline), "--max-increase", "2",
            expect=("2 would mean +200%; write 2% for 2 percent",))
    assert cli("check", "mobilenet_v1", "--against", str(baseline),
               "--max-increase", "200%").exit_code == 0


# -- baselines ---------------------------------------------------------------------------------

def baseline_with(tmp_path, change) -> str:
    doc = json.loads(cli("analyze", "mobilenet_v1", "-f", "json").stdout)
    change(doc)
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps(doc))
    return str(path)


@pytest.mark.parametrize("change,fragment", [
    (lambda d: d["totals"].update(params="4231976"), "totals.params is '4231976', not a count"),
    (lambda d: d["totals"].update(params=float("nan")), "NaN is not a number JSON allows"),
    (lambda d: d["totals"].update(mult_adds=[1, 2]), "totals.mult_adds is [1, 2]"),
    (lambda d: d["totals"].update(mem_access=10**30), "not a count"),
    (lambda d: d["totals"].update(params=True), "totals.params is True"),
    (lambda d: d.update(totals=[]), "no totals object"),
    (lambda d: d.update(model=None), "no model name"),
    (lambda d: d.update(convention="none"), "convention is not an object"),
])
def test_baselines_with_wrong_types(tmp_path, change, fragment):
    path = baseline_with(tmp_path, change)
    refused("check", "mobilenet_v1", "--against", path,
            expect=(path, "is not a cnncost JSON analysis", fragment))


def test_baselines_nested_or_huge(tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    refused("check", "mobilenet_v1", "--against", str(deep), expect=("nested too deeply",))
    huge = tmp_path / "huge.json"
    huge.write_text('{"model": "m", "totals": {"params": ' + "9" * 5000 + "}}")
    refused("check", "mobilenet_v1", "--against", str(huge), expect=("Exceeds the limit",))


def test_a_baseline_of_other_variables_or_batch(tmp_path):
    at_160 = tmp_path / "at160.json"
    at_160.write_text(cli("analyze", "mobilenet_v1@resolution=160", "-f", "json").stdout)
    refused("check", "mobilenet_v1", "--against", str(at_160),
            expect=("with other variables: resolution=160 there, 224 here",))
    batch_8 = tmp_path / "batch8.json"
    batch_8.write_text(cli("analyze", "mobilenet_v1", "--batch", "8", "-f", "json").stdout)
    refused("check", "mobilenet_v1", "--against", str(batch_8),
            expect=("was made with batch=8, this check uses batch=1",))


# -- names that hold control characters or markup ---------------------------------------------

HOSTILE_NAME = "\x1b[31mred\x07 [bold]b[/] [link=http://x]l[/link] \u202eevil"


@pytest.mark.parametrize("fmt", ["table", "markdown", "csv", "json"])
def test_names_are_shown_never_interpreted(spec, fmt):
    name = json.dumps(HOSTILE_NAME)  # a YAML double-quoted scalar
    path = spec(f"name: {name}\ndescription: {name}\ninput: {{shape: [3, 8, 8]}}\n"
                f"layers:\n  - {{op: relu}}\n", "hostile.yaml")
    for args in (("analyze", path, "--layers"), ("compare", path, "mobilenet_v1"),
                 ("guidelines", path), ("analyze", path, "--by", "block")):
        result = cli(*args, "--format", fmt, env={"FORCE_COLOR": "1", "COLUMNS": "200"})
        assert result.exit_code == 0, result.stderr
        out = result.stdout
        # the name's own escape never reaches the terminal (colours of verdicts may)
        assert "\x1b[31mred" not in out and "\x07" not in out and "\u202e" not in out
    analysed = cli("analyze", path, "--format", fmt, env={"COLUMNS": "200"}).stdout
    if fmt == "json":
        assert json.loads(analysed)["model"] == HOSTILE_NAME  # JSON escapes, never loses it
    elif fmt == "csv":
        assert "\\x1b" not in analysed  # the summary CSV holds figures only
    else:  # escaped where it is shown, the markup kept as written
        plain = analysed.replace("\\\\", "\\").replace("\\[", "[").replace("\\]", "]")
        assert "\\x1b[31mred\\x07 [bold]b[/] [link=http://x]l[/link] \\u202eevil" in plain


def test_markup_in_a_bracketed_doc_is_shown(spec):
    ops = cli("ops", env={"COLUMNS": "200"}).stdout
    assert "[kh, kw]" in ops and "[h, w]" in ops  # rich would eat "[kh, kw]" as markup


def test_junit_stays_well_formed(spec):
    name = json.dumps(HOSTILE_NAME + " <&\"'>")
    path = spec(f"name: {name}\ninput: {{shape: [3, 8, 8]}}\nlayers:\n  - {{op: relu}}\n"
                f"budget: {{params: 0}}\n", "hostile.yaml")
    result = cli("check", path, "-f", "junit")
    assert result.exit_code == 0, result.stderr
    root = ElementTree.fromstring(result.stdout)  # raises on malformed XML
    assert root.get("tests") == "1"


def test_error_messages_escape_control_characters(spec):
    path = spec("name: x\ninput: {shape: [3, 8, 8]}\nlayers:\n"
                "  - {op: \"relu\\e[2J\"}\n")
    message = refused("analyze", path, expect=(f"{path}:4:", "unknown op 'relu\\x1b[2J'"))
    assert "\x1b" not in message


# -- messages that used to omit the file -------------------------------------------------------

def test_budget_entry_that_matches_nothing_names_the_file(spec):
    budget = spec("models:\n  mobilenet_v7: {params: 5M}\n", "budget.yaml")
    refused("check", "mobilenet_v1", "--budget", budget,
            expect=(f"{budget}:2:3: models.mobilenet_v7", "did you mean 'mobilenet_v1'"))


def test_budget_entry_for_a_spec_not_given_is_not_an_error(spec):
    """A pre-commit hook passes only the changed specs: the others' entries are not checked."""
    budget = spec("models:\n  mobilenet_v2: {params: 5M}\n  mobilenet_v1: {params: 5M}\n",
                  "budget.yaml")
    result = cli("check", "mobilenet_v1", "--budget", budget, "-f", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["not_given"] == ["mobilenet_v2"]
    touched_none = cli("check", "squeezenet", "--budget", budget, "-f", "json")
    assert touched_none.exit_code == 0, touched_none.stderr
    assert json.loads(touched_none.stdout)["unchecked"] == ["squeezenet"]


def test_config_that_is_not_a_mapping(spec):
    config = spec("[1, 2]\n", "config.yaml")
    refused("analyze", "mobilenet_v1", "--config", config,
            expect=(f"{config}:1:1:", "a config file is a mapping"))


def test_bad_variant_names_the_spec():
    refused("analyze", "mobilenet_v1@nosuch",
            expect=("mobilenet_v1.yaml:", "variant nosuch: the spec has no variant 'nosuch'"))


def test_a_file_whose_name_holds_an_at_sign(tmp_path, monkeypatch):
    (tmp_path / "net@v2.yaml").write_text(TINY)
    monkeypatch.chdir(tmp_path)
    result = cli("analyze", "net@v2.yaml", "-f", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["spec"] == "net@v2.yaml"
    refused("analyze", "net@v3.yaml", expect=("no such file or bundled spec: net",))


def test_unused_layers_warn_and_fail_with_strict(spec):
    path = spec("name: x\ninput: {shape: [3, 8, 8]}\nlayers:\n"
                "  - {name: a, op: relu}\n  - {name: side, op: conv2d, out_channels: 4, "
                "kernel: 1}\n  - {name: b, op: relu, inputs: a}\n")
    result = cli("analyze", path, "-f", "json")
    assert result.exit_code == 0
    warnings = json.loads(result.stdout)["warnings"]
    assert warnings and "side" in warnings[0] and f"{path}:5:" in warnings[0]
    assert "feed nothing" in cli("analyze", path).stdout
    refused("analyze", path, "--strict", expect=("side", "(--strict)"))


def test_every_bundled_spec_is_wired_without_warnings():
    from cnncost.pipeline import analyze
    from cnncost.frontends.library import bundled, catalog, load_model

    for entry in catalog():
        for variant in entry.variants or (None,):
            assert analyze(load_model(entry.name, variant=variant)).warnings == (), entry.name
    assert len(bundled()) == len(catalog())
