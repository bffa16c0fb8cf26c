"""Bad input: a clear message with file, line and key path, a hint, exit code 2, nothing on
stdout and never a traceback. Every problem of a spec is reported, not only the first."""

from __future__ import annotations

import re


from conftest import cli

HEAD = """\
name: bad
input: {shape: [3, 32, 32]}
"""


def fails(*args: str) -> str:
    """Run the CLI, expect exit 2 with nothing on stdout; return stderr."""
    result = cli(*args)
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result.stderr


def analyze_fails(path: str, *args: str) -> str:
    return fails("analyze", path, *args)


def test_unknown_op_with_did_you_mean(write_spec):
    path = write_spec(HEAD + "layers:\n  - {op: conv2d_typo, out_channels: 8}\n")
    err = analyze_fails(path)
    assert f"{path}:4:6: layers[0].op: unknown op 'conv2d_typo'" in err
    assert "hint: did you mean 'conv2d'?" in err


def test_unknown_attribute_key_with_did_you_mean(write_spec):
    path = write_spec(HEAD + "layers:\n  - {op: conv2d, out_channels: 8, kernal: 3}\n")
    err = analyze_fails(path)
    assert f"{path}:4:35: layers[0].kernal: unknown key 'kernal' for op conv2d" in err
    assert "did you mean 'kernel'?" in err


def test_unknown_top_level_key(write_spec):
    path = write_spec(HEAD + "layer:\n  - {op: relu}\n")
    err = analyze_fails(path)
    assert f"{path}:3:1: layer: unknown key 'layer'" in err
    assert "did you mean 'layers'?" in err
    assert "missing 'layers'" in err  # both problems, not only the first


def test_missing_required_attribute(write_spec):
    path = write_spec(HEAD + "layers:\n  - {op: conv2d, kernel: 3}\n")
    err = analyze_fails(path)
    assert f"{path}:4:5: layers[0]: conv2d needs 'out_channels' (output channels)" in err


def test_wrong_value_type(write_spec):
    path = write_spec(HEAD + "layers:\n  - {op: conv2d, out_channels: 8, kernel: 3, bias: 1}\n")
    err = analyze_fails(path)
    assert f"{path}:4:46: layers[0].bias: expected true or false, got 1" in err


def test_fractional_channels_hint(write_spec):
    path = write_spec(HEAD + "variables: {alpha: 0.3}\nlayers:\n"
                      "  - {op: conv2d, out_channels: '32 * alpha', kernel: 3}\n")
    err = analyze_fails(path)
    assert "layers[0].out_channels: expected a whole number, got '32 * alpha' = 9.6" in err
    assert "make_divisible" in err


def test_unknown_name_in_expression(write_spec):
    path = write_spec(HEAD + "variables: {alpha: 1.0}\nlayers:\n"
                      "  - {op: conv2d, out_channels: 'int(32 * alpah)', kernel: 3}\n")
    err = analyze_fails(path)
    assert f"{path}:5:18: layers[0].out_channels: unknown name 'alpah'" in err
    assert "did you mean 'alpha'?" in err


def test_forbidden_expression(write_spec):
    path = write_spec(HEAD + "layers:\n"
                      "  - {op: conv2d, out_channels: \"__import__('os').getpid()\", kernel: 3}\n")
    err = analyze_fails(path)
    assert "layers[0].out_channels: unknown function" in err


def test_unknown_variable_on_the_command_line(write_spec):
    path = write_spec(HEAD.replace("name: bad", "name: bad\nvariables: {alpha: 1.0}") +
                      "layers:\n  - {op: relu}\n")
    err = analyze_fails(path, "--set", "alpah=0.5")
    assert "--set alpah: the spec has no variable 'alpah'" in err
    assert "did you mean 'alpha'?" in err


def test_bad_set_syntax(write_spec):
    path = write_spec(HEAD + "layers:\n  - {op: relu}\n")
    err = analyze_fails(path, "--set", "alpha")
    assert "expected name=value" in err


def test_wrong_type_on_the_command_line(write_spec):
    path = write_spec(HEAD.replace("name: bad", "name: bad\nvariables: {resolution: 224}") +
                      "layers:\n  - {op: relu}\n")
    err = analyze_fails(path, "--set", "resolution=12.5")
    assert "--set resolution=12.5: expected a whole number" in err


def test_duplicate_key(write_spec):
    path = write_spec(HEAD + "layers:\n  - op: relu\n    op: relu6\n")
    err = analyze_fails(path)
    assert f"{path}:5:5: layers[0].op: duplicate key 'op' (first at line 4)" in err


def test_duplicate_layer_name(write_spec):
    path = write_spec(HEAD + "layers:\n  - {name: a, op: relu}\n  - {name: a, op: relu}\n")
    err = analyze_fails(path)
    assert f"{path}:5:6: layers[1].name: duplicate layer name 'a'" in err


def test_unknown_input_reference(write_spec):
    path = write_spec(HEAD + "layers:\n  - {name: conv, op: conv2d, out_channels: 3, kernel: 1}\n"
                      "  - {op: add, inputs: [input, cnov]}\n")
    err = analyze_fails(path)
    assert f"{path}:5:31: layers[1].inputs[1]: no layer named 'cnov' before this point" in err
    assert "did you mean 'conv'?" in err


def test_add_of_different_shapes_names_the_layer(write_spec):
    path = write_spec(HEAD + "layers:\n  - {name: wide, op: conv2d, out_channels: 8, kernel: 1}\n"
                      "  - {name: residual, op: add, inputs: [input, wide]}\n")
    err = analyze_fails(path)
    assert (f"{path}:5:5: layers[1]: add needs inputs of one shape; got (1, 3, 32, 32), "
            f"(1, 8, 32, 32) (in residual)") in err


def test_concat_of_different_spatial_sizes_names_the_layer(write_spec):
    path = write_spec(HEAD + "layers:\n"
                      "  - {name: down, op: conv2d, out_channels: 8, kernel: 3, stride: 2}\n"
                      "  - {name: join, op: concat, inputs: [input, down]}\n")
    err = analyze_fails(path)
    assert "layers[1]: concat needs inputs that differ only in channels" in err
    assert "(in join)" in err


def test_groups_not_dividing_channels_names_the_layer(write_spec):
    path = write_spec(HEAD + "blocks:\n  gconv:\n    layers:\n"
                      "      - {name: conv, op: conv2d, out_channels: 6, kernel: 1, groups: 2}\n"
                      "layers:\n  - {name: stage2, block: gconv}\n")
    err = analyze_fails(path)
    # the template's line, and the instance's dotted name
    assert (f"{path}:6:62: blocks.gconv.layers[0].groups: groups=2 must divide in_channels=3 "
            f"(in stage2.conv)") in err


def test_kernel_larger_than_padded_input_names_the_layer(write_spec):
    path = write_spec("name: bad\ninput: {shape: [3, 4, 4]}\nlayers:\n"
                      "  - {name: big, op: conv2d, out_channels: 8, kernel: 7, padding: valid}\n")
    err = analyze_fails(path)
    assert (f"{path}:4:46: layers[0].kernel: kernel 7 is larger than the height of the padded "
            f"input (4 + 2*0 = 4) (in big)") in err


def test_all_problems_are_collected(write_spec):
    path = write_spec(HEAD + "layers:\n"
                      "  - {op: conv2d, out_channels: 8, kernal: 3}\n"
                      "  - {op: rleu}\n"
                      "  - {name: ok, op: conv2d, out_channels: 8, kernel: 1, inputs: input}\n"
                      "  - {op: add, inputs: [ok, input]}\n")
    err = analyze_fails(path)
    assert "unknown key 'kernal'" in err
    assert "conv2d needs 'kernel'" in err  # the same layer's second problem
    assert "unknown op 'rleu'" in err
    assert "add needs inputs of one shape" in err
    assert err.count("error: ") == 4 and "4 problems found" in err


def test_empty_file(write_spec):
    path = write_spec("")
    assert f"{path}:1:1: the spec is empty" in analyze_fails(path)


def test_invalid_yaml(write_spec):
    path = write_spec("name: [unclosed\n")
    err = analyze_fails(path)
    assert f"{path}:2:1: not valid YAML" in err


def test_top_level_not_a_mapping(write_spec):
    path = write_spec("- just\n- a list\n")
    assert "a spec is a mapping with name, input and layers" in analyze_fails(path)


def test_missing_file(tmp_path):
    err = analyze_fails(str(tmp_path / "nope.yaml"))
    assert "no such file" in err


def test_python_tags_are_refused(write_spec):
    path = write_spec("name: !!python/object/apply:os.system ['echo hi']\n")
    err = analyze_fails(path)
    assert f"{path}:1:7: name: YAML tag tag:yaml.org,2002:python/object/apply:os.system is not " \
           "allowed" in err


def test_alias_bomb_is_bounded(write_spec):
    path = write_spec("""\
        a: &a ["x","x","x","x","x","x","x","x","x"]
        b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
        c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
        d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
        e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
        f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
        g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
        h: [*g,*g,*g,*g,*g,*g,*g,*g,*g]
    """)
    err = analyze_fails(path)
    assert "aliases expand to more than 100,000 values" in err


def test_huge_repeat_is_bounded(write_spec):
    path = write_spec(HEAD + "layers:\n  - {op: relu, repeat: 1000000000}\n")
    err = analyze_fails(path)
    assert f"{path}:4:16: layers[0].repeat: repeat must be between 0 and 1,000,000" in err


def test_huge_repeat_of_a_block_is_refused_before_it_is_built(write_spec):
    path = write_spec(HEAD + "blocks:\n  b:\n    layers:\n      - {op: relu}\n      - {op: relu}\n"
                      "layers:\n  - {block: b, repeat: 900000}\n")
    err = analyze_fails(path)
    assert "the network would have more than 1,000,000 layers" in err


def test_absurd_sizes_are_refused(write_spec):
    path = write_spec("name: bad\ninput: {shape: [3, 100000000, 100000000]}\n"
                      "layers:\n  - {op: relu}\n")
    err = analyze_fails(path)
    assert "is too large" in err


def test_blocks_calling_each_other_without_end(write_spec):
    path = write_spec(HEAD + "blocks:\n"
                      "  a: {layers: [{block: b}]}\n"
                      "  b: {layers: [{block: a}]}\n"
                      "layers:\n  - {block: a}\n")
    err = analyze_fails(path)
    assert "blocks call each other without end: a -> b -> a" in err


def test_unknown_block_argument(write_spec):
    path = write_spec(HEAD + "blocks:\n  unit:\n    args: {out: null}\n    layers:\n"
                      "      - {op: conv2d, out_channels: out, kernel: 1}\n"
                      "layers:\n  - {block: unit, args: {ot: 8}}\n")
    err = analyze_fails(path)
    assert "block 'unit' has no argument 'ot'" in err
    assert "did you mean 'out'?" in err
    assert "block 'unit' needs argument 'out'" in err


def test_reference_to_a_layer_left_out_by_when(write_spec):
    path = write_spec(HEAD + "layers:\n  - {name: maybe, op: relu, when: false}\n"
                      "  - {op: add, inputs: [input, maybe]}\n")
    err = analyze_fails(path)
    assert "'maybe' is left out here (its `when` is false)" in err


def test_bad_option_values_exit_2(write_spec):
    path = write_spec(HEAD + "layers:\n  - {op: relu}\n")
    for args in (["--format", "xml"], ["--dtype", "fp64"], ["--fuse", "all"], ["--depth", "0"]):
        result = cli("analyze", path, *args)
        assert result.exit_code == 2, args
        assert "Traceback" not in (result.stderr or "")


def test_messages_carry_file_line_and_column(write_spec):
    path = write_spec(HEAD + "layers:\n  - {op: conv2d_typo}\n")
    first = analyze_fails(path).splitlines()[0]
    assert re.match(rf"error: {re.escape(path)}:\d+:\d+: \S+: ", first)
