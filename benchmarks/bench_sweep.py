"""How fast sweeps are, and that their memory stays bounded. Prints its figures (they go into
docs/benchmarks.md by hand, with the date).

1. Configurations per second of MobileNet v2 grids, evaluated (rows produced, not written):
   width x resolution; width x resolution x depth (depth changes the topology); with a
   device profile (latency too). Best and median of several runs, next to the per-
   configuration path (load_model + analyze, what a loop over cnncost.analyze costs).
2. Writing: CSV rows per second, one process.
3. 10^8 configurations streamed to disk as CSV by docs/examples/parallel_sweep.py (the sweep
   API under concurrent.futures, every core), with each worker's peak memory; and one
   process's peak memory after 10^6, 10^7 and 10^8 configurations evaluated (it must not
   grow with the grid).

Run: python benchmarks/bench_sweep.py [--quick] [--huge]   (--huge adds part 3: ~5 minutes,
~9 GB of CSV in a temporary directory, deleted afterwards)
"""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "docs" / "examples"))

from cnncost.pipeline import analyze  # noqa: E402
from cnncost.estimate.devices import load_device  # noqa: E402
from cnncost.frontends.library import load_model  # noqa: E402
from cnncost.jobs.sweep import Sweep, parse_axis  # noqa: E402

GRIDS = {
    "width x resolution": ("width=0.35:1.4:0.001", "resolution=32:1024:1"),
    "width x resolution x depth": ("width=0.35:1.4:0.005", "resolution=96:512:2",
                                   "depth=0.5:2.0:0.05"),
}


def evaluate(grid: tuple[str, ...], device: object = None, runs: int = 3) -> dict[str, float]:
    rates = []
    for _ in range(runs):
        job = Sweep("mobilenet_v2", [parse_axis(g) for g in grid], device=device)
        start = time.perf_counter()
        rows = sum(len(b["params"]) for b in job.blocks())
        rates.append(rows / (time.perf_counter() - start))
    return {"configurations": job.size, "best": max(rates), "median": statistics.median(rates),
            "expansions": job.result.expansions, "topologies": len(job.result.topologies)}


def one_by_one(count: int = 60) -> float:
    """Configurations per second of a loop over load_model + analyze."""
    start = time.perf_counter()
    for i in range(count):
        analyze(load_model("mobilenet_v2", {"width": 0.35 + 0.01 * i, "resolution": 96 + 2 * i}))
    return count / (time.perf_counter() - start)


def writing(rows: int = 1_000_000) -> float:
    from cnncost.report.sweep_views import csv_text

    job = Sweep("mobilenet_v2", [parse_axis("width=0.35:1.4:0.001"),
                                 parse_axis(f"resolution=32:{32 + rows // 1051}:1")])
    start = time.perf_counter()
    written = 0
    with open(os.devnull, "w") as sink:
        for i, block in enumerate(job.blocks()):
            sink.write(csv_text(job, block, i == 0))
            written += len(block["params"])
    return written / (time.perf_counter() - start)


def bounded_memory() -> list[tuple[int, float]]:
    """One process's peak memory (MiB) after evaluating growing grids (10^6 .. 10^8)."""
    marks = []
    for depths in ("1.0", "0.5:1.4:0.1", "0.5:10.4:0.1"):
        job = Sweep("mobilenet_v2", [parse_axis("width=0.35:1.4:0.001"),
                                     parse_axis("resolution=32:1032:1"),
                                     parse_axis(f"depth={depths}")])
        for _ in job.blocks():
            pass
        marks.append((job.size, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))
    return marks


def huge(workers: int) -> dict[str, float]:
    from parallel_sweep import parallel_sweep

    axes = [parse_axis("width=0.35:1.4:0.001"), parse_axis("resolution=32:1032:1"),
            parse_axis("depth=0.5:10.4:0.1")]  # 1051 x 1001 x 100 = 105,205,100
    out = tempfile.mkdtemp(prefix="cnncost-sweep-")
    try:
        start = time.perf_counter()
        rows, peak_kib = parallel_sweep("mobilenet_v2", axes, out, workers)
        seconds = time.perf_counter() - start
        size = sum(p.stat().st_size for p in Path(out).iterdir())
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return {"rows": rows, "seconds": seconds, "bytes": size, "worker_peak_mib": peak_kib / 1024,
            "workers": workers}


def main() -> None:
    quick, with_huge = "--quick" in sys.argv, "--huge" in sys.argv
    print(f"per configuration (load_model + analyze): {one_by_one():,.0f} configurations/s")
    for name, grid in GRIDS.items():
        r = evaluate(grid, runs=1 if quick else 3)
        print(f"{name}: {r['configurations']:,} configurations, best {r['best']:,.0f}/s, "
              f"median {r['median']:,.0f}/s ({r['expansions']} expansions, "
              f"{r['topologies']} topologies)")
    r = evaluate(GRIDS["width x resolution"], load_device("desktop_cpu"), runs=1 if quick else 3)
    print(f"width x resolution with --device desktop_cpu: best {r['best']:,.0f}/s, median "
          f"{r['median']:,.0f}/s")
    print(f"CSV writing: {writing():,.0f} rows/s (one process, to /dev/null)")
    if quick:
        return
    for size, mib in bounded_memory():
        print(f"peak memory after {size:,} configurations evaluated: {mib:.0f} MiB")
    if with_huge:
        h = huge(os.cpu_count() or 1)
        print(f"{h['rows']:,} rows streamed to disk as CSV ({h['bytes'] / 1e9:.1f} GB) by "
              f"{h['workers']} worker processes in {h['seconds']:.0f} s "
              f"({h['rows'] / h['seconds']:,.0f} rows/s); largest worker peak memory "
              f"{h['worker_peak_mib']:.0f} MiB")


if __name__ == "__main__":
    main()
