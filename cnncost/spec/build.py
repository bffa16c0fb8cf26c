"""Expand a parsed spec into the IR: variables, blocks, repeat and branches, shapes checked.

The walk keeps going after a problem so that one run reports every problem of a spec: a
layer that fails is "poisoned", layers that read it are skipped quietly (their own static
problems were already reported by the static check), and everything else is built.
Shapes are inferred while building, because attribute expressions may use the shape of
a layer's input (``in_channels``).
"""

from __future__ import annotations

from typing import Any

from cnncost.errors import Problem, RuleError, SpecError, shown, suggest
from cnncost.ir import Graph, Loc, Node, numel
from cnncost.model import Model
from cnncost.ops import Input, lookup, op_names
from cnncost.spec import attrs
from cnncost.spec.budget import Limit, read_budget
from cnncost.spec.expr import FAILED, Unavailable
from cnncost.spec.expr import evaluate as evaluate_expr
from cnncost.spec.variables import NAME, read_variables
from cnncost.spec.yamldoc import Map, Seq

TOP_KEYS = ("name", "description", "source", "notes", "reference", "variables", "variants",
            "let", "input", "blocks", "layers", "outputs", "budget")
COMMON_LAYER_KEYS = ("name", "inputs", "when", "repeat", "doc")
BLOCK_CALL_KEYS = (*COMMON_LAYER_KEYS, "block", "args")
BLOCK_KEYS = ("doc", "args", "let", "inputs", "layers", "output")
INPUT_KEYS = ("shape", "batch")

MAX_GRAPH_NODES = 1_000_000
MAX_INSTANCES = 2 * MAX_GRAPH_NODES  # layer instances considered, built or left out by `when`
MAX_DIM = 1 << 24
MAX_ELEMENTS = 1 << 44
MAX_BLOCK_DEPTH = 32

POISON = -1  # the layer failed; whoever reads it is skipped
SKIPPED = -2  # the layer's `when` was false


class _Fatal(Exception):
    """Stop building: a bound was hit and going on would only waste time."""


class _Builder:
    def __init__(self, file: str, batch: int | None = None):
        self.file = file
        self.batch = batch
        self.problems: list[Problem] = []
        self.nodes: list[Node] = []
        self.blocks: dict[str, Map] = {}
        self.globals: dict[str, Any] = {}
        self.stack: list[str] = []
        self.instances = 0  # layer instances considered so far (bounds repeat x when loops)

    # -- reporting -------------------------------------------------------------------------

    def problem(self, message: str, loc: Loc | None, hint: str | None = None,
                context: str | None = None) -> None:
        self.problems.append(Problem(message, loc, hint, context))

    def fail(self, exc: RuleError, loc: Loc | None, context: str | None = None,
             prefix: str = "") -> None:
        """Report a rule's error, unless it only follows from one already reported."""
        if not isinstance(exc, Unavailable):
            self.problem(prefix + exc.message, loc, exc.hint, context)

    def root_loc(self) -> Loc:
        return Loc(self.file, 1, 1, "")

    # -- the document ----------------------------------------------------------------------

    def run(self, doc: Any, overrides: dict[str, Any], variant: str | None) -> Model:
        if not isinstance(doc, Map):
            raise SpecError(Problem("a spec is a mapping with name, input and layers",
                                    getattr(doc, "loc", self.root_loc()),
                                    hint="see: cnncost docs spec-format"))
        for key in doc:
            if key not in TOP_KEYS:
                self.problem(f"unknown key '{key}'", doc.where(key), suggest(str(key), TOP_KEYS))
        for key in ("name", "input", "layers"):
            if key not in doc:
                self.problem(f"missing '{key}'", doc.loc, "a spec needs name, input and layers")
        name = doc.get("name", "")
        if not isinstance(name, str) or not name:
            if "name" in doc:
                self.problem("name must be text", doc.where("name"))
            name = ""
        for key in ("description", "source", "notes"):
            if key in doc and not isinstance(doc[key], str):
                self.problem(f"{key} must be text", doc.where(key))
        if "reference" in doc and not isinstance(doc["reference"], Map):
            self.problem("reference must be a mapping (figures the source publishes)",
                         doc.where("reference"))
        budget: list[Limit] = []
        if "budget" in doc:
            budget, problems = read_budget(doc["budget"], doc.where("budget"))
            self.problems.extend(problems)

        variables, problems = read_variables(doc, overrides, variant)
        self.problems.extend(problems)
        self.globals = dict(variables)
        self.let(doc.get("let"), doc, self.globals, context=None)
        self.read_blocks(doc.get("blocks"), doc)
        self.static_layers(doc.get("layers"), doc.where("layers") if "layers" in doc else None)

        try:
            first = self.input_node(doc)
            names: dict[str, int] = {"input": first}
            last = first
            if "layers" in doc:
                last = self.scope(doc["layers"], doc.where("layers"), "", self.globals, names,
                                  first)
            outputs = self.outputs(doc, names, last)
        except _Fatal:
            outputs = ()
            if not self.problems:  # every bound that stops the build says why; be sure
                self.problem("the spec could not be built", doc.loc)
        if self.problems:
            raise SpecError(self.problems)
        settings = tuple((key, variables[key]) for key in overrides if key in variables)
        return Model(Graph(name=name, nodes=tuple(self.nodes), outputs=outputs),
                     file=self.file, description=doc.get("description", "") or "",
                     variant=variant or "", variables=tuple(variables.items()),
                     settings=settings, budget=tuple(budget))

    def let(self, raw: Any, owner: Map, env: dict[str, Any], context: str | None) -> bool:
        """Evaluate ``let`` definitions in order into ``env``; False if one failed."""
        if raw is None:
            return True
        if not isinstance(raw, Map):
            self.problem("let must be a mapping of name: expression", owner.where("let"))
            return False
        ok = True
        for key, value in raw.items():
            if not isinstance(key, str) or not NAME.match(key):
                self.problem(f"'{key}' cannot be a name", raw.where(key))
                ok = False
                continue
            try:
                env[key] = evaluate_expr(value, env) if isinstance(value, str) else value
            except RuleError as exc:
                self.fail(exc, raw.where(key), context)
                env[key] = FAILED  # later uses fail quietly: one cause, one message
                ok = False
        return ok

    def read_blocks(self, raw: Any, doc: Map) -> None:
        if raw is None:
            return
        if not isinstance(raw, Map):
            self.problem("blocks must be a mapping of block name: definition",
                         doc.where("blocks"))
            return
        for name, body in raw.items():
            loc = raw.where(name)
            if not isinstance(name, str) or not NAME.match(name):
                self.problem(f"'{name}' cannot be a block name", loc)
                continue
            if not isinstance(body, Map):
                self.problem(f"block '{name}' must be a mapping with layers", loc)
                continue
            for key in body:
                if key not in BLOCK_KEYS:
                    self.problem(f"unknown key '{key}' in block '{name}'", body.where(key),
                                 suggest(str(key), BLOCK_KEYS))
            args = body.get("args", Map())
            if not isinstance(args, Map):
                self.problem("args must be a mapping of name: default (null = required)",
                             body.where("args"))
            if not _valid_names(body.get("inputs", ["input"])):
                self.problem("inputs of a block is a list of names, e.g. [x, skip]",
                             body.where("inputs"))
            if "output" in body and not isinstance(body["output"], str):
                self.problem("output must be the name of a layer of the block",
                             body.where("output"))
            if "layers" not in body:
                self.problem(f"block '{name}' has no layers", body.loc)
            self.blocks[name] = body
        for name, body in self.blocks.items():
            self.static_layers(body.get("layers"), body.where("layers"))

    # -- static checks: every layer list, used or not --------------------------------------

    def static_layers(self, layers: Any, loc: Loc | None) -> None:
        if layers is None:
            return
        if not isinstance(layers, Seq) or not layers:
            self.problem("layers must be a non-empty list", loc,
                         "each item is a mapping like {op: conv2d, out_channels: 32, kernel: 3}")
            return
        for index, item in enumerate(layers):
            if not isinstance(item, Map):
                self.problem("a layer is a mapping like {op: relu}", layers.where(index))
                continue
            self.static_layer(item)

    def static_layer(self, item: Map) -> None:
        has_op, has_block = "op" in item, "block" in item
        if has_op == has_block:
            self.problem("a layer has exactly one of 'op' or 'block'", item.loc,
                         "op names a primitive (conv2d, relu, ...); block names one of blocks:")
            return
        if "name" in item and (not isinstance(item["name"], str) or not NAME.match(item["name"])):
            self.problem(f"name {shown(repr(item['name']))} is not a valid layer name",
                         item.where("name"),
                         "names are letters, digits, _ and -, starting with a letter; dots "
                         "separate blocks and are added for you")
        if "inputs" in item:
            refs = item["inputs"]
            if not (isinstance(refs, str) or (isinstance(refs, list) and refs and all(
                    isinstance(r, str) for r in refs))):
                self.problem("inputs is a layer name or a list of layer names",
                             item.where("inputs"))
        if has_op:
            op = item["op"]
            cls = lookup(op) if isinstance(op, str) else None
            if cls is None:
                self.problem(f"unknown op '{shown(op)}'", item.where("op"),
                             suggest(shown(op), op_names()) + " (cnncost ops lists them)")
                return
            known = (*COMMON_LAYER_KEYS, "op", *(a.name for a in cls.attributes()))
            what = f"for op {op}"
        else:
            block = item["block"]
            if not isinstance(block, str) or block not in self.blocks:
                self.problem(f"unknown block '{shown(block)}'", item.where("block"),
                             suggest(shown(block), self.blocks) if self.blocks
                             else "this spec defines no blocks")
                return
            known = BLOCK_CALL_KEYS
            what = f"for a block call ({block})"
        for key in item:
            if key not in known:
                self.problem(f"unknown key '{key}' {what}", item.where(key),
                             suggest(str(key), known))

    # -- the input and the outputs ---------------------------------------------------------

    def input_node(self, doc: Map) -> int:
        raw = doc.get("input")
        loc = doc.where("input") if "input" in doc else doc.loc
        shape = batch = None
        if isinstance(raw, Map):
            for key in raw:
                if key not in INPUT_KEYS:
                    self.problem(f"unknown key '{key}' in input", raw.where(key),
                                 suggest(str(key), INPUT_KEYS))
            if "shape" not in raw:
                self.problem("input needs a shape, e.g. {shape: [3, 224, 224]}", raw.loc)
            else:
                shape = self.read_value(attrs.shape, raw["shape"], self.globals,
                                        raw.where("shape"))
            batch = self.read_value(attrs.whole, raw.get("batch", 1), self.globals,
                                    raw.where("batch"))
        elif isinstance(raw, list):
            shape, batch = self.read_value(attrs.shape, raw, self.globals, loc), 1
        elif "input" in doc:
            self.problem("input is {shape: [C, H, W]} (optionally with batch: N)", loc)
        if shape is None or batch is None:
            raise _Fatal
        if self.batch is not None:
            batch = self.batch
        full = (batch, *shape)
        if len(shape) not in (1, 3) or min(full) < 1:
            self.problem(f"input shape must be [C, H, W] or [features] of positive sizes, "
                         f"got {list(shape)}" + (f" with batch {batch}" if batch != 1 else ""),
                         loc)
            raise _Fatal
        self.check_size(full, loc, "input")
        self.nodes.append(Node("input", Input(shape=full), (), full, loc))
        return 0

    def outputs(self, doc: Map, names: dict[str, int], last: int) -> tuple[int, ...]:
        raw = doc.get("outputs")
        if raw is None:
            return (last,) if last >= 0 else ()
        refs = [raw] if isinstance(raw, str) else raw
        if not isinstance(refs, list) or not all(isinstance(r, str) for r in refs):
            self.problem("outputs is a layer name or a list of layer names", doc.where("outputs"))
            return ()
        found = []
        for index, ref in enumerate(refs):
            loc = refs.where(index) if isinstance(refs, Seq) else doc.where("outputs")
            target = self.resolve(ref, names, loc, None, allow_skipped=True)
            if target >= 0:  # an output left out by its `when` is no output
                found.append(target)
        return tuple(found)

    # -- layer lists -----------------------------------------------------------------------

    def scope(self, layers: Any, loc: Loc, prefix: str, env: dict[str, Any],
              names: dict[str, int], prev: int) -> int:
        """Build a list of layers in sequence; return the index of the last one built."""
        if not isinstance(layers, Seq) or not layers:
            return POISON  # reported by the static check
        for item, auto in zip(layers, _auto_names(layers)):
            if not isinstance(item, Map):
                continue
            prev = self.layer(item, auto, prefix, env, names, prev)
        return prev

    def layer(self, item: Map, auto: str, prefix: str, env: dict[str, Any],
              names: dict[str, int], prev: int) -> int:
        name = item.get("name", auto)
        if not isinstance(name, str) or not NAME.match(name):
            return POISON
        is_op = "op" in item
        target = lookup(item["op"]) if is_op and isinstance(item["op"], str) else None
        block = item.get("block")
        if (is_op and target is None) or (not is_op and not (isinstance(block, str)
                                                            and block in self.blocks)):
            names[name] = POISON
            return POISON  # unknown op or block: reported by the static check

        if "inputs" in item:
            raw = item["inputs"]
            refs = [raw] if isinstance(raw, str) else raw
            if not isinstance(refs, list) or not all(isinstance(r, str) for r in refs):
                names[name] = POISON
                return POISON  # reported by the static check
            # a left-out input is an error only if this layer is built: decided after `when`
            sources = [self.resolve(r, names, _item_loc(item, "inputs", i), prefix + name,
                                    allow_skipped=True) for i, r in enumerate(refs)]
        else:
            sources = [prev]
        if any(s == POISON for s in sources):
            names[name] = POISON
            return POISON

        count, repeated = 1, "repeat" in item
        if repeated:
            try:
                count = attrs.whole(item["repeat"], lambda t: evaluate_expr(t, env))
            except RuleError as exc:
                self.fail(exc, item.where("repeat"), prefix + name, "repeat: ")
                names[name] = POISON
                return POISON
            if count < 0 or count > MAX_GRAPH_NODES:
                self.problem(f"repeat must be between 0 and {MAX_GRAPH_NODES:,}, got {count:,}",
                             item.where("repeat"), context=prefix + name)
                names[name] = POISON
                return POISON

        result = prev
        for k in range(count):
            self.instances += 1
            if self.instances > MAX_INSTANCES:
                self.problem(f"the spec expands to more than {MAX_INSTANCES:,} layer instances "
                             f"(built or left out by `when`)",
                             item.where("repeat") if "repeat" in item else item.loc,
                             "check repeat counts, and repeats of blocks that repeat")
                raise _Fatal
            instance = f"{name}{'_' if name[-1].isdigit() else ''}{k + 1}" if repeated else name
            first = next((s for s in sources if s >= 0), prev)
            layer_env = self.layer_env(env, first, k if repeated else None)
            if "when" in item:
                try:
                    keep = attrs.flag(item["when"], lambda t: evaluate_expr(t, layer_env))
                except RuleError as exc:
                    self.fail(exc, item.where("when"), prefix + instance, "when: ")
                    names[instance] = POISON
                    return POISON
                if not keep:
                    names.setdefault(instance, SKIPPED)  # alternatives may share a name
                    continue
            if names.get(instance, SKIPPED) != SKIPPED:
                self.problem(f"duplicate layer name '{instance}'", item.where("name")
                             if "name" in item else item.loc,
                             "every layer that is built needs its own name in its block (or "
                             "at the top level); layers left out by `when` may share one",
                             prefix + instance)
                return POISON
            if SKIPPED in sources:
                for i, ref in enumerate(refs):
                    if sources[i] == SKIPPED:
                        self.resolve(ref, names, _item_loc(item, "inputs", i), prefix + instance)
                names[instance] = POISON
                return POISON
            before = len(self.nodes)
            if is_op:
                index = self.op_layer(target, item, prefix + instance, layer_env, sources)
            else:
                index = self.block_call(item, prefix + instance, layer_env, sources)
            names[instance] = index
            if index < 0:
                return POISON
            if k == 0 and count > 1:
                self.check_budget((len(self.nodes) - before) * (count - 1), item)
            result = index
            sources = [index]
        return result

    def layer_env(self, env: dict[str, Any], source: int, index: int | None) -> dict[str, Any]:
        local = dict(env)
        if source >= 0:
            shape = self.nodes[source].shape
            local["in_channels"] = shape[1]
            if len(shape) == 4:
                local["in_height"], local["in_width"] = shape[2], shape[3]
        if index is not None:
            local["index"] = index
        return local

    def resolve(self, ref: str, names: dict[str, int], loc: Loc, context: str | None,
                allow_skipped: bool = False) -> int:
        target = names.get(ref)
        if target is None:
            self.problem(f"no layer named '{ref}' before this point", loc,
                         suggest(ref, [n for n in names if names[n] != SKIPPED]), context)
            return POISON
        if target == SKIPPED and allow_skipped:
            return SKIPPED
        if target == SKIPPED:
            self.problem(f"'{ref}' is left out here (its `when` is false)", loc,
                         "give this layer the same `when`, or read another layer", context)
            return POISON
        return target

    # -- one op ----------------------------------------------------------------------------

    def op_layer(self, cls: type, item: Map, full_name: str, env: dict[str, Any],
                 sources: list[int]) -> int:
        values: dict[str, Any] = {}
        ok = True

        def evaluate(text: str) -> Any:
            return evaluate_expr(text, env)

        for info in cls.attributes():
            if info.name in item:
                try:
                    values[info.name] = attrs.read(info.kind, item[info.name], evaluate,
                                                   info.choices)
                except RuleError as exc:
                    self.fail(exc, item.where(info.name), full_name)
                    ok = False
            elif info.required:
                self.problem(f"{cls.op_name} needs '{info.name}' ({info.doc})", item.loc,
                             context=full_name)
                ok = False
        if not ok:
            return POISON
        try:
            op = cls(**values)
        except RuleError as exc:
            self.problem(exc.message, item.where(exc.key) if exc.key in item else item.loc,
                         exc.hint, full_name)
            return POISON
        low, high = cls.min_inputs, cls.max_inputs
        if len(sources) < low or (high is not None and len(sources) > high):
            wanted = f"{low}" if low == high else f"at least {low}" if high is None \
                else f"{low} to {high}"
            self.problem(f"{cls.op_name} takes {wanted} input(s), got {len(sources)}",
                         item.where("inputs") if "inputs" in item else item.loc,
                         "name them with inputs: [a, b]", full_name)
            return POISON
        in_shapes = tuple(self.nodes[s].shape for s in sources)
        try:
            shape = op.infer(in_shapes)
        except RuleError as exc:
            loc = item.where(exc.key) if exc.key in item else item.loc
            self.problem(exc.message, loc, exc.hint, full_name)
            return POISON
        if not self.check_size(shape, item.loc, full_name):
            return POISON
        if len(self.nodes) >= MAX_GRAPH_NODES:
            self.check_budget(1, item)
        self.nodes.append(Node(full_name, op, tuple(sources), shape, item.loc))
        return len(self.nodes) - 1

    def check_size(self, shape: tuple[int, ...], loc: Loc, context: str) -> bool:
        if max(shape) > MAX_DIM or numel(shape) > MAX_ELEMENTS:
            self.problem(f"tensor of shape {list(shape)} is too large (limits: {MAX_DIM:,} per "
                         f"dimension, {MAX_ELEMENTS:,} elements)", loc,
                         "check the input size, the channel counts and the multipliers",
                         context)
            return False
        return True

    def check_budget(self, more: int, item: Map) -> None:
        if len(self.nodes) + more > MAX_GRAPH_NODES:
            self.problem(f"the network would have more than {MAX_GRAPH_NODES:,} layers",
                         item.where("repeat") if "repeat" in item else item.loc,
                         "check repeat counts")
            raise _Fatal

    # -- one block call --------------------------------------------------------------------

    def block_call(self, item: Map, full_name: str, env: dict[str, Any],
                   sources: list[int]) -> int:
        block = item["block"]
        body = self.blocks[block]
        if block in self.stack or len(self.stack) >= MAX_BLOCK_DEPTH:
            chain = " -> ".join([*self.stack, block])
            self.problem(f"blocks call each other without end: {chain}", item.where("block"),
                         context=full_name)
            return POISON
        input_names = body.get("inputs", ["input"])
        if not _valid_names(input_names):
            return POISON  # reported by read_blocks
        if len(sources) != len(input_names):
            self.problem(f"block '{block}' takes {len(input_names)} input(s) "
                         f"({', '.join(map(str, input_names))}), got {len(sources)}",
                         item.where("inputs") if "inputs" in item else item.loc,
                         context=full_name)
            return POISON

        declared = body.get("args", Map())
        given = item.get("args", Map())
        if not isinstance(given, Map):
            self.problem("args must be a mapping of argument: value", item.where("args"),
                         context=full_name)
            return POISON
        if not isinstance(declared, Map):
            return POISON  # reported by read_blocks
        block_env = self.layer_env(self.globals, sources[0], None)  # in_channels of input 1
        ok = True
        for key in given:
            if key not in declared:
                self.problem(f"block '{block}' has no argument '{key}'", given.where(key),
                             suggest(str(key), declared) if declared
                             else f"block '{block}' takes no arguments", full_name)
                ok = False
        for key, default in declared.items():
            if key in given:
                raw = given[key]
                if isinstance(raw, str) and not isinstance(default, str):
                    try:
                        raw = evaluate_expr(raw, env)
                    except RuleError as exc:
                        self.fail(exc, given.where(key), full_name)
                        ok = False
                        continue
                block_env[key] = raw
            elif default is None:
                self.problem(f"block '{block}' needs argument '{key}'",
                             item.where("args") if "args" in item else item.loc,
                             context=full_name)
                ok = False
            else:
                block_env[key] = default
        if not ok or not self.let(body.get("let"), body, block_env, full_name):
            return POISON
        names = dict(zip(input_names, sources))
        self.stack.append(block)
        try:
            last = self.scope(body.get("layers"), body.where("layers"), full_name + ".",
                              block_env, names, sources[0])
        finally:
            self.stack.pop()
        if last < 0:
            return POISON
        if "output" in body and isinstance(body["output"], str):
            return self.resolve(body["output"], names, body.where("output"), full_name)
        return last

    def read_value(self, reader: Any, raw: Any, env: dict[str, Any], loc: Loc) -> Any:
        try:
            return reader(raw, lambda t: evaluate_expr(t, env))
        except RuleError as exc:
            self.fail(exc, loc)
            return None


def _valid_names(names: Any) -> bool:
    return isinstance(names, list) and bool(names) and all(
        isinstance(n, str) and NAME.match(n) for n in names)


def _item_loc(item: Map, key: str, index: int) -> Loc:
    value = item[key]
    return value.where(index) if isinstance(value, Seq) else item.where(key)


def _auto_names(layers: Seq) -> list[str]:
    """Names for unnamed layers: the op or block name, numbered when it occurs twice."""
    bases = []
    for item in layers:
        if isinstance(item, Map) and "name" not in item:
            base = item.get("op") or item.get("block")
            bases.append(base if isinstance(base, str) else "layer")
        else:
            bases.append(None)
    totals = {b: bases.count(b) for b in set(bases) if b}
    seen: dict[str, int] = {}
    names = []
    for base in bases:
        if base is None:
            names.append("")
            continue
        seen[base] = seen.get(base, 0) + 1
        names.append(base if totals[base] == 1 else f"{base}_{seen[base]}")
    return names


def build_model(doc: Any, file: str, overrides: dict[str, Any] | None = None,
                variant: str | None = None, batch: int | None = None) -> Model:
    """The model a parsed spec describes (with a variant's settings, then the overrides, and
    ``batch`` instead of the spec's), or SpecError with every problem found."""
    return _Builder(file, batch).run(doc, dict(overrides or {}), variant)
