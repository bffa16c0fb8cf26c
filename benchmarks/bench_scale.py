"""How cnncost's cost grows with network size, and how fast it starts.

Generates specs of 1,000 / 10,000 / 100,000 layers and prints the time to load (parse and
expand), analyze and render each, in one run so that the ratios are comparable on a shared,
noisy machine. Targets (docs/benchmarks.md): growth linear (100k within 12x of 10k), 10,000
layers under one second, and `cnncost analyze specs/mobilenet_v1.yaml` within 1.5x the start-up
of importing what it loads itself: typer, rich's console and table, and yaml (FLOOR below).

Run: python benchmarks/bench_scale.py [--sizes 1000 10000 100000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cnncost.pipeline import analyze  # noqa: E402
from cnncost.core.gcpause import paused_gc  # noqa: E402
from cnncost.report.document import document  # noqa: E402
from cnncost.report.render import to_json  # noqa: E402
from cnncost.frontends.yamlspec import load_graph  # noqa: E402

UNIT = 7  # layers per residual unit below
# What `cnncost analyze` imports that is not cnncost: the floor its start-up is compared with
# (numpy is not imported by analyze, so it is not in the floor).
FLOOR = "import typer, rich.console, rich.table, yaml"


def flat_spec(layers: int) -> str:
    """Every layer written out: residual units of conv, bn, relu, conv, bn, add, relu."""
    lines = ["name: flat", "input: {shape: [32, 28, 28]}", "layers:"]
    previous = "input"
    for u in range(layers // UNIT):
        p = f"u{u}"
        lines += [
            f"  - {{name: {p}c1, op: conv2d, out_channels: 32, kernel: 3}}",
            f"  - {{name: {p}b1, op: batchnorm}}",
            f"  - {{name: {p}r1, op: relu}}",
            f"  - {{name: {p}c2, op: conv2d, out_channels: 32, kernel: 3}}",
            f"  - {{name: {p}b2, op: batchnorm}}",
            f"  - {{name: {p}add, op: add, inputs: [{previous}, {p}b2]}}",
            f"  - {{name: {p}r2, op: relu}}",
        ]
        previous = f"{p}r2"
    return "\n".join(lines) + "\n"


def block_spec(layers: int) -> str:
    """The same network through a block and repeat (expressions evaluated per instance)."""
    return f"""\
name: blocks
variables: {{width: 32}}
input: {{shape: [width, 28, 28]}}
blocks:
  unit:
    args: {{out: null}}
    layers:
      - {{name: c1, op: conv2d, out_channels: out, kernel: 3}}
      - {{name: b1, op: batchnorm}}
      - {{name: r1, op: relu}}
      - {{name: c2, op: conv2d, out_channels: "in_channels", kernel: 3}}
      - {{name: b2, op: batchnorm}}
      - {{name: add, op: add, inputs: [input, b2]}}
      - {{name: r2, op: relu}}
layers:
  - {{name: unit, block: unit, repeat: {layers // UNIT}, args: {{out: width}}}}
"""


def timed(fn, repeats: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def scaling(sizes: list[int], repeats: int) -> None:
    print(f"{'spec':<8}{'layers':>9}{'load s':>9}{'analyze s':>11}{'render s':>10}"
          f"{'total s':>9}{'us/layer':>10}")
    with tempfile.TemporaryDirectory() as tmp:
        for style, make in (("flat", flat_spec), ("blocks", block_spec)):
            totals = {}
            for size in sizes:
                path = Path(tmp) / f"{style}_{size}.yaml"
                path.write_text(make(size))
                runs = repeats  # the same for every size: a best-of-3 against one run would
                with paused_gc():  # flatter the small sizes; GC paused as `cnncost analyze` runs
                    t_load, graph = timed(lambda: load_graph(path), runs)
                    t_an, result = timed(lambda: analyze(graph), runs)
                    t_out, _ = timed(lambda: to_json(document(result)), runs)
                total = t_load + t_an + t_out
                totals[size] = total
                layers = len(graph.nodes) - 1
                print(f"{style:<8}{layers:>9,}{t_load:>9.3f}{t_an:>11.3f}{t_out:>10.3f}"
                      f"{total:>9.3f}{1e6 * total / layers:>10.1f}")
            if 10_000 in totals and 100_000 in totals:
                print(f"{style}: 100k / 10k = {totals[100_000] / totals[10_000]:.2f}x "
                      f"(target <= 12x); 10k total {totals[10_000]:.3f} s (target < 1 s)")


def startup(runs: int) -> None:
    # As installed packages are: with their bytecode compiled (pip compiles at install; an
    # editable install writes it on first import, unless PYTHONDONTWRITEBYTECODE is set, as it
    # is on some CI machines, in which case every run would recompile cnncost from source).
    import compileall
    import os

    compileall.compile_dir(str(ROOT / "cnncost"), quiet=1)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

    def median_of(cmd: list[str]) -> float:
        subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, env=env)  # warm
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, env=env)
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    imports = median_of([sys.executable, "-c", FLOOR])
    ours = median_of([sys.executable, "-m", "cnncost", "analyze", "specs/mobilenet_v1.yaml"])
    print(f"start-up, median of {runs}: {FLOOR} {imports:.3f} s; "
          f"cnncost analyze specs/mobilenet_v1.yaml {ours:.3f} s; ratio {ours / imports:.2f}x "
          f"(target <= 1.5x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--repeats", type=int, default=2, help="runs per size (best taken)")
    parser.add_argument("--startup-runs", type=int, default=15)
    args = parser.parse_args()
    scaling(args.sizes, args.repeats)
    startup(args.startup_runs)


if __name__ == "__main__":
    main()
