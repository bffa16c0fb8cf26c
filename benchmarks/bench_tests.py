"""What the test suite costs: wall time, peak memory and bytes written, for the full run (what
CI runs) and the fast run a developer iterates with (``-m "not slow"``).

    python benchmarks/bench_tests.py            # both runs
    python benchmarks/bench_tests.py --fast     # only the fast run

Figures come from the kernel's accounting of the pytest child process: wall time, its peak
resident set (ru_maxrss of the children) and the blocks it wrote (ru_oublock, 512 bytes each).
The machine is shared, so the wall time varies by tens of percent between runs; the memory and
bytes written do not.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(label: str, *args: str) -> dict[str, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
                          cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else "(no output)"
    figures = {
        "wall_s": wall,
        "peak_rss_mib": after.ru_maxrss / 1024,  # kilobytes on Linux
        "written_mib": (after.ru_oublock - before.ru_oublock) * 512 / 2**20,
    }
    print(f"{label:<22} {wall:7.1f} s  peak {figures['peak_rss_mib']:7.0f} MiB  "
          f"written {figures['written_mib']:8.1f} MiB  ({summary})", flush=True)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="only the fast run")
    options = parser.parse_args()
    run("fast (-m 'not slow')", "-m", "not slow")
    if not options.fast:
        # ru_maxrss of the children is the largest child so far: run the full suite second so
        # that its peak is not hidden by nothing (the fast run is a subset of it)
        run("full (what CI runs)")


if __name__ == "__main__":
    main()
