"""ONNX in and out: import a model as a spec, export a spec as a runnable model."""

from __future__ import annotations

from typing import Annotated

import typer

from cnncost.cli.app import run, write_file, write_to
from cnncost.cli.options import Options, command
from cnncost.core.errors import Problem, UsageError
from cnncost.core.files import output_target, refuse_overwrite
from cnncost.core.settings import WEIGHTS
from cnncost.core.version import __version__


@command("model", "output", "input_shape", "batch")
def import_model(
    o: Options,
    model: Annotated[str, typer.Argument(metavar="MODEL.onnx", help="An ONNX model.")],
    output: str | None,
) -> None:
    """Write an ONNX model as a cnncost spec (one readable line per layer)."""

    def body() -> str:
        from cnncost.frontends.library import load_model
        from cnncost.frontends.yamlspec.writer import spec_text

        if not model.lower().endswith(".onnx"):
            raise UsageError(f"{model}: cnncost imports ONNX models (.onnx)")
        if output:
            refuse_overwrite(model, output)
            if not output.lower().endswith((".yaml", ".yml")) and output_target(output)[1]:
                # a file (not a pipe or a device) that is not a spec: never a model or its data
                raise UsageError(Problem(f"-o {output}: cnncost import writes a YAML spec",
                                         hint="name the output SPEC.yaml"))
        text = spec_text(load_model(model, **o.loading()),
                         origin=f"imported from {model} by cnncost {__version__}")
        return write_to(output, text)

    run(body)


@command("spec", "output", "sets", "variant", "batch", "weights", "seed")
def export(
    o: Options,
    spec: str,
    output: Annotated[str, typer.Option("--output", "-o", metavar="FILE.onnx",
                                        help="The ONNX file to write.")],
    weights: Annotated[str, typer.Option(
        "--weights", help="random (small normal values) or zeros.")] = "random",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the random weights.")] = 0,
) -> None:
    """Write a spec as a runnable ONNX model (opset 17), to measure it on a device."""

    def body() -> str:
        from cnncost.frontends.library import load_model
        from cnncost.frontends.onnx.onnx_export import export_onnx

        if weights not in WEIGHTS:
            raise UsageError(f"--weights {weights}: " + " or ".join(WEIGHTS))
        model = load_model(spec, **o.loading())
        refuse_overwrite(model.file or spec, output)
        return write_file(output, export_onnx(model, weights=weights, seed=seed)
                          .SerializeToString())

    run(body)
