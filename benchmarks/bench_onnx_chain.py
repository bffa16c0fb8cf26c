"""How reading an ONNX graph scales with its nodes: chains of 1,000, 10,000 and 100,000
Sigmoids (the shape of the issue-17 report: 8,000 took 30 s when finding a node's one reader
scanned the whole graph), timed as load (file to graph) and load + analyze.

Reading is linear in nodes: each size should take about ten times the one before.

Run: python benchmarks/bench_onnx_chain.py [--sizes 1000,10000,100000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import cnncost  # noqa: E402


def chain(count: int, path: Path) -> None:
    """An ONNX file of ``count`` Sigmoids, each reading the one before, on a 1x8x16x16 input."""
    import onnx
    from onnx import TensorProto, helper

    names = ["x", *(f"t{i}" for i in range(count - 1)), "y"]
    nodes = [helper.make_node("Sigmoid", [a], [b]) for a, b in zip(names, names[1:])]
    graph = helper.make_graph(
        nodes, "chain", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 16, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print(f"{'nodes':>8}  {'load s':>8}  {'load+analyze s':>14}  {'us/node':>8}")
        for count in (int(s) for s in args.sizes.split(",")):
            path = Path(tmp) / f"chain{count}.onnx"
            chain(count, path)
            start = time.perf_counter()
            model = cnncost.load_model(str(path))
            loaded = time.perf_counter() - start
            cnncost.analyze(model)
            total = time.perf_counter() - start
            assert sum(1 for n in model.graph.nodes if n.op.op_name == "sigmoid") == count
            print(f"{count:>8,}  {loaded:>8.2f}  {total:>14.2f}  {1e6 * total / count:>8.1f}")


if __name__ == "__main__":
    main()
