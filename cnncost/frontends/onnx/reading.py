"""The ONNX reader's core: the walk over the graph, constant folding, the graph checks,
the table of readers (``handles``) and the helpers readers share. The readers themselves
live in the read_* modules, which cnncost.frontends.onnx.onnx_import loads."""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cnncost.frontends.builder import MAX_GRAPH_NODES, GraphBuilder, make_op
from cnncost.core.errors import Problem, RuleError, SpecError, UsageError, optional_module, shown
from cnncost.core.ir import Loc, Shape
from cnncost.core.model import Model
from cnncost.ops import registered
from cnncost.ops.base import BOOL, Op
from cnncost.frontends.onnx.external import (PACKED_4BIT, is_external, tensor_bytes,
                                            with_external_data)

MIN_OPSET, MAX_OPSET = 7, 22  # the opsets whose definitions of the supported ops are read here
MAX_FOLDED = 10**7  # values of one constant folded with numpy (shape chains hold a few)
FLOAT_MAX = 3.4028234663852886e38  # a Clip without a bound: float32's largest value

Handler = Callable[["Reader", Any], None]
HANDLERS: dict[str, Handler] = {}  # ONNX op type -> its reader, for what is not one-to-one
Pattern = Callable[["Reader", Any], bool]
PATTERNS: dict[str, list[Pattern]] = {}  # ONNX op type -> readers of patterns starting there


def onnx_module() -> Any:
    """The onnx package, or a clear message when it is not installed."""
    return optional_module("onnx", "reading ONNX models needs the onnx package", "onnx")


class Reader:
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
        self.unknown: Counter[str] = Counter()  # nodes of ops cnncost does not read, by op
        self.reasons: dict[str, str] = {}  # why a supported op's node was not read, by op
        self.calls: dict[str, int] = {}  # module path -> its calls so far (the last is 0, 1, ..)
        self.open: dict[str, str] = {}  # the modules of the last layer named -> their names
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
        self.ahead: dict[str, Any] = {}  # a pattern's op for a node it reached ahead, by output
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
        scope = _scope(node)
        if scope is None:  # a node an exporter's optimiser wrote: the module of its readers
            scope = _common_scope(self.readers.get(o, ()) for o in node.output)
        weight = next((i for i in node.input[1:2] if i.endswith(".weight")), "")
        if weight and len(self.readers.get(weight, ())) == 1:  # not one shared by equal value
            scope = weight[:-len(".weight")]  # a conv that absorbed a BN: the conv's module
        if scope is not None and self.numbered:
            scope = self.called(scope)
        base = (f"{scope}.{op}" if scope else op if scope is not None else
                node.name or node.output[0] or op)
        base = re.sub(r"[^A-Za-z0-9_.\-]", "_", base).strip(".") or op
        self.names[base] += 1
        return base if self.names[base] == 1 else f"{base}_{self.names[base]}"

    @functools.cached_property
    def numbered(self) -> bool:
        """Whether the exporter left the calls of a module for cnncost to number (the new
        exporter's scopes name the module alone; the legacy exporter numbers them itself)."""
        return any(p.key == "pkg.torch.onnx.name_scopes" for n in self.graph_nodes
                   for p in n.metadata_props)

    def called(self, scope: str) -> str:
        """``scope`` with each module named for its call, as the legacy exporter names them: a
        module entered again after others ran (ResNet's one ``relu``, around the add) is
        ``layer1.0.relu_1`` the second time. The walk goes in the exporter's order, in which
        the layers of one call follow each other."""
        opened: dict[str, str] = {}
        parts = scope.split(".") if scope else []
        for path in (".".join(parts[:depth]) for depth in range(1, len(parts) + 1)):
            if path in self.open:
                opened[path] = self.open[path]
                continue
            calls = self.calls[path] = self.calls.get(path, -1) + 1
            parent = opened.get(path.rpartition(".")[0], "")
            part = path.rpartition(".")[2] + (f"_{calls}" if calls else "")
            opened[path] = f"{parent}.{part}" if parent else part
        self.open = opened
        return opened.get(scope, "")

    def const(self, name: str, ahead: bool = False) -> Any:
        """The value of a tensor known before the network runs, or None. With ``ahead``, a
        constant the walk has not reached yet is folded now (a pattern looks ahead)."""
        if name in self.consts:
            return self.consts[name]
        if name in self.initializers:
            tensor = self.initializers[name]
            if is_external(tensor):
                tensor = with_external_data(self.file, f"initializer {shown(name)}", tensor)
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

    @functools.cached_property
    def recorded(self) -> dict[str, Shape]:
        """The static shapes the file records for its tensors (value_info, outputs), its
        symbolic sizes read as the analysis reads the input's; none when the analysis changes
        a size the file fixes (--batch on a fixed batch), which every recorded shape may hold."""
        graph, used = self.proto.graph, self.builder.shape(0)
        written = self.input.type.tensor_type.shape.dim
        if any(d.HasField("dim_value") and d.dim_value != size for d, size in zip(written, used)):
            return {}
        sizes = {d.dim_param: size for d, size in zip(written, used) if d.HasField("dim_param")}
        return {v.name: shape for v in (*graph.value_info, *graph.output)
                if (shape := _static(v, sizes)) is not None}

    def elem_type(self, name: str) -> int:
        """A tensor's ONNX element type: a constant's own, an activation's as the file
        records it (float when it does not)."""
        from onnx import TensorProto, helper

        if name in self.initializers:
            return self.initializers[name].data_type
        if name in self.consts:
            return helper.np_dtype_to_tensor_dtype(self.consts[name].dtype)
        return self.recorded_types.get(name, TensorProto.FLOAT)

    @functools.cached_property
    def recorded_types(self) -> dict[str, int]:
        """The element types the file records for its tensors."""
        graph = self.proto.graph
        return {v.name: v.type.tensor_type.elem_type for v in
                (*graph.input, *graph.value_info, *graph.output) if v.type.tensor_type.elem_type}

    def dims(self, name: str) -> tuple[int, ...] | None:
        """The shape of a constant (without reading large data when it is an initializer)."""
        if name in self.initializers:
            return tuple(self.initializers[name].dims)
        value = self.consts.get(name)
        return tuple(value.shape) if value is not None else None

    def activation(self, name: str) -> int:
        if name not in self.nodes:
            raise Missing(name)
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
                self.read(node)
            except Missing as missing:  # reading what an error already reported: silent
                if missing.args[0] not in self.lost:
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
            notes.append(f"PARTIAL: {sum(self.unknown.values())} node(s) cnncost does not read "
                         f"are kept with their shapes and counted as zero: " + ", ".join(
                             f"{op} ({count}" + (f": {self.reasons[op]})" if op in self.reasons
                                                 else ")") for op, count in partial))
        return Model(self.builder.graph(outputs), spec=spec, file=self.file,
                     description=f"imported from ONNX (opset {self.opset})",
                     source_format="onnx", partial=partial, notes=tuple(notes))

    def problem(self, node: Any, message: str, hint: str | None = None) -> Problem:
        return Problem(f"{self.file}: {_label(node)}: {message}", hint=hint)

    def read(self, node: Any) -> None:
        """Read one node. With --allow-unknown, a node of a supported op in a form cnncost
        does not read (a reader's RuleError, before anything was built for it) is kept like
        an unsupported op; a Contradiction (the file's values disagree) is never kept."""
        mark = (len(self.builder), len(self.done))
        try:
            self.node(node)
        except RuleError as exc:
            if (not self.allow_unknown or isinstance(exc, Contradiction)
                    or mark != (len(self.builder), len(self.done))):
                raise
            self.unsupported(node, exc)

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
        if any(read(self, node) for read in PATTERNS.get(op, ())):
            return  # the first node of a pattern read as one op (GELU's Div, Erf, ...)
        handler = self.handlers.get(op)
        if handler is None:
            self.unsupported(node)
            return
        handler(self, node)

    def unsupported(self, node: Any, refused: RuleError | None = None) -> None:
        """A node of an op cnncost does not read (``refused``: why a supported op's reader
        did not read it). Counted for the error; with --allow-unknown, kept at zero cost with
        its outputs' shapes, or RuleError naming the output whose shape cannot be known."""
        domain = node.domain if node.domain not in ("", "ai.onnx") else ""
        op = f"{domain}.{node.op_type}" if domain else node.op_type
        if not self.allow_unknown:
            self.unknown[op] += 1
            self.lost.update(node.output)
            return
        lost = next((i for i in node.input if i in self.lost), None)
        if lost is not None:
            raise Missing(lost)  # follows from an error already reported
        sources = list(dict.fromkeys(self.nodes[i] for i in node.input if i in self.nodes))
        if not sources:
            raise refused or RuleError(
                "reads only constants, which cnncost cannot fold through this op: its output "
                "is not known before the network runs, and is no value computed from the input")
        shapes = output_shapes(self, node, refused)
        self.unknown[op] += 1
        if refused is not None:
            self.reasons.setdefault(op, refused.message)
        for output, shape in shapes.items():
            self.nodes[output] = self.builder.add(
                self.name(node, node.op_type.lower()), Opaque(op, shape), sources,
                self.loc(node.name or node.op_type))

    def fold(self, node: Any) -> None:
        """Compute a constant with numpy, once its size is known to be at most MAX_FOLDED."""
        import numpy as np

        values = [self.const(i) if i else None for i in node.input]
        if node.op_type == "Shape":  # of an activation, or of a constant (Swin's pads)
            values = [np.array(self.shape(node.input[0]) if node.input[0] in self.nodes else
                               np.shape(values[0]), dtype=np.int64)]
        attrs = node_attrs(node)
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


def _check_graph(reader: Reader, given: set[str]) -> None:
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
        if is_external(tensor):
            continue  # checked against its file by external_span
        dims = list(tensor.dims)
        declared = math.prod(dims)
        shape = " x ".join(str(d) for d in dims) or "a scalar"
        where = f"{file}: initializer {shown(tensor.name)}"
        if min(dims, default=0) < 0:
            problems.append(Problem(f"{where} has a negative dimension: {dims}"))
            continue
        if tensor.HasField("raw_data"):
            need, held = tensor_bytes(tensor), len(tensor.raw_data)
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
        need = (declared + 1) // 2 if tensor.data_type in PACKED_4BIT else declared * per_value
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


def _scope(node: Any) -> str | None:
    """The module path an exporter recorded for ``node``: the new exporter's
    ``pkg.torch.onnx.name_scopes`` (the modules, then the node), the legacy exporter's
    ``/layer1/layer1.0/relu/Relu``; "" for a node of the network itself, None if neither."""
    for prop in node.metadata_props:
        if prop.key == "pkg.torch.onnx.name_scopes":
            modules = [s for s in re.findall(r"'([^']*)'", prop.value)[:-1] if s]
            return modules[-1] if modules else ""
    if node.name.startswith("/"):
        return _module_path(node.name.strip("/").split("/")[:-1])
    return None


def _common_scope(readers: Any) -> str | None:
    """The innermost module holding every reader that has one (None when none has): where a
    node an optimiser wrote without scopes belongs (the new exporter's ShuffleNet V2 channel
    split, read by its unit's branch and concat)."""
    scopes = [s for group in readers for s in map(_scope, group) if s is not None]
    if not scopes:
        return None
    common = scopes[0].split(".")
    for scope in scopes[1:]:
        parts = scope.split(".")
        depth = next((i for i, (a, b) in enumerate(zip(common, parts)) if a != b),
                     min(len(common), len(parts)))
        common = common[:depth]
    return ".".join(common)


class Missing(Exception):
    """A tensor that no supported op produced (the output of an unsupported one)."""


class Contradiction(RuleError):
    """Values of the file that disagree (a kernel reading other channels than its input has):
    an error even with --allow-unknown, which keeps only what cnncost does not read."""


def node_attrs(node: Any) -> dict[str, Any]:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def output_shapes(r: Reader, node: Any, refused: RuleError | None) -> dict[str, Shape]:
    """The shapes of the outputs of a node cnncost does not read: ONNX's own shape inference
    of the node alone, on the shapes cnncost found for its inputs and the values of its
    constant ones (so a symbolic batch, --batch and shapes computed from shapes are those of
    the analysis), else the static shapes the file records (value_info). RuleError naming an
    output that neither gives; ``refused`` (why a supported op's reader did not read the
    node) is raised as it is when ONNX also finds the node wrong."""
    inferred, refusal = _node_inference(r, node)
    if refused is not None and refusal:
        raise refused
    shapes = {}
    for output in (o for o in node.output if o):
        shape = inferred[output] if output in inferred else r.recorded.get(output)
        if shape is None:
            why = (f"ONNX's shape inference refuses the node ({refusal})" if refusal else
                   f"ONNX's shape inference does not give it for {node.op_type}")
            raise RuleError(
                (f"{refused.message}; " if refused else "") + f"--allow-unknown keeps a node "
                f"it does not read at zero cost, but the shape of its output {shown(output)} "
                f"cannot be known: {why}, and the file records no static shape for it",
                hint="record the shapes in the file (value_info: onnx.shape_inference."
                     "infer_shapes does, for the ops ONNX knows), or give the sizes the file "
                     "leaves symbolic with --input-shape")
        shapes[output] = shape
    return shapes


MAX_INFERRED_VALUE = 1024  # a constant operand larger than this goes to inference as a shape


def _node_inference(r: Reader, node: Any) -> tuple[dict[str, Shape], str]:
    """ONNX's strict shape inference (with data propagation) of ``node`` alone: the static
    shapes of its outputs, and why ONNX refuses the node ("" if it does not)."""
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper, shape_inference

    inputs, values = [], []
    for name in dict.fromkeys(i for i in node.input if i):
        dims = r.shape(name) if name in r.nodes else r.dims(name)
        if name in r.nodes or (dims is not None and math.prod(dims) > MAX_INFERRED_VALUE):
            inputs.append(helper.make_tensor_value_info(name, r.elem_type(name), dims))
        elif (value := r.const(name)) is not None:
            values.append(numpy_helper.from_array(np.asarray(value), name))
    graph = helper.make_graph([node], "node", inputs,
                              [onnx.ValueInfoProto(name=o) for o in node.output if o], values)
    model = helper.make_model(graph, opset_imports=r.proto.opset_import,
                              ir_version=r.proto.ir_version)
    try:
        inferred = shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)
    except (shape_inference.InferenceError, onnx.checker.ValidationError, RuntimeError,
            ValueError) as exc:  # ONNX finds the node wrong, or cannot check it
        return {}, shown(str(exc).strip().splitlines()[-1] if str(exc).strip() else
                         type(exc).__name__, 200)
    return {v.name: shape for v in inferred.graph.output
            if (shape := _static(v, {})) is not None}, ""


def _static(value: Any, sizes: dict[str, int]) -> Shape | None:
    """A ValueInfoProto's shape when every size is a number or a symbolic name in ``sizes``
    (None otherwise)."""
    tensor = value.type.tensor_type
    if not tensor.HasField("shape"):
        return None
    dims = []
    for d in tensor.shape.dim:
        if d.HasField("dim_value") and d.dim_value > 0:
            dims.append(d.dim_value)
        elif d.HasField("dim_param") and d.dim_param in sizes:
            dims.append(sizes[d.dim_param])
        else:
            return None
    return tuple(dims)


# -- an op cnncost does not know, kept with --allow-unknown -----------------------------------

def _opaque_class() -> type:
    from dataclasses import dataclass

    from cnncost.core.ir import ZERO_COST
    from cnncost.ops.base import DATA

    @dataclass(frozen=True, slots=True)
    class Opaque(Op):
        """A node cnncost does not read (--allow-unknown): its output's shape, as ONNX infers
        it or the file records it, and no cost; ``op_type`` names it in every report."""

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

    def scatter_nd(attrs, data, indices, updates):
        if attrs.get("reduction", b"none") not in (b"none", "none"):
            raise RuleError("a ScatterND with a reduction is not folded")
        out = np.array(data, copy=True)
        rows = indices.reshape(-1, indices.shape[-1])
        out[tuple(rows.T)] = updates.reshape(rows.shape[0], *out.shape[indices.shape[-1]:])
        return [out]

    def binary(fn):
        return lambda attrs, a, b: [fn(a, b)]

    def clip(attrs, x, low=None, high=None):  # bounds as inputs (opset 11), else attributes
        low = attrs.get("min") if low is None else low
        high = attrs.get("max") if high is None else high
        return [np.clip(x, -np.inf if low is None else low, np.inf if high is None else high)]

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
        # the shape and mask arithmetic of shifted windows (Swin: Mod, ScatterND, Not, ...)
        "Mod": lambda attrs, a, b: [np.fmod(a, b) if attrs.get("fmod", 0) else np.mod(a, b)],
        "Less": binary(np.less), "Greater": binary(np.greater), "And": binary(np.logical_and),
        "Or": binary(np.logical_or), "Max": binary(np.maximum), "Min": binary(np.minimum),
        "Not": lambda attrs, x: [np.logical_not(x)], "Abs": lambda attrs, x: [np.abs(x)],
        "ScatterND": scatter_nd,
        "Tile": lambda attrs, x, repeats: [np.tile(x, [int(r) for r in repeats])],
        # a learned scale computed before the network runs (Swin V2's logit_scale, clamped
        # and exponentiated: the new exporter folds it itself)
        "Clip": clip, "Exp": lambda attrs, x: [np.exp(x)],
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
    if op == "Tile":
        return np.size(values[0]) * math.prod(_sizes(values[1]))
    if op in ("Add", "Sub", "Mul", "Div", "Pow", "Equal", "Where", "Mod", "Less", "Greater",
              "And", "Or", "Max", "Min"):
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
    """Register the reader of ONNX ops: one reader an op (a second one for the same op is a bug
    in the readers, refused at import, not left to whichever module loads last)."""
    def register(fn: Handler) -> Handler:
        for op in ops:
            if op in HANDLERS:
                raise RuntimeError(f"ONNX op {op} has two readers: {HANDLERS[op].__module__}."
                                   f"{HANDLERS[op].__name__} and {fn.__module__}.{fn.__name__}")
            HANDLERS[op] = fn
        return fn
    return register


def pattern(*ops: str) -> Callable[[Pattern], Pattern]:
    """Register a reader of a pattern of several nodes that starts with a node of one of
    ``ops``: it returns True when it read the node (and marked the rest of the pattern done),
    False to leave the node to the other patterns and to its op's reader. Several modules can
    read patterns starting at one op (MatMul, Add), which one handler per op could not."""
    def register(fn: Pattern) -> Pattern:
        for op in ops:
            PATTERNS.setdefault(op, []).append(fn)
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
    return {**{op: read_declared for op in declared()}, **HANDLERS}


def read_declared(r: Reader, node: Any) -> None:
    """A node of a one-to-one op: the op's fields from the ONNX attributes it maps (those
    the file leaves out keep the op's defaults, which are ONNX's), its inputs the node's."""
    cls = r.declared[node.op_type]
    attrs = node_attrs(node)
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


def axis_index(value: Any, rank: int) -> int:
    """An ONNX axis (a negative one counts from the end) as an index, refused outside rank."""
    axis = int(value)
    if not -rank <= axis < rank:
        raise Contradiction(f"axis {axis} is outside the {rank} dimensions of the tensor")
    return axis % rank


def has_bias(r: Reader, node: Any, index: int, size: int) -> bool:
    """Whether ``node`` has a bias (input ``index``), refused unless it holds ``size`` values."""
    if len(node.input) <= index or not node.input[index]:
        return False
    dims = r.dims(node.input[index])
    if dims != (size,):
        raise Contradiction(f"bias {shown(node.input[index])} of shape {dims}; the layer "
                            f"makes {size} channels")
    return True


def check_reads(name: str, weight: tuple[int, ...], reads: int, how: str, x: Shape,
           what: str = "channels") -> None:
    """Refuse a weight that reads another number of channels (or features) than the input's."""
    if len(x) < 2 or reads != x[1 if what == "channels" else -1]:
        raise Contradiction(f"weight {shown(name)} of shape {weight} reads {reads} "
                            f"{what}{how}; the input has " + (
                                f"{x[1 if what == 'channels' else -1]}" if len(x) >= 2
                                else f"shape {x}"))


def per_channel(r: Reader, names: Any, size: tuple[int, ...], what: str) -> None:
    """Refused unless each given tensor (a norm's gamma, beta, statistics) is of ``size``."""
    for name in names:
        if name and r.dims(name) != size:
            raise Contradiction(f"{shown(name)} of shape {r.dims(name)}; the input has "
                                f"{size[0] if size else 'no'} {what}")


# -- helpers of the pattern readers ------------------------------------------------------------

def reader_of(r: Reader, tensor: str, op: str) -> Any | None:
    """The one node reading ``tensor``, when it is an ``op`` (None otherwise)."""
    node = r.only_reader(tensor)
    return node if node is not None and node.op_type == op else None


def reduced_axes(r: Reader, node: Any, rank: int) -> list[int]:
    """A Reduce* node's axes (an attribute before opset 18, an input from it; all of them when
    neither is given), as sorted indices."""
    given = r.operand(node, 1, "axes")
    axes = node_attrs(node).get("axes", range(rank)) if given is None else given
    return sorted(axis_index(int(a), rank) for a in axes)


def other_input(node: Any, tensor: str) -> str:
    """The input of a binary ``node`` that is not ``tensor`` ("" if none is)."""
    rest = [i for i in node.input if i != tensor]
    return rest[0] if len(rest) == 1 else ""


def scalar_value(r: Reader, name: str) -> float | None:
    """The value of a one-element constant, or None (also for an activation)."""
    if not name or name in r.nodes:
        return None
    value = r.const(name, ahead=True)
    if value is None or value.size != 1:
        return None
    return float(value.reshape(-1)[0])
