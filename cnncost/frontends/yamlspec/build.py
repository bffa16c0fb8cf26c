"""From a parsed spec to a Model: the document's checks, its variables, the input, the expansion
of its layers into a graph (spec/expand.py, through cnncost.frontends.builder), and its outputs."""

from __future__ import annotations

from typing import Any

from cnncost.frontends.builder import GraphBuilder
from cnncost.core.errors import Problem, Problems, RuleError, SpecError
from cnncost.core.ir import Loc
from cnncost.core.model import Model
from cnncost.core.budget import read_budget
from cnncost.frontends.yamlspec.checks import check_document, check_layers, read_blocks
from cnncost.frontends.yamlspec.ends import input_shape, outputs
from cnncost.frontends.yamlspec.expand import Expander, Fatal, let
from cnncost.frontends.yamlspec.expr import evaluate as evaluate_expr
from cnncost.frontends.yamlspec.variables import read_variables
from cnncost.core.yamldoc import Map


def build_model(doc: Any, file: str, overrides: dict[str, Any] | None = None,
                variant: str | None = None, batch: int | None = None) -> Model:
    """The model a parsed spec describes (with a variant's settings, then the overrides, and
    ``batch`` instead of the spec's), or SpecError with every problem found."""
    overrides = dict(overrides or {})
    if not isinstance(doc, Map):
        raise SpecError(Problem("a spec is a mapping with name, input and layers",
                                getattr(doc, "loc", Loc(file, 1, 1, "")),
                                hint="see: cnncost docs spec-format"))
    problems = Problems()
    name = check_document(doc, problems)
    budget = []
    if "budget" in doc:
        budget, found = read_budget(doc["budget"], doc.where("budget"))
        problems.extend(found)
    variables, found = read_variables(doc, overrides, variant)
    problems.extend(found)
    env = dict(variables)
    let(doc.get("let"), doc, env, None, problems)
    blocks = read_blocks(doc, problems)
    check_layers(doc.get("layers"), doc.where("layers") if "layers" in doc else None, blocks,
                 problems)

    def read(reader: Any, raw: Any, loc: Loc) -> Any:
        try:
            return reader(raw, lambda text: evaluate_expr(text, env))
        except RuleError as exc:
            problems.fail(exc, loc)
            return None

    graph = None
    expander = None
    try:
        shape = input_shape(doc, read, problems, batch)
        if shape is None:
            raise Fatal
        loc = doc.where("input") if "input" in doc else doc.loc
        try:
            builder = GraphBuilder(name, shape, loc)
        except RuleError as exc:
            problems.add(exc.message, loc, exc.hint, "input")
            raise Fatal from None
        expander = Expander(builder, blocks, env, problems)
        names: dict[str, int] = {"input": 0}
        last = 0
        if "layers" in doc:
            last = expander.scope(doc["layers"], doc.where("layers"), "", env, names, 0)
        chosen = outputs(doc, last, lambda ref, where: expander.resolve(
            ref, names, where, None, allow_skipped=True), problems)
        graph = builder.graph(chosen) if not problems else None
    except Fatal:
        if not problems:  # every bound that stops the build says why; be sure
            problems.add("the spec could not be built", doc.loc)
    if problems or graph is None:
        raise SpecError(problems)
    settings = tuple((key, variables[key]) for key in overrides if key in variables)
    return Model(graph, file=file, description=doc.get("description", "") or "",
                 variant=variant or "", variables=tuple(variables.items()), settings=settings,
                 budget=tuple(budget),
                 torch_functional=tuple(expander.functional) if expander else ())
