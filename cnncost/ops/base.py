"""How an op is declared: a frozen dataclass whose fields are its YAML attributes.

Each op class carries its shape rule (``infer``) and its cost rule (``cost``) side by side,
and is registered once under its YAML name. Field metadata says how the spec loader reads
the attribute (``kind``) and documents it (``doc``), so the same declaration validates specs,
documents the op (``cnncost ops``) and computes its figures.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, ClassVar

from cnncost.core.errors import RuleError
from cnncost.core.ir import Cost, Shape, numel

# Attribute kinds understood by cnncost.ops.attrs.
INT, FLOAT, BOOL, PAIR, PADDING, CHOICE, SHAPE, TEXT = (
    "int", "float", "bool", "pair", "padding", "choice", "shape", "text",
)

# Op families: how the passes group ops (fusion, element-wise share, fragments).
CONV, LINEAR, NORM, ACTIVATION, ELEMENTWISE, POOL, DATA, VIEW, INPUT = (
    "conv", "linear", "norm", "activation", "elementwise", "pool", "data", "view", "input",
)
ELEMENTWISE_FAMILIES = frozenset({NORM, ACTIVATION, ELEMENTWISE})
FRAGMENT_FAMILIES = frozenset({CONV, LINEAR, POOL})
MULT_ADD_FAMILIES = frozenset({CONV, LINEAR})  # the only ones with multiply-adds


def attr(default: Any = MISSING, *, kind: str, doc: str, choices: tuple[str, ...] = ()) -> Any:
    """Declare an op attribute: its reading rule, documentation and default (none = required)."""
    meta = {"kind": kind, "doc": doc, "choices": choices}
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class AttrInfo:
    name: str
    kind: str
    doc: str
    choices: tuple[str, ...]
    required: bool
    default: Any


class Op:
    """Base of every op. Subclasses are frozen dataclasses registered with ``@register``."""

    __slots__ = ()

    op_name: ClassVar[str] = ""
    family: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    min_inputs: ClassVar[int] = 1
    max_inputs: ClassVar[int | None] = 1
    # why its rules cannot take a sweep's Vec values (cnncost.core.vector), which the sweep
    # then refuses with this reason; "" when they can (tests/test_registry_vec.py checks it)
    not_sweepable: ClassVar[str] = ""

    def infer(self, inputs: tuple[Shape, ...]) -> Shape:
        raise NotImplementedError

    def cost(self, inputs: tuple[Shape, ...], out: Shape) -> Cost:
        raise NotImplementedError

    def kind(self, inputs: tuple[Shape, ...]) -> str:
        """The label this node rolls up under with ``--by op``."""
        return self.op_name

    def latency_kind(self, in_channels: int) -> str:
        """What sets this layer's share of a device's peak in the latency estimate: one of
        cnncost.core.settings.LAYER_KINDS, or "" for a layer without multiply-adds of its own.
        The family decides only for the families that have none; a conv or linear op
        declares its own."""
        if self.family in MULT_ADD_FAMILIES:
            raise NotImplementedError(f"{self.op_name} must declare its latency_kind")
        return ""

    @classmethod
    def attributes(cls) -> tuple[AttrInfo, ...]:
        return _ATTRS[cls]

    # -- its ONNX form (written by cnncost.frontends.onnx; an op never imports onnx) ---------
    # An op declares one of: ``onnx_op`` alone, the ONNX op it is one-to-one with (the
    # exporter writes it and the importer reads it back from these declarations, with no code
    # of their own); ``to_onnx``, overridden by an op written with weights or as several ONNX
    # nodes (the importer reads it back with a handler); or ``no_onnx``, why it has none.
    onnx_op: ClassVar[str] = ""
    onnx_attrs: ClassVar[Mapping[str, str]] = {}  # field -> ONNX attribute of the same value
    onnx_fixed: ClassVar[Mapping[str, Any]] = {}  # ONNX attributes written with a fixed value
    onnx_opset: ClassVar[int] = 1  # the first ONNX opset that has onnx_op
    no_onnx: ClassVar[str] = ""

    def to_onnx(self, w: Any) -> None:
        """Write this op with ``w``, the exporter's writer of one node (duck-typed: ``inputs``,
        ``in_shapes``, ``out_shape``, ``emit``, ``step``, ``weight``, ``ints``, ``scalar``,
        ``refuse``, ``opset``). By default: the one-to-one form ``onnx_op`` declares."""
        if self.no_onnx:
            w.refuse(f"{self.op_name} has no ONNX form: {self.no_onnx}")
        if not self.onnx_op:
            w.refuse(f"op {self.op_name} declares no ONNX form")  # a gap the registry test finds
        if self.onnx_opset > w.opset:
            w.refuse(f"{self.op_name} needs ONNX opset {self.onnx_opset}; cnncost writes "
                     f"opset {w.opset}")
        w.emit(self.onnx_op, w.inputs, **self.onnx_values())

    def onnx_values(self) -> dict[str, Any]:
        """The ONNX attributes of the one-to-one form: the fixed ones, then the fields'."""
        values = dict(self.onnx_fixed)
        for name, onnx_name in self.onnx_attrs.items():
            value = getattr(self, name)
            values[onnx_name] = int(value) if isinstance(value, bool) else \
                list(value) if isinstance(value, tuple) else value
        return values

    @classmethod
    def one_to_one(cls) -> bool:
        """Whether the op is written as its ``onnx_op`` alone (so read back from it)."""
        return bool(cls.onnx_op) and cls.to_onnx is Op.to_onnx and not cls.no_onnx


_REGISTRY: dict[str, type[Op]] = {}
_ALIASES: dict[str, str] = {}
_ATTRS: dict[type, tuple[AttrInfo, ...]] = {}


def register(name: str, *, aliases: tuple[str, ...] = ()):
    """Register an op class under its YAML name; a second registration of a name is refused."""

    def wrap(cls: type[Op]) -> type[Op]:
        for key in (name, *aliases):
            if key in _REGISTRY or key in _ALIASES:
                raise RuntimeError(f"op name {key!r} registered twice")
        cls.op_name = name
        _REGISTRY[name] = cls
        for alias in aliases:
            _ALIASES[alias] = name
        infos = []
        for f in fields(cls):
            if "kind" not in f.metadata:
                continue
            required = f.default is MISSING and f.default_factory is MISSING
            infos.append(AttrInfo(f.name, f.metadata["kind"], f.metadata["doc"],
                                  f.metadata["choices"], required,
                                  None if required else f.default))
        _ATTRS[cls] = tuple(infos)
        return cls

    return wrap


def lookup(name: str) -> type[Op] | None:
    return _REGISTRY.get(_ALIASES.get(name, name))


def op_names() -> tuple[str, ...]:
    """Every name an op can be written with in a spec (aliases included)."""
    return tuple(sorted((*_REGISTRY, *_ALIASES)))


def registered() -> dict[str, type[Op]]:
    return dict(sorted(_REGISTRY.items()))


def aliases_of(name: str) -> tuple[str, ...]:
    return tuple(sorted(a for a, target in _ALIASES.items() if target == name))


# -- helpers shared by the rules --------------------------------------------------------

def fmt_shape(shape: Shape) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ")"


def feature_map(shape: Shape, op: str) -> tuple[int, int, int, int]:
    if len(shape) != 4:
        raise RuleError(f"{op} needs a feature map (N, C, H, W); got {fmt_shape(shape)}",
                        hint="feature maps are 4-D; a flatten turns them into vectors, not back")
    n, c, h, w = shape
    return n, c, h, w


def positive(value: int, what: str) -> None:
    if value < 1:
        raise RuleError(f"{what} must be at least 1, got {value}", key=what)


def axis_padding(padding: Any) -> tuple[Any, Any]:
    """A padding attribute per axis (height, width): "same", "valid", or (before, after)."""
    if isinstance(padding, str):
        return padding, padding
    if len(padding) == 2:
        return (padding[0], padding[0]), (padding[1], padding[1])
    top, left, bottom, right = padding
    return (top, bottom), (left, right)


def check_padding(padding: Any) -> None:
    if isinstance(padding, tuple) and min(padding) < 0:
        raise RuleError(f"padding must not be negative, got {list(padding)}", key="padding")


def window_out(size: int, kernel: int, stride: int, dilation: int, padding: Any,
               *, axis: str, ceil_mode: bool = False) -> int:
    """Output length of a sliding window along one axis.

    ``padding`` is "same" (TensorFlow: out = ceil(size / stride)), "valid" (no padding), an
    explicit number of elements added on each side (PyTorch's rule), or (before, after).
    """
    span = dilation * (kernel - 1) + 1
    if padding == "same":
        return -(-size // stride)
    before, after = (0, 0) if padding == "valid" else \
        padding if isinstance(padding, tuple) else (padding, padding)
    padded = size + before + after
    if padded < span:
        what = f"kernel {kernel}" + (f" (dilated to {span})" if dilation > 1 else "")
        pads = f"2*{before}" if before == after else f"{before} + {after}"
        raise RuleError(
            f"{what} is larger than the {axis} of the padded input ({size} + {pads} = {padded})",
            hint="use padding: same, a smaller kernel, or move this layer before the downsampling",
            key="kernel")
    if ceil_mode:
        out = -(-(padded - span) // stride) + 1
        if (out - 1) * stride >= size + before:  # PyTorch: the last window must start inside
            out -= 1
        return out
    return (padded - span) // stride + 1


def same_total(size: int, kernel: int, stride: int, dilation: int) -> int:
    """Elements TensorFlow's "same" padding adds along one axis (out = ceil(size / stride))."""
    return max((-(-size // stride) - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)


def explicit_pads(padding: Any, size_hw: Shape, kernel: tuple[int, int],
                  stride: tuple[int, int], dilation: tuple[int, int]) -> list[int]:
    """A padding attribute as explicit [top, left, bottom, right] (ONNX's pads) for an input of
    height and width ``size_hw``; "same" puts TensorFlow's extra element after."""
    result = []
    for axis, pad in enumerate(axis_padding(padding)):
        if pad == "same":
            total = same_total(size_hw[axis], kernel[axis], stride[axis], dilation[axis])
            result.append((total // 2, total - total // 2))
        else:
            result.append((0, 0) if pad == "valid" else tuple(pad))
    (top, bottom), (left, right) = result
    return [top, left, bottom, right]


def io_cost(inputs: tuple[Shape, ...], out: Shape, **extra: int) -> Cost:
    """Cost of a kernel that reads every input element once and writes its output."""
    return Cost(input_reads=sum(numel(s) for s in inputs), output_writes=numel(out), **extra)

