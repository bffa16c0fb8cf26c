"""The Python API: docs/api.md's examples run as they are written, and a graph built in code
through the public builder has the figures of the same network written as a spec."""

from __future__ import annotations

import doctest

from cnncost import GraphBuilder, analyze, make_op, totals
from conftest import ROOT, build


def test_the_api_document_runs():
    result = doctest.testfile(str(ROOT / "docs" / "api.md"), module_relative=False,
                              optionflags=doctest.ELLIPSIS)
    assert result.attempted > 20 and result.failed == 0


def test_builder_modules_doctest():
    import cnncost
    import cnncost.builder

    for module in (cnncost, cnncost.builder):
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
