"""Readers of the ONNX ops of convolutional networks: convs, linear layers, norms,
activations, arithmetic, pooling, and the tensor plumbing between them."""

from __future__ import annotations

import math
from typing import Any

from cnncost.frontends.builder import make_op
from cnncost.core.errors import RuleError, shown
from cnncost.core.ir import Shape
from cnncost.ops.base import same_total
from cnncost.frontends.onnx.reading import (FLOAT_MAX, Missing, Reader, axis_index, check_reads,
                                           handles, has_bias, node_attrs, per_channel,
                                           read_declared, reduced_axes)


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


def _spatial(node: Any, attrs: dict[str, Any], key: str, default: int, rank: int = 2
             ) -> tuple[int, ...]:
    value = attrs.get(key)
    if value is None:
        return (default,) * rank
    if len(value) != rank:
        raise RuleError(f"{key}={list(value)}: cnncost reads 2-D (image) operations only")
    return tuple(int(v) for v in value)


@handles("Conv")
def _conv(r: Reader, node: Any) -> None:
    attrs = node_attrs(node)
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
    check_reads(node.input[1], weight, weight[1] * group, f" ({weight[1]} x group {group})", x)
    op = make_op("conv2d", out_channels=weight[0], kernel=list(kernel), stride=list(stride),
                 dilation=list(dilation), groups=group,
                 padding=_padding_value(_pads(attrs, x[2:], kernel, stride, dilation)),
                 bias=has_bias(r, node, 2, weight[0]))
    r.add(node, op, [r.activation(node.input[0])], label="conv")


def _padding_value(padding: Any) -> Any:
    return padding if isinstance(padding, str) else list(padding)


@handles("ConvTranspose")
def _conv_transpose(r: Reader, node: Any) -> None:
    attrs = node_attrs(node)
    weight = r.dims(node.input[1])
    if weight is None or len(weight) != 4:
        raise RuleError("cnncost reads 2-D transposed convolutions with constant weights")
    if "output_shape" in attrs:
        raise RuleError("output_shape is not read; export with explicit pads")
    group = int(attrs.get("group", 1))
    check_reads(node.input[1], weight, weight[0], "", r.shape(node.input[0]))
    top, left, bottom, right = _four_pads(attrs)
    op = make_op("conv_transpose2d", out_channels=weight[1] * group, kernel=list(weight[2:]),
                 stride=list(_spatial(node, attrs, "strides", 1)),
                 dilation=list(_spatial(node, attrs, "dilations", 1)), groups=group,
                 padding=[top, left] if (top, left) == (bottom, right) else
                 [top, left, bottom, right],
                 output_padding=list(_spatial(node, attrs, "output_padding", 0)),
                 bias=has_bias(r, node, 2, weight[1] * group))
    r.add(node, op, [r.activation(node.input[0])], label="deconv")


@handles("Gemm")
def _gemm(r: Reader, node: Any) -> None:
    attrs = node_attrs(node)
    b = r.dims(node.input[1])
    if attrs.get("transA", 0) or b is None or len(b) != 2:
        raise RuleError("cnncost reads Gemm as a linear layer: x @ W (+ b) with constant W")
    out, features = (b[0], b[1]) if attrs.get("transB", 0) else (b[1], b[0])
    check_reads(node.input[1], b, features, "", r.shape(node.input[0]), "features")
    bias = len(node.input) > 2 and bool(node.input[2])
    r.add(node, make_op("linear", out_features=out, bias=bias),
          [r.activation(node.input[0])], label="linear")


@handles("MatMul")
def _matmul(r: Reader, node: Any) -> None:
    a, b = node.input[:2]
    weight = r.dims(b)
    if weight is None:
        r.add(node, make_op("matmul"), [r.activation(a), r.activation(b)])
        return
    if len(weight) != 2 or len(r.shape(a)) < 2:
        raise RuleError("cnncost reads MatMul with a constant as a linear layer over the last "
                        "dimension (N, ..., features) by a 2-D weight")
    check_reads(b, weight, weight[0], "", r.shape(a), "features")
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
def _batchnorm(r: Reader, node: Any) -> None:
    per_channel(r, node.input[1:5], r.shape(node.input[0])[1:2], "channels")
    r.add(node, make_op("batchnorm"), [r.activation(node.input[0])], label="bn")


@handles("LayerNormalization")
def _layer_norm(r: Reader, node: Any) -> None:
    """Over the last axis: layer_norm (axis last)."""
    shape = r.shape(node.input[0])
    r.add(node, make_op("layer_norm", axis="last", affine=_last_axis_norm(r, node, shape)),
          [r.activation(node.input[0])])


def _last_axis_norm(r: Reader, node: Any, shape: Shape) -> bool:
    """Whether the LayerNormalization ``node`` has gamma and beta; refused unless it
    normalises the last axis alone. Without a bias and with a scale of ones it has neither
    (as cnncost writes it); PyTorch writes 1 and 0 for a layer without them, read as
    gamma and beta, as batch norm's are."""
    axis = axis_index(node_attrs(node).get("axis", -1), len(shape))
    if axis != len(shape) - 1:
        raise RuleError(f"normalises axes {axis} to {len(shape) - 1} together; cnncost's "
                        f"layer_norm normalises one (the channels or the last)")
    per_channel(r, node.input[1:3], shape[-1:], "features in its last dimension")
    if len(node.input) > 2 and node.input[2]:
        return True
    scale = r.const(node.input[1])
    return scale is None or not (scale == 1).all()


def _channels_layer_norm(r: Reader, node: Any, perm: list[int]) -> bool:
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
            list(node_attrs(back).get("perm", [])) != [0, rank - 1, *range(1, rank - 1)]:
        return False
    affine = _last_axis_norm(r, norm, tuple(shape[p] for p in perm))  # as the norm sees it
    r.done.update({id(norm), id(back)})
    r.add(node, make_op("layer_norm", axis="channels", affine=affine),
          [r.activation(node.input[0])], output=back.output[0], label="layer_norm")
    return True


@handles("Elu", "Selu", "Softplus", "Mish")
def _no_op_yet(r: Reader, node: Any) -> None:
    raise RuleError(f"{node.op_type} has no cnncost op yet")


@handles("Sigmoid")
def _sigmoid(r: Reader, node: Any) -> None:
    x = node.input[0]
    then = r.only_reader(node.output[0])
    if then is not None and then.op_type == "Mul" and x in then.input:
        r.done.add(id(then))  # x * sigmoid(x): swish (SiLU)
        r.add(then, make_op("swish"), [r.activation(x)], label="swish")
        return
    read_declared(r, node)


@handles("HardSigmoid")
def _hardsigmoid(r: Reader, node: Any) -> None:
    x = node.input[0]
    then = r.only_reader(node.output[0])
    if then is not None and then.op_type == "Mul" and x in then.input:
        r.done.add(id(then))  # x * hardsigmoid(x): hardswish, as opset 11 writes it
        r.add(then, make_op("hardswish"), [r.activation(x)], label="hardswish")
        return
    read_declared(r, node)  # alpha and beta change no figure


@handles("PRelu")
def _prelu(r: Reader, node: Any) -> None:
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
def _clip(r: Reader, node: Any) -> None:
    attrs = node_attrs(node)
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
def _arithmetic(r: Reader, node: Any) -> None:
    fn = {"Add": "add", "Sub": "sub", "Mul": "mul", "Div": "div", "Pow": "pow", "Max": "max",
          "Min": "min", "Sum": "add"}[node.op_type]
    live = [i for i in node.input if i in r.nodes]
    constants = [i for i in node.input if i not in r.nodes and r.const(i) is not None]
    for i in node.input:
        if i not in live and i not in constants:
            raise Missing(i)
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
def _concat(r: Reader, node: Any) -> None:
    rank = len(r.shape(node.input[0]))
    axis = axis_index(node_attrs(node).get("axis", 1), rank)
    r.add(node, make_op("concat", axis=axis), [r.activation(i) for i in node.input])


@handles("Split")
def _split(r: Reader, node: Any) -> None:
    attrs = node_attrs(node)
    shape = r.shape(node.input[0])
    axis = axis_index(attrs.get("axis", 0), len(shape))
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
def _slice(r: Reader, node: Any) -> None:
    attrs = node_attrs(node)
    shape = r.shape(node.input[0])

    def get(key: str, index: int) -> Any:  # an input from opset 10, an attribute before
        value = r.operand(node, index, key)
        return attrs.get(key) if value is None else [int(v) for v in value]

    starts, ends = get("starts", 1), get("ends", 2)
    axes = get("axes", 3) or list(range(len(starts)))
    steps = get("steps", 4) or [1] * len(starts)
    source = node.input[0]
    for start, end, axis, step in zip(starts, ends, axes, steps):
        axis = axis_index(axis, len(shape))
        size = shape[axis]
        start = max(0, start + size if start < 0 else min(start, size))
        end = max(0, end + size if end < 0 else min(end, size))
        if step < 1:
            raise RuleError(f"a Slice with step {step} has no cnncost op yet")
        if (start, end, step) == (0, size, 1):
            continue
        if step > 1:  # every step-th element (Swin's patch merging, x[:, 0::2]): picked
            picked = len(range(start, end, step))  # out, a copy, as a Gather would
            op = make_op("gather", axis=axis, indices=[picked])
        else:
            op = make_op("slice", start=start, stop=end, axis=axis)
        r.add(node, op, [r.activation(source)], label="slice")
        source = node.output[0]
        shape = r.shape(source)
    if source == node.input[0]:  # the whole tensor: a view of it (a one-group split)
        r.add(node, make_op("slice", start=0, stop=shape[1], axis=1),
              [r.activation(source)], label="slice")


@handles("Reshape", "Flatten", "Squeeze", "Unsqueeze")
def _reshape(r: Reader, node: Any) -> None:
    import numpy as np

    attrs = node_attrs(node)
    x = node.input[0]
    shape = r.shape(x)
    if node.op_type == "Flatten":
        axis = int(attrs.get("axis", 1))
        axis = axis if axis == len(shape) else axis_index(axis, len(shape))
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
            drop = {axis_index(a, len(shape)) for a in axes} or \
                {i for i, d in enumerate(shape) if d == 1}
            target = [d for i, d in enumerate(shape) if i not in drop]
        else:
            target = list(shape)
            for a in sorted(axis_index(a, len(shape) + len(axes)) for a in axes):
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


def _channel_shuffle(r: Reader, node: Any, shape: Shape, target: list[int]) -> bool:
    """Reshape (N, g, C/g, H, W), Transpose (0, 2, 1, 3, 4), Reshape (N, C, H, W): a shuffle."""
    if len(shape) != 4 or len(target) != 5 or target[0] != shape[0] or \
            target[1] * target[2] != shape[1] or tuple(target[3:]) != shape[2:]:
        return False
    transpose = r.only_reader(node.output[0])
    if transpose is None or transpose.op_type != "Transpose" or \
            list(node_attrs(transpose).get("perm", [])) != [0, 2, 1, 3, 4]:
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
def _transpose(r: Reader, node: Any) -> None:
    perm = list(node_attrs(node).get("perm", reversed(range(len(r.shape(node.input[0]))))))
    if not _channels_layer_norm(r, node, perm):
        r.add(node, make_op("transpose", perm=perm), [r.activation(node.input[0])])


@handles("MaxPool", "AveragePool")
def _pool(r: Reader, node: Any) -> None:
    attrs = node_attrs(node)
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
def _global_pool(r: Reader, node: Any) -> None:
    x = r.shape(node.input[0])
    op = make_op("global_avgpool") if node.op_type == "GlobalAveragePool" else \
        make_op("maxpool", kernel=list(x[2:]))
    r.add(node, op, [r.activation(node.input[0])], label="pool")


@handles("ReduceMean")
def _reduce_mean(r: Reader, node: Any) -> None:
    attrs = node_attrs(node)
    shape = r.shape(node.input[0])
    axes = reduced_axes(r, node, len(shape))
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
def _pad(r: Reader, node: Any) -> None:
    attrs = node_attrs(node)
    if len(node.input) > 3 and node.input[3]:
        raise RuleError("a Pad with axes (opset 18) has no cnncost op yet")
    given = r.operand(node, 1, "pads")
    pads = [int(p) for p in (attrs.get("pads", []) if given is None else given)]
    shape = r.shape(node.input[0])
    rank = len(shape)
    if len(pads) != 2 * rank:
        raise RuleError(f"{len(pads)} pads for {rank} dimensions; ONNX gives 2 a dimension")
    before, after = pads[:rank], pads[rank:]
    if not any(pads):  # Swin pads (N, H, W, C) to whole windows: nothing at 224 x 224
        r.alias(node.output[0], node.input[0])
        return
    padded = {axis for axis in range(rank) if before[axis] or after[axis]}
    # dimensions 2 and 3 of (N, C, H, W), or 1 and 2 of (N, H, W, C) (Swin's windows)
    h, w = next(((h, w) for h, w in ((2, 3), (1, 2)) if padded <= {h, w}), (0, 0))
    if rank != 4 or not h:
        raise RuleError("cnncost pads the height and width of (N, C, H, W) or (N, H, W, C) "
                        "maps only")
    r.add(node, make_op("pad", pads=[before[h], before[w], after[h], after[w]],
                        channels_last=h == 1), [r.activation(node.input[0])])


@handles("Resize", "Upsample")
def _resize(r: Reader, node: Any) -> None:
    attrs = node_attrs(node)
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
def _cast(r: Reader, node: Any) -> None:
    r.alias(node.output[0], node.input[0])


