"""Checks of an ONNX file and of its external data, before and while onnx reads them:
sizes, first bytes, where each external tensor's bytes lie."""

from __future__ import annotations

import math
import os
import re
import stat
from typing import Any

from cnncost.core.errors import Problem, SpecError, shown

MAX_ONNX_BYTES = 4 * 1024**3
MAX_MODEL_BYTES = 2**31  # the .onnx file itself: protobuf holds at most 2 GiB (weights beyond
#                          that live in external data files)

# a ModelProto's first byte: the tag of one of its fields (ir_version, producer_name, ...,
# graph, opset_import, metadata_props, training_info, functions, configuration)
_MODEL_TAGS = {0x08, 0x12, 0x1a, 0x22, 0x28, 0x32, 0x3a, 0x42, 0x72, 0xa2, 0xca, 0xd2}


def check_file(file: str) -> None:
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

def is_external(tensor: Any) -> bool:
    return tensor.data_location == 1  # TensorProto.EXTERNAL


def external_tensors(graph: Any) -> list[tuple[str, Any]]:
    """Every tensor of ``graph`` and its subgraphs whose data is in an external file, with
    what it is (``initializer w``, ``the value of node c``)."""
    found, graphs = [], [graph]
    while graphs:
        current = graphs.pop()
        found += [(f"initializer {shown(t.name)}", t) for t in current.initializer
                  if is_external(t)]
        for node in current.node:
            for attribute in node.attribute:
                tensors = [attribute.t, *attribute.tensors] if attribute.HasField("t") else \
                    list(attribute.tensors)
                found += [(f"the {attribute.name} of node {shown(node.name or node.op_type)}",
                           t) for t in tensors if is_external(t)]
                graphs += [attribute.g, *attribute.graphs] if attribute.HasField("g") else \
                    list(attribute.graphs)
    return found


_DIGITS = re.compile(r"[0-9]{1,19}")
PACKED_4BIT = {21, 22, 23}  # UINT4, INT4, FLOAT4E2M1: two values per byte


def external_span(file: str, what: str, tensor: Any) -> tuple[str, int, int]:
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
    needed = tensor_bytes(tensor)
    if needed != length:
        raise SpecError(Problem(f"{where}: {length:,} bytes, where its shape "
                                f"{list(tensor.dims)} needs "
                                + (f"{needed:,}" if needed is not None else "a fixed size")))
    return target, offset, length


def _byte_count(where: str, key: str, text: str) -> int:
    if not _DIGITS.fullmatch(text):
        raise SpecError(Problem(f"{where}: {key} {shown(text)} is not a whole number of bytes"))
    return int(text)


def tensor_bytes(tensor: Any) -> int | None:
    """The bytes of a tensor's raw data (None for strings, which have no fixed size)."""
    from onnx import helper

    try:
        size = helper.tensor_dtype_to_np_dtype(tensor.data_type).itemsize
    except (KeyError, TypeError, ValueError):
        return None
    if tensor.data_type == 8:  # STRING
        return None
    elements = math.prod(tensor.dims)
    return (elements + 1) // 2 if tensor.data_type in PACKED_4BIT else elements * size


def with_external_data(file: str, what: str, tensor: Any) -> Any:
    """A copy of an external tensor with its bytes read in, after external_span's checks (at
    most MAX_ONNX_BYTES)."""
    from onnx import TensorProto

    target, offset, length = external_span(file, what, tensor)
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


