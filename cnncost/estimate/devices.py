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
from cnncost.passes.latency import KINDS, Device

PROFILE_KEYS = ("name", "description", "sources", "peak_mult_adds", "vector_ops", "bandwidth",
                "cache", "launch", "overhead", "overlap", "im2col", "fuse", "efficiency",
                "calibration")


def devices_root() -> Path:
    return Path(__file__).resolve().parent / "profiles"


def bundled_devices() -> dict[str, Path]:
    root = devices_root()
    return {p.stem: p for p in sorted(root.glob("*.yaml"))} if root.is_dir() else {}


def load_device(ref: str) -> Device:
    """A bundled profile by name (``cnncost devices``) or a profile file."""
    from cnncost.core.files import is_file

    if not isinstance(ref, (str, PurePath)) or not str(ref):
        raise UsageError(Problem(f"a device is a profile name or a file, not {shown(repr(ref))}",
                                 hint="cnncost devices lists the bundled profiles"))
    text = str(ref)
    if is_file(text) or "/" in text or text.endswith((".yaml", ".yml")):
        return read_device(Path(text))  # a file, or a path that names none: read_text says
    path = bundled_devices().get(text)
    if path is None:
        raise UsageError(Problem(f"no such device profile: {shown(text)}",
                                 hint=(suggest(text, bundled_devices(), listing=True) +
                                       " (cnncost devices lists them)").strip()))
    return read_device(path)


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
    calibration = read.record(doc, "calibration")
    device = Device(
        name=read.text(doc, "name", path.stem), peak_mult_adds=peak,
        bandwidth=read.number(doc, "bandwidth", required=True, default=1.0, **rates),
        launch=read.number(doc, "launch", high=1.0), overhead=read.number(doc, "overhead",
                                                                           high=1.0),
        vector_ops=read.number(doc, "vector_ops", low=1.0),  # 0: as peak_mult_adds
        cache_bytes=cache_bytes if cache is not None else 0.0,
        cache_bandwidth=cache_bandwidth if cache is not None else 0.0,
        overlap=read.number(doc, "overlap", high=1.0, default=1.0), fuse=str(fuse),
        im2col=im2col is True, efficiency=efficiency,
        description=read.text(doc, "description", ""), sources=read.texts(doc, "sources"),
        calibration=calibration, file=str(path))
    if problems:
        raise SpecError(problems)
    return device


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
    lines += [f"launch: {device.launch:.10g}", f"overhead: {device.overhead:.10g}",
              f"overlap: {device.overlap:.10g}",
              f"im2col: {'true' if device.im2col else 'false'}", f"fuse: {device.fuse}"]
    if device.efficiency:
        lines.append("efficiency: {" + ", ".join(f"{k}: {v:.10g}" for k, v in
                                                 device.efficiency.items()) + "}")
    if device.calibration:
        lines.append("calibration:")
        lines += [f"  {k}: {yaml_scalar(v)}" for k, v in device.calibration.items()]
    return "\n".join(lines) + "\n"
