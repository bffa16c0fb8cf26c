"""Any cnncost model as a runnable ONNX model (``cnncost export``), with random or zero weights:
what measuring a candidate on a real device, or calibrating a latency model, needs.

Every op is written the way PyTorch's exporters write it, so that importing the file back
gives the same figures: a conv's "same" padding as explicit pads, BN as BatchNormalization
(not folded), relu6 as Clip(0, 6), swish as x * Sigmoid(x), a channel shuffle as
Reshape-Transpose-Reshape, a linear layer as Gemm.
"""

from __future__ import annotations

from typing import Any

from cnncost.core.errors import Problem, UsageError, optional_module
from cnncost.core.ir import Graph, Node, total_cost
from cnncost.core.model import Model
from cnncost.ops.base import axis_padding

OPSET = 17
MAX_ONNX_FILE = 2**31 - 1  # protobuf's limit on one message: the largest single .onnx file


def export_onnx(model: Model, *, weights: str = "random", seed: int = 0) -> Any:
    """The ONNX ModelProto of ``model``; ``weights`` "random" (small normal values, BN
    variance 1) or "zeros". UsageError for an op ONNX cannot express, or for a model whose
    weights would not fit in one ONNX file (refused before any weight is made)."""
    import numpy as np

    onnx = optional_module("onnx", "exporting ONNX models needs the onnx package", "onnx")
    check_weight_bytes(model)
    writer = _Writer(model.graph, np.random.default_rng(seed), weights == "zeros")
    for index, node in enumerate(model.graph.nodes[1:], start=1):
        writer.node(index, node)
    helper = onnx.helper
    graph = model.graph
    outputs = [helper.make_tensor_value_info(writer.tensor(i), onnx.TensorProto.FLOAT,
                                             list(graph.nodes[i].shape)) for i in graph.outputs]
    proto = helper.make_graph(
        writer.nodes, graph.name or "cnncost",
        [helper.make_tensor_value_info("input", onnx.TensorProto.FLOAT,
                                       list(graph.nodes[0].shape))],
        outputs, writer.initializers)
    result = helper.make_model(proto, opset_imports=[helper.make_opsetid("", OPSET)],
                               producer_name="cnncost")
    result.ir_version = 8  # onnxruntime 1.14 and newer read it
    if result.ByteSize() > MAX_ONNX_FILE:
        raise UsageError(_too_big(model, f"the ONNX model would be {result.ByteSize():,} bytes"))
    onnx.checker.check_model(result)
    return result


def weight_bytes(model: Model) -> int:
    """The bytes of the float32 weights an export writes: every parameter and BN statistic,
    from the model's counts (nothing allocated)."""
    total = total_cost(model.graph.node_costs())
    return 4 * (total.params + total.buffers)


def check_weight_bytes(model: Model) -> None:
    """UsageError, before anything is allocated, when the weights alone pass ONNX's limit."""
    size = weight_bytes(model)
    if size > MAX_ONNX_FILE:
        raise UsageError(_too_big(model, f"its float32 weights would be {size:,} bytes "
                                         f"({size / 2**30:.1f} GiB)"))


def _too_big(model: Model, what: str) -> Problem:
    return Problem(f"{model.label}: {what}; an ONNX file holds at most "
                   f"{MAX_ONNX_FILE:,} bytes (2 GiB)",
                   hint="export a smaller configuration (a lower width or resolution), or "
                        "compare candidates with cnncost analyze, which needs no weights")


class _Writer:
    def __init__(self, graph: Graph, rng: Any, zeros: bool):
        import numpy as np
        from onnx import helper, numpy_helper

        self.graph = graph
        self.rng = rng
        self.zeros = zeros
        self.np = np
        self.helper = helper
        self.numpy_helper = numpy_helper
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.count = 0

    def tensor(self, index: int) -> str:
        return "input" if index == 0 else f"t{index}"

    def fresh(self, stem: str) -> str:
        self.count += 1
        return f"{stem}_{self.count}"

    def weight(self, stem: str, shape: tuple[int, ...], fill: float | None = None) -> str:
        np = self.np
        if fill is not None:
            value = np.full(shape, fill, dtype=np.float32)
        elif self.zeros:
            value = np.zeros(shape, dtype=np.float32)
        else:
            value = (self.rng.standard_normal(shape) * 0.05).astype(np.float32)
        name = self.fresh(stem)
        self.initializers.append(self.numpy_helper.from_array(value, name))
        return name

    def ints(self, stem: str, values: list[int]) -> str:
        name = self.fresh(stem)
        self.initializers.append(self.numpy_helper.from_array(
            self.np.array(values, dtype=self.np.int64), name))
        return name

    def scalar(self, stem: str, value: float) -> str:
        name = self.fresh(stem)
        self.initializers.append(self.numpy_helper.from_array(
            self.np.array(value, dtype=self.np.float32), name))
        return name

    def emit(self, op_type: str, inputs: list[str], output: str, name: str,
             **attributes: Any) -> None:
        self.nodes.append(self.helper.make_node(op_type, inputs, [output], name=name,
                                                **attributes))

    def pads(self, node: Node, kernel: tuple[int, int], stride: tuple[int, int],
             dilation: tuple[int, int]) -> list[int]:
        """Explicit [top, left, bottom, right] of a padding attribute ("same": TensorFlow's,
        the extra element after)."""
        x = self.graph.nodes[node.inputs[0]].shape
        result = []
        for axis, padding in enumerate(axis_padding(node.op.padding)):
            if padding == "same":
                size, k, s, d = x[2 + axis], kernel[axis], stride[axis], dilation[axis]
                total = max((-(-size // s) - 1) * s + (k - 1) * d + 1 - size, 0)
                result.append((total // 2, total - total // 2))
            elif padding == "valid":
                result.append((0, 0))
            else:
                result.append(tuple(padding))
        (top, bottom), (left, right) = result
        return [top, left, bottom, right]

    def node(self, index: int, node: Node) -> None:
        op, name = node.op, node.name
        out = self.tensor(index)
        ins = [self.tensor(i) for i in node.inputs]
        x = self.graph.nodes[node.inputs[0]].shape if node.inputs else ()
        kind = op.op_name
        if kind == "conv2d":
            w = self.weight("w", (op.out_channels, x[1] // op.groups, *op.kernel))
            bias = [self.weight("b", (op.out_channels,))] if op.bias else []
            self.emit("Conv", [ins[0], w, *bias], out, name, kernel_shape=list(op.kernel),
                      strides=list(op.stride), dilations=list(op.dilation), group=op.groups,
                      pads=self.pads(node, op.kernel, op.stride, op.dilation))
        elif kind == "conv_transpose2d":
            w = self.weight("w", (x[1], op.out_channels // op.groups, *op.kernel))
            bias = [self.weight("b", (op.out_channels,))] if op.bias else []
            (top, bottom), (left, right) = axis_padding(op.padding)
            self.emit("ConvTranspose", [ins[0], w, *bias], out, name,
                      kernel_shape=list(op.kernel), strides=list(op.stride),
                      dilations=list(op.dilation), group=op.groups,
                      pads=[top, left, bottom, right], output_padding=list(op.output_padding))
        elif kind == "linear":
            w = self.weight("w", (op.out_features, x[1]))
            bias = [self.weight("b", (op.out_features,))] if op.bias else []
            self.emit("Gemm", [ins[0], w, *bias], out, name, transB=1)
        elif kind == "matmul":
            self.emit("MatMul", ins, out, name)
        elif kind == "batchnorm":
            c = x[1]
            self.emit("BatchNormalization",
                      [ins[0], self.weight("gamma", (c,), None if op.affine else 1.0),
                       self.weight("beta", (c,), None if op.affine else 0.0),
                       self.weight("mean", (c,), 0.0), self.weight("var", (c,), 1.0)],
                      out, name)
        elif kind in _UNARY:
            self.emit(_UNARY[kind], ins, out, name)
        elif kind == "relu6":
            self.emit("Clip", [ins[0], self.scalar("low", 0.0), self.scalar("high", 6.0)], out,
                      name)
        elif kind == "clip":
            self.emit("Clip", [ins[0], self.scalar("low", op.low), self.scalar("high", op.high)],
                      out, name)
        elif kind == "hardsigmoid":
            self.emit("HardSigmoid", ins, out, name, alpha=1 / 6, beta=0.5)
        elif kind == "swish":
            gate = self.fresh("sigmoid")
            self.emit("Sigmoid", ins, gate, name + ".sigmoid")
            self.emit("Mul", [ins[0], gate], out, name)
        elif kind == "leaky_relu":
            self.emit("LeakyRelu", ins, out, name, alpha=op.slope)
        elif kind == "prelu":
            c = 1 if op.shared else x[1]
            self.emit("PRelu", [ins[0], self.weight("slope", (c, 1, 1) if len(x) == 4 and c > 1
                                                    else (c,))], out, name)
        elif kind == "softmax":
            self.emit("Softmax", ins, out, name, axis=1)
        elif kind == "gelu":
            raise UsageError(Problem(f"{name}: gelu needs ONNX opset 20; cnncost writes opset "
                                     f"{OPSET}"))
        elif kind == "add":
            self.emit("Sum" if len(ins) > 2 else "Add", ins, out, name)
        elif kind in ("mul", "sub", "div"):
            self.chain(kind.title(), ins, out, name)
        elif kind == "const":
            shape = op.shape if len(op.shape) > 1 or op.shape != (1,) else ()
            operand = self.weight("c", tuple(shape), None if op.learned else 1.0)
            self.emit({"add": "Add", "sub": "Sub", "mul": "Mul", "div": "Div", "pow": "Pow",
                       "max": "Max", "min": "Min"}[op.fn], [ins[0], operand], out, name)
        elif kind in ("maxpool", "avgpool"):
            stride = op.stride or op.kernel
            self.emit("MaxPool" if kind == "maxpool" else "AveragePool", ins, out, name,
                      kernel_shape=list(op.kernel), strides=list(stride),
                      pads=self.pads(node, op.kernel, stride, (1, 1)),
                      ceil_mode=int(op.ceil_mode))
        elif kind == "global_avgpool":
            self.emit("GlobalAveragePool", ins, out, name)
        elif kind == "adaptive_avgpool":
            h, w = x[2:]
            if h % op.size[0] or w % op.size[1]:
                raise UsageError(Problem(
                    f"{name}: adaptive average pooling from {h}x{w} to {op.size[0]}x{op.size[1]}"
                    f" has no ONNX op (the sizes must divide)"))
            kernel = [h // op.size[0], w // op.size[1]]
            self.emit("AveragePool", ins, out, name, kernel_shape=kernel, strides=kernel)
        elif kind == "reduce_mean":
            self.emit("ReduceMean", ins, out, name, axes=list(op.axes),
                      keepdims=int(op.keepdims))
        elif kind == "lrn":
            self.emit("LRN", ins, out, name, size=op.size, alpha=op.alpha, beta=op.beta,
                      bias=op.k)
        elif kind == "concat":
            self.emit("Concat", ins, out, name, axis=op.axis)
        elif kind in ("split", "slice"):
            axis = getattr(op, "axis", 1)
            if kind == "split":
                size = x[1] // op.parts
                start, stop = op.index * size, (op.index + 1) * size
            else:
                start, stop = op.start, op.stop
            self.emit("Slice", [ins[0], self.ints("starts", [start]), self.ints("ends", [stop]),
                                self.ints("axes", [axis])], out, name)
        elif kind == "channel_shuffle":
            n, c, h, w = x
            grouped, turned = self.fresh("grouped"), self.fresh("turned")
            self.emit("Reshape", [ins[0], self.ints("shape", [n, op.groups, c // op.groups,
                                                              h, w])], grouped, name + ".view")
            self.emit("Transpose", [grouped], turned, name + ".transpose", perm=[0, 2, 1, 3, 4])
            self.emit("Reshape", [turned, self.ints("shape", [n, c, h, w])], out, name)
        elif kind == "flatten":
            self.emit("Flatten", ins, out, name, axis=1)
        elif kind == "reshape":
            self.emit("Reshape", [ins[0], self.ints("shape", list(node.shape))], out, name)
        elif kind == "transpose":
            self.emit("Transpose", ins, out, name, perm=list(op.perm))
        elif kind == "pad":
            top, left, bottom, right = op.pads
            self.emit("Pad", [ins[0], self.ints("pads", [0, 0, top, left, 0, 0, bottom,
                                                         right])], out, name)
        elif kind == "upsample":
            self.emit("Resize", [ins[0], "", "", self.ints("sizes", list(node.shape))], out,
                      name, mode=op.mode)
        elif kind == "dropout":
            self.emit("Dropout", ins, out, name)
        elif kind == "identity":
            self.emit("Identity", ins, out, name)
        else:
            raise UsageError(Problem(f"{name}: op {kind} has no ONNX export yet"))

    def chain(self, op_type: str, ins: list[str], out: str, name: str) -> None:
        """A binary ONNX op over several inputs, left to right."""
        current = ins[0]
        for number, other in enumerate(ins[1:], start=1):
            target = out if number == len(ins) - 1 else self.fresh("partial")
            self.emit(op_type, [current, other], target, name if target == out else
                      f"{name}.{number}")
            current = target


_UNARY = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "hardswish": "HardSwish"}
