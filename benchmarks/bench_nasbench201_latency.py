"""NAS-Bench-201 on HELP's 27 measured device settings: how well each predictor ranks the cells.

HELP (Lee et al., "HELP: Hardware-Adaptive Efficient Latency Prediction for NAS via
Meta-Learning", NeurIPS 2021, github HayeonLee/HELP) publishes the latency of all 15,625
NAS-Bench-201 cells on 27 device settings, in its repository's data/nasbench201/latency/*.pt
(lists in NAS-Bench-201's index order; data/nasbench201/str_arch2idx.pt maps each cell's
genotype string to its index). The data is read from a checkout, never committed:

    git clone https://github.com/HayeonLee/HELP /tmp/HELP
    python benchmarks/bench_nasbench201_latency.py /tmp/HELP [--draws 5] [--samples 10]

The .pt files are torch.save archives (a zip holding data.pkl) of plain Python lists and
dicts; they are read with the standard library and an unpickler that refuses every class
(no torch, no code run from the file).

For each device setting, on the cells HELP tests on (``--protocol help``, the default: its
meta-test split, below) or on all cells (``--protocol all``), it prints Spearman's rank
correlation with the measured latencies, and the median of |predicted / measured - 1|, of:

- mult_adds and mem_access (fuse=none; the device's batch), each times one constant fitted to
  the training cells (the median of measured / count);
- the uncalibrated estimate on the bundled class profile the device is mapped to (CLASSES);
- the estimate calibrated from ``--samples`` random cells (``--draws`` draws): cnncost's
  whole-network fit, cnncost.estimate.calibrate.fit, from the class profile as the prior.

Beside them, HELP's Table 3 (Spearman from 10 samples on its six unseen devices; FLOPs row).
``--explain`` also prints, per device, what each op costs on an edge beyond a ``none`` there,
measured and estimated (edge_costs): where the estimate's relative prices are wrong; and the
additive ceiling (additive_ceiling): the Spearman of the best per-edge, per-op sum fitted to
all the device's cells, which bounds every predictor that prices an edge's op the same
whatever the other edges are.

How it is fast: in every NAS-Bench-201 network, a cell's edge runs the same kernels whatever
the other edges are (no kernel fuses across a node: every node is read by two or more edges
or is an add), so a cell's kernels are the skeleton's plus its six edges'. The script takes
them from the five uniform cells (every edge the same op) and checks the composition against
the directly built network for random cells before using it. ``--full-sweep`` also sweeps all
15,625 cells with cnncost.sweep (about 3 minutes) and compares every row with the composition.
"""

from __future__ import annotations

import argparse
import collections
import io
import pickle
import random
import re
import statistics
import sys
import time
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

import cnncost
from cnncost.estimate.devices import load_device
from cnncost.passes.latency import kernel_seconds
from cnncost.pipeline import kernels

SPEC = str(Path(__file__).resolve().parent.parent / "specs" / "nasbench201.yaml")
OPS = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]
EDGE = re.compile(r"\.edge(\d)\.")

# HELP's device settings: (batch, the bundled class profile, why). Core counts of the Xeons
# from Intel's product pages (Gold 6226: 12 cores, Gold 6240: 18, Silver 4114: 10, Silver
# 4210R: 10); the runtime and thread count HELP timed with are not stated: assumed all cores.
GPU = "gtx1080ti"
PHONE = "phone_soc"
CLASSES: dict[str, tuple[int, str, str]] = {
    **{f"{gpu}_{batch}": (batch, GPU, "desktop GPU, cuDNN")
       for gpu in ("1080ti", "2080ti", "titanx", "titanxp", "titan_rtx")
       for batch in (1, 32, 256)},
    "gold_6226": (1, "xeon_gold_6338@threads=12", "server CPU, 12 cores"),
    "gold_6240": (1, "xeon_gold_6338@threads=18", "server CPU, 18 cores"),
    "silver_4114": (1, "xeon_gold_6338@threads=10", "server CPU, 10 cores"),
    "silver_4210r": (1, "xeon_gold_6338@threads=10", "server CPU, 10 cores"),
    "pixel2": (1, PHONE, "phone CPU (Snapdragon 835)"),
    "pixel3": (1, PHONE, "phone CPU (Snapdragon 845)"),
    "essential_ph_1": (1, PHONE, "phone CPU (Snapdragon 835)"),
    "samsung_a50": (1, PHONE, "phone CPU (Exynos 9610)"),
    "samsung_s7": (1, PHONE, "phone CPU (Snapdragon 820 / Exynos 8890)"),
    "raspi4": (1, "snapdragon810", "Cortex-A72 board; nearest class: one Cortex-A57 core"),
    "eyeriss": (1, PHONE, "simulated ASIC: no class profile; phone_soc as a stand-in prior"),
    "fpga": (1, PHONE, "simulated FPGA: no class profile; phone_soc as a stand-in prior"),
}
# HELP, Table 3 (README of HayeonLee/HELP): Spearman on the six unseen devices.
# The runtime HELP timed its desktop CPUs with is not stated either; what it timed is xautodl's
# PyTorch TinyNetwork, and on the desktop GPUs the class profile already runs it unfused
# (gtx1080ti: cuDNN, no fusion). PyTorch eager runs every module as its own kernel: BN after
# a conv is not folded into it. So on the Xeons the class profile runs without fusion too
# (the profile's own `fuse: bn-act` is onnxruntime's). An assumption about the runtime, not a
# fitted figure: each edge's kernel count, measured. On HELP's Xeons an edge costs about its
# kernels: relu-conv-bn (3 kernels) about 7x a `none` edge (1 kernel) whatever the conv's
# size, a 3x3 conv only 1.4x a 1x1 (docs/latency.md). PyTorch eager also spends more per conv
# call than onnxruntime: EAGER_SETUP, a 1x1 conv on 8-16 channels less a ReLU of the same
# tensor, 3.3-3.8 us on one core here (benchmarks/measure_setup.py, torch 2.14), for the
# profile's onnxruntime 0.3 us.
UNFUSED = {"gold_6226", "gold_6240", "silver_4114", "silver_4210r"}
EAGER_SETUP = 3.5e-6
HELP_TABLE3 = {  # device: (FLOPs, HELP from 10 samples)
    "titan_rtx_256": (0.950, 0.987), "gold_6226": (0.826, 0.989), "pixel2": (0.765, 0.802),
    "raspi4": (0.846, 0.890), "eyeriss": (0.437, 0.940), "fpga": (0.900, 0.985)}
HELP_MEANS = (0.787, 0.932)


class _Refusing(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"{module}.{name}: only plain lists and dicts are read")


def read_pt(path: Path) -> Any:
    """A torch.save archive of plain Python data, read without torch."""
    with zipfile.ZipFile(path) as archive:
        name = next(n for n in archive.namelist() if n.endswith("/data.pkl"))
        return _Refusing(io.BytesIO(archive.read(name))).load()


def codes_of(arch: str) -> tuple[int, ...]:
    """'|a~0|+|b~0|c~1|+|d~0|e~1|f~2|' -> the codes of e0..e5 (specs/nasbench201.yaml)."""
    edges = [part.split("~")[0] for node in arch.split("+") for part in node.split("|") if part]
    return tuple(OPS.index(op) for op in edges)


def help_data(root: Path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The cells' codes in NAS-Bench-201's index order, and each device's latencies (ms)."""
    data = root / "data" / "nasbench201" if (root / "data").is_dir() else root
    index = read_pt(data / "str_arch2idx.pt")
    codes = np.zeros((len(index), 6), dtype=np.int64)
    for arch, i in index.items():
        codes[i] = codes_of(arch)
    latency = {p.stem: np.asarray(read_pt(p), dtype=float)
               for p in sorted((data / "latency").glob("*.pt"))}
    return codes, latency


class Composition:
    """A cell's kernels as the skeleton's plus its edges', at one batch and fusion."""

    def __init__(self, batch: int, fuse: str) -> None:
        self.batch, self.fuse = batch, fuse
        self.edges: dict[tuple[int, int], list[Any]] = {}
        bases = []
        for code in range(5):
            model = cnncost.load_model(SPEC, {f"e{k}": code for k in range(6)}, batch=batch)
            base = []
            for k in kernels(model.graph, fuse):
                match = EDGE.search(model.graph.nodes[k.node].name)
                work = k._replace(node=0)
                if match:
                    self.edges.setdefault((int(match[1]), code), []).append(work)
                else:
                    base.append(work)
            bases.append(collections.Counter(base))
        assert all(b == bases[0] for b in bases), "the skeleton's kernels depend on the cell"
        self.base = list(bases[0].elements())
        for k in range(6):
            for code in range(5):
                self.edges.setdefault((k, code), [])

    def of(self, codes: Any) -> tuple[Any, ...]:
        return tuple(self.base + [w for k, c in enumerate(codes)
                                  for w in self.edges[(k, int(c))]])

    def check(self, cells: list[tuple[int, ...]]) -> None:
        for codes in cells:
            model = cnncost.load_model(SPEC, {f"e{k}": c for k, c in enumerate(codes)},
                                       batch=self.batch)
            direct = collections.Counter(k._replace(node=0)
                                         for k in kernels(model.graph, self.fuse))
            assert direct == collections.Counter(self.of(codes)), codes

    def seconds(self, device: Any, codes: np.ndarray) -> np.ndarray:
        """Every cell's estimate on ``device`` (as calibrate.predict: kernels + overhead)."""
        table = np.array([[sum(kernel_seconds(w, device, "fp32") for w in self.edges[(k, c)])
                           for c in range(5)] for k in range(6)])
        base = sum(kernel_seconds(w, device, "fp32") for w in self.base)
        return base + device.overhead + table[np.arange(6), codes].sum(axis=1)

    def counts(self, codes: np.ndarray, field: str) -> np.ndarray:
        table = np.array([[sum(getattr(w, field) for w in self.edges[(k, c)])
                           for c in range(5)] for k in range(6)], dtype=float)
        base = sum(getattr(w, field) for w in self.base)
        return base + table[np.arange(6), codes].sum(axis=1)


def split(measured: np.ndarray, protocol: str) -> tuple[list[int], np.ndarray]:
    """The cells training samples are drawn from, and the cells tested. ``help``: HELP's
    meta-test (loader.py, remove_outlier): samples from cells 0-899, tests on cells 900-1899,
    each set without its 10% fastest and 10% slowest cells on the device. ``all``: samples
    from every cell measured above 0, tests on all 15,625."""
    if protocol == "all":
        return [i for i in range(len(measured)) if measured[i] > 0], np.arange(len(measured))

    def middle(first: int, stop: int) -> np.ndarray:
        cells = np.arange(first, stop)
        order = cells[np.argsort(measured[cells], kind="stable")]
        return order[int(len(cells) * 0.1):int(len(cells) * 0.9)]

    return [int(i) for i in middle(0, 900)], np.sort(middle(900, 1900))


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b)[0])


def median_error(predicted: np.ndarray, measured: np.ndarray) -> float:
    return float(np.median(np.abs(predicted / measured - 1)))


def calibrated(prior: Any, comp: Composition, codes: np.ndarray, measured: np.ndarray,
               train: list[int]) -> tuple[np.ndarray | None, str]:
    """Predictions of a profile fitted to the training cells' times (seconds)."""
    from cnncost.estimate.calibrate import NotDetermined, fit

    work = [comp.of(codes[i]) for i in train]
    try:
        result = fit(work, [float(measured[i]) / 1000 for i in train], prior)
    except NotDetermined as exc:
        return None, f"not determined: {exc.problems[0].message}"
    return comp.seconds(result.device, codes) * 1000, ",".join(result.fitted)


def _edge_terms(codes: np.ndarray, seconds: np.ndarray) -> np.ndarray:
    """A least-squares fit of the cells' times as a sum of one term per edge and op (30
    terms, 6 x 5), to every cell measured."""
    ok = seconds > 0
    return np.linalg.lstsq(_design(codes[ok]), seconds[ok], rcond=None)[0].reshape(6, 5)


def _design(codes: np.ndarray) -> np.ndarray:
    design = np.zeros((len(codes), 30))
    rows = np.arange(len(codes))
    for k in range(6):
        design[rows, k * 5 + codes[:, k]] = 1
    return design


def edge_costs(codes: np.ndarray, seconds: np.ndarray) -> np.ndarray:
    """What each op costs on an edge, beyond a `none` there, as a share of what a 3x3 conv
    costs (_edge_terms averaged over the six edges). Rows skip, conv 1x1, conv 3x3, avg pool."""
    terms = _edge_terms(codes, seconds)
    beyond = (terms - terms[:, :1]).mean(axis=0)
    return beyond[1:] / beyond[3]


def additive_ceiling(codes: np.ndarray, seconds: np.ndarray, test: np.ndarray) -> float:
    """The Spearman on the tested cells of the best sum of per-edge terms, fitted to all
    15,625 measured cells (the test cells included): what any predictor that prices each op
    on each edge the same whatever the other edges (as the estimate does) can reach at most,
    up to the noise of that fit."""
    guess = _design(codes) @ _edge_terms(codes, seconds).reshape(30)
    return spearman(guess[test], seconds[test])


def full_sweep() -> None:
    """The whole space as one sweep (as `cnncost sweep` runs it): its row count and time, and
    its mult_adds and mem_access against the composition, cell by cell."""
    started = time.perf_counter()
    rows = cnncost.sweep(SPEC, {f"e{k}": [0, 1, 2, 3, 4] for k in range(6)})
    seconds = time.perf_counter() - started
    codes = np.array([[int(rows[f"e{k}"][i]) for k in range(6)]
                      for i in range(len(rows["params"]))])
    comp = Composition(1, "none")
    same = (np.array_equal(np.asarray(rows["mult_adds"], dtype=float),
                           comp.counts(codes, "mult_adds")) and
            np.array_equal(np.asarray(rows["mem_access"], dtype=float),
                           comp.counts(codes, "bytes") / 4))
    print(f"full sweep: {len(rows['params'])} rows of 5^6 = {5 ** 6} in {seconds:.0f} s; "
          f"mult_adds and mem_access equal to the composition on every cell: {same}\n")


def run(root: Path, draws: int, samples: int, seed: int, only: list[str],
        protocol: str, explain: bool = False) -> int:
    started = time.perf_counter()
    codes, latency = help_data(root)
    devices = [d for d in latency if not only or d in only]
    missing = [d for d in devices if d not in CLASSES]
    if missing:
        print(f"no class profile mapped for {missing}", file=sys.stderr)
        return 2
    comps: dict[tuple[int, str], Composition] = {}

    def composition(batch: int, fuse: str) -> Composition:
        if (batch, fuse) not in comps:
            comp = Composition(batch, fuse)
            comp.check([tuple(int(c) for c in codes[i])
                        for i in random.Random(seed).sample(range(len(codes)), 8)])
            comps[(batch, fuse)] = comp
        return comps[(batch, fuse)]

    rng = random.Random(seed)
    rows = []
    explained: list[tuple[str, np.ndarray, np.ndarray]] = []
    for name in devices:
        batch, profile, why = CLASSES[name]
        measured = latency[name]
        prior = load_device(profile)
        if name in UNFUSED:
            prior = replace(prior, fuse="none", setup=EAGER_SETUP)
            profile = f"{profile}, PyTorch eager"
        counting = composition(batch, "none")
        mult_adds = counting.counts(codes, "mult_adds")
        mem_access = counting.counts(codes, "bytes") / 4
        estimate = composition(batch, prior.fuse).seconds(prior, codes) * 1000
        figures: dict[str, list[tuple[float, float]]] = collections.defaultdict(list)
        fitted: list[str] = []
        pool, test_set = split(measured, protocol)
        for _ in range(draws):
            train = rng.sample(pool, samples)
            test = np.setdiff1d(test_set, train)
            for label, proxy in (("mult_adds", mult_adds), ("mem_access", mem_access)):
                scale = float(np.median(measured[train] / proxy[train]))
                figures[label].append((spearman(proxy[test], measured[test]),
                                       median_error(scale * proxy[test], measured[test])))
            figures["estimate"].append((spearman(estimate[test], measured[test]),
                                        median_error(estimate[test], measured[test])))
            guess, what = calibrated(prior, composition(batch, prior.fuse), codes, measured,
                                     train)
            fitted.append(what)
            if guess is not None:
                figures["calibrated"].append((spearman(guess[test], measured[test]),
                                              median_error(guess[test], measured[test])))
        rows.append((name, profile, why, figures, fitted))
        if explain:
            explained.append((name, edge_costs(codes, measured), edge_costs(codes, estimate),
                              additive_ceiling(codes, measured, test_set)))
    report(rows, draws, samples)
    if explain:
        print("\nWhat an op costs on an edge beyond a `none` there, as a share of a 3x3 conv's "
              "(a sum of one term per edge and op fitted to all cells' times; the mean over "
              "the six edges): measured / the uncalibrated estimate\n")
        print("| device | skip | conv 1x1 | conv 3x3 | avg pool | additive ceiling |")
        print("|---|---|---|---|---|---|")
        for name, real, guess, ceiling in explained:
            print(f"| {name} | " + " | ".join(f"{a:.2f} / {b:.2f}" for a, b in zip(real, guess))
                  + f" | {ceiling:.3f} |")
        six = [c for name, _, _, c in explained if name in HELP_TABLE3]
        if len(six) == len(HELP_TABLE3):
            print(f"\nAdditive ceiling (the Spearman of the best sum of per-edge terms fitted to "
                  f"all cells, the tested ones included), mean over HELP's six unseen devices: "
                  f"{statistics.mean(six):.3f}")
    tested = "HELP's 800 test cells" if protocol == "help" else f"all {len(codes)} cells"
    print(f"\n{tested} (--protocol {protocol}), {len(devices)} device settings, {draws} draws "
          f"of {samples} training cells (seed {seed}); {time.perf_counter() - started:.0f} s")
    return 0


def device_class(name: str) -> str:
    """The device class a HELP setting belongs to (what the issue asks to win on each): the
    start of its CLASSES description; desktop GPUs by batch too."""
    batch, _, why = CLASSES[name]
    if why.startswith("desktop GPU"):
        return f"desktop GPU, batch {batch}"
    for start, group in (("server CPU", "server CPU"), ("phone CPU", "phone CPU"),
                         ("simulated", "simulated accelerator")):
        if why.startswith(start):
            return group
    return "board CPU (Raspberry Pi 4)"


def _cell(values: list[tuple[float, float]], which: int, percent: bool = False) -> str:
    if not values:
        return "-"
    xs = [v[which] for v in values]
    mid = statistics.mean(xs)
    spread = (max(xs) - min(xs)) / 2
    if percent:
        return f"{mid:.0%}" + (f" ±{spread:.0%}" if spread >= 0.005 else "")
    return f"{mid:.3f}" + (f" ±{spread:.3f}" if spread >= 0.0005 else "")


def report(rows: list[Any], draws: int, samples: int) -> None:
    print("Spearman vs HELP's measured latencies (mean over draws, ± half the range), "
          "the tested cells less the training cells\n")
    print("| device | class profile | mult_adds | mem_access | estimate | calibrated | "
          "HELP (Table 3) | FLOPs (Table 3) |")
    print("|---|---|---|---|---|---|---|---|")
    for name, profile, _, figures, _ in rows:
        flops, helped = HELP_TABLE3.get(name, (None, None))
        print(f"| {name} | {profile} | {_cell(figures['mult_adds'], 0)} | "
              f"{_cell(figures['mem_access'], 0)} | {_cell(figures['estimate'], 0)} | "
              f"{_cell(figures['calibrated'], 0)} | {helped or ''} | {flops or ''} |")
    print("\nMedian |predicted / measured - 1| (the proxies times the median ratio of the "
          "training cells; the estimate as it is)\n")
    print("| device | mult_adds | mem_access | estimate | calibrated | fitted parameters |")
    print("|---|---|---|---|---|---|")
    for name, _, _, figures, fitted in rows:
        what = collections.Counter(fitted).most_common(1)[0][0] if fitted else ""
        print(f"| {name} | {_cell(figures['mult_adds'], 1, True)} | "
              f"{_cell(figures['mem_access'], 1, True)} | {_cell(figures['estimate'], 1, True)} | "
              f"{_cell(figures['calibrated'], 1, True)} | {what} |")
    unseen = [r for r in rows if r[0] in HELP_TABLE3]
    if len(unseen) == len(HELP_TABLE3):
        def mean(label: str) -> str:
            values = [statistics.mean(v[0] for v in r[3][label]) for r in unseen if r[3][label]]
            return f"{statistics.mean(values):.3f}" if len(values) == len(unseen) else "-"
        print(f"\nHELP's six unseen devices, mean Spearman: mult_adds {mean('mult_adds')}, "
              f"mem_access {mean('mem_access')}, estimate {mean('estimate')}, calibrated "
              f"from {samples} cells {mean('calibrated')}; HELP {HELP_MEANS[1]} from 10 "
              f"samples, FLOPs {HELP_MEANS[0]} (Table 3)")
    groups: dict[str, list[Any]] = collections.defaultdict(list)
    for r in rows:
        groups[device_class(r[0])].append(r)
    print("\nBy device class, mean Spearman over its device settings (mean over draws):\n")
    print("| device class | settings | mult_adds | mem_access | estimate | calibrated | "
          "calibrated above mult_adds |")
    print("|---|---|---|---|---|---|---|")
    for group, members in groups.items():
        means = {label: statistics.mean(statistics.mean(v[0] for v in r[3][label])
                                        for r in members)
                 if all(r[3][label] for r in members) else float("nan")
                 for label in ("mult_adds", "mem_access", "estimate", "calibrated")}
        print(f"| {group} | {len(members)} | " +
              " | ".join(f"{means[label]:.3f}" for label in means) +
              f" | {'yes' if means['calibrated'] > means['mult_adds'] else 'no'} |")
    classes: dict[tuple[str, str], list[str]] = collections.defaultdict(list)
    for name, profile, why, _, _ in rows:
        classes[(profile, why)].append(name)
    print("\nClass profiles (CLASSES in this script):")
    for (profile, why), names in sorted(classes.items()):
        print(f"- {profile} ({why}): {', '.join(names)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("help_repo", type=Path,
                        help="a checkout of github.com/HayeonLee/HELP (or its data/nasbench201)")
    parser.add_argument("--draws", type=int, default=5)
    parser.add_argument("--samples", type=int, default=10)
    parser.add_argument("--seed", type=int, default=20)
    parser.add_argument("--devices", default="", help="comma-separated HELP device names")
    parser.add_argument("--full-sweep", action="store_true",
                        help="also sweep all 15,625 cells with cnncost.sweep (about 2 minutes)")
    parser.add_argument("--explain", action="store_true",
                        help="also print what each op costs on an edge, measured and estimated")
    parser.add_argument("--protocol", choices=("help", "all"), default="help",
                        help="help: HELP's training and test cells (as its Table 3); all: "
                             "train on any cells, test on all 15,625")
    args = parser.parse_args(argv)
    root = args.help_repo
    if not (root / "data" / "nasbench201" / "latency").is_dir() and \
            not (root / "latency").is_dir():
        print(f"{root}: no data/nasbench201/latency/ here: HELP's latencies are in its "
              "repository (git clone https://github.com/HayeonLee/HELP)", file=sys.stderr)
        return 2
    if args.full_sweep:
        full_sweep()
    return run(root, args.draws, args.samples, args.seed,
               [d for d in args.devices.split(",") if d], args.protocol, args.explain)


if __name__ == "__main__":
    sys.exit(main())
