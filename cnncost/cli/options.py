"""The options the commands share, each declared once, and what they say together: how to
load a model and how to analyse it. Every list of choices comes from cnncost.core.settings.

A command names the parameters its help lists, in order (``@command("spec", "sets", ...)``):
each is the command's own parameter of that name, or else the shared declaration below."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from enum import Enum
from typing import Annotated, Any, Optional

import typer

from cnncost.cli.app import diagnose
from cnncost.core import settings
from cnncost.core.errors import Problem, SpecError, UsageError


def choices(name: str, values: Iterable[str]) -> Any:
    """An option's choices as the Enum typer lists: one member per value of a settings list."""
    return Enum(name, {value: value for value in values}, type=str)


Format = choices("Format", settings.OUTPUT_FORMATS)
CheckFormat = choices("CheckFormat", settings.CHECK_FORMATS)
SweepFormat = choices("SweepFormat", settings.SWEEP_FORMATS)
Dtype = choices("Dtype", settings.DTYPES)
Fuse = choices("Fuse", settings.FUSE_MODES)
ToolConvention = choices("ToolConvention", settings.CONVENTIONS)
By = choices("By", settings.ROLLUPS)


def _passed(
    spec: Annotated[str, typer.Argument(
        metavar="SPEC",
        help="A spec file or bundled spec name, optionally with @variant and/or @name=value,... "
             "(e.g. mobilenet_v1@alpha=0.5,resolution=160).")],
    output: Annotated[Optional[str], typer.Option(
        "--output", "-o", metavar="FILE", help="Write to FILE (whole or not at all) instead of "
                                               "standard output.")] = None,
    layers: Annotated[bool, typer.Option("--layers", help="One row per layer.")] = False,
    threads: Annotated[int, typer.Option(
        "--threads", min=1, max=1024, help="onnxruntime intra-op threads.")] = 1,
    maximize: Annotated[list[str], typer.Option(
        "--maximize", metavar="COLUMN|x|y",
        help="Larger is better for this column of the Pareto front (by default smaller is), "
             "e.g. mult_adds or an accuracy column; x and y name the first and second.")] = [],
) -> None:
    """Shared declarations a command receives by name, as given."""


def _options(
    sets: Annotated[list[str], typer.Option(
        "--set", metavar="NAME=VALUE", help="Override a spec variable, e.g. --set alpha=0.75.")]
    = [],
    variant: Annotated[Optional[str], typer.Option(
        "--variant", help="Use one of the spec's named variants (cnncost specs lists them).")]
    = None,
    batch: Annotated[Optional[int], typer.Option(
        "--batch", min=1, max=1 << 24,
        help="Batch size of the input, instead of the spec's (default 1).")] = None,
    input_shape: Annotated[Optional[str], typer.Option(
        "--input-shape", metavar="NxCxHxW",
        help="ONNX models: the input's sizes where the file leaves them symbolic.")] = None,
    allow_unknown: Annotated[bool, typer.Option(
        "--allow-unknown", help="ONNX models: keep ops cnncost does not know with no cost, and "
                                "mark every total as partial.")] = False,
    format: Annotated[Format, typer.Option("--format", "-f", help="Output format.")]
    = Format.table,
    depth: Annotated[int, typer.Option(
        "--depth", min=1, max=64, help="Block depth (dotted-name parts) for --by block.")] = 1,
    dtype: Annotated[Dtype, typer.Option(
        "--dtype", help="Bytes per element of the byte figures.")] = Dtype.fp32,
    fuse: Annotated[Fuse, typer.Option(
        "--fuse", help="none: every op its own kernel (the paper's setting); "
                       "bn-act: BN folded and activations fused into the conv.")] = Fuse.none,
    device: Annotated[Optional[str], typer.Option(
        "--device", metavar="NAME|FILE",
        help="Estimate latency on a device profile: a bundled one (cnncost devices) or a "
             "profile file (cnncost calibrate writes one).")] = None,
    config: Annotated[Optional[str], typer.Option(
        "--config", metavar="FILE",
        help="YAML file with guideline thresholds (cnncost docs guidelines).")] = None,
    thresholds: Annotated[list[str], typer.Option(
        "--threshold", metavar="NAME=VALUE",
        help="Set a guideline threshold, e.g. --threshold g4.max_share=0.7 (or 70%).")] = [],
    strict: Annotated[bool, typer.Option(
        "--strict", help="Treat warnings (layers that feed nothing) as errors: exit 2.")]
    = False,
) -> None:
    """Shared declarations a command receives together, as an Options."""


PASSED = inspect.signature(_passed, eval_str=True).parameters
OPTIONS = inspect.signature(_options, eval_str=True).parameters


def command(*order: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Give a command function the parameters ``order`` names, in that order: its own
    declaration of that name, or else the shared one (``spec: str`` names the shared SPEC).
    The shared OPTIONS arrive together as the function's ``o`` (an Options: those it does not
    take at their defaults; one it declares itself, such as check's --format, arrives there
    too), the rest by name."""

    def wrap(function: Callable[..., None]) -> Callable[..., None]:
        own = dict(inspect.signature(function, eval_str=True).parameters)
        takes_options = own.pop("o", None) is not None
        declared = {**PASSED, **OPTIONS, **{n: p for n, p in own.items() if _declares(p)}}
        unknown = [name for name in order if name not in declared]
        not_taken = [name for name in order if name in PASSED and name not in own]
        left_out = [name for name in own if name not in order]
        if unknown or not_taken or left_out or len(set(order)) != len(order):
            raise TypeError(f"{function.__name__}: @command names {unknown} (not declared) or "
                            f"{not_taken} (not taken), leaves out {left_out}, or names one "
                            f"twice")
        parameters = [declared[name].replace(kind=inspect.Parameter.KEYWORD_ONLY)
                      for name in order]

        def call(**given: Any) -> None:
            named = {n: v for n, v in given.items() if n in own or n in PASSED}
            if takes_options:
                named["o"] = Options(**{n: v for n, v in given.items() if n in OPTIONS})
            function(**named)

        call.__name__, call.__qualname__ = function.__name__, function.__qualname__
        call.__doc__, call.__module__ = function.__doc__, function.__module__
        call.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
        call.__annotations__ = {p.name: p.annotation for p in parameters}
        return call

    return wrap


def _declares(parameter: inspect.Parameter) -> bool:
    """Whether a command's own parameter is a typer declaration (``Annotated[type, Option]``),
    not only a name for a shared one (``spec: str``)."""
    return hasattr(parameter.annotation, "__metadata__")


class Options:
    """The shared options a command was given, as plain values (a choice as its text, a list
    as a tuple); one the command does not take has its declared default."""

    def __init__(self, **given: Any) -> None:
        for name, parameter in OPTIONS.items():
            value = given.get(name, parameter.default)
            setattr(self, name, value.value if isinstance(value, Enum) else
                    tuple(value) if isinstance(value, list) else value)

    def loading(self) -> dict[str, Any]:
        """How to load each model: load_model's arguments."""
        shape = None
        if self.input_shape is not None:
            from cnncost.frontends.onnx.onnx_import import parse_shape
            shape = parse_shape(self.input_shape)
        return {"settings": parse_sets(self.sets), "variant": self.variant,
                "batch": self.batch, "input_shape": shape, "allow_unknown": self.allow_unknown}

    def profile(self) -> Any:
        """The device profile --device names, or None."""
        if self.device is None:
            return None
        from cnncost.estimate.devices import load_device

        return load_device(self.device)

    def analysis(self, spec: str, convention: str | None = None) -> Any:
        """One model analysed as the options say (with ``convention``, as that tool counts
        it too)."""
        from cnncost.frontends.library import load_model
        from cnncost.jobs.thresholds import load_thresholds
        from cnncost.pipeline import analyze

        limits = load_thresholds(self.config, list(self.thresholds))
        profile = self.profile()
        model = load_model(spec, **self.loading())
        result = analyze(model, fuse=self.fuse, dtype=self.dtype, depth=self.depth,
                         thresholds=limits, device=profile, convention=convention)
        self.warn(result.warnings)
        return result

    def models(self, specs: list[str]) -> list[Any]:
        """Several models analysed as the options say (cnncost.jobs.check.analyse_all)."""
        from cnncost.jobs.check import analyse_all
        from cnncost.jobs.thresholds import load_thresholds

        loading = self.loading()
        limits = load_thresholds(self.config, list(self.thresholds))
        models = analyse_all(specs, loading.pop("settings"), loading.pop("variant"),
                             fuse=self.fuse, dtype=self.dtype, thresholds=limits,
                             device=self.profile(), **loading)
        self.warn(tuple(w for m in models for w in m.analysis.warnings))
        return models

    def warn(self, warnings: tuple[str, ...]) -> None:
        """Warnings are errors with --strict; they go to standard error when the format has
        no place for them (CSV)."""
        if warnings and self.strict:
            raise SpecError([Problem(w.removeprefix("warning: ") + " (--strict)")
                             for w in warnings])
        if warnings and self.format == "csv":
            diagnose("\n".join(warnings))


def parse_sets(items: Iterable[str]) -> dict[str, str]:
    """``["alpha=0.75", "resolution=128"]`` -> {"alpha": "0.75", "resolution": "128"}; the
    spec reads each value as its variable's type."""
    values: dict[str, str] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise UsageError(f"--set {item!r}: expected name=value, e.g. --set alpha=0.75")
        values[key] = raw.strip()
    return values
