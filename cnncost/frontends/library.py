"""The bundled architecture library, and spec references such as
``mobilenet_v1@alpha=0.5,resolution=160`` or ``shufflenet_v2@1.5x``.

A reference is a spec file's path or the name of a bundled spec, optionally followed by ``@``
and comma-separated settings: ``name=value`` sets a variable (the value read as the variable's
type), a bare word picks a variant.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from cnncost.core.errors import WHOLE, Problem, SpecError, UsageError, argument, shown, suggest
from cnncost.core.files import bundled_folder, exists, is_file
from cnncost.core.model import Model


def specs_root() -> Path:
    """Where the bundled specs are: inside the installed package, or the source tree's specs/."""
    return bundled_folder("specs")


def bundled() -> dict[str, Path]:
    """Bundled spec name (path below specs/ without .yaml, e.g. ``bench/g2_groups``) -> file."""
    root = specs_root()
    if not root.is_dir():
        return {}
    return {path.relative_to(root).with_suffix("").as_posix(): path
            for path in sorted(root.rglob("*.yaml"))}


def resolve(spec: str) -> Path:
    """The file a spec argument names: an existing path, else a bundled spec's name."""
    path = Path(spec)
    if is_file(path):
        return path
    names = bundled()
    if spec in names:
        return names[spec]
    if exists(path):
        raise SpecError(Problem(f"{spec} is not a file",
                                hint="give the path of a .yaml spec or a bundled spec name"))
    hint = suggest(spec, names, listing=False)
    hint = (hint + " " if hint else "") + "`cnncost specs` lists the bundled specs"
    raise SpecError(Problem(f"no such file or bundled spec: {shown(spec, 120)}", hint=hint))


@dataclass(frozen=True)
class SpecRef:
    spec: str
    variant: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        settings = ([self.variant] if self.variant else []) + [
            f"{k}={v}" for k, v in self.overrides.items()]
        name = Path(self.spec).stem if self.spec.endswith(".yaml") else self.spec
        return name + ("@" + ",".join(settings) if settings else "")


def parse_ref(text: str | os.PathLike | SpecRef) -> SpecRef:
    """``name@variant,k=v`` -> SpecRef; without ``@`` the whole text is the spec, and so is a
    text naming an existing file (``net@v2.yaml`` is a file, not net with variant v2.yaml).
    A Path is read as its text; a SpecRef is already parsed."""
    if isinstance(text, SpecRef):
        return text
    text = os.fspath(text)
    spec, at, settings = text.rpartition("@")
    if not at or not spec or is_file(text):
        return SpecRef(text)
    variant = None
    overrides: dict[str, Any] = {}
    for item in (part.strip() for part in settings.split(",")):
        if not item:
            continue
        key, eq, value = item.partition("=")
        if eq:
            if not key.strip().isidentifier():
                raise UsageError(f"{text}: '{item}' is not name=value")
            overrides[key.strip()] = value.strip()  # read as the variable's type when loading
        elif variant is None:
            variant = item
        else:
            raise UsageError(f"{text}: two variants ({variant}, {item}); pick one")
    return SpecRef(spec, variant, overrides)


def load_model(ref: str | os.PathLike | SpecRef, settings: dict[str, Any] | None = None,
               variant: str | None = None, batch: int | None = None, *,
               input_shape: tuple[int, ...] | None = None,
               allow_unknown: bool = False) -> Model:
    """The model a reference names (``mobilenet_v1@alpha=0.5``, a file, a file@variant, an
    ONNX model); ``settings`` (variables by name, values or their text), ``variant`` and
    ``batch`` win over what the reference says. ``input_shape`` and ``allow_unknown`` are for
    ONNX models (cnncost.frontends.onnx.onnx_import). SpecError or UsageError lists every
    problem found;
    an argument of the wrong type or value is an ArgumentError."""
    from dataclasses import replace

    from cnncost.core.gcpause import paused_gc
    from cnncost.frontends.yamlspec.build import build_model

    check_loading("load_model", ref, settings, variant, batch, input_shape, allow_unknown)
    ref = parse_ref(ref)
    overrides = {**ref.overrides, **(settings or {})}
    if ref.spec.lower().endswith(".onnx"):
        from cnncost.frontends.onnx.onnx_import import load_onnx

        if overrides or variant or ref.variant:
            raise UsageError(Problem(f"{ref.spec}: an ONNX model has no variables or variants",
                                     hint="--batch and --input-shape set its input"))
        return load_onnx(ref.spec, spec=ref.spec, input_shape=input_shape, batch=batch,
                         allow_unknown=allow_unknown)
    path = resolve(ref.spec)
    with paused_gc():
        model = build_model(parsed(path), str(path), overrides, variant or ref.variant, batch)
    return replace(model, spec=ref.spec)  # as given: a path, or a bundled name (not its path)


def check_loading(function: str, ref: Any, settings: Any = None, variant: Any = None,
                  batch: Any = None, input_shape: Any = None, allow_unknown: Any = False) -> None:
    """load_model's arguments (which ``function`` of the Python API was given) are of their
    types and make sense, or an ArgumentError says which is not and what it must be."""
    where = f"{function}():"
    argument(f"{where} the spec", ref, (str, os.PathLike, SpecRef), "a spec reference such "
             "as 'mobilenet_v2', 'mobilenet_v1@alpha=0.5' or the path of a .yaml or .onnx file")
    argument(f"{where} settings", settings, dict, "a dict of variable name -> value",
             optional=True)
    for name in settings or ():
        argument(f"{where} a settings key", name, str, "a variable name (text)")
    argument(f"{where} variant", variant, str, "a variant name (text)", optional=True)
    argument(f"{where} batch", batch, int, WHOLE, minimum=1, optional=True)
    argument(f"{where} input_shape", input_shape, (tuple, list),
             "1 to 8 whole numbers of at least 1, such as (1, 3, 224, 224)", optional=True,
             valid=lambda shape: 0 < len(shape) <= 8 and all(
                 type(n) is int and n >= 1 for n in shape))
    argument(f"{where} allow_unknown", allow_unknown, bool, "True or False")


def parsed(path: Path) -> Any:
    """The parsed YAML of a spec file, read once while it is unchanged: a sweep, a comparison
    or the library's figures build many models from one file."""
    try:
        info = path.stat()
        stamp = (info.st_mtime_ns, info.st_size)
    except OSError:
        stamp = (0, 0)  # load() says what is wrong with it
    return _parsed(str(path), stamp)


@lru_cache(maxsize=64)
def _parsed(path: str, stamp: tuple[int, int]) -> Any:
    from cnncost.core.yamldoc import load

    return load(path)


@dataclass(frozen=True)
class Entry:
    """What the library says about one bundled spec, read from its YAML without building it."""

    name: str
    path: Path
    model: str
    description: str
    source: str
    variables: dict[str, Any]
    variants: tuple[str, ...]


def catalog() -> list[Entry]:
    entries = []
    for name, path in bundled().items():
        doc = parsed(path)
        if not isinstance(doc, dict):
            continue
        variables = doc.get("variables") or {}
        if isinstance(variables, dict):  # a declared variable {default, choices}: its default
            variables = {k: v.get("default") if isinstance(v, dict) else v
                         for k, v in variables.items()}
        variants = doc.get("variants") or {}
        entries.append(Entry(
            name=name, path=path, model=str(doc.get("name", name)),
            description=str(doc.get("description", "")), source=str(doc.get("source", "")),
            variables=dict(variables) if isinstance(variables, dict) else {},
            variants=tuple(str(v) for v in variants) if isinstance(variants, dict) else ()))
    return entries
