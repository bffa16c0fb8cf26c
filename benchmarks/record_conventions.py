"""Record what fvcore, ptflops (backends pytorch and aten), thop and torchinfo count on vision
transformers and modern CNNs (torchvision's convnext_tiny, vit_b_16, swin_t) and on the single
layers they are made of, each tool's total and its parts, into
benchmarks/conventions_transformers.json (tests/test_conventions_transformers.py pins them).

Runs only in a PyTorch environment (torch is never a dependency of cnncost or its tests, and
nothing imports this file): /work/torchenv/bin/python benchmarks/record_conventions.py

Recipe (as tests/test_conventions.py's): one thread, ``torch.manual_seed(0)``, a fresh
``model.eval()`` for every tool, ``x = torch.randn(1, 3, 224, 224)`` (a layer: its small input);

- fvcore: ``FlopCountAnalysis(model, x).total()``; parts: ``by_operator()``, and the operators
  it skipped (``unsupported_ops()``: counted 0);
- ptflops: ``get_model_complexity_info(model, res, as_strings=False,
  print_per_layer_stat=False, input_constructor=...)[0]``, backend pytorch and backend aten;
  parts: the module hooks (``hook <type>``) and the patched calls (``call <function>``),
  backend aten: each aten op's count, its bias term apart (``<op> bias``);
- thop: ``profile(model, inputs=(x,), ret_layer_info=True)[0]``; parts per module type;
- torchinfo: ``summary(model, input_data=x, verbose=0).total_mult_adds``; parts: the leaf
  layers' ``macs`` per class.

Every part list is checked to add up to the tool's own total. ``census``: for each leaf module
type of a network, its calls and the elements into and out of it (what the rules multiply).
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
from collections import Counter, defaultdict
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "conventions_transformers.json"
NETWORKS = ("convnext_tiny", "vit_b_16", "swin_t")
TOOLS = ("fvcore", "ptflops", "ptflops-aten", "thop", "torchinfo")


def integral(value: float) -> float:
    """A count as an int when it is one (thop and fvcore's einsum give floats)."""
    value = float(value) if not isinstance(value, int) else value
    return int(value) if float(value).is_integer() else value


def checked(total, parts: dict, tool: str, skipped: dict | None = None) -> dict:
    parts = {k: integral(v) for k, v in sorted(parts.items()) if v}
    total = integral(total)
    if sum(parts.values()) != total:
        raise RuntimeError(f"{tool}: parts {parts} do not add up to {total}")
    found = {"total": total, "parts": parts}
    if skipped:
        found["skipped"] = dict(sorted(skipped.items()))
    return found


# -- each tool, total and parts ------------------------------------------------------------

def fvcore(model: nn.Module, x: torch.Tensor) -> dict:
    from fvcore.nn import FlopCountAnalysis

    analysis = FlopCountAnalysis(model, x)
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    analysis.tracer_warnings("none")
    total = analysis.total()
    return checked(total, dict(analysis.by_operator()), "fvcore",
                   dict(analysis.unsupported_ops()))


def ptflops(model: nn.Module, x: torch.Tensor) -> dict:
    """Backend pytorch, with every module hook and every patched call recorded by name."""
    from ptflops import get_model_complexity_info, pytorch_engine, pytorch_ops

    parts: Counter = Counter()
    mapping = pytorch_ops.MODULES_MAPPING
    saved_hooks, saved_call = dict(mapping), pytorch_engine.torch_function_wrapper.__call__

    def recorded(hook: Callable) -> Callable:
        def run(module, inputs, output):
            before = module.__flops__
            hook(module, inputs, output)
            parts[f"hook {type(module).__name__}"] += module.__flops__ - before
        return run

    def call(self, *args, **kwargs):
        parts[f"call {getattr(self.op, '__qualname__', self.op.__name__)}"] += \
            int(self.handler(*args, **kwargs))
        return saved_call(self, *args, **kwargs)

    mapping.update({k: recorded(v) for k, v in saved_hooks.items()})
    pytorch_engine.torch_function_wrapper.__call__ = call
    try:
        total, _ = get_model_complexity_info(
            model, tuple(x.shape[1:]), as_strings=False, print_per_layer_stat=False,
            input_constructor=lambda _: x)
    finally:
        mapping.update(saved_hooks)
        pytorch_engine.torch_function_wrapper.__call__ = saved_call
    return checked(total, parts, "ptflops")


def ptflops_aten(model: nn.Module, x: torch.Tensor) -> dict:
    """Backend aten, each aten op's count recorded, its bias term apart."""
    from ptflops import aten_ops, get_model_complexity_info

    parts: Counter = Counter()
    mapping = aten_ops.ATEN_OPS_MAPPING
    saved = dict(mapping)

    def bias_of(op, args, outputs) -> int:
        if op in (aten_ops.aten.addmm,) and args[0] is not None:
            return outputs[0].numel()
        if op in (aten_ops.aten.convolution, aten_ops.aten._convolution) and \
                args[2] is not None:
            return outputs[0].numel()
        return 0

    def recorded(op, rule: Callable) -> Callable:
        def run(args, outputs):
            count, bias = rule(args, outputs), bias_of(op, args, outputs)
            parts[str(op)] += count - bias
            parts[f"{op} bias"] += bias
            return count
        return run

    mapping.update({op: recorded(op, rule) for op, rule in saved.items()})
    try:
        total, _ = get_model_complexity_info(
            model, tuple(x.shape[1:]), as_strings=False, print_per_layer_stat=False,
            input_constructor=lambda _: x, backend="aten")
    finally:
        mapping.update(saved)
    return checked(total, parts, "ptflops-aten")


def thop(model: nn.Module, x: torch.Tensor) -> dict:
    from thop import profile

    total, _, layers = profile(model, inputs=(x,), verbose=False, ret_layer_info=True)
    parts: Counter = Counter()

    def walk(module: nn.Module, found: dict) -> None:
        for name, (ops, _, below) in found.items():
            child = getattr(module, name)
            if below:
                walk(child, below)
            else:
                parts[type(child).__name__] += ops
    walk(model, layers)
    parts[f"{type(model).__name__} (the model itself)"] += total - sum(parts.values())
    return checked(total, parts, "thop")


def torchinfo(model: nn.Module, x: torch.Tensor) -> dict:
    from torchinfo import summary

    stats = summary(model, input_data=[x], verbose=0)
    parts: Counter = Counter()
    for layer in stats.summary_list:
        if layer.is_leaf_layer:
            parts[layer.class_name] += layer.macs
    return checked(stats.total_mult_adds, parts, "torchinfo")


RUN = {"fvcore": fvcore, "ptflops": ptflops, "ptflops-aten": ptflops_aten, "thop": thop,
       "torchinfo": torchinfo}


def census(model: nn.Module, x: torch.Tensor) -> dict:
    """Each leaf module type: [calls, elements in (first input), elements out]."""
    found: dict = defaultdict(lambda: [0, 0, 0])

    def hook(module, inputs, output):
        row = found[type(module).__name__]
        out = output[0] if isinstance(output, tuple) else output
        row[0] += 1
        row[1] += inputs[0].numel() if inputs and torch.is_tensor(inputs[0]) else 0
        row[2] += out.numel() if torch.is_tensor(out) else 0

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if not any(m.children())]
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    return dict(sorted(found.items()))


def every_tool(build: Callable[[], nn.Module], x: torch.Tensor) -> dict:
    """Each tool on a fresh model (built after torch.manual_seed(0)), eval mode."""
    found = {}
    for tool in TOOLS:
        torch.manual_seed(0)
        found[tool] = RUN[tool](build().eval(), x)
    return found


# -- the single layers ---------------------------------------------------------------------

class Call(nn.Module):
    """A module whose forward makes one call (a function, an operator, a parameter multiply)."""

    def __init__(self, fn: Callable, **tensors: torch.Tensor) -> None:
        super().__init__()
        self.fn = fn
        for name, t in tensors.items():
            if isinstance(t, nn.Parameter):
                self.register_parameter(name, t)
            else:
                self.register_buffer(name, t)

    def forward(self, x):
        return self.fn(self, x)


def _layers() -> dict[str, tuple[Callable[[], nn.Module], tuple[int, ...]]]:
    from torchvision.models.convnext import LayerNorm2d
    from torchvision.ops import StochasticDepth

    tokens, nhwc, nchw, heads = (1, 12, 8), (1, 6, 5, 8), (1, 8, 6, 5), (1, 2, 12, 4)
    logits = (1, 2, 12, 12)
    return {
        "nn.LayerNorm(8) on (1, 12, 8)": (lambda: nn.LayerNorm(8), tokens),
        "nn.LayerNorm(8, elementwise_affine=False) on (1, 12, 8)":
            (lambda: nn.LayerNorm(8, elementwise_affine=False), tokens),
        "nn.LayerNorm(8) on (1, 6, 5, 8)": (lambda: nn.LayerNorm(8), nhwc),
        "LayerNorm2d(8) on (1, 8, 6, 5)": (lambda: LayerNorm2d(8), nchw),
        "permute, nn.LayerNorm(8), permute on (1, 8, 6, 5)": (lambda: nn.Sequential(
            Call(lambda m, x: x.permute(0, 2, 3, 1)), nn.LayerNorm(8),
            Call(lambda m, x: x.permute(0, 3, 1, 2))), nchw),
        "nn.GELU() on (1, 12, 8)": (lambda: nn.GELU(), tokens),
        "nn.GELU(approximate='tanh') on (1, 12, 8)": (lambda: nn.GELU(approximate="tanh"),
                                                      tokens),
        "F.gelu on (1, 12, 8)": (lambda: Call(lambda m, x: F.gelu(x)), tokens),
        "F.softmax(x, dim=-1) on (1, 2, 12, 12)":
            (lambda: Call(lambda m, x: F.softmax(x, dim=-1)), logits),
        "nn.Softmax(dim=-1) on (1, 2, 12, 12)": (lambda: nn.Softmax(dim=-1), logits),
        "x.softmax(dim=-1) on (1, 2, 12, 12)":
            (lambda: Call(lambda m, x: x.softmax(dim=-1)), logits),
        "torch.matmul(x, x.transpose(-2, -1)) on (1, 2, 12, 4)":
            (lambda: Call(lambda m, x: torch.matmul(x, x.transpose(-2, -1))), heads),
        "x @ x.transpose(-2, -1) on (1, 2, 12, 4)":
            (lambda: Call(lambda m, x: x @ x.transpose(-2, -1)), heads),
        "F.scaled_dot_product_attention(x, x, x) on (1, 2, 12, 4)":
            (lambda: Call(lambda m, x: F.scaled_dot_product_attention(x, x, x)), heads),
        "nn.MultiheadAttention(8, 2, batch_first=True)(x, x, x, need_weights=False) on "
        "(1, 12, 8)": (lambda: _MHA(8, 2), tokens),
        "torch.einsum('bhwc,hkc->bhwk', x, r) on (1, 6, 5, 8), r a (6, 4, 8) buffer":
            (lambda: Call(lambda m, x: torch.einsum("bhwc,hkc->bhwk", x, m.r),
                          r=torch.randn(6, 4, 8)), nhwc),
        "torch.einsum('bghid,bghjd->bghij', x, x) on (1, 2, 3, 6, 4)":
            (lambda: Call(lambda m, x: torch.einsum("bghid,bghjd->bghij", x, x)),
             (1, 2, 3, 6, 4)),
        "nn.GroupNorm(4, 8) on (1, 8, 6, 5)": (lambda: nn.GroupNorm(4, 8), nchw),
        "nn.GroupNorm(4, 8, affine=False) on (1, 8, 6, 5)":
            (lambda: nn.GroupNorm(4, 8, affine=False), nchw),
        "nn.InstanceNorm2d(8) on (1, 8, 6, 5)": (lambda: nn.InstanceNorm2d(8), nchw),
        "nn.InstanceNorm2d(8, affine=True) on (1, 8, 6, 5)":
            (lambda: nn.InstanceNorm2d(8, affine=True), nchw),
        "nn.Linear(8, 16) on (1, 12, 8)": (lambda: nn.Linear(8, 16), tokens),
        "nn.Linear(8, 16, bias=False) on (1, 12, 8)":
            (lambda: nn.Linear(8, 16, bias=False), tokens),
        "nn.Linear(8, 16) on (1, 6, 5, 8)": (lambda: nn.Linear(8, 16), nhwc),
        "torch.roll(x, (-2, -2), (1, 2)) on (1, 6, 5, 8)":
            (lambda: Call(lambda m, x: torch.roll(x, shifts=(-2, -2), dims=(1, 2))), nhwc),
        "x[:, 0] on (1, 12, 8)": (lambda: Call(lambda m, x: x[:, 0]), tokens),
        "layer scale: Parameter (8, 1, 1) * x on (1, 8, 6, 5)":
            (lambda: Call(lambda m, x: m.gamma * x,
                          gamma=nn.Parameter(torch.full((8, 1, 1), 1e-6))), nchw),
        "layer scale: Parameter (8,) * x on (1, 12, 8)":
            (lambda: Call(lambda m, x: m.gamma * x,
                          gamma=nn.Parameter(torch.full((8,), 1e-6))), tokens),
        "StochasticDepth(0.1, 'row') (eval) on (1, 8, 6, 5)":
            (lambda: StochasticDepth(0.1, "row"), nchw),
    }


class _MHA(nn.Module):
    """As torchvision's ViT EncoderBlock calls it."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.self_attention = nn.MultiheadAttention(dim, heads, batch_first=True)

    def forward(self, x):
        return self.self_attention(x, x, x, need_weights=False)[0]


def record(layers_only: bool) -> dict:
    import torchvision

    found = {
        "recorded": datetime.date.today().isoformat(),
        "versions": {"python": platform.python_version(),
                     **{p: version(p) for p in ("torch", "torchvision", "fvcore", "ptflops",
                                                "thop", "torchinfo")}},
        "recipe": "\n\n".join(__doc__.split("\n\n")[2:4]),
        "networks": {}, "layers": {}}
    for probe, (build, shape) in _layers().items():
        torch.manual_seed(0)
        x = torch.randn(shape)
        found["layers"][probe] = {"input": list(shape), "tools": every_tool(build, x)}
        print(probe, {t: v["total"] for t, v in found["layers"][probe]["tools"].items()},
              file=sys.stderr)
    for name in () if layers_only else NETWORKS:
        x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))
        def build(name: str = name) -> nn.Module:
            return getattr(torchvision.models, name)(weights=None)
        tools = every_tool(build, x)
        torch.manual_seed(0)
        found["networks"][name] = {"input": [1, 3, 224, 224], "tools": tools,
                                   "census": census(build().eval(), x)}
        print(name, {t: v["total"] for t, v in tools.items()}, file=sys.stderr)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=OUT)
    parser.add_argument("--layers-only", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    found = record(args.layers_only)
    args.output.write_text(json.dumps(found, indent=1) + "\n")


if __name__ == "__main__":
    main()
