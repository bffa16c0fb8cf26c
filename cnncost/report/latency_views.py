"""What ``cnncost devices`` and ``cnncost measure`` print, in every format."""

from __future__ import annotations

from typing import Any

from cnncost.passes.latency import Device
from cnncost.report import render
from cnncost.report.document import convention, envelope, model_fields
from cnncost.report.render import Terminal
from cnncost.report.tables import BYTES, SECONDS, TEXT, Column, Table


def device_row(d: Device) -> dict[str, Any]:
    return {"name": d.name, "description": d.description,
            "peak_mult_adds": dict(d.peak_mult_adds), "bandwidth": d.bandwidth,
            "cache_bytes": d.cache_bytes, "cache_bandwidth": d.cache_bandwidth,
            "vector_ops": d.vector_ops, "launch": d.launch, "setup": d.setup,
            "overhead": d.overhead,
            "overlap": d.overlap, "im2col": d.im2col, "fuse": d.fuse,
            "efficiency": dict(d.efficiency),
            "threads": vars(d.threads).copy() if d.threads is not None else None,
            "compute_dtype": d.compute_dtype or None, "winograd": d.winograd or None,
            "sources": list(d.sources), "calibration": dict(d.calibration)}


def _runs(d: Device) -> str | None:
    """How the device runs a model beyond its rates: threads, fp16 arithmetic, Winograd."""
    parts = [f"{d.threads.count} thread{'s' if d.threads.count > 1 else ''}"] if d.threads else []
    if d.compute_dtype:
        parts.append(f"fp32 as {d.compute_dtype}")
    if d.winograd:
        parts.append(f"Winograd F({d.winograd}x{d.winograd},3x3)")
    return ", ".join(parts) or None


def _rate(value: float, unit: str) -> str:
    from cnncost.report import fmt

    return f"{fmt.human(value)}{unit}/s"


def devices_text(devices: dict[str, Device], fmt: str, terminal: Terminal = Terminal()) -> str:
    from cnncost.report.views import tables_text

    rows = [device_row(d) for d in devices.values()]
    if fmt == "json":
        return render.to_json({**envelope("devices", convention()), "devices": rows})
    shown = [{**r, "peak": _rate(r["peak_mult_adds"]["fp32"], ""),
              "memory": _rate(r["bandwidth"], "B"), "runs": _runs(d),
              "cache": int(r["cache_bytes"]) or None} for r, d in zip(rows, devices.values())]
    table = Table(
        title="device profiles (cnncost analyze --device NAME; cnncost docs latency)",
        columns=(Column("name", "name", TEXT, wrap=False),
                 Column("peak", "fp32 peak\n(mult-adds/s)", TEXT),
                 Column("memory", "memory\nbandwidth", TEXT),
                 Column("cache", "cache", BYTES, optional=2),
                 Column("launch", "launch", SECONDS, optional=3),
                 Column("fuse", "fuses", TEXT, optional=1),
                 Column("runs", "runs", TEXT, optional=2),
                 Column("description", "description", TEXT)),
        rows=tuple(shown),
        notes=("every figure's source is in the profile's sources: (cnncost devices "
               "--format json); your own machine: cnncost calibrate -o mine.yaml",))
    return tables_text([table], fmt, terminal)


def measure_text(a: Any, timing: Any, runtime: str, fmt: str,
                 terminal: Terminal = Terminal()) -> str:
    """A measured timing, with the estimate beside it when the analysis has one."""
    from cnncost.pipeline import figures
    from cnncost.report.views import tables_text

    measured = {"min": timing.min, "median": timing.median, "max": timing.max,
                "runs": timing.runs, "warmup": timing.warmup, "threads": timing.threads,
                "spread": timing.spread, "runtime": runtime}
    estimate = a.latency.total if a.latency is not None else None
    if fmt == "json":
        doc = {**envelope("measure", {**convention(batch=a.model.batch),
                                      "device": a.latency.device.name if estimate else None}),
               **model_fields(a), "measured": measured, "totals": figures(a)}
        if estimate is not None:
            doc["estimate_error"] = estimate / timing.min - 1
        return render.to_json(doc)
    rows = [{"what": "fastest run (minimum)", "value": timing.min, "note": ""},
            {"what": "median run", "value": timing.median,
             "note": f"{100 * timing.spread:.1f}% above the fastest"},
            {"what": "slowest run", "value": timing.max, "note": ""}]
    if estimate is not None:
        rows.append({"what": f"estimate on {a.latency.device.name}", "value": estimate,
                     "note": f"{100 * (estimate / timing.min - 1):+.1f}% vs the fastest run"})
    table = Table(
        title=f"{a.model.title}: measured on this machine",
        columns=(Column("what", "", TEXT), Column("value", "seconds per inference", SECONDS),
                 Column("note", "", TEXT)),
        rows=tuple(rows),
        notes=(f"{runtime}, {timing.threads} thread{'s' if timing.threads > 1 else ''} "
               f"(intra-op), {timing.warmup} warm-up runs then {timing.runs} timed runs, "
               f"batch {a.model.batch}, random input",))
    return tables_text([table], fmt, terminal)
