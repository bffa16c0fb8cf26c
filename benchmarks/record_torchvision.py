"""Record torchvision's classification models as ONNX exports, with PyTorch's own figures.

For each model (default: every model of torchvision.models.list_models(module=torchvision.models)):
built with weights=None after torch.manual_seed(0), BN statistics and every all-zero parameter given
random non-zero values (as a trained model has them; with zeros, exporters merge and drop biases),
eval(), then exported at batch 1, 3xRxR (R = 224; 299 for inception_v3):

- by the legacy exporter (dynamo=False), opset 17, static batch: <name>.legacy17.static.onnx
- by the dynamo exporter (dynamo=True, its default opset), weights in a separate file:
  <name>.dynamo.static.onnx + <name>.dynamo.static.onnx.data

Each export and each reference count runs in its own subprocess with a timeout, so one hang or
crash does not stop the rest. <out>/manifest.json records status, error and time per model and
exporter; <out>/reference.json the figures of the torch module itself (see REFERENCE_DEFINITION).
Both are rewritten after every step, and a model already recorded is skipped unless --redo.
--zero also writes, for tests/data, a copy of each export with every float tensor of more than 64
elements set to zeros, checked with onnx.checker, run once with onnxruntime and xz-compressed,
to <out>/tests-data/.

Needs the recording environment (torch, torchvision, onnx, onnxscript, onnxruntime); never
imported by cnncost or its tests. Run:
    nice /work/torchenv/bin/python benchmarks/record_torchvision.py [MODEL ...] [--out /work/zoo]
"""

from __future__ import annotations

import argparse
import json
import lzma
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

# recorded first (what the importer's work needs most), then the rest from the smallest up
FIRST = ["convnext_tiny", "swin_t", "vit_b_16", "maxvit_t", "swin_v2_t", "efficientnet_b0"]
RESOLUTION = {"inception_v3": 299}  # every other torchvision classifier's default is 224
# too big for this machine (2 shared cores, ~20 GB): recorded as skipped unless --include-huge
HUGE = {
    "vit_h_14": "632 M parameters (2.5 GB of float32): memory and time on a shared 2-core machine",
    "regnet_y_128gf": "645 M parameters (2.6 GB of float32): memory and time on a shared "
    "2-core machine",
}
EXPORTS = {
    "legacy17.static": {"dynamo": False, "opset_version": 17},
    "dynamo.static": {"dynamo": True, "external_data": True},
}
ZERO_ABOVE = 64  # float tensors with more elements than this are zeroed by --zero
REFERENCE_DEFINITION = {
    "params": "sum(p.numel() for p in model.parameters())",
    "params_used_in_eval_forward": "params the eval forward uses (those that get a gradient from"
    " its output; googlenet's and inception_v3's auxiliary heads do not)",
    "mult_adds_conv_linear": "forward hooks, batch 1, 1x3xRxR: Conv2d "
    "out.numel()*kh*kw*in_channels/groups"
    " + Linear out.numel()*in_features (a Linear whose forward is not called,"
    " such as nn.MultiheadAttention's projections, is not seen)",
    "batchnorm_channels_used_in_eval_forward": "num_features of the BatchNorm2d modules whose "
    "forward ran",
    "batchnorm_params_folded": "params an export loses when each BatchNorm2d that directly "
    "follows a"
    " Conv2d is folded into it: 2C if the conv has a bias, else C (gamma and"
    " beta go, the conv gains a bias); a BN after anything else (DenseNet's,"
    " MaxViT's) stays",
    "flop_counter_mult_adds": "torch.utils.flop_counter.FlopCounterMode total / 2, same input, SDPA"
    " on its math backend: conv, linear (mm, addmm) and attention matmuls"
    " (bmm)",
    "flop_counter_mult_adds_by_op": "the same, per aten op (FLOPs / 2)",
    "resolution": "R of the 1x3xRxR input",
    "torchvision_documented_gflops": "the GFLOPS column of torchvision's model tables (the default"
    " weights' meta _ops: multiply-adds in G, at weights_resolution)",
    "flop_counter_mult_adds_at_weights_resolution": "flop_counter_mult_adds at weights_resolution,"
    " where that is not R",
}


# ---------------------------------------------------------------- in the worker (imports torch)


def build(name: str):
    """The model as recorded: seeded, trained-like non-zero BN statistics and biases, eval()."""
    import torch
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.get_model(name, weights=None)
    with torch.no_grad():
        for module in model.modules():
            if (
                isinstance(module, torch.nn.modules.batchnorm._BatchNorm)
                and module.track_running_stats
            ):
                module.running_mean.copy_(torch.randn_like(module.running_mean) * 0.1)
                module.running_var.copy_(torch.rand_like(module.running_var) + 0.5)
        for p in model.parameters():
            if p.is_floating_point() and not p.any():
                p.copy_(torch.randn_like(p) * 0.02)
    return model.eval()


def sample(name: str):
    import torch

    r = RESOLUTION.get(name, 224)
    return torch.randn(1, 3, r, r)


def flop_count(model, x):
    """FlopCounterMode on one forward, SDPA on its math backend (bmm, which the counter sees:
    it does not count the CPU flash kernel, so ViT's attention would be missed)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with sdpa_kernel([SDPBackend.MATH]), counter:
        output = model(x)
    return counter, output


def documented(name: str, model) -> dict[str, Any]:
    """torchvision's figures for the default weights (GFLOPS column: at the weights' crop size)
    and the flop counter's mult-adds at that size."""
    import torch
    import torchvision

    weights = torchvision.models.get_model_weights(name).DEFAULT
    size = weights.transforms().crop_size[0]
    out = {
        "weights": str(weights),
        "weights_resolution": size,
        "torchvision_documented_gflops": weights.meta["_ops"],
        "torchvision_documented_params": weights.meta["num_params"],
    }
    if size != RESOLUTION.get(name, 224):
        with torch.no_grad():
            counter, _ = flop_count(model, torch.randn(1, 3, size, size))
        out["flop_counter_mult_adds_at_weights_resolution"] = int(counter.get_total_flops()) // 2
    return out


def reference(name: str) -> dict[str, Any]:
    import torch

    model, x = build(name), sample(name)
    ran: list[torch.nn.Module] = []
    mult_adds, folded = [0], [0]
    conv_of: dict[int, torch.nn.Conv2d] = {}  # id of a conv's output tensor -> the conv

    def hook(module, inputs, output):
        ran.append(module)
        if isinstance(module, torch.nn.Conv2d):
            kh, kw = module.kernel_size
            mult_adds[0] += output.numel() * kh * kw * module.in_channels // module.groups
            conv_of[id(output)] = module
        elif isinstance(module, torch.nn.Linear):
            mult_adds[0] += output.numel() * module.in_features
        elif isinstance(module, torch.nn.BatchNorm2d) and id(inputs[0]) in conv_of:
            # folded by the exporters: gamma and beta (2C) go, the conv gains a bias (C) if it
            # has none
            folded[0] += module.num_features * (2 if conv_of[id(inputs[0])].bias is not None else 1)

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    counter, output = flop_count(model, x)
    for h in handles:
        h.remove()
    output.sum().backward()  # outside the counter: a parameter the forward used gets a gradient
    used = {id(m): m for m in ran}.values()
    by_op = {
        str(op).removeprefix("aten."): int(n) // 2
        for op, n in counter.get_flop_counts()["Global"].items()
    }
    return {
        "params": sum(p.numel() for p in model.parameters()),
        "params_used_in_eval_forward": sum(
            p.numel() for p in model.parameters() if p.grad is not None
        ),
        "mult_adds_conv_linear": mult_adds[0],
        "batchnorm_channels_used_in_eval_forward": sum(
            m.num_features for m in used if isinstance(m, torch.nn.BatchNorm2d)
        ),
        "batchnorm_params_folded": folded[0],
        "flop_counter_mult_adds": int(counter.get_total_flops()) // 2,
        "flop_counter_mult_adds_by_op": dict(sorted(by_op.items())),
        "resolution": RESOLUTION.get(name, 224),
        **documented(name, model),
    }


def export(name: str, kind: str, out: Path) -> dict[str, Any]:
    import onnx
    import torch

    path = out / f"{name}.{kind}.onnx"
    for old in (path, path.with_name(path.name + ".data")):
        old.unlink(missing_ok=True)
    torch.onnx.export(
        build(name),
        (sample(name),),
        str(path),
        input_names=["input"],
        output_names=["logits"],
        **EXPORTS[kind],
    )
    onnx.checker.check_model(str(path))  # a path: external data is checked too
    opsets = {
        i.domain or "ai.onnx": i.version
        for i in onnx.load(str(path), load_external_data=False).opset_import
    }
    return {"file": path.name, "opset": opsets, "bytes": file_bytes(path)}


def zero_copy(path: Path, folder: Path) -> dict[str, Any]:
    """Every float tensor of more than ZERO_ABOVE elements set to zeros, checked, run, xz-ed."""
    import numpy as np
    import onnx
    import onnxruntime
    from onnx import numpy_helper

    model = onnx.load(str(path))
    floats = {
        onnx.TensorProto.FLOAT,
        onnx.TensorProto.FLOAT16,
        onnx.TensorProto.DOUBLE,
        onnx.TensorProto.BFLOAT16,
    }

    def zeroed(t: onnx.TensorProto) -> onnx.TensorProto:
        if t.data_type not in floats or int(np.prod(t.dims, dtype=np.int64)) <= ZERO_ABOVE:
            return t
        return numpy_helper.from_array(
            np.zeros(tuple(t.dims), numpy_helper.to_array(t).dtype), t.name
        )

    def zero_graph(graph: onnx.GraphProto) -> None:
        for t in graph.initializer:
            if (z := zeroed(t)) is not t:
                t.CopyFrom(z)
        for node in graph.node:
            for a in node.attribute:
                if a.type == onnx.AttributeProto.TENSOR and (z := zeroed(a.t)) is not a.t:
                    a.t.CopyFrom(z)
                for g in [a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs):
                    zero_graph(g)

    zero_graph(model.graph)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / path.name
    external = path.with_name(path.name + ".data").exists()
    for old in (target, target.with_name(target.name + ".data")):
        old.unlink(missing_ok=True)
    onnx.save_model(
        model,
        str(target),
        save_as_external_data=external,
        location=target.name + ".data" if external else None,
    )
    onnx.checker.check_model(str(target))
    session = onnxruntime.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    feed = {
        i.name: np.zeros([d if isinstance(d, int) else 1 for d in i.shape], np.float32)
        for i in session.get_inputs()
    }
    session.run(None, feed)
    packed = []
    for f in [target] + ([target.with_name(target.name + ".data")] if external else []):
        xz = f.with_name(f.name + ".xz")
        xz.write_bytes(lzma.compress(f.read_bytes(), preset=9 | lzma.PRESET_EXTREME))
        f.unlink()
        packed.append({"file": xz.name, "bytes": xz.stat().st_size})
    return {"files": packed}


def worker(task: str, name: str, out: Path, result: Path) -> None:
    import torch

    torch.set_num_threads(1)
    if task == "reference":
        value = reference(name)
    elif task.startswith("zero:"):
        value = zero_copy(out / f"{name}.{task[5:]}.onnx", out / "tests-data")
    else:
        value = export(name, task, out)
    result.write_text(json.dumps(value))


# ---------------------------------------------------------------- in the parent (no torch)


def file_bytes(path: Path) -> int:
    data = path.with_name(path.name + ".data")
    return path.stat().st_size + (data.stat().st_size if data.exists() else 0)


def run_task(task: str, name: str, out: Path, timeout: float) -> dict[str, Any]:
    """One task in a subprocess: {"status": ok|failed|timeout, "seconds", "error"?, ...result}."""
    logs, work = out / "logs", out / ".work"
    logs.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    tag = f"{name}.{task.replace(':', '-')}"
    result = work / f"{tag}.json"
    result.unlink(missing_ok=True)
    command = [
        sys.executable,
        __file__,
        "--worker",
        task,
        name,
        "--out",
        str(out),
        "--result",
        str(result),
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    start = time.perf_counter()
    with open(logs / f"{tag}.log", "w") as log:
        try:
            code = subprocess.run(
                command, check=False, stdout=log, stderr=subprocess.STDOUT, env=env, timeout=timeout
            ).returncode
        except subprocess.TimeoutExpired:
            return {
                "status": "timeout",
                "seconds": round(time.perf_counter() - start, 1),
                "error": f"no result after {timeout:.0f} s",
            }
    seconds = round(time.perf_counter() - start, 1)
    if code == 0 and result.exists():
        return {"status": "ok", "seconds": seconds, **json.loads(result.read_text())}
    return {"status": "failed", "seconds": seconds, "error": failure(code, logs / f"{tag}.log")}


def failure(code: int, log: Path) -> str:
    """The exception line of a failed worker (the last line that names an error), or its exit
    code."""
    lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    errors = [ln for ln in lines if "Error" in ln.split(":")[0] or "Exception" in ln.split(":")[0]]
    if errors:
        return errors[-1][:1000]
    if code < 0:
        return f"killed by signal {-code}" + (" (out of memory?)" if code == -9 else "")
    return f"exit code {code}: {lines[-1][:500] if lines else 'no output'}"


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for package in ("torch", "torchvision", "onnx", "onnxruntime", "onnxscript"):
        try:
            out[package] = __import__(package).__version__
        except ImportError:
            out[package] = "not installed"
    return out


def read_json(path: Path, default: dict[str, Any]) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else default


def write_json(path: Path, value: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(value, indent=1) + "\n")
    tmp.replace(path)


def record(
    names: list[str],
    out: Path,
    timeout: float,
    zero: bool,
    redo: bool,
    redo_reference: bool,
    include_huge: bool,
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    manifest = read_json(out / "manifest.json", {"models": {}})
    refs = read_json(out / "reference.json", {"models": {}})
    manifest["versions"] = refs["versions"] = versions()
    refs["source"] = __doc__.splitlines()[0] + " (benchmarks/record_torchvision.py)"
    refs["reference_definition"] = REFERENCE_DEFINITION
    for name in names:
        entry = manifest["models"].setdefault(name, {})
        entry["resolution"] = RESOLUTION.get(name, 224)
        if name in HUGE and not include_huge:
            entry["skipped"] = HUGE[name]
            write_json(out / "manifest.json", manifest)
            print(f"{name}: skipped ({HUGE[name]})", flush=True)
            continue
        entry.pop("skipped", None)
        # counted again when asked, or recorded by an earlier version of this script
        if redo or redo_reference or "batchnorm_params_folded" not in refs["models"].get(name, {}):
            got = run_task("reference", name, out, timeout)
            entry["reference"] = {k: got[k] for k in ("status", "seconds", "error") if k in got}
            if got["status"] == "ok":
                refs["models"][name] = {
                    k: v for k, v in got.items() if k not in ("status", "seconds")
                }
                write_json(out / "reference.json", refs)
            write_json(out / "manifest.json", manifest)
            print(
                f"{name} reference: {got['status']} {got['seconds']} s {got.get('error', '')}",
                flush=True,
            )
        for kind in EXPORTS:
            done = entry.setdefault("exports", {}).get(kind, {})
            if redo or done.get("status") != "ok":
                done = entry["exports"][kind] = run_task(kind, name, out, timeout)
                write_json(out / "manifest.json", manifest)
                print(
                    f"{name} {kind}: {done['status']} {done['seconds']} s {done.get('error', '')}",
                    flush=True,
                )
            if (
                zero
                and done.get("status") == "ok"
                and (redo or "zeroed" not in done or done["zeroed"]["status"] != "ok")
            ):
                done["zeroed"] = run_task(f"zero:{kind}", name, out, timeout)
                write_json(out / "manifest.json", manifest)
                print(
                    f"{name} {kind} zeroed: {done['zeroed']['status']} "
                    f"{done['zeroed'].get('files', done['zeroed'].get('error'))}",
                    flush=True,
                )


def default_order() -> list[str]:
    """Every classifier of torchvision.models: FIRST, then by parameter count (smallest first)."""
    import torchvision

    def size(name: str) -> int:
        return torchvision.models.get_model_weights(name).DEFAULT.meta["num_params"]

    rest = [n for n in torchvision.models.list_models(module=torchvision.models) if n not in FIRST]
    return FIRST + sorted(rest, key=size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "models",
        nargs="*",
        help="torchvision model names (default: all, FIRST first, then smallest first)",
    )
    parser.add_argument("--out", type=Path, default=Path("/work/zoo"))
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per export")
    parser.add_argument(
        "--zero",
        action="store_true",
        help="also write zeroed, xz-compressed copies to <out>/tests-data/",
    )
    parser.add_argument("--redo", action="store_true", help="record again what is already recorded")
    parser.add_argument(
        "--redo-reference",
        action="store_true",
        help="count the reference figures again (the exports are kept)",
    )
    parser.add_argument(
        "--include-huge", action="store_true", help=f"do not skip {', '.join(HUGE)}"
    )
    parser.add_argument("--worker", nargs=2, metavar=("TASK", "MODEL"), help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker[0], args.worker[1], args.out, args.result)
        return
    record(
        args.models or default_order(),
        args.out,
        args.timeout,
        args.zero,
        args.redo,
        args.redo_reference,
        args.include_huge,
    )


if __name__ == "__main__":
    main()
