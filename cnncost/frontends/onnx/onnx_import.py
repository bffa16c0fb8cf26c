"""ONNX models as cnncost models: any export of PyTorch, TensorFlow or another framework.

The graph is walked in its (topological) order. Tensors that are known before the network runs
(initializers, Constant nodes, and everything computed from them and from known shapes: the
Shape/Gather/Div/Slice chains an exporter writes for a channel split) are folded with numpy;
every other node becomes cnncost nodes through cnncost.frontends.builder, which infers each
shape itself, so that a model whose own shape information is missing or symbolic still gets
every shape.
Patterns exporters write for one PyTorch op are read back as that op: Sigmoid and Mul as swish,
HardSigmoid and Mul as hardswish (opset 11 has no HardSwish), Reshape-Transpose-Reshape as a
channel shuffle, MatMul and Add as a linear layer with a bias, Clip(0, 6) as relu6.

onnx is an optional dependency (``pip install 'cnncost[onnx]'``), imported only here.
"""

from __future__ import annotations

import functools
import math
import os
import re
import stat
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cnncost.frontends.builder import MAX_GRAPH_NODES, GraphBuilder, make_op
from cnncost.core.errors import (Problem, RuleError, SpecError, UsageError, optional_module, shown,
                            suggest)
from cnncost.core.ir import Loc, Shape
from cnncost.core.model import Model
from cnncost.ops import registered
from cnncost.ops.base import BOOL, Op, same_total

MAX_ONNX_BYTES = 4 * 1024**3
MAX_MODEL_BYTES = 2**31  # the .onnx file itself: protobuf holds at most 2 GiB (weights beyond
#                          that live in external data files)
MIN_OPSET, MAX_OPSET = 7, 22  # the opsets whose definitions of the supported ops are read here
MAX_FOLDED = 10**7  # values of one constant folded with numpy (shape chains hold a few)
FLOAT_MAX = 3.4028234663852886e38  # a Clip without a bound: float32's largest value

Handler = Callable[["_Reader", Any], None]
HANDLERS: dict[str, Handler] = {}  # ONNX op type -> its reader, for what is not one-to-one


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
    from cnncost.core.files import is_file

    onnx = onnx_module()
    file = str(path)
    if not is_file(file):
        raise SpecError(Problem(f"no such file: {file}" if not Path(file).exists() else
                                f"{file} is not a file cnncost can read"))
    _check_file(file)
    try:  # weights kept in external files are read only where a value is needed
        proto = onnx.load(file, load_external_data=False)
    except Exception as exc:  # protobuf's DecodeError, ...
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SpecError(Problem(f"{file} is not a readable ONNX model: {shown(reason, 200)}"))
    for what, tensor in _external_tensors(proto.graph):
        _external_span(file, what, tensor)  # every one checked, whether its value is read or not
        if not what.startswith("initializer"):  # a node's attribute: read now, where onnx
            tensor.CopyFrom(_with_external_data(file, what, tensor))  # would look elsewhere
    reader = _Reader(proto, file, input_shape, batch, allow_unknown)
    return reader.model(spec or file)


# a ModelProto's first byte: the tag of one of its fields (ir_version, producer_name, ...,
# graph, opset_import, metadata_props, training_info, functions, configuration)
_MODEL_TAGS = {0x08, 0x12, 0x1a, 0x22, 0x28, 0x32, 0x3a, 0x42, 0x72, 0xa2, 0xca, 0xd2}


def _check_file(file: str) -> None:
    """Refuse a file that cannot be an ONNX model from its size and first byte, before onnx
    reads it whole."""
    try:
        size = os.stat(file).st_size
        with open(file, "rb") as stream:
            head = stream.read(1)
    except OSError as exc:
        raise SpecError(Problem(f"cannot read {file}: {exc.strerror or exc}")) from None
    if size == 0:
        raise SpecError(Problem(f"{file} is empty, not an ONNX model"))
    if size > MAX_MODEL_BYTES:
        raise SpecError(Problem(
            f"{file} is {size:,} bytes; an ONNX file holds at most {MAX_MODEL_BYTES:,} (the "
            f"protobuf limit)", hint="a larger model keeps its weights in external data files"))
    if not head or head[0] not in _MODEL_TAGS:
        raise SpecError(Problem(f"{file} is not a readable ONNX model: it starts with byte "
                                f"0x{head[0] if head else 0:02x}, which no ONNX model does"))


# -- weights kept in external files ------------------------------------------------------------

def _is_external(tensor: Any) -> bool:
    return tensor.data_location == 1  # TensorProto.EXTERNAL


def _external_tensors(graph: Any) -> list[tuple[str, Any]]:
    """Every tensor of ``graph`` and its subgraphs whose data is in an external file, with
    what it is (``initializer w``, ``the value of node c``)."""
    found, graphs = [], [graph]
    while graphs:
        current = graphs.pop()
        found += [(f"initializer {shown(t.name)}", t) for t in current.initializer
                  if _is_external(t)]
        for node in current.node:
            for attribute in node.attribute:
                tensors = [attribute.t, *attribute.tensors] if attribute.HasField("t") else \
                    list(attribute.tensors)
                found += [(f"the {attribute.name} of node {shown(node.name or node.op_type)}",
                           t) for t in tensors if _is_external(t)]
                graphs += [attribute.g, *attribute.graphs] if attribute.HasField("g") else \
                    list(attribute.graphs)
    return found


_DIGITS = re.compile(r"[0-9]{1,19}")
_PACKED_4BIT = {21, 22, 23}  # UINT4, INT4, FLOAT4E2M1: two values per byte


def _external_span(file: str, what: str, tensor: Any) -> tuple[str, int, int]:
    """Where an external tensor's bytes are (path, offset, length), once checked: a regular
    file inside the model's folder (symbolic links resolved), offset and length whole numbers
    within it, as many bytes as the tensor's shape needs. SpecError naming the model file, the
    tensor and the location otherwise; nothing is read."""
    entries = {e.key: e.value for e in tensor.external_data}
    location = entries.get("location", "")
    where = f"{file}: {what} keeps its data in {shown(location, 200)}"
    folder = os.path.realpath(os.path.dirname(os.path.abspath(file)))
    try:
        target = os.path.realpath(os.path.join(folder, location))
    except (OSError, ValueError):  # a NUL in the name, a loop of links
        target = ""
    if not location or os.path.isabs(location) or not target.startswith(folder + os.sep):
        raise SpecError(Problem(f"{where}, outside the model's folder",
                                hint="cnncost reads external data only from files in the "
                                     "folder of the .onnx file"))
    try:
        info = os.stat(target)
    except OSError:
        info = None
    if info is None or not stat.S_ISREG(info.st_mode):
        raise SpecError(Problem(f"{where}, which is not beside it",
                                hint="copy the .onnx.data file next to the .onnx file"))
    offset = _byte_count(where, "offset", entries.get("offset", "0"))
    length = _byte_count(where, "length", entries.get("length", str(max(info.st_size - offset,
                                                                          0))))
    if offset + length > info.st_size:
        raise SpecError(Problem(f"{where}: bytes {offset:,} to {offset + length:,} are past the "
                                f"end of the file ({info.st_size:,} bytes)"))
    needed = _tensor_bytes(tensor)
    if needed != length:
        raise SpecError(Problem(f"{where}: {length:,} bytes, where its shape "
                                f"{list(tensor.dims)} needs "
                                + (f"{needed:,}" if needed is not None else "a fixed size")))
    return target, offset, length


def _byte_count(where: str, key: str, text: str) -> int:
    if not _DIGITS.fullmatch(text):
        raise SpecError(Problem(f"{where}: {key} {shown(text)} is not a whole number of bytes"))
    return int(text)


def _tensor_bytes(tensor: Any) -> int | None:
    """The bytes of a tensor's raw data (None for strings, which have no fixed size)."""
    from onnx import helper

    try:
        size = helper.tensor_dtype_to_np_dtype(tensor.data_type).itemsize
    except (KeyError, TypeError, ValueError):
        return None
    if tensor.data_type == 8:  # STRING
        return None
    elements = math.prod(tensor.dims)
    return (elements + 1) // 2 if tensor.data_type in _PACKED_4BIT else elements * size


def _with_external_data(file: str, what: str, tensor: Any) -> Any:
    """A copy of an external tensor with its bytes read in, after _external_span's checks (at
    most MAX_ONNX_BYTES)."""
    from onnx import TensorProto

    target, offset, length = _external_span(file, what, tensor)
    if length > MAX_ONNX_BYTES:
        raise SpecError(Problem(f"{file}: {what} is {length:,} bytes; cnncost reads at most "
                                f"{MAX_ONNX_BYTES:,}"))
    try:
        with open(target, "rb") as stream:
            stream.seek(offset)
            data = stream.read(length)
    except OSError as exc:
        raise SpecError(Problem(f"{file}: cannot read the data of {what}: "
                                f"{exc.strerror or exc}")) from None
    if len(data) != length:
        raise SpecError(Problem(f"{file}: the data of {what} ends early"))
    loaded = TensorProto()
    loaded.CopyFrom(tensor)
    del loaded.external_data[:]
    loaded.data_location = TensorProto.DEFAULT
    loaded.raw_data = data
    return loaded


class _Reader:
    def __init__(self, proto: Any, file: str, input_shape: tuple[int, ...] | None,
                 batch: int | None, allow_unknown: bool):
        from onnx import numpy_helper

        self.proto = proto
        self.file = file
        self.to_array = numpy_helper.to_array
        self.allow_unknown = allow_unknown
        self.declared = declared()  # the one-to-one ops, by ONNX op type
        self.handlers = readers()
        graph = proto.graph
        self.opset = _opset(proto, file)
        self.graph_nodes = list(graph.node)  # kept alive: patterns mark nodes by id
        self.initializers = {t.name: t for t in graph.initializer}
        self.consts: dict[str, Any] = {}  # tensors known before the network runs
        self.nodes: dict[str, int] = {}  # activations: tensor name -> builder node
        self.unknown: Counter[str] = Counter()
        self.skipped = 0
        self.lost: set[str] = set()  # tensors after an unsupported op or a node in error
        self.names: Counter[str] = Counter()
        self.readers: dict[str, list[Any]] = {}  # tensor -> the nodes reading it (once a read)
        for n in self.graph_nodes:
            for i in n.input:
                if i:
                    self.readers.setdefault(i, []).append(n)
        self.outputs = {o.name for o in graph.output}
        self.producer = {o: n for n in self.graph_nodes for o in n.output}
        self.done: set[int] = set()  # ids of nodes consumed by a pattern
        inputs = [i for i in graph.input if i.name not in self.initializers]
        if len(inputs) != 1:
            listed = ", ".join(shown(i.name) for i in inputs[:5])
            raise SpecError(Problem(f"{file}: cnncost reads networks with one input; this one "
                                    + (f"has {len(inputs)} ({listed})" if inputs else
                                       "has no input")))
        self.input = inputs[0]
        _check_graph(self, {self.input.name, *self.initializers})
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
            option = "--input-shape " + "x".join(str(g) for g in given)
            if len(given) != len(written):
                raise UsageError(Problem(f"{option} has {len(given)} dimensions; {self.file}'s "
                                         f"input {shown(self.input.name)} has {len(written)}: "
                                         f"{written}"))
            if any(isinstance(w, int) and w and w != g for w, g in zip(written, given)):
                raise UsageError(Problem(
                    f"{option} contradicts {self.file}, whose input {shown(self.input.name)} "
                    f"is {written}", hint="give the sizes the file leaves symbolic (written as "
                                          "names); --batch changes a fixed batch"))
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
            tensor = self.initializers[name]
            if _is_external(tensor):
                tensor = _with_external_data(self.file, f"initializer {shown(name)}", tensor)
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
        readers = self.readers.get(tensor, ())
        return readers[0] if len(readers) == 1 and tensor not in self.outputs else None

    def operand(self, node: Any, index: int, what: str) -> Any | None:
        """The value of input ``index`` of ``node`` (None when not given), which ONNX lets a
        network compute but cnncost needs before it runs (Clip's bounds, Pad's pads, ...)."""
        if len(node.input) <= index or not node.input[index]:
            return None
        value = self.const(node.input[index])
        if value is None:
            raise RuleError(f"{what} (input {index + 1}) of {node.op_type} is computed by the "
                            f"network ({shown(node.input[index])}); it must be a constant",
                            hint="cnncost reads a constant or a value folded from shapes")
        return value

    # -- the walk --------------------------------------------------------------------------

    def model(self, spec: str) -> Model:
        graph = self.proto.graph
        problems: list[Problem] = []
        for node in self.graph_nodes:
            if id(node) in self.done:
                continue
            try:
                self.node(node)
            except _Missing as missing:
                if missing.args[0] in self.lost:
                    self.skipped += 1  # reads the output of an unsupported op
                else:
                    problems.append(self.problem(
                        node, f"reads {shown(missing.args[0])}, a constant where cnncost "
                              f"reads {node.op_type} on values computed from the input"))
                self.lost.update(node.output)
            except RuleError as exc:
                problems.append(self.problem(node, exc.message, exc.hint))
                self.lost.update(node.output)  # what follows from it is not reported again
        if self.unknown and not self.allow_unknown:
            listed = ", ".join(f"{op} ({count})" for op, count in sorted(self.unknown.items()))
            problems.insert(0, Problem(
                f"{self.file} uses ops cnncost does not support: {listed}",
                hint="--allow-unknown analyses the rest and marks every total as partial; "
                     "supported: " + ", ".join(sorted(self.handlers))))
        problems += [Problem(f"{self.file}: the output {shown(o.name)} is a constant, not "
                             f"computed from the input") for o in graph.output
                     if o.name not in self.nodes and o.name not in self.lost]
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

    def problem(self, node: Any, message: str, hint: str | None = None) -> Problem:
        return Problem(f"{_label(node)}: {message}", self.loc(node.name or node.op_type), hint)

    def node(self, node: Any) -> None:
        op = node.op_type
        inputs = [i for i in node.input]
        if node.domain not in ("", "ai.onnx"):
            self.unsupported(node)
            return
        if op in FOLDABLE and all(not i or self.const(i) is not None or
                                  (op == "Shape" and i in self.nodes) for i in inputs):
            self.fold(node)
            return
        handler = self.handlers.get(op)
        if handler is None:
            self.unsupported(node)
            return
        handler(self, node)

    def unsupported(self, node: Any) -> None:
        domain = node.domain if node.domain not in ("", "ai.onnx") else ""
        self.unknown[f"{domain}.{node.op_type}" if domain else node.op_type] += 1
        if not self.allow_unknown:
            self.lost.update(node.output)
            return
        shapes = _inferred_shapes(self)
        sources = [self.nodes[i] for i in node.input if i in self.nodes]
        for output in node.output:
            shape = shapes.get(output)
            if shape is None or not sources:
                self.lost.update(node.output)
                raise _Missing(output)
            self.nodes[output] = self.builder.add(
                self.name(node, node.op_type.lower()), Opaque(node.op_type, shape), sources[:1],
                self.loc(node.name or node.op_type))

    def fold(self, node: Any) -> None:
        """Compute a constant with numpy, once its size is known to be at most MAX_FOLDED."""
        import numpy as np

        values = [self.const(i) if i else None for i in node.input]
        if node.op_type == "Shape":
            values = [np.array(self.shape(node.input[0]), dtype=np.int64)]
        attrs = _attrs(node)
        try:
            size = _folded_size(node.op_type, attrs, values)
            if size > MAX_FOLDED:
                raise RuleError(f"would make {size:,} values; cnncost folds constants of at "
                                f"most {MAX_FOLDED:,}")
            with np.errstate(all="raise"):
                results = FOLDABLE[node.op_type](attrs, *values)
        except RuleError:
            raise
        except (ArithmeticError, LookupError, TypeError, ValueError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise RuleError(f"cannot be folded: {shown(reason, 160)}") from None
        for output, value in zip(node.output, results):
            self.consts[output] = value


def _label(node: Any) -> str:
    """How a message names a node: ``Conv node /features/0/Conv`` (its output if unnamed)."""
    return f"{node.op_type} node {shown(node.name or next(iter(node.output), '(unnamed)'))}"


def _opset(proto: Any, file: str) -> int:
    """The model's ONNX opset, when it is one cnncost reads."""
    versions = [o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")]
    if not versions:
        raise SpecError(Problem(f"{file} names no ONNX opset (its opset_import is empty)"))
    if not MIN_OPSET <= versions[0] <= MAX_OPSET:
        raise SpecError(Problem(
            f"{file} uses ONNX opset {versions[0]}; cnncost reads opsets {MIN_OPSET} to "
            f"{MAX_OPSET}", hint="export it again with an opset in that range (PyTorch: "
                                 "torch.onnx.export(..., opset_version=17))"))
    return versions[0]


MAX_LISTED = 20  # problems of one file reported before "and N more"


def _check_graph(reader: _Reader, given: set[str]) -> None:
    """One pass over the graph before anything is built: every node as its op's ONNX schema
    defines it (inputs, outputs, attribute types), read only after it is computed (no cycle,
    no value from nowhere), computed once; every initializer holding the data its dims
    declare. SpecError listing what is wrong."""
    graph, file = reader.proto.graph, reader.file
    problems = [Problem(f"{file}: the graph has no {what}") for what, empty in
                (("nodes", not reader.graph_nodes), ("outputs", not graph.output)) if empty]
    if len(reader.graph_nodes) > MAX_GRAPH_NODES:
        raise SpecError(Problem(f"{file} has {len(reader.graph_nodes):,} nodes; cnncost reads "
                                f"at most {MAX_GRAPH_NODES:,}"))
    problems += _initializer_problems(file, graph.initializer)
    computed: dict[str, Any] = {}
    for node in reader.graph_nodes:
        found = _schema_problems(node, reader.opset)
        for name in node.input:
            if not name or name in given or name in computed:
                continue
            later = reader.producer.get(name)
            found.append(f"reads {shown(name)}, which {_label(later)} computes after it: the "
                         f"graph has a cycle or is not in topological order" if later else
                         f"reads {shown(name)}, which no node computes and which is neither "
                         f"the input nor an initializer")
        for name in node.output:
            if name in computed or name in given:
                found.append(f"computes {shown(name)}, which " + (
                    f"{_label(computed[name])} computes too" if name in computed else
                    "is also the input or an initializer"))
            computed[name] = node
        problems += [reader.problem(node, message) for message in found]
    problems += [Problem(f"{file}: the output {shown(o.name)} is computed by no node")
                 for o in graph.output if o.name not in computed and o.name not in given]
    if problems:
        more = len(problems) - MAX_LISTED
        raise SpecError(problems[:MAX_LISTED] + (
            [Problem(f"{file}: and {more:,} more problems")] if more > 0 else []))


def _schema_problems(node: Any, opset: int) -> list[str]:
    """How ``node`` differs from ONNX's definition of its op at ``opset``: its number of
    inputs and outputs, unknown attributes, attributes of another type, missing ones."""
    from onnx import AttributeProto

    schema = _schema(node.op_type, opset) if node.domain in ("", "ai.onnx") else None
    if schema is None:
        return []  # not an ONNX op at this opset: an unsupported op, reported as such
    op = f"{node.op_type} (opset {opset})"
    problems = []
    for what, count, (low, high) in (("input", len(node.input), schema.inputs),
                                     ("output", len(node.output), schema.outputs)):
        if not low <= count <= high:
            wanted = (f"{low}" if low == high else f"at least {low}" if high >= 2**31 - 1
                      else f"{low} to {high}")
            problems.append(f"has {count} {what}{'s' if count != 1 else ''}; {op} takes "
                            f"{wanted}")
    kind = AttributeProto.AttributeType.Name
    for attribute in node.attribute:
        known = schema.attributes.get(attribute.name)
        if known is None:
            problems.append(f"attribute {shown(attribute.name)} is not one of {op}'s: "
                            + (", ".join(sorted(schema.attributes)) or "it has none"))
        elif attribute.type != known.type.value:
            problems.append(f"attribute {attribute.name} is of type "
                            f"{kind(attribute.type).lower()}; {op} takes "
                            f"{kind(known.type.value).lower()}")
    given = {a.name for a in node.attribute}
    problems += [f"{op} needs attribute {name}" for name, known in schema.attributes.items()
                 if known.required and name not in given]
    return problems


@functools.lru_cache(maxsize=None)
def _schema(op: str, opset: int) -> Any:
    """What ONNX defines for ``op`` at ``opset`` (None if nothing), read once per op."""
    from types import SimpleNamespace

    from onnx import defs

    try:
        schema = defs.get_schema(op, opset)
    except defs.SchemaError:
        return None
    return SimpleNamespace(inputs=(schema.min_input, schema.max_input),
                           outputs=(schema.min_output, schema.max_output),
                           attributes=dict(schema.attributes))


def _initializer_problems(file: str, initializers: Any) -> list[Problem]:
    """Initializers whose data is not what their dims declare (read where cnncost reads only
    the dims, as a conv's kernel size): raw bytes, or values in the field of their type."""
    from onnx import TensorProto, helper

    problems = []
    for tensor in initializers:
        if _is_external(tensor):
            continue  # checked against its file by _external_span
        dims = list(tensor.dims)
        declared = math.prod(dims)
        shape = " x ".join(str(d) for d in dims) or "a scalar"
        where = f"{file}: initializer {shown(tensor.name)}"
        if min(dims, default=0) < 0:
            problems.append(Problem(f"{where} has a negative dimension: {dims}"))
            continue
        if tensor.HasField("raw_data"):
            need, held = _tensor_bytes(tensor), len(tensor.raw_data)
            if need is not None and need != held:
                problems.append(Problem(f"{where} declares {shape} = {declared:,} values, "
                                        f"{need:,} bytes, and holds {held:,} bytes"))
            continue
        try:
            field = helper.tensor_dtype_to_field(tensor.data_type)
        except (KeyError, ValueError):
            problems.append(Problem(f"{where} has data type {tensor.data_type}, which ONNX "
                                    f"does not define"))
            continue
        per_value = 2 if tensor.data_type in (TensorProto.COMPLEX64, TensorProto.COMPLEX128) \
            else 1
        need = (declared + 1) // 2 if tensor.data_type in _PACKED_4BIT else declared * per_value
        held = len(getattr(tensor, field))
        if need != held:
            problems.append(Problem(f"{where} declares {shape} = {declared:,} values and holds "
                                    f"{held:,}"))
    return problems


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

    from cnncost.core.ir import ZERO_COST
    from cnncost.ops.base import DATA

    @dataclass(frozen=True, slots=True)
    class Opaque(Op):
        """An unsupported ONNX op: its output shape as ONNX inferred it, and no cost."""

        op_type: str
        out_shape: tuple[int, ...]
        family = DATA
        op_name = "unsupported"
        max_inputs = None
        no_onnx = "an ONNX op cnncost does not know (kept by --allow-unknown) is not written back"

        def infer(self, inputs: tuple[Shape, ...]) -> Shape:
            return self.out_shape

        def cost(self, inputs: tuple[Shape, ...], out: Shape) -> Any:
            return ZERO_COST

        def kind(self, inputs: tuple[Shape, ...]) -> str:
            return f"unsupported {self.op_type}"

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


def _folded_size(op: str, attrs: dict[str, Any], values: list[Any]) -> int:
    """How many values folding ``op`` would make, from its inputs' shapes and values alone
    (before numpy allocates anything), for the ops whose result can outgrow their inputs; 0
    for the others."""
    import numpy as np

    if op == "ConstantOfShape":
        return math.prod(_sizes(values[0]))
    if op == "Expand":
        return math.prod(np.broadcast_shapes(np.shape(values[0]), tuple(_sizes(values[1]))))
    if op == "Range":
        start, limit, delta = (float(v) for v in values)
        if delta == 0:
            raise RuleError("step 0: the range would never end")
        return max(math.ceil((limit - start) / delta), 0)
    if op == "Gather":
        data = np.asarray(values[0])
        along = data.shape[int(attrs.get("axis", 0))] if data.ndim else 1
        return np.size(values[1]) * (data.size // along if along else 0)
    if op in ("Add", "Sub", "Mul", "Div", "Pow", "Equal", "Where"):
        return math.prod(np.broadcast_shapes(*(np.shape(v) for v in values)))
    return 0


def _sizes(value: Any) -> list[int]:
    """A folded shape (ConstantOfShape's, Expand's) as sizes, refused if one is negative."""
    import numpy as np

    sizes = [int(d) for d in np.asarray(value).reshape(-1)]
    if any(d < 0 for d in sizes):
        raise RuleError(f"a negative size in the shape {sizes}")
    return sizes


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


def declared() -> dict[str, type[Op]]:
    """ONNX op type -> the cnncost op that declares itself one-to-one with it (``onnx_op``
    without a ``to_onnx`` of its own: cnncost.ops.base.Op). Two ops declaring one ONNX op
    is a bug in their declarations."""
    table: dict[str, type[Op]] = {}
    for name, cls in registered().items():
        if cls.one_to_one():
            if cls.onnx_op in table:
                raise RuntimeError(f"ops {table[cls.onnx_op].op_name} and {name} both declare "
                                   f"ONNX op {cls.onnx_op}")
            table[cls.onnx_op] = cls
    return table


def readers() -> dict[str, Handler]:
    """How each ONNX op type is read: the one-to-one ops from their declarations; a handler
    below (patterns, weights, defaults only it knows) takes precedence over a declaration."""
    return {**{op: _read_declared for op in declared()}, **HANDLERS}


def _read_declared(r: _Reader, node: Any) -> None:
    """A node of a one-to-one op: the op's fields from the ONNX attributes it maps (those
    the file leaves out keep the op's defaults, which are ONNX's), its inputs the node's."""
    cls = r.declared[node.op_type]
    attrs = _attrs(node)
    kinds = {info.name: info.kind for info in cls.attributes()}
    values = {field: _field_value(kinds[field], attrs[onnx_name])
              for field, onnx_name in cls.onnx_attrs.items() if onnx_name in attrs}
    r.add(node, make_op(cls.op_name, **values),
          [r.activation(i) for i in node.input[:cls.max_inputs]])


def _field_value(kind: str, value: Any) -> Any:
    """An ONNX attribute value as the op's field reads it (ONNX has no booleans or text)."""
    if isinstance(value, bytes):
        return value.decode()
    return bool(value) if kind == BOOL else value


def _pads(attrs: dict[str, Any], in_hw: tuple[int, int], kernel: tuple[int, int],
          stride: tuple[int, int], dilation: tuple[int, int]) -> Any:
    """ONNX pads [top, left, bottom, right] (or auto_pad) as a cnncost padding."""
    auto = attrs.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    if auto not in ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"):
        raise RuleError(f"auto_pad {shown(auto)} is not one of NOTSET, SAME_UPPER, SAME_LOWER, "
                        f"VALID")
    if min(stride) < 1:
        raise RuleError(f"strides {list(stride)} must be at least 1")
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        pads = []
        for size, k, s, d in zip(in_hw, kernel, stride, dilation):
            total = same_total(size, k, s, d)
            small = total // 2
            pads.append((small, total - small) if auto == "SAME_UPPER" else
                        (total - small, small))
        top, left, bottom, right = pads[0][0], pads[1][0], pads[0][1], pads[1][1]
    elif auto == "VALID":
        return "valid"
    else:
        top, left, bottom, right = _four_pads(attrs)
    return (top, left) if (top, left) == (bottom, right) else (top, left, bottom, right)


def _four_pads(attrs: dict[str, Any]) -> list[int]:
    """A 2-D operation's pads attribute: [top, left, bottom, right]."""
    pads = [int(p) for p in attrs.get("pads", [0, 0, 0, 0])]
    if len(pads) != 4:
        raise RuleError(f"pads={pads}: cnncost reads 2-D (image) operations, with 4 pads")
    return pads


def _axis(value: Any, rank: int) -> int:
    """An ONNX axis (a negative one counts from the end) as an index, refused outside rank."""
    axis = int(value)
    if not -rank <= axis < rank:
        raise RuleError(f"axis {axis} is outside the {rank} dimensions of the tensor")
    return axis % rank


def _bias(r: _Reader, node: Any, index: int, size: int) -> bool:
    """Whether ``node`` has a bias (input ``index``), refused unless it holds ``size`` values."""
    if len(node.input) <= index or not node.input[index]:
        return False
    dims = r.dims(node.input[index])
    if dims != (size,):
        raise RuleError(f"bias {shown(node.input[index])} of shape {dims}; the layer makes "
                        f"{size} channels")
    return True


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
    group = int(attrs.get("group", 1))
    _reads(node.input[1], weight, weight[1] * group, f" ({weight[1]} x group {group})", x)
    op = make_op("conv2d", out_channels=weight[0], kernel=list(kernel), stride=list(stride),
                 dilation=list(dilation), groups=group,
                 padding=_padding_value(_pads(attrs, x[2:], kernel, stride, dilation)),
                 bias=_bias(r, node, 2, weight[0]))
    r.add(node, op, [r.activation(node.input[0])], label="conv")


def _reads(name: str, weight: tuple[int, ...], reads: int, how: str, x: Shape,
           what: str = "channels") -> None:
    """Refuse a weight that reads another number of channels (or features) than the input's."""
    if len(x) < 2 or reads != x[1 if what == "channels" else -1]:
        raise RuleError(f"weight {shown(name)} of shape {weight} reads {reads} {what}{how}; "
                        f"the input has " + (f"{x[1 if what == 'channels' else -1]}"
                                             if len(x) >= 2 else f"shape {x}"))


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
    _reads(node.input[1], weight, weight[0], "", r.shape(node.input[0]))
    top, left, bottom, right = _four_pads(attrs)
    op = make_op("conv_transpose2d", out_channels=weight[1] * group, kernel=list(weight[2:]),
                 stride=list(_spatial(node, attrs, "strides", 1)),
                 dilation=list(_spatial(node, attrs, "dilations", 1)), groups=group,
                 padding=[top, left] if (top, left) == (bottom, right) else
                 [top, left, bottom, right],
                 output_padding=list(_spatial(node, attrs, "output_padding", 0)),
                 bias=_bias(r, node, 2, weight[1] * group))
    r.add(node, op, [r.activation(node.input[0])], label="deconv")


@handles("Gemm")
def _gemm(r: _Reader, node: Any) -> None:
    attrs = _attrs(node)
    b = r.dims(node.input[1])
    if attrs.get("transA", 0) or b is None or len(b) != 2:
        raise RuleError("cnncost reads Gemm as a linear layer: x @ W (+ b) with constant W")
    out, features = (b[0], b[1]) if attrs.get("transB", 0) else (b[1], b[0])
    _reads(node.input[1], b, features, "", r.shape(node.input[0]), "features")
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
    _reads(b, weight, weight[0], "", r.shape(a), "features")
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
    _per_channel(r, node.input[1:5], r.shape(node.input[0])[1:2], "channels")
    r.add(node, make_op("batchnorm"), [r.activation(node.input[0])], label="bn")


def _per_channel(r: _Reader, names: Any, size: tuple[int, ...], what: str) -> None:
    """Refused unless each given tensor (a norm's gamma, beta, statistics) is of ``size``."""
    for name in names:
        if name and r.dims(name) != size:
            raise RuleError(f"{shown(name)} of shape {r.dims(name)}; the input has "
                            f"{size[0] if size else 'no'} {what}")


@handles("LayerNormalization")
def _layer_norm(r: _Reader, node: Any) -> None:
    """Over the last axis: layer_norm (axis last)."""
    shape = r.shape(node.input[0])
    r.add(node, make_op("layer_norm", axis="last", affine=_last_axis_norm(r, node, shape)),
          [r.activation(node.input[0])])


def _last_axis_norm(r: _Reader, node: Any, shape: Shape) -> bool:
    """Whether the LayerNormalization ``node`` has gamma and beta; refused unless it
    normalises the last axis alone. Without a bias and with a scale of ones it has neither
    (as cnncost writes it); PyTorch writes 1 and 0 for a layer without them, read as
    gamma and beta, as batch norm's are."""
    axis = _axis(_attrs(node).get("axis", -1), len(shape))
    if axis != len(shape) - 1:
        raise RuleError(f"normalises axes {axis} to {len(shape) - 1} together; cnncost's "
                        f"layer_norm normalises one (the channels or the last)")
    _per_channel(r, node.input[1:3], shape[-1:], "features in its last dimension")
    if len(node.input) > 2 and node.input[2]:
        return True
    scale = r.const(node.input[1])
    return scale is None or not (scale == 1).all()


def _channels_layer_norm(r: _Reader, node: Any, perm: list[int]) -> bool:
    """Transpose (channels last), LayerNormalization over the last axis, Transpose back: a
    layer norm over the channels, as PyTorch exports LayerNorm2d; False if not that."""
    shape = r.shape(node.input[0])
    rank = len(shape)
    norm = r.only_reader(node.output[0])
    if rank < 3 or perm != [0, *range(2, rank), 1] or norm is None or \
            norm.op_type != "LayerNormalization" or norm.input[0] != node.output[0] or \
            any(r.readers.get(extra) for extra in norm.output[1:] if extra):
        return False
    back = r.only_reader(norm.output[0])
    if back is None or back.op_type != "Transpose" or \
            list(_attrs(back).get("perm", [])) != [0, rank - 1, *range(1, rank - 1)]:
        return False
    affine = _last_axis_norm(r, norm, tuple(shape[p] for p in perm))  # as the norm sees it
    r.done.update({id(norm), id(back)})
    r.add(node, make_op("layer_norm", axis="channels", affine=affine),
          [r.activation(node.input[0])], output=back.output[0], label="layer_norm")
    return True


@handles("Elu", "Selu", "Softplus", "Mish")
def _no_op_yet(r: _Reader, node: Any) -> None:
    raise RuleError(f"{node.op_type} has no cnncost op yet")


@handles("Sigmoid")
def _sigmoid(r: _Reader, node: Any) -> None:
    x = node.input[0]
    then = r.only_reader(node.output[0])
    if then is not None and then.op_type == "Mul" and x in then.input:
        r.done.add(id(then))  # x * sigmoid(x): swish (SiLU)
        r.add(then, make_op("swish"), [r.activation(x)], label="swish")
        return
    _read_declared(r, node)


@handles("HardSigmoid")
def _hardsigmoid(r: _Reader, node: Any) -> None:
    x = node.input[0]
    then = r.only_reader(node.output[0])
    if then is not None and then.op_type == "Mul" and x in then.input:
        r.done.add(id(then))  # x * hardsigmoid(x): hardswish, as opset 11 writes it
        r.add(then, make_op("hardswish"), [r.activation(x)], label="hardswish")
        return
    _read_declared(r, node)  # alpha and beta change no figure


@handles("PRelu")
def _prelu(r: _Reader, node: Any) -> None:
    import numpy as np

    slope, x = r.dims(node.input[1]), r.shape(node.input[0])
    try:
        fits = slope is not None and np.broadcast_shapes(slope, x) == x
    except ValueError:
        fits = False
    if not fits:
        raise RuleError(f"slope {shown(node.input[1])} of shape {slope} does not broadcast to "
                        f"the input's {x}")
    shared = math.prod(slope) == 1
    r.add(node, make_op("prelu", shared=shared), [r.activation(node.input[0])])


@handles("Clip")
def _clip(r: _Reader, node: Any) -> None:
    attrs = _attrs(node)
    low, high = (_bound(attrs.get(key), r.operand(node, index, key))
                 for index, key in ((1, "min"), (2, "max")))
    x = [r.activation(node.input[0])]
    if low == 0 and high == 6:
        r.add(node, make_op("relu6"), x)
    elif low == 0 and high is None:
        r.add(node, make_op("relu"), x)
    else:
        r.add(node, make_op("clip", low=-FLOAT_MAX if low is None else low,
                            high=FLOAT_MAX if high is None else high), x)


def _bound(attribute: Any, operand: Any) -> float | None:
    """A Clip bound, given as an attribute (before opset 11) or a one-value input."""
    import numpy as np

    value = attribute if operand is None else operand
    if value is None:
        return None
    values = np.asarray(value, dtype=float).reshape(-1)
    if values.size != 1 or math.isnan(values[0]):
        raise RuleError(f"a bound must be one number, got {shown(values.tolist())}")
    return float(values[0])


@handles("Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum")
def _arithmetic(r: _Reader, node: Any) -> None:
    fn = {"Add": "add", "Sub": "sub", "Mul": "mul", "Div": "div", "Pow": "pow", "Max": "max",
          "Min": "min", "Sum": "add"}[node.op_type]
    live = [i for i in node.input if i in r.nodes]
    constants = [i for i in node.input if i not in r.nodes and r.const(i) is not None]
    for i in node.input:
        if i not in live and i not in constants:
            raise _Missing(i)
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
    axis = _axis(_attrs(node).get("axis", 1), rank)
    r.add(node, make_op("concat", axis=axis), [r.activation(i) for i in node.input])


@handles("Split")
def _split(r: _Reader, node: Any) -> None:
    attrs = _attrs(node)
    shape = r.shape(node.input[0])
    axis = _axis(attrs.get("axis", 0), len(shape))
    sizes = attrs.get("split")
    given = r.operand(node, 1, "split")
    if given is not None:
        sizes = [int(s) for s in given]
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
        value = r.operand(node, index, key)
        return attrs.get(key) if value is None else [int(v) for v in value]

    starts, ends = get("starts", 1), get("ends", 2)
    axes = get("axes", 3) or list(range(len(starts)))
    steps = get("steps", 4) or [1] * len(starts)
    source = node.input[0]
    for start, end, axis, step in zip(starts, ends, axes, steps):
        axis = _axis(axis, len(shape))
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
        axis = int(attrs.get("axis", 1))
        axis = axis if axis == len(shape) else _axis(axis, len(shape))
        target = [int(np.prod(shape[:axis])), int(np.prod(shape[axis:]))]
    elif node.op_type == "Reshape":
        shape_input = r.operand(node, 1, "shape")
        if shape_input is None:
            raise RuleError("a Reshape needs its shape input")
        given = [int(d) for d in shape_input]
        if any(d == 0 for d in given[len(shape):]):
            raise RuleError(f"shape {given}: a 0 copies a dimension the input {shape} lacks")
        target = [shape[i] if d == 0 else d for i, d in enumerate(given)]
        if -1 in target:
            known = int(np.prod([d for d in target if d != -1]))
            target = [int(np.prod(shape)) // known if d == -1 else d for d in target]
    else:
        given = r.operand(node, 1, "axes")
        axes = [int(a) for a in (attrs.get("axes", []) if given is None else given)]
        if node.op_type == "Squeeze":
            drop = {_axis(a, len(shape)) for a in axes} or \
                {i for i, d in enumerate(shape) if d == 1}
            target = [d for i, d in enumerate(shape) if i not in drop]
        else:
            target = list(shape)
            for a in sorted(_axis(a, len(shape) + len(axes)) for a in axes):
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
    if len(final) != 4:
        return False
    final = [shape[i] if d == 0 else d for i, d in enumerate(final)]
    if final[1:] != list(shape[1:]) and -1 not in final:
        return False
    r.done.update({id(transpose), id(back)})
    r.add(node, make_op("channel_shuffle", groups=target[1]), [r.activation(node.input[0])],
          output=back.output[0], label="shuffle")
    return True


@handles("Transpose")
def _transpose(r: _Reader, node: Any) -> None:
    perm = list(_attrs(node).get("perm", reversed(range(len(r.shape(node.input[0]))))))
    if not _channels_layer_norm(r, node, perm):
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
    given = r.operand(node, 1, "axes")
    axes = [int(a) for a in (attrs.get("axes", range(len(shape))) if given is None
                             else given)]
    axes = sorted(_axis(a, len(shape)) for a in axes)
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
    if len(node.input) > 3 and node.input[3]:
        raise RuleError("a Pad with axes (opset 18) has no cnncost op yet")
    given = r.operand(node, 1, "pads")
    pads = [int(p) for p in (attrs.get("pads", []) if given is None else given)]
    shape = r.shape(node.input[0])
    rank = len(shape)
    if len(pads) != 2 * rank:
        raise RuleError(f"{len(pads)} pads for {rank} dimensions; ONNX gives 2 a dimension")
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
    sizes = r.operand(node, 3, "sizes") if node.op_type == "Resize" else None
    if sizes is None:
        scales = r.operand(node, 2 if node.op_type == "Resize" else 1, "scales")
        scales = attrs.get("scales") if scales is None else [float(s) for s in scales]
        if scales is None or len(scales) != 4:
            raise RuleError("its output size is not known before the network runs")
        if not all(math.isfinite(s) and s > 0 for s in scales):
            raise RuleError(f"scales must be positive finite numbers, got {list(scales)}")
        sizes = [int(d * s) for d, s in zip(shape, scales)]
    if len(sizes) != 4:
        raise RuleError(f"sizes {list(sizes)}: cnncost resizes (N, C, H, W) tensors")
    mode = attrs.get("mode", b"nearest")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    r.add(node, make_op("upsample", size=[int(sizes[2]), int(sizes[3])],
                        mode={"bilinear": "linear"}.get(mode, mode)),
          [r.activation(node.input[0])])


@handles("Cast")
def _cast(r: _Reader, node: Any) -> None:
    r.alias(node.output[0], node.input[0])


def supported_ops() -> list[str]:
    return sorted({*readers(), *FOLDABLE})


def unknown_hint(op: str) -> str:
    return suggest(op, supported_ops(), listing=False)
