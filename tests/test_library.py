"""Spec references, variants and the bundled library."""

from __future__ import annotations

import json

import pytest

from cnncost.core.errors import SpecError, UsageError
from cnncost.frontends.library import bundled, load_model, parse_ref, resolve
from conftest import SPECS, build, build_model, cli, cli_json

VARIANTS = """
    name: widths
    variables: {width: 1.0, widths: [16, 32]}
    variants:
      small: {width: 0.5, widths: [8, 16]}
      big: {width: 2.0}
    input: {shape: [3, 8, 8]}
    layers:
      - {op: conv2d, out_channels: "int(widths[1] * width)", kernel: 1}
"""


def test_variant_sets_variables_and_overrides_win():
    assert build(VARIANTS).nodes[-1].shape[1] == 32  # 32 * 1.0
    from cnncost.frontends.yamlspec import graph_from_text
    import textwrap
    text = textwrap.dedent(VARIANTS).lstrip("\n")
    small = build_model(VARIANTS, variant="small")
    assert small.graph.nodes[-1].shape[1] == 8 and small.variant == "small"  # 16 * 0.5
    assert graph_from_text(text, {"width": 3.0}, variant="small").nodes[-1].shape[1] == 48


def test_unknown_variant_suggests():
    from cnncost.frontends.yamlspec import graph_from_text
    import textwrap
    with pytest.raises(SpecError) as info:
        graph_from_text(textwrap.dedent(VARIANTS).lstrip("\n"), variant="smal")
    assert "no variant 'smal'" in info.value.format()
    assert "did you mean 'small'?" in info.value.format()


def test_variant_settings_are_checked_against_the_variables():
    with pytest.raises(SpecError) as info:
        build("""
            name: bad
            variables: {width: 1.0}
            variants:
              a: {widht: 0.5}
              b: {width: wide}
            input: {shape: [3, 8, 8]}
            layers: [{op: relu}]
        """)
    text = info.value.format()
    assert "variant 'a' sets 'widht', which is not a variable" in text
    assert "did you mean 'width'?" in text
    assert "variant 'b', width: expected a number" in text


@pytest.mark.parametrize("text, spec, variant, overrides", [
    ("mobilenet_v1", "mobilenet_v1", None, {}),
    # values stay text here; loading reads each as its variable's type
    ("mobilenet_v1@alpha=0.5,resolution=160", "mobilenet_v1", None,
     {"alpha": "0.5", "resolution": "160"}),
    ("shufflenet_v2@1.5x", "shufflenet_v2", "1.5x", {}),
    ("specs/x.yaml@small,width=2", "specs/x.yaml", "small", {"width": "2"}),
])
def test_parse_ref(text, spec, variant, overrides):
    ref = parse_ref(text)
    assert (ref.spec, ref.variant, ref.overrides) == (spec, variant, overrides)


def test_parse_ref_refuses_two_variants():
    with pytest.raises(UsageError, match="two variants"):
        parse_ref("x@a,b")


def test_bundled_names_resolve_like_paths():
    assert resolve("mobilenet_v1") == SPECS / "mobilenet_v1.yaml"
    assert "mobilenet_v1" in bundled()
    by_name = load_model("mobilenet_v1@alpha=0.75").graph
    by_path = load_model(f"{SPECS / 'mobilenet_v1.yaml'}@alpha=0.75").graph
    assert by_name.nodes == by_path.nodes


def test_unknown_bundled_name_suggests():
    with pytest.raises(SpecError) as info:
        resolve("mobilenet_v")
    assert "'mobilenet_v1'" in info.value.format().split("did you mean")[1]


def test_analyze_by_name_with_settings():
    doc = cli_json("analyze", "mobilenet_v1@alpha=0.5,resolution=160")
    assert doc["variables"]["alpha"] == 0.5 and doc["input_shape"] == [1, 3, 160, 160]
    # 0.50 MobileNet-160: 76,524,800 mult-adds (tests/test_mobilenet_v1.py)
    assert doc["totals"]["mult_adds"] == 76_524_800


def test_specs_lists_every_bundled_spec():
    result = cli("specs", "--format", "json")
    assert result.exit_code == 0, result.stderr
    rows = {row["spec"]: row for row in json.loads(result.stdout)["specs"]}
    assert set(rows) == set(bundled())
    assert rows["mobilenet_v1"]["variables"]["alpha"] == 1.0


CHOICES = """
    name: choices
    variables:
      layout: {default: torchvision, choices: [torchvision, megvii]}
      version: "1.0"
    variants:
      paper: {layout: megvii}
    input: {shape: [3, 8, 8]}
    layers: [{op: relu}]
"""


def test_variables_with_choices():
    assert dict(build_model(CHOICES).variables)["layout"] == "torchvision"
    assert dict(build_model(CHOICES, layout="megvii").variables)["layout"] == "megvii"
    with pytest.raises(SpecError) as info:
        build(CHOICES, layout="megvi")
    assert "--set layout=megvi: 'megvi' is not one of torchvision, megvii" in info.value.format()
    assert "did you mean 'megvii'?" in info.value.format()


def test_text_variables_take_command_line_text_as_it_is(write_spec):
    # "1.10" would become the number 1.1 if read as YAML
    result = cli_json("analyze", write_spec(CHOICES), "--set", "version=1.10",
                      "--set", "layout=megvii")
    assert result["variables"] == {"layout": "megvii", "version": "1.10"}
