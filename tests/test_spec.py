"""The spec format: variables, let, blocks, repeat, when, branches, names, outputs."""

from __future__ import annotations

from conftest import build, build_model


def names(graph) -> list[str]:
    return [n.name for n in graph.nodes]


def shapes(graph) -> dict[str, tuple]:
    return {n.name: n.shape for n in graph.nodes}


def test_layers_run_in_sequence_and_get_names():
    g = build("""
        name: seq
        input: {shape: [3, 32, 32]}
        layers:
          - {op: conv2d, out_channels: 8, kernel: 3}
          - {op: batchnorm}
          - {op: relu}
          - {op: conv2d, out_channels: 16, kernel: 3, stride: 2}
          - {op: relu}
    """)
    # unnamed layers are named after their op, numbered where the op occurs more than once
    assert names(g) == ["input", "conv2d_1", "batchnorm", "relu_1", "conv2d_2", "relu_2"]
    assert [n.inputs for n in g.nodes] == [(), (0,), (1,), (2,), (3,), (4,)]
    assert g.nodes[-1].shape == (1, 16, 16, 16)
    assert g.outputs == (5,)


def test_batch_and_vector_input():
    g = build("""
        name: mlp
        input: {shape: [784], batch: 32}
        layers:
          - {op: linear, out_features: 10}
    """)
    assert g.nodes[0].shape == (32, 784) and g.nodes[1].shape == (32, 10)


def test_variables_overrides_and_expressions():
    text = """
        name: vars
        variables: {width: 1.0, resolution: 224}
        let: {base: "make_divisible(32 * width)"}
        input: {shape: [3, resolution, resolution]}
        layers:
          - {op: conv2d, out_channels: base, kernel: 3, stride: 2}
          - {op: conv2d, out_channels: "base * 2", kernel: 1}
    """
    assert build(text).nodes[-1].shape == (1, 64, 112, 112)
    # width 0.5: make_divisible(16) = 16, doubled 32; resolution 160 -> 80
    assert build(text, width=0.5, resolution=160).nodes[-1].shape == (1, 32, 80, 80)
    assert dict(build_model(text, width=0.5).variables) == {"width": 0.5, "resolution": 224}


def test_in_channels_is_the_input_of_the_layer():
    g = build("""
        name: dw
        input: {shape: [24, 56, 56]}
        layers:
          - {name: dw, op: conv2d, out_channels: in_channels, groups: in_channels, kernel: 3}
          - {name: pw, op: conv2d, out_channels: "in_channels * 2", kernel: 1}
    """)
    assert shapes(g)["dw"] == (1, 24, 56, 56) and g.nodes[1].op.groups == 24
    assert shapes(g)["pw"] == (1, 48, 56, 56)


def test_in_features_is_the_last_dimension_of_the_input():
    # tokens (N, L, C) = (1, 196, 64): in_channels is dimension 1, the 196 tokens; in_features
    # the last, the 64 features a linear reads. An image (1, 3, 8, 8): in_features its width 8
    g = build("""
        name: tokens
        input: {shape: [196, 64]}
        layers:
          - {name: fc1, op: linear, out_features: "in_features * 4"}
          - {name: fc2, op: linear, out_features: in_channels}
          - {name: block, block: mlp}
        blocks:
          mlp:
            let: {hidden: "in_features // 2"}
            layers:
              - {name: fc, op: linear, out_features: hidden}
    """)
    assert shapes(g)["fc1"] == (1, 196, 256)  # 64 x 4
    assert shapes(g)["fc2"] == (1, 196, 196)
    assert shapes(g)["block.fc"] == (1, 196, 98)  # a block's first input: 196 // 2
    g = build("""
        name: image
        input: {shape: [3, 8, 16]}
        layers:
          - {name: conv, op: conv2d, out_channels: "in_features + in_channels", kernel: 1}
    """)
    assert shapes(g)["conv"] == (1, 19, 8, 16)  # 16 + 3


def test_blocks_get_dotted_names_and_arguments():
    g = build("""
        name: blocks
        input: {shape: [3, 32, 32]}
        blocks:
          cbr:
            args: {out: null, stride: 1}
            layers:
              - {name: conv, op: conv2d, out_channels: out, kernel: 3, stride: stride}
              - {name: bn, op: batchnorm}
              - {name: relu, op: relu}
          stage:
            args: {out: null}
            layers:
              - {name: a, block: cbr, args: {out: out, stride: 2}}
              - {name: b, block: cbr, args: {out: out}}
        layers:
          - {name: stage1, block: stage, args: {out: 16}}
          - {name: stage2, block: stage, args: {out: 32}}
    """)
    assert names(g)[1:4] == ["stage1.a.conv", "stage1.a.bn", "stage1.a.relu"]
    assert names(g)[-1] == "stage2.b.relu"
    assert shapes(g)["stage2.a.conv"] == (1, 32, 8, 8)


def test_repeat_names_instances_from_one_and_exposes_index():
    g = build("""
        name: repeat
        input: {shape: [16, 32, 32]}
        blocks:
          unit:
            args: {stride: 1}
            layers:
              - {name: conv, op: conv2d, out_channels: 16, kernel: 3, stride: stride}
        layers:
          - {name: unit, block: unit, repeat: 3, args: {stride: "2 if index == 0 else 1"}}
          - {name: stage2, op: relu, repeat: 2}
    """)
    assert names(g) == ["input", "unit1.conv", "unit2.conv", "unit3.conv", "stage2_1", "stage2_2"]
    assert [n.shape[2] for n in g.nodes[1:4]] == [16, 16, 16]  # only the first has stride 2


def test_branches_residual_add_and_concat():
    g = build("""
        name: branches
        input: {shape: [32, 28, 28]}
        layers:
          - {name: a, op: conv2d, out_channels: 32, kernel: 1}
          - {name: b, op: conv2d, out_channels: 32, kernel: 3, inputs: input}
          - {name: sum, op: add, inputs: [a, b]}
          - {name: both, op: concat, inputs: [sum, input]}
          - {name: c, op: conv2d, out_channels: 8, kernel: 1}
    """)
    idx = {n: i for i, n in enumerate(names(g))}
    assert g.nodes[idx["b"]].inputs == (0,)
    assert g.nodes[idx["sum"]].inputs == (idx["a"], idx["b"])
    assert shapes(g)["both"] == (1, 64, 28, 28)
    assert g.nodes[idx["c"]].inputs == (idx["both"],)


def test_when_leaves_layers_out():
    text = """
        name: when
        variables: {residual: true}
        input: {shape: [8, 8, 8]}
        blocks:
          unit:
            args: {out: 8, stride: 1}
            let: {use_res: "stride == 1 and in_channels == out"}
            layers:
              - {name: conv, op: conv2d, out_channels: out, kernel: 3, stride: stride}
              - {name: add, op: add, inputs: [input, conv], when: use_res}
        layers:
          - {name: u1, block: unit}
          - {name: u2, block: unit, args: {out: 16, stride: 2}}
          - {op: relu, when: residual}
    """
    g = build(text)
    assert names(g) == ["input", "u1.conv", "u1.add", "u2.conv", "relu"]
    assert g.nodes[-1].inputs == (3,)  # the block's output is its last built layer
    assert names(build(text, residual=False))[-1] == "u2.conv"


def test_block_with_two_inputs_and_named_output():
    g = build("""
        name: cells
        input: {shape: [16, 8, 8]}
        blocks:
          cell:
            inputs: [x, prev]
            output: out
            layers:
              - {name: out, op: add, inputs: [x, prev]}
              - {name: unused, op: relu}
        layers:
          - {name: c0, op: conv2d, out_channels: 16, kernel: 1}
          - {name: c1, block: cell, inputs: [c0, input]}
          - {name: tail, op: relu}
    """)
    idx = {n: i for i, n in enumerate(names(g))}
    assert g.nodes[idx["c1.out"]].inputs == (idx["c0"], 0)
    assert g.nodes[idx["tail"]].inputs == (idx["c1.out"],)


def test_outputs_and_yaml_merge_keys():
    g = build("""
        name: outputs
        input: {shape: [4, 8, 8]}
        layers:
          - &conv {name: head1, op: conv2d, out_channels: 4, kernel: 1}
          - {<<: *conv, name: head2, inputs: input}
        outputs: [head1, head2]
    """)
    assert g.outputs == (1, 2)
    assert g.nodes[2].op.out_channels == 4


def test_integral_float_expressions_are_accepted():
    g = build("""
        name: floats
        variables: {alpha: 0.75}
        input: {shape: [3, 8, 8]}
        layers:
          - {op: conv2d, out_channels: "32 * alpha", kernel: 1}
    """)
    assert g.nodes[1].shape[1] == 24  # 32 * 0.75 = 24.0 is a whole number


def test_layer_locations_point_at_the_spec():
    g = build("""
        name: loc
        input: {shape: [3, 8, 8]}
        layers:
          - {op: relu}
          - op: sigmoid
    """)
    assert (g.nodes[1].loc.line, g.nodes[1].loc.path) == (4, "layers[0]")
    assert (g.nodes[2].loc.line, g.nodes[2].loc.path) == (5, "layers[1]")


def test_a_left_out_layer_may_read_another_left_out_layer():
    text = """
        name: optional
        variables: {extra: false}
        input: {shape: [4, 8, 8]}
        layers:
          - {name: a, op: relu, when: extra}
          - {name: b, op: add, inputs: [input, a], when: extra}
          - {name: c, op: sigmoid}
    """
    assert names(build(text)) == ["input", "c"]
    assert names(build(text, extra=True)) == ["input", "a", "b", "c"]


def test_alternative_layers_may_share_a_name_and_empty_blocks_pass_through():
    text = """
        name: alternatives
        variables: {act: relu, project: false}
        input: {shape: [4, 8, 8]}
        blocks:
          shortcut:
            layers:
              - {name: conv, op: conv2d, out_channels: 4, kernel: 1, when: project}
        layers:
          - {name: act, op: relu, when: "act == 'relu'"}
          - {name: act, op: hardswish, when: "act == 'hardswish'"}
          - {name: skip, block: shortcut, inputs: input}
          - {name: out, op: add, inputs: [act, skip]}
    """
    g = build(text)
    assert names(g) == ["input", "act", "out"]
    assert g.nodes[1].op.op_name == "relu"
    # a block whose every layer is left out is its input: the add reads the network input
    assert g.nodes[2].inputs == (1, 0)
    g = build(text, act="hardswish", project=True)
    assert names(g) == ["input", "act", "skip.conv", "out"]
    assert g.nodes[1].op.op_name == "hardswish"
