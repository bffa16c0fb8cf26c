"""What the test suite costs: wall time, peak memory and bytes written, for the full run (what
CI runs) and the fast run a developer iterates with (``-m "not slow"``).

    python benchmarks/bench_tests.py              # both runs
    python benchmarks/bench_tests.py --fast       # only the fast run (or --full)
    python benchmarks/bench_tests.py --slowest 20 # and each run's 20 slowest test phases

Figures come from the kernel's accounting of the pytest child process: wall time, the CPU time
it and its own children used (user + system), its peak resident set (ru_maxrss of the children)
and the blocks it wrote (ru_oublock, 512 bytes each), with the sum of the tests' own durations
(setup, call and teardown from ``--durations=0``: the wall time less pytest's start-up and
collection). The machine is shared: wall and CPU times vary up to 2x between runs as other work
takes the cores, so each run also prints the time a fixed Python loop took just before it, to
read its times against; the memory and the bytes written vary little.
"""

from __future__ import annotations

import argparse
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


# a line of pytest's --durations report: "12.34s call     tests/test_x.py::test_y[z]"
DURATION = re.compile(r"^(\d+(?:\.\d+)?)s (?:setup|call|teardown) +\S", re.MULTILINE)


def durations(output: str) -> list[tuple[float, str]]:
    """The (seconds, line) of each phase pytest reports with --durations=0 (it leaves out the
    phases under 5 ms, which add up to little)."""
    return [(float(m.group(1)), output[m.start():output.find("\n", m.start())])
            for m in DURATION.finditer(output)]


def reference_seconds() -> float:
    """The time of a fixed pure-Python loop, the best of 3: how fast the machine runs Python
    right now (shared cores run it up to 2x slower at times), to read the runs' times against."""
    def once() -> float:
        start = time.perf_counter()
        total = 0
        for i in range(3_000_000):
            total += i * i % 7
        return time.perf_counter() - start
    return min(once() for _ in range(3))


def run(label: str, *args: str, slowest: int = 0) -> dict[str, float]:
    reference = reference_seconds()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    # quiet from pyproject's addopts; a second -q would drop the "N passed" line
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                           "--durations=0", *args],
                          cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    counts = re.findall(r"^=* ?(\d+ (?:passed|failed|error).*?) ?=*$", done.stdout, re.MULTILINE)
    summary = counts[-1] if counts else "(no summary)"
    phases = durations(done.stdout)
    figures = {
        "reference_s": reference,
        "wall_s": wall,
        "cpu_s": (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
        "tests_s": sum(seconds for seconds, _ in phases),
        "peak_rss_mib": after.ru_maxrss / 1024,  # kilobytes on Linux
        "written_mib": (after.ru_oublock - before.ru_oublock) * 512 / 2**20,
    }
    print(f"{label:<22} {wall:6.1f} s (tests {figures['tests_s']:6.1f} s, cpu "
          f"{figures['cpu_s']:6.1f} s, reference loop {reference:.2f} s)  "
          f"peak {figures['peak_rss_mib']:7.0f} MiB  written {figures['written_mib']:8.1f} MiB  "
          f"({summary})", flush=True)
    for _, line in sorted(phases, reverse=True)[:slowest]:
        print(f"    {line}", flush=True)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="only the fast run")
    parser.add_argument("--full", action="store_true", help="only the full run")
    parser.add_argument("--slowest", type=int, default=0, metavar="N",
                        help="list the N slowest test phases of each run")
    options = parser.parse_args()
    if not options.full:
        run("fast (-m 'not slow')", "-m", "not slow", slowest=options.slowest)
    if not options.fast:
        # ru_maxrss of the children is the largest child so far: run the full suite second so
        # that its peak is not hidden by nothing (the fast run is a subset of it)
        run("full (what CI runs)", slowest=options.slowest)


if __name__ == "__main__":
    main()
