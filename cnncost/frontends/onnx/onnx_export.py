"""Any cnncost model as a runnable ONNX model (``cnncost export``), with random or zero weights:
what measuring a candidate on a real device, or calibrating a latency model, needs.

Every op is written the way PyTorch's exporters write it, so that importing the file back
gives the same figures: a conv's "same" padding as explicit pads, BN as BatchNormalization
(not folded), relu6 as Clip(0, 6), swish as x * Sigmoid(x), a channel shuffle as
Reshape-Transpose-Reshape, a linear layer as Gemm.

Each op declares its own ONNX form beside its shape and cost rules (cnncost.ops.base.Op:
``onnx_op`` for a one-to-one op, ``to_onnx`` for the others, ``no_onnx`` for an op that has
none); this module only provides the writer they call, and knows no op by name.
"""

from __future__ import annotations

from typing import Any, NoReturn

from cnncost.core.errors import Problem, UsageError, optional_module
from cnncost.core.ir import Graph, Node, total_cost
from cnncost.core.model import Model

OPSET = 17
MAX_ONNX_FILE = 2**31 - 1  # protobuf's limit on one message: the largest single .onnx file


def export_onnx(model: Model, *, weights: str = "random", seed: int = 0) -> Any:
    """The ONNX ModelProto of ``model``; ``weights`` "random" (small normal values, BN
    variance 1) or "zeros". UsageError for an op ONNX cannot express, or for a model whose
    weights would not fit in one ONNX file (refused before any weight is made)."""
    import numpy as np

    onnx = optional_module("onnx", "exporting ONNX models needs the onnx package", "onnx")
    check_weight_bytes(model)
    result = onnx.ModelProto(ir_version=8, producer_name="cnncost")  # onnxruntime >= 1.14
    result.opset_import.add(domain="", version=OPSET)
    proto = result.graph  # nodes and weights go straight in: no copy of the weights is made
    proto.name = model.graph.name or "cnncost"
    writer = _Writer(model.graph, proto, np.random.default_rng(seed), weights == "zeros")
    for index, node in enumerate(model.graph.nodes[1:], start=1):
        writer.node(index, node)
    helper = onnx.helper
    graph = model.graph
    proto.input.append(helper.make_tensor_value_info("input", onnx.TensorProto.FLOAT,
                                                     list(graph.nodes[0].shape)))
    proto.output.extend(helper.make_tensor_value_info(writer.tensor(i), onnx.TensorProto.FLOAT,
                                                      list(graph.nodes[i].shape))
                        for i in graph.outputs)
    # serialised once, for its size and for the checker (ByteSize alone took 4x as long)
    data = result.SerializeToString()
    if len(data) > MAX_ONNX_FILE:
        raise UsageError(_too_big(model, f"the ONNX model would be {len(data):,} bytes"))
    onnx.checker.check_model(data)
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
    """The model being written: its nodes, its initializers and the names of its tensors."""

    def __init__(self, graph: Graph, proto: Any, rng: Any, zeros: bool):
        import numpy as np
        from onnx import helper, numpy_helper

        self.graph = graph
        self.proto = proto  # the GraphProto being filled
        self.rng = rng
        self.zeros = zeros
        self.np = np
        self.helper = helper
        self.numpy_helper = numpy_helper
        self.count = 0

    def node(self, index: int, node: Node) -> None:
        """Node ``index`` as the op declares its ONNX form (cnncost.ops.base.Op.to_onnx)."""
        node.op.to_onnx(_NodeWriter(self, index, node))

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
        return self.constant(stem, value)

    def ints(self, stem: str, values: list[int]) -> str:
        return self.constant(stem, self.np.array(values, dtype=self.np.int64))

    def scalar(self, stem: str, value: float) -> str:
        return self.constant(stem, self.np.array(value, dtype=self.np.float32))

    def constant(self, stem: str, value: Any) -> str:
        """An initializer holding ``value``, written into the graph as it is made."""
        name = self.fresh(stem)
        tensor = self.proto.initializer.add()
        tensor.name = name
        tensor.data_type = self.helper.np_dtype_to_tensor_dtype(value.dtype)
        tensor.dims.extend(value.shape)
        tensor.raw_data = value.tobytes()
        return name

    def emit(self, op_type: str, inputs: list[str], output: str, name: str,
             **attributes: Any) -> None:
        self.proto.node.append(self.helper.make_node(op_type, inputs, [output], name=name,
                                                     **attributes))


class _NodeWriter:
    """What an op's ``to_onnx`` writes one cnncost node with: its tensors and shapes, and
    the methods it calls (the ops know this interface by its names only)."""

    opset = OPSET

    def __init__(self, writer: _Writer, index: int, node: Node):
        nodes = writer.graph.nodes
        self.writer = writer
        self.name = node.name
        self.inputs = [writer.tensor(i) for i in node.inputs]
        self.output = writer.tensor(index)
        self.in_shapes = tuple(nodes[i].shape for i in node.inputs)
        self.out_shape = node.shape

    def emit(self, op_type: str, inputs: list[str], **attributes: Any) -> None:
        """The ONNX node that makes this node's output."""
        self.writer.emit(op_type, inputs, self.output, self.name, **attributes)

    def step(self, op_type: str, inputs: list[str], suffix: str, **attributes: Any) -> str:
        """An ONNX node on the way to the output (named ``name.suffix``); its tensor."""
        tensor = self.writer.fresh(suffix)
        self.writer.emit(op_type, inputs, tensor, f"{self.name}.{suffix}", **attributes)
        return tensor

    def chain(self, op_type: str, inputs: list[str]) -> None:
        """A binary ONNX op over several inputs, left to right."""
        current = inputs[0]
        for number, other in enumerate(inputs[1:], start=1):
            if number == len(inputs) - 1:
                self.emit(op_type, [current, other])
            else:
                current = self.step(op_type, [current, other], str(number))

    def weight(self, stem: str, shape: tuple[int, ...], fill: float | None = None) -> str:
        """A float32 initializer: ``fill`` everywhere, else the export's weights."""
        return self.writer.weight(stem, shape, fill)

    def ints(self, stem: str, values: list[int]) -> str:
        return self.writer.ints(stem, values)

    def scalar(self, stem: str, value: float) -> str:
        return self.writer.scalar(stem, value)

    def refuse(self, message: str) -> NoReturn:
        """This node cannot be written: a UsageError naming it."""
        raise UsageError(Problem(f"{self.name}: {message}"))
