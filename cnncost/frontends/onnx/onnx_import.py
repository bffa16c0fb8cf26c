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

import re
from pathlib import Path

from cnncost.core.errors import Problem, SpecError, UsageError, shown, suggest
from cnncost.core.model import Model
from cnncost.frontends.onnx import read_cnn  # noqa: F401  (its readers register themselves)
from cnncost.frontends.onnx import read_attention  # noqa: F401  (attention, group norm)
from cnncost.frontends.onnx import read_transformer  # noqa: F401  (GELU, layer norm, ...)
from cnncost.frontends.onnx import read_tokens  # noqa: F401  (gather, roll, windows, ...)
from cnncost.frontends.onnx import read_swinv2  # noqa: F401  (Swin V2's position bias, ...)
from cnncost.frontends.onnx.external import (check_file, external_span, external_tensors,
                                            with_external_data)
from cnncost.frontends.onnx.reading import (FOLDABLE, Reader, declared, onnx_module,  # noqa: F401
                                           readers)


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
    check_file(file)
    try:  # weights kept in external files are read only where a value is needed
        proto = onnx.load(file, load_external_data=False)
    except Exception as exc:  # protobuf's DecodeError, ...
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SpecError(Problem(f"{file} is not a readable ONNX model: {shown(reason, 200)}"))
    for what, tensor in external_tensors(proto.graph):
        external_span(file, what, tensor)  # every one checked, whether its value is read or not
        if not what.startswith("initializer"):  # a node's attribute: read now, where onnx
            tensor.CopyFrom(with_external_data(file, what, tensor))  # would look elsewhere
    reader = Reader(proto, file, input_shape, batch, allow_unknown)
    return reader.model(spec or file)



def supported_ops() -> list[str]:
    return sorted({*readers(), *FOLDABLE})


def unknown_hint(op: str) -> str:
    return suggest(op, supported_ops(), listing=False)

