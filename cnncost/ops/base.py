"""How an op is declared: a frozen dataclass whose fields are its YAML attributes.

Each op class carries its shape rule (``infer``) and its cost rule (``cost``) side by side,
and is registered once under its YAML name. Field metadata says how the spec loader reads
the attribute (``kind``) and documents it (``doc``), so the same declaration validates specs,
documents the op (``cnncost ops``) and computes its figures.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields
from typing import Any, ClassVar

from cnncost.core.errors import RuleError
from cnncost.core.ir import Cost, Shape, numel

# Attribute kinds understood by cnncost.ops.attrs.
INT, FLOAT, BOOL, PAIR, PADDING, CHOICE, SHAPE = (
    "int", "float", "bool", "pair", "padding", "choice", "shape",
)

# Op families: how the passes group ops (fusion, element-wise share, fragments).
CONV, LINEAR, NORM, ACTIVATION, ELEMENTWISE, POOL, DATA, VIEW, INPUT = (
    "conv", "linear", "norm", "activation", "elementwise", "pool", "data", "view", "input",
)
ELEMENTWISE_FAMILIES = frozenset({NORM, ACTIVATION, ELEMENTWISE})
FRAGMENT_FAMILIES = frozenset({CONV, LINEAR, POOL})


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

    def infer(self, inputs: tuple[Shape, ...]) -> Shape:
        raise NotImplementedError

    def cost(self, inputs: tuple[Shape, ...], out: Shape) -> Cost:
        raise NotImplementedError

    def kind(self, inputs: tuple[Shape, ...]) -> str:
        """The label this node rolls up under with ``--by op``."""
        return self.op_name

    @classmethod
    def attributes(cls) -> tuple[AttrInfo, ...]:
        return _ATTRS[cls]


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


def io_cost(inputs: tuple[Shape, ...], out: Shape, **extra: int) -> Cost:
    """Cost of a kernel that reads every input element once and writes its output."""
    return Cost(input_reads=sum(numel(s) for s in inputs), output_writes=numel(out), **extra)

