"""Expansion: a spec's layers, blocks, `repeat` and `when`, built into a graph in order.

The walk keeps going after a problem so that one run reports every problem of a spec: a
layer that fails is "poisoned", layers that read it are skipped quietly (their own static
problems were already reported by spec/checks.py), and everything else is built. Shapes are
inferred while building (by cnncost.frontends.builder), because attribute expressions may use
the shape of a layer's input (``in_channels``).
"""

from __future__ import annotations

from typing import Any

from cnncost.frontends.builder import MAX_GRAPH_NODES, GraphBuilder, GraphTooLarge
from cnncost.core.errors import Problems, RuleError, suggest
from cnncost.core.ir import Loc
from cnncost.ops import lookup
from cnncost.ops import attrs
from cnncost.frontends.yamlspec.checks import valid_names
from cnncost.frontends.yamlspec.expr import FAILED
from cnncost.frontends.yamlspec.expr import evaluate as evaluate_expr
from cnncost.frontends.yamlspec.variables import NAME
from cnncost.core.yamldoc import Map, Seq

MAX_INSTANCES = 2 * MAX_GRAPH_NODES  # layer instances considered, built or left out by `when`
MAX_BLOCK_DEPTH = 32

POISON = -1  # the layer failed; whoever reads it is skipped
SKIPPED = -2  # the layer's `when` was false


class Fatal(Exception):
    """Stop building: a bound was hit and going on would only waste time."""


def let(raw: Any, owner: Map, env: dict[str, Any], context: str | None,
        problems: Problems) -> bool:
    """Evaluate ``let`` definitions in order into ``env``; False if one failed."""
    if raw is None:
        return True
    if not isinstance(raw, Map):
        problems.add("let must be a mapping of name: expression", owner.where("let"))
        return False
    ok = True
    for key, value in raw.items():
        if not isinstance(key, str) or not NAME.match(key):
            problems.add(f"'{key}' cannot be a name", raw.where(key))
            ok = False
            continue
        try:
            env[key] = evaluate_expr(value, env) if isinstance(value, str) else value
        except RuleError as exc:
            problems.fail(exc, raw.where(key), context)
            env[key] = FAILED  # later uses fail quietly: one cause, one message
            ok = False
    return ok


class Expander:
    """Builds the layers of a spec into ``graph``, reporting into ``problems``."""

    def __init__(self, graph: GraphBuilder, blocks: dict[str, Map], env: dict[str, Any],
                 problems: Problems):
        self.graph = graph
        self.blocks = blocks
        self.globals = env
        self.problems = problems
        self.stack: list[str] = []
        self.instances = 0  # layer instances considered so far (bounds repeat x when loops)
        self.functional: list[int] = []  # layers marked torch_call: functional

    def let(self, raw: Any, owner: Map, env: dict[str, Any], context: str | None) -> bool:
        return let(raw, owner, env, context, self.problems)

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
                self.problems.fail(exc, item.where("repeat"), prefix + name, "repeat: ")
                names[name] = POISON
                return POISON
            if count < 0 or count > MAX_GRAPH_NODES:
                self.problems.add(f"repeat must be between 0 and {MAX_GRAPH_NODES:,}, got "
                                  f"{count:,}", item.where("repeat"), context=prefix + name)
                names[name] = POISON
                return POISON

        result = prev
        for k in range(count):
            self.instances += 1
            if self.instances > MAX_INSTANCES:
                self.problems.add(f"the spec expands to more than {MAX_INSTANCES:,} layer "
                                  f"instances (built or left out by `when`)",
                                  item.where("repeat") if "repeat" in item else item.loc,
                                  "check repeat counts, and repeats of blocks that repeat")
                raise Fatal
            instance = f"{name}{'_' if name[-1].isdigit() else ''}{k + 1}" if repeated else name
            first = next((s for s in sources if s >= 0), prev)
            layer_env = self.layer_env(env, first, k if repeated else None)
            if "when" in item:
                try:
                    keep = attrs.flag(item["when"], lambda t: evaluate_expr(t, layer_env))
                except RuleError as exc:
                    self.problems.fail(exc, item.where("when"), prefix + instance, "when: ")
                    names[instance] = POISON
                    return POISON
                if not keep:
                    names.setdefault(instance, SKIPPED)  # alternatives may share a name
                    continue
            if names.get(instance, SKIPPED) != SKIPPED:
                self.problems.add(f"duplicate layer name '{instance}'", item.where("name")
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
            before = len(self.graph)
            if is_op:
                index = self.op_layer(target, item, prefix + instance, layer_env, sources)
            else:
                index = self.block_call(item, prefix + instance, layer_env, sources)
            names[instance] = index
            if index < 0:
                return POISON
            if k == 0 and count > 1 and len(self.graph) + (len(self.graph) - before) * (
                    count - 1) > MAX_GRAPH_NODES:  # refused before it is built
                self.problems.add(f"the network would have more than {MAX_GRAPH_NODES:,} "
                                       f"layers", item.where("repeat"), "check repeat counts")
                raise Fatal
            result = index
            sources = [index]
        return result

    def layer_env(self, env: dict[str, Any], source: int, index: int | None) -> dict[str, Any]:
        local = dict(env)
        if source >= 0:
            shape = self.graph.shape(source)
            if len(shape) >= 2:  # an exporter may reshape to a vector without its batch
                local["in_channels"] = shape[1]
            if shape:  # a token tensor (N, L, C): in_channels is L, in_features C
                local["in_features"] = shape[-1]
            if len(shape) == 4:
                local["in_height"], local["in_width"] = shape[2], shape[3]
        if index is not None:
            local["index"] = index
        return local

    def resolve(self, ref: str, names: dict[str, int], loc: Loc, context: str | None,
                allow_skipped: bool = False) -> int:
        target = names.get(ref)
        if target is None:
            self.problems.add(f"no layer named '{ref}' before this point", loc,
                              suggest(ref, [n for n in names if names[n] != SKIPPED]), context)
            return POISON
        if target == SKIPPED and allow_skipped:
            return SKIPPED
        if target == SKIPPED:
            self.problems.add(f"'{ref}' is left out here (its `when` is false)", loc,
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
                    self.problems.fail(exc, item.where(info.name), full_name)
                    ok = False
            elif info.required:
                self.problems.add(f"{cls.op_name} needs '{info.name}' ({info.doc})", item.loc,
                                  context=full_name)
                ok = False
        if not ok:
            return POISON
        try:
            op = cls(**values)
        except RuleError as exc:
            self.problems.add(exc.message, item.where(exc.key) if exc.key in item else item.loc,
                              exc.hint, full_name)
            return POISON
        try:
            index = self.graph.add(full_name, op, sources, item.loc)
            if item.get("torch_call") == "functional":
                self.functional.append(index)
            return index
        except GraphTooLarge as exc:
            self.problems.fail(exc, item.where("repeat") if "repeat" in item else item.loc)
            raise Fatal from None
        except RuleError as exc:
            loc = item.where(exc.key) if exc.key in item else item.loc
            hint = exc.hint or ("name them with inputs: [a, b]" if exc.key == "inputs" else None)
            self.problems.add(exc.message, loc, hint, full_name)
            return POISON

    # -- one block call --------------------------------------------------------------------

    def block_call(self, item: Map, full_name: str, env: dict[str, Any],
                   sources: list[int]) -> int:
        block = item["block"]
        body = self.blocks[block]
        if block in self.stack or len(self.stack) >= MAX_BLOCK_DEPTH:
            chain = " -> ".join([*self.stack, block])
            self.problems.add(f"blocks call each other without end: {chain}", item.where("block"),
                              context=full_name)
            return POISON
        input_names = body.get("inputs", ["input"])
        if not valid_names(input_names):
            return POISON  # reported by read_blocks
        if len(sources) != len(input_names):
            self.problems.add(f"block '{block}' takes {len(input_names)} input(s) "
                              f"({', '.join(map(str, input_names))}), got {len(sources)}",
                              item.where("inputs") if "inputs" in item else item.loc,
                              context=full_name)
            return POISON

        declared = body.get("args", Map())
        given = item.get("args", Map())
        if not isinstance(given, Map):
            self.problems.add("args must be a mapping of argument: value", item.where("args"),
                              context=full_name)
            return POISON
        if not isinstance(declared, Map):
            return POISON  # reported by read_blocks
        block_env = self.layer_env(self.globals, sources[0], None)  # in_channels of input 1
        ok = True
        for key in given:
            if key not in declared:
                self.problems.add(f"block '{block}' has no argument '{key}'", given.where(key),
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
                        self.problems.fail(exc, given.where(key), full_name)
                        ok = False
                        continue
                block_env[key] = raw
            elif default is None:
                self.problems.add(f"block '{block}' needs argument '{key}'",
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
            self.problems.fail(exc, loc)
            return None


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
