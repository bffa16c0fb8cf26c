"""A sweep larger than memory, on every core: cnncost's sweep API under concurrent.futures.

The grid is cut along its first variable; each worker process sweeps its part with
cnncost.jobs.sweep.Sweep, which yields rows in blocks of bounded size, and streams them to its
own CSV file. Nothing holds the whole grid: memory stays at a few blocks per worker. Each
part is a run of consecutive rows of the grid and each file holds its rows in the grid's
order, so the files read in the order of their names (part0000.csv, part0001.csv, ...) give
every row in the grid's order, as ``cnncost sweep`` writes them.

    python docs/examples/parallel_sweep.py OUT_DIR [WORKERS]

benchmarks/bench_sweep.py runs it on 10^8 configurations; tests/test_sweep.py on a small grid.
"""

from __future__ import annotations

import os
import sys
from concurrent.futures import ProcessPoolExecutor

from cnncost.report.sweep_views import csv_text
from cnncost.jobs.sweep import Axis, Sweep, parse_axis


def sweep_part(spec: str, axes: list[Axis], path: str) -> tuple[int, int]:
    """Sweep one part of the grid to a CSV file; its rows and the worker's peak memory."""
    import resource

    job = Sweep(spec, axes)
    with open(path, "w") as f:
        for i, block in enumerate(job.blocks()):
            f.write(csv_text(job, block, header=(i == 0)))
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return job.result.rows, peak_kib


def parallel_sweep(spec: str, axes: list[Axis], out_dir: str,
                   workers: int = os.cpu_count() or 1) -> tuple[int, int]:
    """Every configuration of ``axes``, in ``workers`` processes, one CSV file per part
    (their names in the grid's order); the rows written and the largest peak memory of a
    worker (KiB)."""
    first, rest = axes[0], axes[1:]
    parts = max(1, min(len(first.values), 4 * workers))  # a few parts per worker: balance
    step = -(-len(first.values) // parts)
    jobs = []
    with ProcessPoolExecutor(workers) as pool:
        for n, start in enumerate(range(0, len(first.values), step)):
            part = [Axis(first.name, first.values[start:start + step]), *rest]
            jobs.append(pool.submit(sweep_part, spec, part,
                                    os.path.join(out_dir, f"part{n:04d}.csv")))
        results = [job.result() for job in jobs]
    return sum(r[0] for r in results), max(r[1] for r in results)


if __name__ == "__main__":
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    grid = [parse_axis("width=0.35:1.4:0.05"), parse_axis("resolution=96:224:16")]
    rows, peak = parallel_sweep("mobilenet_v2", grid, out, int(sys.argv[2]) if len(sys.argv) > 2
                                else os.cpu_count() or 1)
    print(f"{rows} rows in {out}; largest worker peak memory {peak / 1024:.0f} MiB")
