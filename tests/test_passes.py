"""The passes on small graphs whose figures can be worked out by hand."""

from __future__ import annotations

from conftest import analysis, layer_costs

CONV_BN_RELU = """
    name: cbr
    input: {shape: [16, 10, 10]}
    layers:
      - {name: conv, op: conv2d, out_channels: 32, kernel: 1}
      - {name: bn, op: batchnorm}
      - {name: relu, op: relu}
"""


def test_every_op_its_own_kernel():
    # input 16*10*10 = 1,600 elements; conv output 32*10*10 = 3,200; weights 16*32 = 512
    a = analysis(CONV_BN_RELU)
    costs = layer_costs(a)
    assert costs["conv"].mem_access == 1_600 + 512 + 3_200 == 5_312
    assert costs["bn"].mem_access == 3_200 + 4 * 32 + 3_200 == 6_528  # x, gamma, beta, mean, var
    assert costs["relu"].mem_access == 3_200 + 3_200
    assert a.totals.mem_access == 5_312 + 6_528 + 6_400 == 18_240
    assert a.totals.elementwise_ops == 2 * 3_200 + 3_200  # BN scale and shift, ReLU
    assert a.network.kernels == 3


def test_bn_act_fusion_folds_bn_and_fuses_relu():
    a = analysis(CONV_BN_RELU, fuse="bn-act")
    costs = layer_costs(a)
    # one kernel: reads input and weights plus the folded bias (32), writes the ReLU output
    assert costs["conv"].mem_access == 1_600 + 512 + 32 + 3_200 == 5_344
    assert costs["bn"].mem_access == 0 and costs["relu"].mem_access == 0
    assert a.totals.mem_access == 5_344
    # the folded bias is added once per element; the ReLU is still computed, in the epilogue
    assert a.totals.elementwise_ops == 3_200 + 3_200
    assert a.network.kernels == 1
    # parameters are the model's: BN's gamma and beta still count
    assert a.totals.params == 512 + 64
    assert a.totals.mult_adds == analysis(CONV_BN_RELU).totals.mult_adds == 16 * 32 * 100


def test_no_fusion_when_the_conv_output_is_read_twice():
    a = analysis("""
        name: shared
        input: {shape: [8, 4, 4]}
        layers:
          - {name: conv, op: conv2d, out_channels: 8, kernel: 1}
          - {name: bn, op: batchnorm}
          - {name: skip, op: add, inputs: [conv, bn]}
    """, fuse="bn-act")
    assert a.host == (0, 1, 2, 3)  # nothing fused: conv's output must be written for the add


def test_activation_after_add_is_not_fused():
    a = analysis("""
        name: res
        input: {shape: [8, 4, 4]}
        layers:
          - {name: conv, op: conv2d, out_channels: 8, kernel: 1}
          - {name: add, op: add, inputs: [input, conv]}
          - {name: relu, op: relu}
    """, fuse="bn-act")
    assert a.host == (0, 1, 2, 3)


def test_peak_activation_memory_by_liveness():
    a = analysis("""
        name: live
        input: {shape: [4, 8, 8]}
        layers:
          - {name: a, op: conv2d, out_channels: 8, kernel: 1}
          - {name: b, op: conv2d, out_channels: 8, kernel: 1, inputs: input}
          - {name: c, op: add, inputs: [a, b]}
          - {name: d, op: relu}
    """)
    # input 256 elements, every other tensor 8*8*8 = 512
    # step a: input + a = 768; step b: + b = 1,280, then input is dead (last read) -> 1,024
    # step c: a + b + c = 1,536, then a and b are dead -> 512; step d: c + d = 1,024
    assert a.memory.peak_elements == 1_536
    assert a.graph.nodes[a.memory.peak_node].name == "c"
    assert [a.graph.nodes[i].name for i in a.memory.live_at_peak] == ["a", "b", "c"]


def test_views_and_fused_ops_take_no_new_memory():
    plain = analysis(CONV_BN_RELU)
    fused = analysis(CONV_BN_RELU, fuse="bn-act")
    # none: while bn runs, conv (3,200) and bn (3,200) are live -> 6,400
    assert plain.memory.peak_elements == 6_400
    # bn-act: one buffer for conv/bn/relu; peak while conv runs: input 1,600 + 3,200
    assert fused.memory.peak_elements == 4_800
    views = analysis("""
        name: views
        input: {shape: [8, 4, 4]}
        layers:
          - {name: half, op: split, index: 0}
          - {name: flat, op: flatten}
          - {name: fc, op: linear, out_features: 10}
    """)
    # input 128 stays live through split and flatten (views of it) until fc reads it: 128 + 10
    assert views.memory.peak_elements == 138
    assert views.totals.mem_access == layer_costs(views)["fc"].mem_access == 64 + 650 + 10


def test_dtype_sets_bytes_not_elements():
    fp32 = analysis(CONV_BN_RELU, dtype="fp32")
    int8 = analysis(CONV_BN_RELU, dtype="int8")
    assert fp32.bytes_per_element == 4 and int8.bytes_per_element == 1
    assert fp32.totals.mem_access == int8.totals.mem_access


PARALLEL = """
    name: fragments
    input: {shape: [16, 8, 8]}
    blocks:
      parallel4:
        layers:
          - {name: a, op: conv2d, out_channels: 16, kernel: 1, inputs: input}
          - {name: b, op: conv2d, out_channels: 16, kernel: 1, inputs: input}
          - {name: c, op: conv2d, out_channels: 16, kernel: 1, inputs: input}
          - {name: d, op: conv2d, out_channels: 16, kernel: 1, inputs: input}
          - {name: join, op: add, inputs: [a, b, c, d]}
      series4:
        layers:
          - {op: conv2d, out_channels: 16, kernel: 1, repeat: 4}
    layers:
      - {name: p, block: parallel4}
      - {name: s, block: series4}
      - {name: pool, op: maxpool, kernel: 2}
"""


def test_fragmentation_per_block():
    a = analysis(PARALLEL)
    blocks = {g.key: g for g in a.blocks}
    assert (blocks["p"].fragments, blocks["p"].branches, blocks["p"].kernels) == (4, 4, 5)
    assert (blocks["s"].fragments, blocks["s"].branches, blocks["s"].kernels) == (4, 1, 4)
    assert (blocks["pool"].fragments, blocks["pool"].branches) == (1, 1)
    assert (a.network.fragments, a.network.branches) == (9, 4)


def test_rollup_by_block_depth_and_by_kind():
    a = analysis(PARALLEL, depth=2)
    assert [g.key for g in a.blocks] == ["p.a", "p.b", "p.c", "p.d", "p.join", "s.conv2d1",
                                         "s.conv2d2", "s.conv2d3", "s.conv2d4", "pool"]
    kinds = {g.key: g.layers for g in a.by_kind}
    assert kinds == {"conv2d 1x1": 8, "add": 1, "maxpool 2x2": 1}
    # add of four inputs: 3 additions per output element
    assert layer_costs(a)["p.join"].elementwise_ops == 3 * 16 * 8 * 8


def test_elementwise_share():
    a = analysis(CONV_BN_RELU)
    # element-wise ops are BN and ReLU: (6,528 + 6,400) / 18,240
    assert a.network.elementwise_mem_access == 12_928
    assert a.network.elementwise_share == 12_928 / 18_240
