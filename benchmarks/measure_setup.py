"""What a kernel that multiplies costs beyond its work: the figure behind a profile's `setup`.

A 1x1 conv on 8-16 channels of a 7x7 or 8x8 map does under 13,000 multiply-adds (under 0.2 us
at a core's rate), yet it takes longer than a ReLU of the same tensor by more than that: the
runtime's per-call work for a conv (its primitive's dispatch, packing, bookkeeping). Measured
here, one thread, as the difference per layer of a chain of 17 layers and a chain of 1 (so the
per-inference overhead cancels), the fastest of 7 rounds of 1,000 runs:

- onnxruntime (the `measure` extra): Relu, 1x1 Conv, 3x3 depthwise Conv, 3x3 Conv;
- PyTorch eager, when torch is installed (never by the tests): the same modules, and BN.

    python benchmarks/measure_setup.py

setup = (a 1x1 conv's time - a ReLU's time) - its multiply-adds at the profile's rate. The
bundled CPU profiles' `setup` and the PyTorch-eager figure of
benchmarks/bench_nasbench201_latency.py come from a run of this script (docs/latency.md).
"""

from __future__ import annotations

import time

import numpy as np

SHAPES = ((8, 8), (16, 7))  # channels, map size
OPS = ("relu", "conv1x1", "depthwise3x3", "conv3x3")


def _onnx_chain(op: str, channels: int, size: int, layers: int) -> bytes:
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    nodes, weights, last = [], [], "x"
    for i in range(layers):
        if op == "relu":
            nodes.append(helper.make_node("Relu", [last], [f"y{i}"]))
        else:
            k = 1 if op == "conv1x1" else 3
            group = channels if op == "depthwise3x3" else 1
            w = rng.standard_normal((channels, channels // group, k, k)).astype(np.float32)
            weights.append(numpy_helper.from_array(w, f"w{i}"))
            nodes.append(helper.make_node("Conv", [last, f"w{i}"], [f"y{i}"],
                                          pads=[k // 2] * 4, group=group))
        last = f"y{i}"
    shape = [1, channels, size, size]
    graph = helper.make_graph(nodes, "chain",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info(last, TensorProto.FLOAT, shape)],
                              weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def _fastest(run, rounds: int = 7, calls: int = 1000) -> float:
    for _ in range(200):
        run()
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(calls):
            run()
        best = min(best, (time.perf_counter() - started) / calls)
    return best


def onnxruntime_per_layer(channels: int, size: int) -> dict[str, float]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    x = np.random.default_rng(1).standard_normal((1, channels, size, size)).astype(np.float32)
    result = {}
    for op in OPS:
        times = []
        for layers in (1, 17):
            session = ort.InferenceSession(_onnx_chain(op, channels, size, layers), options,
                                           providers=["CPUExecutionProvider"])
            times.append(_fastest(lambda: session.run(None, {"x": x})))
        result[op] = (times[1] - times[0]) / 16
    return result


def torch_per_layer(channels: int, size: int) -> dict[str, float] | None:
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    x = torch.randn(1, channels, size, size)
    modules = {"relu": torch.nn.ReLU(), "conv1x1": torch.nn.Conv2d(channels, channels, 1,
                                                                    bias=False),
               "depthwise3x3": torch.nn.Conv2d(channels, channels, 3, padding=1,
                                               groups=channels, bias=False),
               "conv3x3": torch.nn.Conv2d(channels, channels, 3, padding=1, bias=False),
               "batchnorm": torch.nn.BatchNorm2d(channels)}
    with torch.no_grad():
        return {op: _fastest(lambda: m.eval()(x)) for op, m in modules.items()}


def main() -> None:
    for channels, size in SHAPES:
        work = channels * channels * size * size
        ort_times = onnxruntime_per_layer(channels, size)
        print(f"{channels} channels, {size}x{size} (a 1x1 conv: {work:,} multiply-adds)")
        print("  onnxruntime, us per layer: " +
              ", ".join(f"{op} {t * 1e6:.2f}" for op, t in ort_times.items()) +
              f"; 1x1 conv - relu = {(ort_times['conv1x1'] - ort_times['relu']) * 1e6:.2f} us")
        eager = torch_per_layer(channels, size)
        if eager is not None:
            print("  PyTorch eager, us per call: " +
                  ", ".join(f"{op} {t * 1e6:.2f}" for op, t in eager.items()) +
                  f"; 1x1 conv - relu = {(eager['conv1x1'] - eager['relu']) * 1e6:.2f} us")


if __name__ == "__main__":
    main()
