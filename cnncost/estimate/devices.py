"""Device profiles: the bundled ones (``cnncost devices``) and profile files a user writes,
read with file, line and key path for every problem; and a profile written back as YAML.
The estimate a profile feeds is cnncost.passes.latency.
"""

from __future__ import annotations

import math
from pathlib import Path, PurePath
from typing import Any

from cnncost.core.errors import Problem, SpecError, UsageError, shown, suggest
from cnncost.core.settings import DTYPES
from cnncost.passes.latency import KINDS, WINOGRAD_TRANSFORMS, Device, Threads

PROFILE_KEYS = ("name", "description", "sources", "peak_mult_adds", "vector_ops", "bandwidth",
                "cache", "launch", "setup", "overhead", "overlap", "im2col", "fuse", "efficiency",
                "threads", "compute_dtype", "winograd", "calibration")
THREAD_KEYS = ("count", "efficiency", "grain", "sync", "bandwidth")
MAX_THREADS = 1024
OVERRIDES = ("threads",)  # what a device reference may change: desktop_cpu@threads=8


def devices_root() -> Path:
    return Path(__file__).resolve().parent / "profiles"


def bundled_devices() -> dict[str, Path]:
    root = devices_root()
    return {p.stem: p for p in sorted(root.glob("*.yaml"))} if root.is_dir() else {}


def split_reference(text: str) -> tuple[str, str]:
    """A device reference as (profile, changes): ``desktop_cpu@threads=8`` -> ("desktop_cpu",
    "threads=8"); a name or a file without changes -> (text, "")."""
    from cnncost.core.files import is_file

    base, at, changes = text.rpartition("@")
    if at and base and "=" in changes and not is_file(text):
        return base, changes
    return text, ""


def load_device(ref: str) -> Device:
    """A bundled profile by name (``cnncost devices``) or a profile file, with a reference's
    changes (``desktop_cpu@threads=8``)."""
    from cnncost.core.files import is_file

    if not isinstance(ref, (str, PurePath)) or not str(ref):
        raise UsageError(Problem(f"a device is a profile name or a file, not {shown(repr(ref))}",
                                 hint="cnncost devices lists the bundled profiles"))
    text = str(ref)
    base, changes = split_reference(text)
    if changes:
        return with_overrides(load_device(base), changes)
    if is_file(text) or "/" in text or text.endswith((".yaml", ".yml")):
        return read_device(Path(text))  # a file, or a path that names none: read_text says
    path = bundled_devices().get(text)
    if path is None:
        raise UsageError(Problem(f"no such device profile: {shown(text)}",
                                 hint=(suggest(text, bundled_devices(), listing=True) +
                                       " (cnncost devices lists them)").strip()))
    return read_device(path)


def with_overrides(device: Device, changes: str) -> Device:
    """A profile run as a reference's ``@name=value,...`` says (``desktop_cpu@threads=8``):
    the thread count of a CPU profile with a ``threads:`` section. Its name says so, so that a
    baseline estimated on another thread count is refused like one from another device."""
    from dataclasses import replace

    for change in changes.split(","):
        name, _, value = (part.strip() for part in change.partition("="))
        if name not in OVERRIDES:
            raise UsageError(Problem(f"a device reference can set {', '.join(OVERRIDES)}, not "
                                     f"{shown(repr(name))}",
                                     hint=(suggest(name, OVERRIDES) or
                                           "e.g. --device desktop_cpu@threads=8")))
        if not value.isdigit() or not 1 <= int(value) <= MAX_THREADS:
            raise UsageError(Problem(f"threads is a whole number from 1 to {MAX_THREADS}, not "
                                     f"{shown(repr(value))}", hint="e.g. desktop_cpu@threads=8"))
        if device.threads is None:
            raise UsageError(Problem(
                f"{device.name} has no threads: section, so it cannot run on other threads",
                hint="a CPU profile states how its runtime splits kernels (threads: {count: 1, "
                     "efficiency: ..., grain: ..., sync: ...}); cnncost docs latency"))
        device = replace(device, threads=replace(device.threads, count=int(value)))
    count = device.threads.count if device.threads else 1
    return replace(device, name=f"{device.name.partition('@')[0]}@threads={count}")


def on_threads(device: Device, threads: int) -> Device:
    """The profile as a run on ``threads`` threads is estimated (``measure --threads N``): one
    with a ``threads:`` section at that count, named ``NAME@threads=N``; one without (a GPU's)
    as it is. A reference that set another count (``desktop_cpu@threads=8`` with 4 threads)
    is refused rather than silently changed."""
    if device.threads is None or device.threads.count == threads:
        return device
    if "@threads=" in device.name:
        raise UsageError(Problem(
            f"the device {device.name} is for {device.threads.count} threads, the run for "
            f"{threads}", hint=f"leave @threads= out of --device (it follows --threads), or "
                               f"give --threads {device.threads.count}"))
    return with_overrides(device, f"threads={threads}")


FIGURE_HINT = "write a plain number in SI units (per second, seconds, bytes): 484e9, 5e-6"


def figure(raw: Any) -> float:
    """A profile's figure as a float, or ValueError saying why it is none: a finite number,
    written as YAML reads numbers (``1.5e9``) or as text Python reads (``484e9``)."""
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        raise ValueError(f"expected a plain number, not {_kind(raw)}")
    try:
        value = float(raw.strip() if isinstance(raw, str) else raw)
    except (ValueError, OverflowError):
        raise ValueError(f"expected a plain number, not {shown(repr(raw))}") from None
    if not math.isfinite(value):
        raise ValueError(f"expected a finite number, not {shown(repr(raw))}")
    return value


class _Reader:
    """The figures of one profile document, every problem collected with its key path."""

    def __init__(self, problems: Any):
        self.problems = problems

    def section(self, doc: Any, key: str, known: tuple[str, ...], what: str) -> Any:
        """The mapping under ``key`` (None when absent or not a mapping: a problem)."""
        value = doc.get(key)
        if value is None and key not in doc:
            return None
        if not isinstance(value, dict):
            self.problems.add(f"expected a mapping of {what}, not {_kind(value)}",
                              doc.where(key), hint=f"e.g. {key}: {{{known[0]}: ...}}")
            return None
        self.problems.unknown_keys(value, known)
        return value

    def number(self, section: Any, key: str, *, low: float = 0.0, high: float = 1e18,
               positive: bool = False, required: bool = False, default: float = 0.0) -> float:
        """``section[key]`` as a float: 0 (unless ``positive``) or from ``low`` to ``high``."""
        if key not in section:
            if required:
                self.problems.add(f"missing '{key}'", section.loc,
                                  hint="cnncost docs latency lists a profile's figures")
            return default
        where = section.where(key)
        try:
            value = figure(section[key])
        except ValueError as exc:
            self.problems.add(str(exc), where, hint=FIGURE_HINT)
            return default
        if value < 0:
            self.problems.add(f"cannot be negative: {value:g}", where)
        elif positive and value == 0:
            self.problems.add("must be more than 0", where,
                              hint="a rate or size of 0 would make every time infinite")
        elif 0 < value < low:
            self.problems.add(f"must be at least {low:g}, not {value:g}", where)
        elif value > high:
            self.problems.add(f"must be at most {high:g}, not {value:g}", where)
        else:
            return value
        return default

    def text(self, doc: Any, key: str, default: str) -> str:
        value = doc.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            self.problems.add(f"expected text, not {_kind(value)}", doc.where(key))
            return default
        return str(value)

    def texts(self, doc: Any, key: str) -> tuple[str, ...]:
        value = doc.get(key)
        if value is None:
            return ()
        if not isinstance(value, list):
            self.problems.add(f"expected a list of text, not {_kind(value)}", doc.where(key))
            return ()
        for index, item in enumerate(value):
            if not isinstance(item, str):
                self.problems.add(f"expected text, not {_kind(item)}", value.where(index))
        return tuple(str(item) for item in value)

    def record(self, doc: Any, key: str) -> dict[str, Any]:
        """A mapping of names to plain values (how a profile was fitted)."""
        value = doc.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.problems.add(f"expected a mapping of names to values, not {_kind(value)}",
                              doc.where(key))
            return {}
        for name, item in value.items():
            if isinstance(item, (dict, list)) or item is None:
                self.problems.add(f"a plain value (text or a number), not {_kind(item)}",
                                  value.where(name))
        return dict(value)


def _kind(value: Any) -> str:
    """What a wrong value is, in a message."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return shown(repr(value))


DTYPE_KEYS = tuple(DTYPES)
PEAK_HINT = ("peak_mult_adds is a mapping of dtype: multiply-accumulates per second, with fp32 "
             "at least: peak_mult_adds: {fp32: 5.67e12}")


def read_device(path: Path) -> Device:
    """A profile file, or SpecError with every problem at its file, line and key path."""
    from cnncost.core.errors import Problems
    from cnncost.core.ir import Loc
    from cnncost.core.settings import FUSE_MODES
    from cnncost.core.yamldoc import Map, load

    doc = load(path, "device profile")
    if not isinstance(doc, Map):
        raise SpecError(Problem(f"a device profile is a mapping, not {_kind(doc)}",
                                getattr(doc, "loc", None) or Loc(str(path), 1, 1, ""),
                                hint="see: cnncost docs latency"))
    problems = Problems()
    problems.unknown_keys(doc, PROFILE_KEYS)
    read = _Reader(problems)
    rates = dict(low=1.0, positive=True)  # per second (or bytes): at least one
    raw_peak = read.section(doc, "peak_mult_adds", DTYPE_KEYS,
                            "dtype: multiply-accumulates per second, with fp32 at least")
    if "peak_mult_adds" not in doc:
        problems.add("missing 'peak_mult_adds'", doc.loc, hint=PEAK_HINT)
    elif raw_peak is not None and "fp32" not in raw_peak:
        problems.add("peak_mult_adds needs fp32 at least", raw_peak.loc, hint=PEAK_HINT)
    peak = {k: read.number(raw_peak, k, default=1.0, **rates) for k in raw_peak or ()
            if k in DTYPE_KEYS}
    shares = dict(low=1e-12, high=1.0, positive=True)  # of the peak
    raw_efficiency = read.section(doc, "efficiency", KINDS, "layer kind: share of the peak")
    efficiency = {k: read.number(raw_efficiency, k, default=1.0, **shares)
                  for k in raw_efficiency or () if k in KINDS}
    cache = read.section(doc, "cache", ("bytes", "bandwidth"), "bytes and bandwidth")
    if cache is not None:
        cache_bytes = read.number(cache, "bytes", required=True, **rates)
        cache_bandwidth = read.number(cache, "bandwidth", required=True, **rates)
    im2col = doc.get("im2col", False)
    if not isinstance(im2col, bool):
        problems.add(f"expected true or false, not {_kind(im2col)}", doc.where("im2col"))
    fuse = doc.get("fuse", "none")
    if fuse not in FUSE_MODES:
        problems.add(f"fuse is none or bn-act, not {_kind(fuse)}", doc.where("fuse"),
                     hint=suggest(str(fuse), FUSE_MODES))
    threads = _threads(read, doc)
    compute_dtype = read.text(doc, "compute_dtype", "")
    if compute_dtype and compute_dtype not in DTYPE_KEYS:
        problems.add(f"compute_dtype is one of {', '.join(DTYPE_KEYS)}, not "
                     f"{_kind(compute_dtype)}", doc.where("compute_dtype"),
                     hint=suggest(compute_dtype, DTYPE_KEYS))
    elif compute_dtype and raw_peak is not None and compute_dtype not in raw_peak:
        problems.add(f"compute_dtype {compute_dtype} needs its rate: peak_mult_adds has no "
                     f"{compute_dtype}", doc.where("compute_dtype"),
                     hint=f"add it: peak_mult_adds: {{fp32: ..., {compute_dtype}: ...}}")
    calibration = read.record(doc, "calibration")
    device = Device(
        name=read.text(doc, "name", path.stem), peak_mult_adds=peak,
        bandwidth=read.number(doc, "bandwidth", required=True, default=1.0, **rates),
        launch=read.number(doc, "launch", high=1.0), setup=read.number(doc, "setup", high=1.0),
        overhead=read.number(doc, "overhead", high=1.0),
        vector_ops=read.number(doc, "vector_ops", low=1.0),  # 0: as peak_mult_adds
        cache_bytes=cache_bytes if cache is not None else 0.0,
        cache_bandwidth=cache_bandwidth if cache is not None else 0.0,
        overlap=read.number(doc, "overlap", high=1.0, default=1.0), fuse=str(fuse),
        im2col=im2col is True, efficiency=efficiency, threads=threads,
        compute_dtype="" if compute_dtype == "fp32" else compute_dtype,
        winograd=_winograd(problems, doc),
        description=read.text(doc, "description", ""), sources=read.texts(doc, "sources"),
        calibration=calibration, file=str(path))
    if problems:
        raise SpecError(problems)
    return device


def _threads(read: _Reader, doc: Any) -> Threads | None:
    """The ``threads:`` section: how the runtime splits each kernel (None when absent)."""
    raw = read.section(doc, "threads", THREAD_KEYS, "how kernels are split over threads")
    if raw is None:
        return None
    count = read.number(raw, "count", low=1.0, high=MAX_THREADS, positive=True,
                        required=True, default=1.0)
    if count != int(count):
        read.problems.add(f"must be a whole number of threads, not {count:g}",
                          raw.where("count"))
    bandwidth = read.number(raw, "bandwidth", low=1.0)
    if 0 < bandwidth < figure_or(doc.get("bandwidth")):
        read.problems.add(f"the threads together reach at least one thread's bandwidth "
                          f"({doc.get('bandwidth')}), not {bandwidth:g}", raw.where("bandwidth"),
                          hint="threads.bandwidth is main memory for all threads together")
    return Threads(count=int(count),
                   efficiency=read.number(raw, "efficiency", low=1e-12, high=1.0,
                                          positive=True, default=1.0),
                   grain=read.number(raw, "grain"), sync=read.number(raw, "sync", high=1.0),
                   bandwidth=bandwidth)


def figure_or(raw: Any, default: float = 0.0) -> float:
    """A figure, or ``default`` when it is none (its own problem is reported where it is)."""
    try:
        return figure(raw)
    except ValueError:
        return default


WINOGRAD_HINT = ("winograd: none, or the output tile of F(m x m, 3x3): winograd: {tile: 2} "
                 "(2.25x fewer multiplies) or {tile: 4} (4x)")


def _winograd(problems: Any, doc: Any) -> int:
    """The ``winograd:`` key: ``none`` (or absent) is 0, ``{tile: m}`` is m."""
    value = doc.get("winograd", "none")
    if value == "none":
        return 0
    if not isinstance(value, dict):
        problems.add(f"expected none or a mapping {{tile: 2}}, not {_kind(value)}",
                     doc.where("winograd"), hint=WINOGRAD_HINT)
        return 0
    problems.unknown_keys(value, ("tile",))
    if "tile" not in value:
        problems.add("missing 'tile'", value.loc, hint=WINOGRAD_HINT)
        return 0
    tile = value["tile"]
    if isinstance(tile, bool) or not isinstance(tile, (int, float)) or \
            tile not in WINOGRAD_TRANSFORMS:
        problems.add(f"tile is {' or '.join(map(str, WINOGRAD_TRANSFORMS))}, not "
                     f"{_kind(tile)}", value.where("tile"), hint=WINOGRAD_HINT)
        return 0
    return int(tile)


def device_yaml(device: Device) -> str:
    """A profile as the YAML ``read_device`` reads."""
    from cnncost.frontends.yamlspec.writer import yaml_scalar

    lines = [f"name: {yaml_scalar(device.name)}",
             f"description: {yaml_scalar(device.description)}"]
    if device.sources:
        lines.append("sources:")
        lines += [f"  - {yaml_scalar(s)}" for s in device.sources]
    lines.append("peak_mult_adds: {" + ", ".join(f"{k}: {v:.10g}" for k, v in
                                                  device.peak_mult_adds.items()) + "}")
    if device.vector_ops:
        lines.append(f"vector_ops: {device.vector_ops:.10g}")
    lines.append(f"bandwidth: {device.bandwidth:.10g}")
    if device.cache_bytes:
        lines.append(f"cache: {{bytes: {int(device.cache_bytes)}, "
                     f"bandwidth: {device.cache_bandwidth:.10g}}}")
    lines.append(f"launch: {device.launch:.10g}")
    if device.setup:
        lines.append(f"setup: {device.setup:.10g}")
    lines += [f"overhead: {device.overhead:.10g}",
              f"overlap: {device.overlap:.10g}",
              f"im2col: {'true' if device.im2col else 'false'}", f"fuse: {device.fuse}"]
    if device.efficiency:
        lines.append("efficiency: {" + ", ".join(f"{k}: {v:.10g}" for k, v in
                                                 device.efficiency.items()) + "}")
    if device.threads is not None:
        t = device.threads
        lines.append(f"threads: {{count: {t.count}, efficiency: {t.efficiency:.10g}, "
                     f"grain: {t.grain:.10g}, sync: {t.sync:.10g}, "
                     f"bandwidth: {t.bandwidth:.10g}}}")
    if device.compute_dtype:
        lines.append(f"compute_dtype: {device.compute_dtype}")
    if device.winograd:
        lines.append(f"winograd: {{tile: {device.winograd}}}")
    if device.calibration:
        lines.append("calibration:")
        lines += [f"  {k}: {yaml_scalar(v)}" for k, v in device.calibration.items()]
    return "\n".join(lines) + "\n"
