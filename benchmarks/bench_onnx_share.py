"""How much of `cnncost analyze model.onnx` is onnx's own work: for each export given, the whole
command's wall time beside `python -c "import onnx; onnx.load(f)"` (onnx imported and the file
parsed, which no reader of ONNX avoids) and `python -c "import onnx"` alone, each a fresh process,
interleaved round by round, minimum and median of the rounds.

Issue 19's target: analysing a 100 MB export stays dominated by onnx (about 1.25x of it).

Run: python benchmarks/bench_onnx_share.py FILE.onnx [FILE.onnx ...] [--rounds 7]
(the exports come from benchmarks/record_torchvision.py, e.g. in /work/zoo)
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    python = sys.executable
    cnncost = str(Path(python).with_name("cnncost"))
    commands = {"import onnx": [python, "-c", "import onnx"]}
    for f in args.files:
        commands[f"onnx.load {f.name}"] = [
            python, "-c", f"import onnx; onnx.load({str(f)!r}, load_external_data=False)"]
        commands[f"analyze {f.name}"] = [cnncost, "analyze", str(f), "-f", "json"]
    times: dict[str, list[float]] = {name: [] for name in commands}
    for name, argv in commands.items():  # a warm-up round: the page cache holds every file
        timed(argv)
    for _ in range(args.rounds):
        for name, argv in commands.items():
            times[name].append(timed(argv))
    print(f"{'command':<58} {'min s':>7} {'median s':>9} {'max s':>7}")
    for name, runs in times.items():
        print(f"{name:<58} {min(runs):7.2f} {statistics.median(runs):9.2f} {max(runs):7.2f}")
    print()
    print(f"{'export':<40} {'MB':>6} {'analyze / (import + load)':>26}")
    for f in args.files:
        size = f.stat().st_size + sum(p.stat().st_size for p in f.parent.glob(f.name + ".data"))
        analyze = statistics.median(times[f"analyze {f.name}"])
        onnx = statistics.median(times[f"onnx.load {f.name}"])
        print(f"{f.name:<40} {size / 1e6:6.0f} {analyze / onnx:25.2f}x")


if __name__ == "__main__":
    main()
