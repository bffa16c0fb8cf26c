"""How long importing an ONNX model takes: every recorded torchvision export of
tests/data/onnx, after start-up (onnx imported once), as load + analyze.

Target (docs/benchmarks.md): at most 0.2 s per torchvision-size model. Reading the file is part
of it, so models whose weights are inside the .onnx (the legacy exporter's) take time in
proportion to their size; the new exporter's .onnx.data is read only where a value is needed.

Run: python benchmarks/bench_onnx.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import lzma
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import cnncost  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for packed in sorted((ROOT / "tests" / "data" / "onnx").glob("*.xz")):
            (folder / packed.name[:-3]).write_bytes(lzma.decompress(packed.read_bytes()))
        files = sorted(folder.glob("*.onnx"))
        cnncost.analyze(cnncost.load_model(str(files[0])))  # start-up: onnx imported once
        times: dict[Path, list[float]] = {f: [] for f in files}
        for _ in range(args.repeats):  # interleaved: every model once per round
            for f in files:
                start = time.perf_counter()
                cnncost.analyze(cnncost.load_model(str(f)))
                times[f].append(time.perf_counter() - start)
        print(f"{'model':<42}{'MB':>8}{'min s':>9}{'median s':>10}{'max s':>8}")
        for f in files:
            size = (f.stat().st_size + sum(p.stat().st_size for p in
                                           folder.glob(f.name + ".data"))) / 1e6
            t = times[f]
            print(f"{f.name:<42}{size:>8.1f}{min(t):>9.3f}{statistics.median(t):>10.3f}"
                  f"{max(t):>8.3f}")
        medians = [statistics.median(t) for t in times.values()]
        print(f"{len(files)} models, {args.repeats} interleaved runs each: median of medians "
              f"{statistics.median(medians):.3f} s, largest median {max(medians):.3f} s")


if __name__ == "__main__":
    main()
