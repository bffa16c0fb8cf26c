"""Record NAS-Bench-201's own figures for a sample of cells: specs/nasbench201.yaml's reference.

Run in an environment with torch and xautodl (never cnncost's: torch is no dependency of it):

    /work/torchenv/bin/pip install --no-deps xautodl
    /work/torchenv/bin/python benchmarks/nasbench201_reference.py

For 30 random cells (seed 201) and the two extremes (every edge nor_conv_3x3, every edge
none), it builds xautodl's TinyNetwork(C=16, N=5, genotype, num_classes=10), the benchmark's
CIFAR-10 network, and records:

- `params`: the model's trainable tensors (conv and linear weights, the classifier's bias,
  BN gamma and beta; BN running statistics are buffers, not parameters);
- `mult_adds`: forward hooks on every nn.Conv2d (output elements x in_channels / groups x
  kh x kw) and nn.Linear (in_features x out_features), batch 1 at 32x32: multiply-adds, the
  bias of the classifier not counted;
- `xautodl_flops_m` and `xautodl_params_mb`: what xautodl's get_model_infos reports, the
  figures NAS-Bench-201 publishes (its FLOPs are multiply-adds plus the classifier's bias
  additions, in millions; params in millions).

The result is written to benchmarks/nasbench201_reference.json, which
tests/test_specs_nasbench201.py reads (the test needs no torch).
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import torch
import xautodl
from torch import nn
from xautodl.models.cell_infers.tiny_network import TinyNetwork
from xautodl.models.cell_operations import NAS_BENCH_201
from xautodl.models.cell_searchs.genotypes import Structure
from xautodl.utils.flop_benchmark import get_model_infos

OUT = Path(__file__).with_name("nasbench201_reference.json")
# The edges e0..e5 of specs/nasbench201.yaml: (to node, from node), in the genotype's order.
EDGES = [(1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2)]


def arch_string(codes: list[int]) -> str:
    """'|a~0|+|b~0|c~1|+|d~0|e~1|f~2|' from six codes (indices into NAS_BENCH_201)."""
    ops = [NAS_BENCH_201[c] for c in codes]
    nodes = [[f"{ops[k]}~{src}" for k, (dst, src) in enumerate(EDGES) if dst == node]
             for node in (1, 2, 3)]
    return "+".join("|" + "|".join(node) + "|" for node in nodes)


def counted(model: nn.Module, resolution: int) -> int:
    """Multiply-adds of the convs and linear layers in one forward pass (batch 1)."""
    total = 0

    def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            total += output.numel() * (module.in_channels // module.groups) * kh * kw
        else:
            total += output.numel() * module.in_features

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model(torch.zeros(1, 3, resolution, resolution))
    for handle in handles:
        handle.remove()
    return total


def record(codes: list[int]) -> dict:
    arch = arch_string(codes)
    model = TinyNetwork(16, 5, Structure.str2structure(arch), 10).eval()
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    mult_adds = counted(model, 32)
    flops_m, params_mb = get_model_infos(model, (1, 3, 32, 32))
    return {"arch": arch, "codes": codes, "params": params, "mult_adds": mult_adds,
            "xautodl_flops_m": round(float(flops_m), 6),
            "xautodl_params_mb": round(float(params_mb), 6)}


def main() -> int:
    rng = random.Random(201)
    indices = rng.sample(range(5 ** 6), 30)
    cells = [[3] * 6, [0] * 6] + [[(i // 5 ** (5 - k)) % 5 for k in range(6)] for i in indices]
    rows = [record(codes) for codes in cells]
    OUT.write_text(json.dumps({
        "what": "xautodl TinyNetwork(C=16, N=5, genotype, num_classes=10), batch 1, 3x32x32",
        "recorded_by": "benchmarks/nasbench201_reference.py",
        "xautodl": getattr(xautodl, "__version__", "1.0.0"), "torch": torch.__version__,
        "op_codes": list(NAS_BENCH_201),
        "cells": rows}, indent=1) + "\n")
    print(f"{len(rows)} cells -> {OUT}")
    for row in rows[:2]:
        print(row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
