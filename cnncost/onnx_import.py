"""ONNX models as cnncost models: any export of PyTorch, TensorFlow or another framework.

The graph is walked in its (topological) order. Tensors that are known before the network runs
(initializers, Constant nodes, and everything computed from them and from known shapes: the
Shape/Gather/Div/Slice chains an exporter writes for a channel split) are folded with numpy;
every other node becomes cnncost nodes through cnncost.builder, which infers each shape itself,
so that a model whose own shape information is missing or symbolic still gets every shape.
Patterns exporters write for one PyTorch op are read back as that op: Sigmoid and Mul as swish,
HardSigmoid and Mul as hardswish (opset 11 has no HardSwish), Reshape-Transpose-Reshape as a
channel shuffle, MatMul and Add as a linear layer with a bias, Clip(0, 6) as relu6.

onnx is an optional dependency (``pip install 'cnncost[onnx]'``), imported only here.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cnncost.builder import GraphBuilder, make_op
from cnncost.errors import (Problem, RuleError, SpecError, UsageError, optional_module, shown,
                            suggest)
from cnncost.ir import Loc, Shape
from cnncost.model import Model

MAX_ONNX_BYTES = 4 * 1024**3
FLOAT_MAX = 3.4028234663852886e38  # a Clip without a bound: float32's largest value

Handler = Callable[["_Reader", Any], None]
HANDLERS: dict[str, Handler] = {}


def onnx_module() -> Any:
    """The onnx package, or a clear message when it is not installed."""
    return optional_module("onnx", "reading ONNX models needs the onnx package", "onnx")


def parse_shape(text: str) -> tuple[int, ...]:
    """``1x3x224x224`` (or ``1,3,224,224``) -> (1, 3, 224, 224)."""
    parts = [p for p in re.split(r"[x,\s]+", text.strip()) if p]
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        shape = ()
    if not shape or min(shape) < 1 or len(shape) > 8:
        raise UsageError(Problem(f"--input-shape {shown(text)}: expected sizes like 1x3x224x224"))
    return shape


def load_onnx(path: str | Path, *, spec: str = "", input_shape: tuple[int, ...] | None = None,
              batch: int | None = None, allow_unknown: bool = False) -> Model:
    """The model an ONNX file holds. ``input_shape`` gives the input's sizes where the file
    leaves them symbolic (a symbolic batch alone is read as 1, or ``batch``); with
    ``allow_unknown``, nodes of unsupported ops are kept with their shapes and no cost, and the
    model is marked partial. SpecError or UsageError says what cannot be read."""
    from cnncost.files import is_file

    onnx = onnx_module()
    file = str(path)
    if not is_file(file):
        raise SpecError(Problem(f"no such file: {file}" if not Path(file).exists() else
                                f"{file} is not a file cnncost can read"))
    if Path(file).stat().st_size > MAX_ONNX_BYTES:
        raise SpecError(Problem(f"{file} is over {MAX_ONNX_BYTES:,} bytes"))
    try:  # weights kept in external files are read only where a value is needed
        proto = onnx.load(file, load_external_data=False)
    except Exception as exc:  # protobuf's DecodeError, ...
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SpecError(Problem(f"{file} is not a readable ONNX model: {shown(reason, 200)}"))
    from onnx.external_data_helper import uses_external_data

    base = Path(file).parent
    for tensor in proto.graph.initializer:
        if uses_external_data(tensor):
            location = next(e.value for e in tensor.external_data if e.key == "location")
            if not is_file(base / location):
                raise SpecError(Problem(
                    f"{file} keeps its weights in {location}, which is not beside it",
                    hint="copy the .onnx.data file next to the .onnx file"))
    reader = _Reader(proto, file, input_shape, batch, allow_unknown)
    return reader.model(spec or file)


class _Reader:
    def __init__(self, proto: Any, file: str, input_shape: tuple[int, ...] | None,
                 batch: int | None, allow_unknown: bool):
        from onnx import numpy_helper

        self.proto = proto
        self.file = file
        self.to_array = numpy_helper.to_array
        self.allow_unknown = allow_unknown
        graph = proto.graph
        self.opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")),
                          1)
        self.initializers = {t.name: t for t in graph.initializer}
        self.consts: dict[str, Any] = {}  # tensors known before the network runs
        self.nodes: dict[str, int] = {}  # activations: tensor name -> builder node
        self.unknown: Counter[str] = Counter()
        self.skipped = 0
        self.names: Counter[str] = Counter()
        self.consumers: Counter[str] = Counter(i for n in graph.node for i in n.input if i)
        self.consumers.update(o.name for o in graph.output)
        self.producer = {o: n for n in graph.node for o in n.output}
        self.done: set[int] = set()  # ids of nodes consumed by a pattern
        inputs = [i for i in graph.input if i.name not in self.initializers]
        if len(inputs) != 1:
            raise SpecError(Problem(f"{file}: cnncost reads networks with one input; this one has "
                                    f"{len(inputs)} ({', '.join(i.name for i in inputs)})"))
        self.input = inputs[0]
        shape = self.input_shape(input_shape, batch)
        try:
            name = Path(file).name.removesuffix(".onnx")  # exporters name every graph alike
            self.builder = GraphBuilder(name, shape, self.loc("input"))
        except RuleError as exc:
            raise SpecError(Problem(f"input {shape}: {exc.message}", self.loc("input"))) from None
        self.nodes[self.input.name] = 0

    # -- helpers ---------------------------------------------------------------------------

    def loc(self, what: str) -> Loc:
        return Loc(self.file, 1, 1, what)

    def input_shape(self, given: tuple[int, ...] | None, batch: int | None) -> Shape:
        dims = self.input.type.tensor_type.shape.dim
        written = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in dims]
        if given is not None:
            if len(given) != len(written) or any(
                    isinstance(w, int) and w != g for w, g in zip(written, given) if w):
                if len(given) != len(written):
                    raise UsageError(Problem(f"--input-shape {list(given)} has {len(given)} "
                                             f"dimensions; {self.file}'s input "
                                             f"{self.input.name} has {len(written)}: {written}"))
            shape = list(given)
        else:
            shape = list(written)
            if shape and not isinstance(shape[0], int) or (shape and shape[0] == 0):
                shape[0] = 1  # a symbolic batch: one image, unless --batch says otherwise
            symbolic = [str(d) for d in shape[1:] if not isinstance(d, int) or d == 0]
            if symbolic:
                raise UsageError(Problem(
                    f"{self.file}: the input {self.input.name} has symbolic sizes {written}",
                    hint="give them: --input-shape 1x3x224x224"))
        if batch is not None:
            shape[0] = batch
        return tuple(int(d) for d in shape)

    def name(self, node: Any, op: str) -> str:
        """A readable dotted name: the module path the exporter recorded, then the op."""
        scope = ""
        for prop in node.metadata_props:
            if prop.key == "pkg.torch.onnx.name_scopes":
                scopes = re.findall(r"'([^']*)'", prop.value)
                modules = [s for s in scopes[:-1] if s]
                scope = modules[-1] if modules else ""
        if not scope and node.name.startswith("/"):
            scope = _module_path(node.name.strip("/").split("/")[:-1])
        weight = next((i for i in node.input[1:2] if i.endswith(".weight")), "")
        if weight:
            scope = weight[:-len(".weight")]
        base = f"{scope}.{op}" if scope else (op if node.name.startswith("/") else
                                               node.name or node.output[0] or op)
        base = re.sub(r"[^A-Za-z0-9_.\-]", "_", base).strip(".") or op
        self.names[base] += 1
        return base if self.names[base] == 1 else f"{base}_{self.names[base]}"

    def const(self, name: str, ahead: bool = False) -> Any:
        """The value of a tensor known before the network runs, or None. With ``ahead``, a
        constant the walk has not reached yet is folded now (a pattern looks ahead)."""
        if name in self.consts:
            return self.consts[name]
        if name in self.initializers:
            from onnx.external_data_helper import load_external_data_for_tensor, \
                uses_external_data

            tensor = self.initializers[name]
            if uses_external_data(tensor):
                load_external_data_for_tensor(tensor, str(Path(self.file).parent))
            value = self.to_array(tensor)
            self.consts[name] = value
            return value
        node = self.producer.get(name) if ahead else None
        if node is not None and node.op_type in FOLDABLE and all(
                not i or self.const(i, ahead=True) is not None or
                (node.op_type == "Shape" and i in self.nodes) for i in node.input):
            self.fold(node)
            return self.consts.get(name)
        return None

    def dims(self, name: str) -> tuple[int, ...] | None:
        """The shape of a constant (without reading large data when it is an initializer)."""
        if name in self.initializers:
            return tuple(self.initializers[name].dims)
        value = self.consts.get(name)
        return tuple(value.shape) if value is not None else None

    def activation(self, name: str) -> int:
        if name not in self.nodes:
            raise _Missing(name)
        return self.nodes[name]

    def shape(self, name: str) -> Shape:
        return self.builder.shape(self.activation(name))

    def add(self, node: Any, op: Any, inputs: list[int], output: str | None = None,
            label: str | None = None) -> int:
        index = self.builder.add(self.name(node, label or op.op_name), op, inputs,
                                 self.loc(node.name or node.op_type))
        self.nodes[output or node.output[0]] = index
        return index

    def alias(self, output: str, source: str) -> None:
        self.nodes[output] = self.activation(source)

    def only_reader(self, tensor: str) -> Any | None:
        """The one node reading ``tensor`` (None if several, or a network output)."""
        if self.consumers[tensor] != 1:
            return None
        return next((n for n in self.proto.graph.node if tensor in n.input), None)

    # -- the walk --------------------------------------------------------------------------

    def model(self, spec: str) -> Model:
        graph = self.proto.graph
        problems: list[Problem] = []
        for node in graph.node:
            if id(node) in self.done:
                continue
            try:
                self.node(node)
            except _Missing:
                self.skipped += 1  # reads the output of an unsupported op
            except RuleError as exc:
                problems.append(Problem(f"{node.op_type} node {shown(node.name or node.output[0])}"
                                        f": {exc.message}", self.loc(node.name or node.op_type),
                                        exc.hint))
        if self.unknown and not self.allow_unknown:
            listed = ", ".join(f"{op} ({count})" for op, count in sorted(self.unknown.items()))
            problems.insert(0, Problem(
                f"{self.file} uses ops cnncost does not support: {listed}",
                hint="--allow-unknown analyses the rest and marks every total as partial; "
                     "supported: " + ", ".join(sorted(HANDLERS))))
        if problems:
            raise SpecError(problems)
        outputs = [self.nodes[o.name] for o in graph.output if o.name in self.nodes]
        if not outputs:
            raise SpecError(Problem(f"{self.file}: no output of the network could be followed "
                                    f"back to its input"))
        notes = []
        ops = {n.op_type for n in graph.node}
        if "BatchNormalization" not in ops and ops & {"Conv", "Gemm"}:
            notes.append("no BatchNormalization: an exporter folds BN into the convs' weights "
                         "and biases, so params count the folded biases and no BN parameters, "
                         "and element-wise ops and mem_access are those of the folded network; "
                         "mult_adds are unchanged")
        partial = tuple(sorted(self.unknown.items()))
        if partial:
            notes.append(f"PARTIAL: {sum(self.unknown.values())} node(s) of unsupported ops "
                         f"counted as zero ({', '.join(op for op, _ in partial)}); "
                         f"{self.skipped} node(s) after them could not be followed")
        return Model(self.builder.graph(outputs), spec=spec, file=self.file,
                     description=f"imported from ONNX (opset {self.opset})",
                     source_format="onnx", partial=partial, notes=tuple(notes))

    def node(self, node: Any) -> None:
        op = node.op_type
        inputs = [i for i in node.input]
        if op in FOLDABLE and all(not i or self.const(i) is not None or
                                  (op == "Shape" and i in self.nodes) for i in inputs):
            self.fold(node)
            return
        handler = HANDLERS.get(op)
        if handler is None:
            self.unsupported(node)
            return
        handler(self, node)

    def unsupported(self, node: Any) -> None:
        self.unknown[node.op_type] += 1
        if not self.allow_unknown:
            return
        shapes = _inferred_shapes(self)
        sources = [self.nodes[i] for i in node.input if i in self.nodes]
        for output in node.output:
            shape = shapes.get(output)
            if shape is None or not sources:
                raise _Missing(output)
            self.nodes[output] = self.builder.add(
                self.name(node, node.op_type.lower()), Opaque(node.op_type, shape), sources[:1],
                self.loc(node.name or node.op_type))

    def fold(self, node: Any) -> None:
        values = [self.const(i) if i else None for i in node.input]
        if node.op_type == "Shape":
            import numpy as np

            values = [np.array(self.shape(node.input[0]), dtype=np.int64)]
        for output, value in zip(node.output, FOLDABLE[node.op_type](_attrs(node), *values)):
            self.consts[output] = value


def _module_path(scopes: list[str]) -> str:
    """The legacy exporter's node scopes as one module path: ["stage2", "stage2.0", "branch1",
    "branch1.0"] -> "stage2.0.branch1.0" (a scope repeats its parent's name, or not)."""
    path, previous = "", ""
    for scope in scopes:
        if previous and scope.startswith(previous + "."):
            path = path[:len(path) - len(previous)] + scope
        else:
            path = f"{path}.{scope}" if path else scope
        previous = scope
    return path


class _Missing(Exception):
    """A tensor that no supported op produced (the output of an unsupported one)."""


def _attrs(node: Any) -> dict[str, Any]:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _inferred_shapes(reader: _Reader) -> dict[str, tuple[int, ...]]:
    """ONNX's own shape inference, for the outputs of unsupported ops (--allow-unknown)."""
    if not hasattr(reader, "_inferred"):
        import onnx

        try:
            inferred = onnx.shape_inference.infer_shapes(reader.proto, data_prop=True)
            values = [*inferred.graph.value_info, *inferred.graph.output]
        except Exception:
            values = []
        shapes = {}
        for value in values:
            dims = value.type.tensor_type.shape.dim
            if dims and all(d.HasField("dim_value") for d in dims):
                shapes[value.name] = tuple(d.dim_value for d in dims)
        reader._inferred = shapes
    return reader._inferred


# -- an op cnncost does not know, kept with --allow-unknown -----------------------------------

def _opaque_class() -> type:
    from dataclasses import dataclass

    from cnncost.ir import ZERO_COST
    from cnncost.ops.base import DATA, Op

    @dataclass(frozen=True, slots=True)
    class Opaque(Op):
        """An unsupported ONNX op: its output shape as ONNX inferred it, and no cost."""

        onnx_op: str
        out_shape: tuple[int, ...]
        family = DATA
        op_name = "unsupported"
        max_inputs = None

        def infer(self, inputs: tuple[Shape, ...]) -> Shape:
            return self.out_shape

        def cost(self, inputs: tuple[Shape, ...], out: Shape) -> Any:
            return ZERO_COST

        def kind(self, inputs: tuple[Shape, ...]) -> str:
            return f"unsupported {self.onnx_op}"

    return Opaque


Opaque = _opaque_class()


# -- constant folding --------------------------------------------------------------------------

def _fold_table() -> dict[str, Callable[..., list[Any]]]:
    import numpy as np

    def axes_of(attrs: dict[str, Any], given: Any) -> list[int]:
        return [int(a) for a in (given if given is not None else attrs.get("axes", []))]

    def slice_(attrs, data, starts=None, ends=None, axes=None, steps=None):
        starts = attrs.get("starts") if starts is None else starts
        ends = attrs.get("ends") if ends is None else ends
        axes = list(range(len(starts))) if axes is None and "axes" not in attrs else \
            axes_of(attrs, axes)
        steps = [1] * len(starts) if steps is None else steps
        index = [slice(None)] * data.ndim
        for s, e, a, st in zip(starts, ends, axes, steps):
            index[int(a)] = slice(int(s), int(min(e, 2**62)) if e > 0 else int(e), int(st))
        return [data[tuple(index)]]

    def unsqueeze(attrs, data, axes=None):
        result = data
        for a in sorted(axes_of(attrs, axes)):
            result = np.expand_dims(result, a if a >= 0 else a + result.ndim + 1)
        return [result]

    def squeeze(attrs, data, axes=None):
        axes = axes_of(attrs, axes)
        return [np.squeeze(data, axis=tuple(axes)) if axes else np.squeeze(data)]

    def reshape(attrs, data, shape):
        target = [data.shape[i] if d == 0 else int(d) for i, d in enumerate(shape)]
        return [data.reshape(target)]

    def constant(attrs):
        for key in ("value", "value_float", "value_int", "value_floats", "value_ints"):
            if key in attrs:
                value = attrs[key]
                if key == "value":
                    from onnx import numpy_helper
                    return [numpy_helper.to_array(value)]
                return [np.array(value)]
        raise RuleError("a Constant node without a value cnncost reads")

    def constant_of_shape(attrs, shape):
        from onnx import numpy_helper
        fill = numpy_helper.to_array(attrs["value"]) if "value" in attrs else np.zeros(1)
        return [np.full(tuple(int(d) for d in shape), fill.reshape(-1)[0], dtype=fill.dtype)]

    def binary(fn):
        return lambda attrs, a, b: [fn(a, b)]

    def div(attrs, a, b):
        if np.issubdtype(a.dtype, np.integer) and np.issubdtype(b.dtype, np.integer):
            return [a // b]
        return [a / b]

    return {
        "Constant": constant,
        "Identity": lambda attrs, x: [x],
        "Cast": lambda attrs, x: [x.astype(_dtype(attrs.get("to", 1)))],
        "Shape": lambda attrs, x: [x[attrs.get("start", 0):attrs.get("end", None)]],
        "Gather": lambda attrs, x, i: [np.take(x, i, axis=attrs.get("axis", 0))],
        "Unsqueeze": unsqueeze, "Squeeze": squeeze, "Reshape": reshape, "Slice": slice_,
        "Concat": lambda attrs, *xs: [np.concatenate([np.atleast_1d(x) for x in xs],
                                                     axis=attrs.get("axis", 0))],
        "Add": binary(np.add), "Sub": binary(np.subtract), "Mul": binary(np.multiply),
        "Div": div, "Pow": binary(np.power), "Equal": binary(np.equal),
        "Where": lambda attrs, c, a, b: [np.where(c, a, b)],
        "Floor": lambda attrs, x: [np.floor(x)], "Ceil": lambda attrs, x: [np.ceil(x)],
        "Sqrt": lambda attrs, x: [np.sqrt(x)], "Neg": lambda attrs, x: [-x],
        "Range": lambda attrs, a, b, c: [np.arange(a, b, c)],
        "ConstantOfShape": constant_of_shape,
        "Expand": lambda attrs, x, s: [x * np.ones(tuple(int(d) for d in s), dtype=x.dtype)],
        "Transpose": lambda attrs, x: [np.transpose(x, attrs.get("perm"))],
        "ReduceProd": lambda attrs, x, *a: [np.prod(x, keepdims=bool(attrs.get("keepdims", 1)))],
    }


def _dtype(onnx_type: int) -> Any:
    from onnx import helper

    return helper.tensor_dtype_to_np_dtype(onnx_type)


FOLDABLE = _fold_table()


# -- translations ------------------------------------------------------------------------------

def handles(*ops: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        for op in ops:
            HANDLERS[op] = fn
        return fn
    return register


def _pads(attrs: dict[str, Any], in_hw: tuple[int, int], kernel: tuple[int, int],
          stride: tuple[int, int], dilation: tuple[int, int]) -> Any:
    """ONNX pads [top, left, bottom, right] (or auto_pad) as a cnncost padding."""
    auto = attrs.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        pads = []
        for size, k, s, d in zip(in_hw, kernel, stride, dilation):
            total = max((-(-size // s) - 1) * s + (k - 1) * d + 1 - size, 0)
            small = total // 2
            pads.append((small, total - small) if auto == "SAME_UPPER" else
                        (total - small, small))
        top, left, bottom, right = pads[0][0], pads[1][0], pads[0][1], pads[1][1]
    elif auto == "VALID":
        return "valid"
    else:
        top, left, bottom, right = [int(p) for p in attrs.get("pads", [0, 0, 0, 0])]
    return (top, left) if (top, left) == (bottom, right) else (top, left, bottom, right)


def _spatial(node: Any, attrs: dict[str, Any], key: str, default: int, rank: int = 2
             ) -> tuple[int, ...]:
    value = attrs.get(key)
    if value is None:
        return (default,) * rank
    if len(value) != rank:
        raise RuleError(f"{key}={list(value)}: cnncost reads 2-D (image) operations only")
    return tuple(int(v) for v in value)


@handles("Conv")
def _conv(r: _Reader, node: Any) -> None:
    attrs = _attrs(node)
    weight = r.dims(node.input[1])
    if weight is None:
        raise RuleError("its weights are computed by the network; cnncost reads constant "
                        "weights only")
    if len(weight) != 4:
        raise RuleError(f"a {len(weight) - 2}-D convolution; cnncost reads 2-D ones")
    kernel = _spatial(node, attrs, "kernel_shape", 0) if "kernel_shape" in attrs else \
        tuple(weight[2:])
    stride = _spatial(node, attrs, "strides", 1)
    dilation = _spatial(node, attrs, "dilations", 1)
    x = r.shape(node.input[0])
    op = make_op("conv2d", out_channels=weight[0], kernel=list(kernel), stride=list(stride),
                 dilation=list(dilation), groups=int(attrs.get("group", 1)),
                 padding=_padding_value(_pads(attrs, x[2:], kernel, stride, dilation)),
                 bias=len(node.input) > 2 and bool(node.input[2]))
    r.add(node, op, [r.activation(node.input[0])], label="conv")


def _padding_value(padding: Any) -> Any:
    return padding if isinstance(padding, str) else list(padding)


@handles("ConvTranspose")
def _conv_transpose(r: _Reader, node: Any) -> None:
    attrs = _attrs(node)
    weight = r.dims(node.input[1])
    if weight is None or len(weight) != 4:
        raise RuleError("cnncost reads 2-D transposed convolutions with constant weights")
    if "output_shape" in attrs:
        raise RuleError("output_shape is not read; export with explicit pads")
    group = int(attrs.get("group", 1))
    top, left, bottom, right = [int(p) for p in attrs.get("pads", [0, 0, 0, 0])]
    op = make_op("conv_transpose2d", out_channels=weight[1] * group, kernel=list(weight[2:]),
                 stride=list(_spatial(node, attrs, "strides", 1)),
                 dilation=list(_spatial(node, attrs, "dilations", 1)), groups=group,
                 padding=[top, left] if (top, left) == (bottom, right) else
                 [top, left, bottom, right],
                 output_padding=list(_spatial(node, attrs, "output_padding", 0)),
                 bias=len(node.input) > 2 and bool(node.input[2]))
    r.add(node, op, [r.activation(node.input[0])], label="deconv")


@handles("Gemm")
def _gemm(r: _Reader, node: Any) -> None:
    attrs = _attrs(node)
    b = r.dims(node.input[1])
    if attrs.get("transA", 0) or b is None or len(b) != 2:
        raise RuleError("cnncost reads Gemm as a linear layer: x @ W (+ b) with constant W")
    out = b[0] if attrs.get("transB", 0) else b[1]
    bias = len(node.input) > 2 and bool(node.input[2])
    r.add(node, make_op("linear", out_features=out, bias=bias),
          [r.activation(node.input[0])], label="linear")


@handles("MatMul")
def _matmul(r: _Reader, node: Any) -> None:
    a, b = node.input[:2]
    weight = r.dims(b)
    if weight is None:
        r.add(node, make_op("matmul"), [r.activation(a), r.activation(b)])
        return
    if len(weight) != 2 or len(r.shape(a)) != 2:
        raise RuleError("cnncost reads MatMul with a constant as a linear layer on (N, "
                        "features)")
    # MatMul then Add of a constant vector: one linear layer with a bias, as PyTorch writes it
    then = r.only_reader(node.output[0])
    bias = (then is not None and then.op_type == "Add" and
            any(r.dims(i) in ((weight[1],), (1, weight[1])) for i in then.input))
    index = r.add(node, make_op("linear", out_features=weight[1], bias=bias), [r.activation(a)],
                  label="linear")
    if bias:
        r.done.add(id(then))
        r.nodes[then.output[0]] = index


@handles("BatchNormalization")
def _batchnorm(r: _Reader, node: Any) -> None:
    r.add(node, make_op("batchnorm"), [r.activation(node.input[0])], label="bn")


@handles("Relu", "Sigmoid", "Tanh", "HardSwish", "Softmax", "Gelu", "Elu", "Selu", "Softplus",
         "Mish")
def _activation(r: _Reader, node: Any) -> None:
    name = {"Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "HardSwish": "hardswish",
            "Softmax": "softmax", "Gelu": "gelu"}.get(node.op_type)
    if name is None:
        raise RuleError(f"{node.op_type} has no cnncost op yet")
    x = node.input[0]
    if node.op_type == "Sigmoid":
        then = r.only_reader(node.output[0])
        if then is not None and then.op_type == "Mul" and x in then.input:
            r.done.add(id(then))  # x * sigmoid(x): swish (SiLU)
            r.add(then, make_op("swish"), [r.activation(x)], label="swish")
            return
    r.add(node, make_op(name), [r.activation(x)])


@handles("HardSigmoid")
def _hardsigmoid(r: _Reader, node: Any) -> None:
    x = node.input[0]
    then = r.only_reader(node.output[0])
    if then is not None and then.op_type == "Mul" and x in then.input:
        r.done.add(id(then))  # x * hardsigmoid(x): hardswish, as opset 11 writes it
        r.add(then, make_op("hardswish"), [r.activation(x)], label="hardswish")
        return
    r.add(node, make_op("hardsigmoid"), [r.activation(x)])


@handles("LeakyRelu")
def _leaky(r: _Reader, node: Any) -> None:
    r.add(node, make_op("leaky_relu", slope=float(_attrs(node).get("alpha", 0.01))),
          [r.activation(node.input[0])])


@handles("PRelu")
def _prelu(r: _Reader, node: Any) -> None:
    slope = r.dims(node.input[1])
    shared = slope is not None and math.prod(slope) == 1
    r.add(node, make_op("prelu", shared=shared), [r.activation(node.input[0])])


@handles("Clip")
def _clip(r: _Reader, node: Any) -> None:
    attrs = _attrs(node)
    low = attrs.get("min")
    high = attrs.get("max")
    if len(node.input) > 1 and node.input[1]:
        low = float(r.const(node.input[1]))
    if len(node.input) > 2 and node.input[2]:
        high = float(r.const(node.input[2]))
    x = [r.activation(node.input[0])]
    if low == 0 and high == 6:
        r.add(node, make_op("relu6"), x)
    elif low == 0 and high is None:
        r.add(node, make_op("relu"), x)
    else:
        r.add(node, make_op("clip", low=-FLOAT_MAX if low is None else low,
                            high=FLOAT_MAX if high is None else high), x)


@handles("Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum")
def _arithmetic(r: _Reader, node: Any) -> None:
    fn = {"Add": "add", "Sub": "sub", "Mul": "mul", "Div": "div", "Pow": "pow", "Max": "max",
          "Min": "min", "Sum": "add"}[node.op_type]
    live = [i for i in node.input if i in r.nodes]
    constants = [i for i in node.input if i not in r.nodes and r.const(i) is not None]
    if len(live) + len(constants) != len(node.input):
        raise _Missing(node.input[0])
    if not constants:
        if fn in ("pow", "max", "min"):
            raise RuleError(f"{node.op_type} of two activations has no cnncost op yet")
        r.add(node, make_op(fn), [r.activation(i) for i in live], label=fn)
        return
    if len(live) != 1 or len(constants) != 1:
        raise RuleError(f"{node.op_type} of {len(live)} activations and {len(constants)} "
                        f"constants has no cnncost op yet")
    value = r.const(constants[0])
    shape = list(value.shape) or [1]
    if node.input[0] != live[0] and fn in ("sub", "div", "pow"):
        raise RuleError(f"a constant {node.op_type.lower()} an activation has no cnncost op yet")
    learned = value.size > 1
    r.add(node, make_op("const", fn=fn, shape=shape, learned=learned), [r.activation(live[0])],
          label=fn)


@handles("Concat")
def _concat(r: _Reader, node: Any) -> None:
    rank = len(r.shape(node.input[0]))
    axis = int(_attrs(node).get("axis", 1)) % rank
    r.add(node, make_op("concat", axis=axis), [r.activation(i) for i in node.input])


@handles("Split")
def _split(r: _Reader, node: Any) -> None:
    attrs = _attrs(node)
    shape = r.shape(node.input[0])
    axis = int(attrs.get("axis", 0)) % len(shape)
    sizes = attrs.get("split")
    if len(node.input) > 1 and node.input[1]:
        sizes = [int(s) for s in r.const(node.input[1])]
    if sizes is None:
        parts = len(node.output)
        sizes = [shape[axis] // parts] * parts
    start = 0
    for output, size in zip(node.output, sizes):
        r.add(node, make_op("slice", start=start, stop=start + int(size), axis=axis),
              [r.activation(node.input[0])], output=output, label="split")
        start += int(size)


@handles("Slice")
def _slice(r: _Reader, node: Any) -> None:
    attrs = _attrs(node)
    shape = r.shape(node.input[0])

    def get(key: str, index: int) -> Any:  # an input from opset 10, an attribute before
        if len(node.input) > index and node.input[index]:
            return [int(v) for v in r.const(node.input[index])]
        return attrs.get(key)

    starts, ends = get("starts", 1), get("ends", 2)
    axes = get("axes", 3) or list(range(len(starts)))
    steps = get("steps", 4) or [1] * len(starts)
    source = node.input[0]
    for start, end, axis, step in zip(starts, ends, axes, steps):
        axis %= len(shape)
        size = shape[axis]
        start = max(0, start + size if start < 0 else min(start, size))
        end = max(0, end + size if end < 0 else min(end, size))
        if step != 1:
            raise RuleError(f"a Slice with step {step} has no cnncost op yet")
        if (start, end) == (0, size):
            continue
        r.add(node, make_op("slice", start=start, stop=end, axis=axis),
              [r.activation(source)], label="slice")
        source = node.output[0]
        shape = r.shape(source)
    if source == node.input[0]:  # the whole tensor: a view of it (a one-group split)
        r.add(node, make_op("slice", start=0, stop=shape[1], axis=1),
              [r.activation(source)], label="slice")


@handles("Reshape", "Flatten", "Squeeze", "Unsqueeze")
def _reshape(r: _Reader, node: Any) -> None:
    import numpy as np

    attrs = _attrs(node)
    x = node.input[0]
    shape = r.shape(x)
    if node.op_type == "Flatten":
        axis = int(attrs.get("axis", 1)) % len(shape)
        target = [int(np.prod(shape[:axis])), int(np.prod(shape[axis:]))]
    elif node.op_type == "Reshape":
        given = [int(d) for d in r.const(node.input[1])]
        target = [shape[i] if d == 0 else d for i, d in enumerate(given)]
        if -1 in target:
            known = int(np.prod([d for d in target if d != -1]))
            target = [int(np.prod(shape)) // known if d == -1 else d for d in target]
    else:
        axes = [int(a) for a in (r.const(node.input[1]) if len(node.input) > 1 and
                                 node.input[1] else attrs.get("axes", []))]
        if node.op_type == "Squeeze":
            drop = {a % len(shape) for a in axes} or {i for i, d in enumerate(shape) if d == 1}
            target = [d for i, d in enumerate(shape) if i not in drop]
        else:
            target = list(shape)
            for a in sorted(a % (len(shape) + len(axes)) for a in axes):
                target.insert(a, 1)
    if tuple(target) == shape:
        r.alias(node.output[0], x)
        return
    if _channel_shuffle(r, node, shape, target):
        return
    if len(shape) == 4 and target == [shape[0], int(np.prod(shape[1:]))]:
        r.add(node, make_op("flatten"), [r.activation(x)])
    else:
        r.add(node, make_op("reshape", shape=target), [r.activation(x)])


def _channel_shuffle(r: _Reader, node: Any, shape: Shape, target: list[int]) -> bool:
    """Reshape (N, g, C/g, H, W), Transpose (0, 2, 1, 3, 4), Reshape (N, C, H, W): a shuffle."""
    if len(shape) != 4 or len(target) != 5 or target[0] != shape[0] or \
            target[1] * target[2] != shape[1] or tuple(target[3:]) != shape[2:]:
        return False
    transpose = r.only_reader(node.output[0])
    if transpose is None or transpose.op_type != "Transpose" or \
            list(_attrs(transpose).get("perm", [])) != [0, 2, 1, 3, 4]:
        return False
    back = r.only_reader(transpose.output[0])
    if back is None or back.op_type != "Reshape" or r.const(back.input[1], ahead=True) is None:
        return False
    final = [int(d) for d in r.const(back.input[1])]
    final = [shape[i] if d == 0 else d for i, d in enumerate(final)]
    if len(final) != 4 or (final[1:] != list(shape[1:]) and -1 not in final):
        return False
    r.done.update({id(transpose), id(back)})
    r.add(node, make_op("channel_shuffle", groups=target[1]), [r.activation(node.input[0])],
          output=back.output[0], label="shuffle")
    return True


@handles("Transpose")
def _transpose(r: _Reader, node: Any) -> None:
    perm = list(_attrs(node).get("perm", reversed(range(len(r.shape(node.input[0]))))))
    r.add(node, make_op("transpose", perm=perm), [r.activation(node.input[0])])


@handles("MaxPool", "AveragePool")
def _pool(r: _Reader, node: Any) -> None:
    attrs = _attrs(node)
    kernel = _spatial(node, attrs, "kernel_shape", 1)
    stride = _spatial(node, attrs, "strides", 1)
    if _spatial(node, attrs, "dilations", 1) != (1, 1):
        raise RuleError("dilated pooling has no cnncost op yet")
    x = r.shape(node.input[0])
    op = make_op("maxpool" if node.op_type == "MaxPool" else "avgpool", kernel=list(kernel),
                 stride=list(stride), ceil_mode=bool(attrs.get("ceil_mode", 0)),
                 padding=_padding_value(_pads(attrs, x[2:], kernel, stride, (1, 1))))
    r.add(node, op, [r.activation(node.input[0])])


@handles("GlobalAveragePool", "GlobalMaxPool")
def _global_pool(r: _Reader, node: Any) -> None:
    x = r.shape(node.input[0])
    op = make_op("global_avgpool") if node.op_type == "GlobalAveragePool" else \
        make_op("maxpool", kernel=list(x[2:]))
    r.add(node, op, [r.activation(node.input[0])], label="pool")


@handles("ReduceMean")
def _reduce_mean(r: _Reader, node: Any) -> None:
    attrs = _attrs(node)
    shape = r.shape(node.input[0])
    axes = [int(a) for a in (r.const(node.input[1]) if len(node.input) > 1 and node.input[1]
                             else attrs.get("axes", range(len(shape))))]
    axes = sorted(a % len(shape) for a in axes)
    keep = bool(attrs.get("keepdims", 1))
    x = [r.activation(node.input[0])]
    if len(shape) == 4 and axes == [2, 3]:  # the new exporter's global average pooling
        index = r.add(node, make_op("global_avgpool"), x, label="pool")
        if not keep:
            r.nodes[node.output[0]] = r.builder.add(r.name(node, "flatten"), make_op("flatten"),
                                                    [index])
        return
    r.add(node, make_op("reduce_mean", axes=axes, keepdims=keep), x)


@handles("Pad")
def _pad(r: _Reader, node: Any) -> None:
    attrs = _attrs(node)
    pads = [int(p) for p in (r.const(node.input[1]) if len(node.input) > 1 and node.input[1]
                             else attrs.get("pads", []))]
    shape = r.shape(node.input[0])
    rank = len(shape)
    before, after = pads[:rank], pads[rank:]
    if len(shape) != 4 or any(before[:2]) or any(after[:2]):
        raise RuleError("cnncost pads height and width only")
    if not any(pads):
        r.alias(node.output[0], node.input[0])
        return
    r.add(node, make_op("pad", pads=[before[2], before[3], after[2], after[3]]),
          [r.activation(node.input[0])])


@handles("Resize", "Upsample")
def _resize(r: _Reader, node: Any) -> None:
    attrs = _attrs(node)
    shape = r.shape(node.input[0])
    sizes = r.const(node.input[3]) if len(node.input) > 3 and node.input[3] else None
    if sizes is None:
        index = 2 if node.op_type == "Resize" else 1
        scales = r.const(node.input[index]) if len(node.input) > index and node.input[index] \
            else attrs.get("scales")
        if scales is None or len(scales) != 4:
            raise RuleError("its output size is not known before the network runs")
        sizes = [int(d * s) for d, s in zip(shape, scales)]
    mode = attrs.get("mode", b"nearest")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    r.add(node, make_op("upsample", size=[int(sizes[2]), int(sizes[3])],
                        mode={"bilinear": "linear"}.get(mode, mode)),
          [r.activation(node.input[0])])


@handles("Dropout", "Identity")
def _identity(r: _Reader, node: Any) -> None:
    name = node.op_type.lower()
    r.add(node, make_op(name), [r.activation(node.input[0])])


@handles("Cast")
def _cast(r: _Reader, node: Any) -> None:
    r.alias(node.output[0], node.input[0])


@handles("LRN")
def _lrn(r: _Reader, node: Any) -> None:
    attrs = _attrs(node)
    r.add(node, make_op("lrn", size=int(attrs["size"]), alpha=float(attrs.get("alpha", 1e-4)),
                        beta=float(attrs.get("beta", 0.75)), k=float(attrs.get("bias", 1.0))),
          [r.activation(node.input[0])])


def supported_ops() -> list[str]:
    return sorted({*HANDLERS, *FOLDABLE})


def unknown_hint(op: str) -> str:
    return suggest(op, supported_ops(), listing=False)
