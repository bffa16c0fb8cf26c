"""Every recorded torchvision export through cnncost: status, figures against PyTorch's, time.

Reads a folder written by benchmarks/record_torchvision.py (default /work/zoo: <model>.<exporter>
.onnx files, reference.json, manifest.json) and, for each export, runs cnncost's load_model +
analyze in a subprocess with a timeout (a hang or a crash stops only that export). It records
the status (ok; refused, with cnncost's messages, and whether --allow-unknown rescues it; or an
internal error, a timeout, a crash), params and mult_adds beside the torch module's figures, the
time of load + analyze and, for comparison, the time of `import onnx` in the same process. It
writes docs/zoo.md (a table per model and exporter, then what does not work, grouped by reason)
and <folder>/bench.json.

Run with cnncost's environment (no torch needed):
    python benchmarks/bench_zoo.py [FOLDER] [--timeout 600] [--doc docs/zoo.md]
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import re
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------- in the worker


def worker(path: str) -> dict[str, Any]:
    """One export through cnncost: {"status": ok|refused|internal error, ...}."""
    start = time.perf_counter()
    import onnx  # noqa: F401  (timed alone: what cnncost's own work is compared with)

    import_onnx = time.perf_counter() - start
    sys.path.insert(0, str(ROOT))
    import cnncost
    from cnncost.core.errors import CnncostError

    start = time.perf_counter()
    try:
        a = cnncost.analyze(cnncost.load_model(path))
    except CnncostError as e:
        out = {
            "status": "refused",
            "reasons": [p.message for p in e.problems],
            "message": e.format(),
        }
        try:
            cnncost.analyze(cnncost.load_model(path, allow_unknown=True))
            out["allow_unknown"] = "ok"
        except CnncostError as again:
            out["allow_unknown"] = again.format()
        except Exception as again:  # noqa: BLE001  (a bug of cnncost: recorded, not raised)
            out["allow_unknown"] = f"internal error: {type(again).__name__}: {again}"
        return {**out, "import_onnx_s": import_onnx}
    except Exception as e:  # noqa: BLE001
        return {
            "status": "internal error",
            "reasons": [f"{type(e).__name__}: {e}"],
            "message": f"{type(e).__name__}: {e}",
            "import_onnx_s": import_onnx,
        }
    seconds = time.perf_counter() - start
    figures = cnncost.totals(a)
    return {
        "status": "ok",
        "params": figures["params"],
        "mult_adds": figures["mult_adds"],
        "partial": [list(p) for p in a.model.partial],
        "load_analyze_s": seconds,
        "import_onnx_s": import_onnx,
    }


# ---------------------------------------------------------------- in the parent


def exports(folder: Path, only: list[str]) -> list[tuple[str, str, Path]]:
    """(model, exporter, file) of every <model>.<exporter>.onnx in the folder (of the models
    named in ``only``, when given)."""
    out = []
    for f in sorted(folder.glob("*.onnx")):
        model, _, kind = f.name.removesuffix(".onnx").partition(".")
        if not only or model in only:
            out.append((model, kind, f))
    return out


def run(path: Path, timeout: float) -> dict[str, Any]:
    command = [sys.executable, __file__, "--worker", str(path)]
    start = time.perf_counter()
    try:
        done = subprocess.run(command, check=False, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"status": "timeout", "reasons": [f"no result after {timeout:.0f} s"]}
    wall = time.perf_counter() - start
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        return {"status": "crashed", "reasons": [tail[:500]], "process_s": wall}
    return {**json.loads(lines[-1]), "process_s": wall}


def import_onnx_seconds(runs: int = 5) -> float:
    """Median whole-process time of `python -c "import onnx"`."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import onnx"], check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def expected(ref: dict[str, Any]) -> dict[str, int]:
    """What an export of the module should give: the params its eval forward uses, less what
    folding each BN into the conv before it removes (reference.json's batchnorm_params_folded)."""
    return {
        "params": ref["params_used_in_eval_forward"] - ref["batchnorm_params_folded"],
        "mult_adds": ref["flop_counter_mult_adds"],
        "mult_adds_conv_linear": ref["mult_adds_conv_linear"],
    }


def difference(got: int, want: int | None) -> str:
    if want is None:
        return "no reference"
    return (
        "="
        if got == want
        else f"{got - want:+,} ({(got - want) / want:+.1%})"
        if want
        else f"{got - want:+,}"
    )


def reason_keys(message: str) -> list[str]:
    """A refusal's reasons without what is particular to one model (node names, numbers): one
    per op of a list of unsupported ops."""
    _, found, ops = message.splitlines()[0].partition("does not support: ")
    if found:
        return [f"unsupported op {op.split(' (')[0]}" for op in ops.split(", ")]
    return [reason_key(message)]


def reason_key(message: str) -> str:
    message = message.splitlines()[0]
    message = re.sub(r"'[^']*[/.:][^']*'", "'…'", message)  # quoted node and tensor names
    message = re.sub(r"(?<![\w'])[/\w.:-]*/[/\w.:-]*", "…", message)  # /scope/paths
    message = re.sub(r"\bnode_\w+", "node_…", message)
    return re.sub(r"\d+", "N", message)


def megabytes(path: Path) -> float:
    data = path.with_name(path.name + ".data")
    return (path.stat().st_size + (data.stat().st_size if data.exists() else 0)) / 1e6


def render(
    rows: list[dict[str, Any]], manifest: dict[str, Any], import_onnx: float, folder: Path
) -> str:
    ok = [r for r in rows if r["status"] == "ok"]
    exact = [r for r in ok if r.get("mult_adds_vs_flop_counter") == "="]
    lines = [
        "# The torchvision zoo through cnncost",
        "",
        "Every classification model of torchvision, built with random weights and exported by",
        "`benchmarks/record_torchvision.py` (legacy exporter opset 17, and the dynamo exporter),",
        "analysed by `benchmarks/bench_zoo.py` (cnncost's `load_model` + `analyze`, each export in",
        "its own process). Regenerate with:",
        "",
        "```sh",
        "nice /work/torchenv/bin/python benchmarks/record_torchvision.py --out /work/zoo   # torch",
        "python benchmarks/bench_zoo.py /work/zoo                                 # no torch",
        "```",
        "",
        (
            f"Run {datetime.date.today().isoformat()} on {platform.machine()}, Python "
            f"{platform.python_version()}, exports in `{folder}`."
        ),
        "",
        (
            f"**{len(rows)} exports: {len(ok)} analysed ({len(exact)} with mult_adds equal to "
            f"PyTorch's FlopCounterMode), {len(rows) - len(ok)} not.** "
            f"`import onnx` alone takes {import_onnx:.2f} s (median whole process)."
        ),
        "",
        "Reference figures (the torch module's, `reference.json`): params = params its eval "
        "forward",
        "uses, less what folding each BN into the conv before it removes (2C where the conv has a",
        "bias, else C: both exporters fold BN's gamma and beta into a conv bias); mult_adds =",
        "`torch.utils.flop_counter.FlopCounterMode` total / 2 (convolutions,",
        "linear layers and attention matmuls); hooks = Conv2d + Linear forward hooks only. "
        "`=` means",
        "equal; otherwise cnncost's figure minus the reference.",
        "",
        "Where params differ (DenseNet, MaxViT), the reference's folding rule is what is off, not",
        "the file's reading: densenet121's exports hold 62 BatchNormalization nodes of 34,336",
        "channels and 59 conv biases of 7,488 channels that no conv of the module has (the folded",
        "BNs), and 34,336 + 7,488 = 41,824, every BN channel of the module; so the exports hold",
        "7,978,856 - 7,488 = 7,971,368 params, cnncost's figure, where the reference's rule",
        "subtracts 7,808 (320 channels too many; which BN its rule misjudges was not traced).",
        "",
        (
            "| model | exporter | status | params | vs reference | mult_adds | vs flop counter "
            "| vs hooks | load+analyze s | / import onnx | MB |"
        ),
        "|---|---|---|--:|---|--:|---|---|--:|--:|--:|",
    ]
    for r in rows:
        if r["status"] == "ok":
            lines.append(
                f"| {r['model']} | {r['exporter']} | ok{' (partial)' if r['partial'] else ''} "
                f"| {r['params']:,} | {r['params_vs_reference']} | {r['mult_adds']:,} "
                f"| {r['mult_adds_vs_flop_counter']} | {r['mult_adds_vs_hooks']} "
                f"| {r['load_analyze_s']:.2f} | {r['load_analyze_s'] / r['import_onnx_s']:.2f}x "
                f"| {r['mb']:.1f} |"
            )
        else:
            lines.append(
                f"| {r['model']} | {r['exporter']} | {r['status']} | | | | | | | | {r['mb']:.1f} |"
            )
    by_reason: dict[tuple[str, str], list[str]] = defaultdict(list)
    for r in rows:
        if r["status"] != "ok":
            for reason in dict.fromkeys(k for m in r["reasons"] for k in reason_keys(m)):
                by_reason[(r["status"], reason)].append(f"{r['model']} ({r['exporter']})")
    lines += ["", "## What does not work, by reason", ""]
    if not by_reason:
        lines.append("Every export is analysed.")
    for (status, reason), which in sorted(by_reason.items(), key=lambda kv: -len(kv[1])):
        lines.append(f"- **{status}** ({len(which)}): `{reason}`: {', '.join(which)}")
    rescued = [f"{r['model']} ({r['exporter']})" for r in rows if r.get("allow_unknown") == "ok"]
    if rescued:
        lines += [
            "",
            f"`--allow-unknown` analyses {len(rescued)} of the refused ones (partially): "
            + ", ".join(rescued)
            + ".",
        ]
    unrecorded = [
        (name, kind, e.get("error", e["status"]))
        for name, entry in manifest.get("models", {}).items()
        for kind, e in entry.get("exports", {}).items()
        if e["status"] != "ok"
    ]
    skipped = [
        (name, entry["skipped"])
        for name, entry in manifest.get("models", {}).items()
        if "skipped" in entry
    ]
    if unrecorded or skipped:
        lines += ["", "## Exports PyTorch could not write (so not analysed)", ""]
        lines += [f"- {name} ({kind}): `{error[:300]}`" for name, kind, error in unrecorded]
        lines += [f"- {name}: skipped, {why}" for name, why in skipped]
    return "\n".join(lines) + "\n"


def bench(folder: Path, timeout: float, doc: Path, only: list[str]) -> None:
    refs = json.loads((folder / "reference.json").read_text())["models"]
    manifest_path = folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    rows = []
    for model, kind, path in exports(folder, only):
        r = {"model": model, "exporter": kind, "mb": megabytes(path), **run(path, timeout)}
        if r["status"] == "ok" and model in refs:
            want = expected(refs[model])
            r["params_vs_reference"] = difference(r["params"], want["params"])
            r["mult_adds_vs_flop_counter"] = difference(r["mult_adds"], want["mult_adds"])
            r["mult_adds_vs_hooks"] = difference(r["mult_adds"], want["mult_adds_conv_linear"])
        elif r["status"] == "ok":
            r["params_vs_reference"] = r["mult_adds_vs_flop_counter"] = r["mult_adds_vs_hooks"] = (
                "no reference"
            )
        rows.append(r)
        shown = r.get("mult_adds_vs_flop_counter") if r["status"] == "ok" else r["reasons"][0][:120]
        print(f"{model:<22}{kind:<18}{r['status']:<15}{shown}", flush=True)
    import_onnx = import_onnx_seconds()
    (folder / "bench.json").write_text(
        json.dumps({"import_onnx_s": import_onnx, "rows": rows}, indent=1) + "\n"
    )
    doc.write_text(render(rows, manifest, import_onnx, folder))
    ok = sum(r["status"] == "ok" for r in rows)
    exact = sum(r.get("mult_adds_vs_flop_counter") == "=" for r in rows)
    print(
        f"{len(rows)} exports: {ok} ok, {exact} with mult_adds equal to the flop counter's; "
        f"wrote {doc}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=Path("/work/zoo"))
    parser.add_argument("--timeout", type=float, default=600, help="seconds per export")
    parser.add_argument("--doc", type=Path, default=ROOT / "docs" / "zoo.md")
    parser.add_argument(
        "--only",
        nargs="+",
        default=[],
        metavar="MODEL",
        help="these models only (default: every export in the folder)",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker)))
        return
    bench(args.folder, args.timeout, args.doc, args.only)


if __name__ == "__main__":
    main()
