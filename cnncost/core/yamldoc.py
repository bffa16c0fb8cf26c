"""Read a YAML file into plain dicts and lists that remember where each value was written.

yaml.safe_load semantics only (no Python tags), plus what a spec reader needs that
safe_load does not give: the line and column of every key and item, duplicate keys
reported instead of silently overwritten, and bounds on file size, nesting depth and alias
expansion so that an "alias bomb" is an error, not a hang.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from cnncost.core.errors import Problem, SpecError, shown
from cnncost.core.ir import Loc

MAX_NODES = 20_000_000
MAX_ALIAS_NODES = 100_000
MAX_DEPTH = 200

_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):  # type: ignore[misc, valid-type]
    """The safe loader, remembering the implicit tag of each plain scalar it has resolved.

    PyYAML resolves every plain scalar with a chain of regular expressions, even under the C
    parser; a spec repeats the same few values (op names, keys, small numbers) thousands of
    times, so a per-document cache removes most of that work.
    """

    def __init__(self, stream: str):
        super().__init__(stream)
        self._plain_tags: dict[str, str] = {}

    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        if kind is yaml.ScalarNode and implicit == (True, False):
            tag = self._plain_tags.get(value)
            if tag is None:
                tag = self._plain_tags[value] = super().resolve(kind, value, implicit)
            return tag
        return super().resolve(kind, value, implicit)
_MERGE_TAG = "tag:yaml.org,2002:merge"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_SCALAR_TAGS = {"tag:yaml.org,2002:int": "a whole number", "tag:yaml.org,2002:float": "a number",
                "tag:yaml.org,2002:bool": "true or false", "tag:yaml.org,2002:null": "null"}
MAX_NUMBER = 10**18
_PLAIN_TAGS = ("tag:yaml.org,2002:seq", "tag:yaml.org,2002:map")
_STR_TAG = "tag:yaml.org,2002:str"


class YamlSyntaxError(SpecError):
    """The text is not YAML at all (as opposed to YAML holding values cnncost refuses)."""


class Map(dict):
    """A mapping that knows where it was written and where each of its keys was.

    Key locations are kept as (line, column) and turned into a Loc only when asked: a large
    spec has hundreds of thousands of keys and almost none of them is ever reported.
    """

    __slots__ = ("loc", "marks")

    def where(self, key: Any) -> Loc:
        mark = self.marks.get(key)
        if mark is None:
            return self.loc
        return Loc(self.loc.file, mark[0], mark[1], child_path(self.loc.path, key))


class Seq(list):
    """A sequence that knows where it was written and where each item was."""

    __slots__ = ("loc", "marks")

    def where(self, index: int) -> Loc:
        if not 0 <= index < len(self.marks):
            return self.loc
        line, column = self.marks[index]
        return Loc(self.loc.file, line, column, child_path(self.loc.path, index))


def child_path(path: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def _mark(node: yaml.Node) -> tuple[int, int]:
    mark = node.start_mark
    return (mark.line + 1, mark.column + 1)


class _Builder:
    def __init__(self, file: str, loader: Any):
        self.file = file
        self.loader = loader
        self.constructors = loader.yaml_constructors
        self.problems: list[Problem] = []
        self.count = 0
        self.alias_count = 0
        self.seen: set[int] = set()

    def loc(self, node: yaml.Node, path: str) -> Loc:
        line, column = _mark(node)
        return Loc(self.file, line, column, path)

    def build(self, node: yaml.Node, path: str, depth: int, via_alias: bool) -> Any:
        self.count += 1
        if node.__class__ is not yaml.ScalarNode:
            if id(node) in self.seen:
                via_alias = True
            else:
                self.seen.add(id(node))
        if via_alias:
            self.alias_count += 1
        if self.alias_count > MAX_ALIAS_NODES or self.count > MAX_NODES:
            what = ("aliases expand to more than {:,} values".format(MAX_ALIAS_NODES)
                    if self.alias_count > MAX_ALIAS_NODES else
                    "the document has more than {:,} values".format(MAX_NODES))
            raise SpecError(Problem(what, self.loc(node, path),
                                    hint="is this an alias bomb? write the values out, or use "
                                         "blocks and repeat for repeated structure"))
        if depth > MAX_DEPTH:
            raise SpecError(Problem(f"nesting deeper than {MAX_DEPTH} levels",
                                    self.loc(node, path)))
        if node.__class__ is yaml.ScalarNode:
            if node.tag == _STR_TAG:
                return node.value
            return self.scalar(node, path)
        if node.tag not in _PLAIN_TAGS:
            self.problems.append(Problem(f"YAML tag {node.tag} is not allowed in a spec",
                                         self.loc(node, path),
                                         hint="specs use plain mappings, lists and values"))
            return None
        if node.__class__ is yaml.SequenceNode:
            seq = Seq()
            seq.loc = self.loc(node, path)
            seq.marks = [_mark(item) for item in node.value]
            for index, item in enumerate(node.value):
                seq.append(self.build(item, f"{path}[{index}]", depth + 1, via_alias))
            return seq
        return self.mapping(node, path, depth, via_alias)

    def scalar(self, node: yaml.ScalarNode, path: str) -> Any:
        """A number, boolean or null; any other tag (dates, binary, sets, Python objects) and
        any value its constructor refuses is a problem, reported where it is written."""
        kind = _SCALAR_TAGS.get(node.tag)
        if kind is None:
            what = "a date" if node.tag == _TIMESTAMP_TAG else f"YAML tag {node.tag}"
            self.problems.append(Problem(
                f"{what} is not a value cnncost reads: {shown(node.value)}", self.loc(node, path),
                hint="specs, budgets and settings hold text, numbers, true/false, lists and "
                     "mappings; quote it ('...') if you mean text"))
            return None
        try:
            value = self.constructors[node.tag](self.loader, node)
        except Exception as exc:  # PyYAML raises ValueError, OverflowError, ... of its own
            self.problems.append(Problem(
                f"cannot read {shown(node.value)} as {kind}: {_reason(exc)}",
                self.loc(node, path), hint="quote it ('...') if you mean text"))
            return None
        if isinstance(value, (int, float)) and not isinstance(value, bool) and not (
                -MAX_NUMBER <= value <= MAX_NUMBER):
            self.problems.append(Problem(
                f"{shown(node.value)} is not a finite number of at most {MAX_NUMBER:.0e}",
                self.loc(node, path), hint="no figure cnncost reads is infinite, not a number "
                                           "or larger than 1e18"))
            return None
        return value

    def mapping(self, node: yaml.MappingNode, path: str, depth: int, via_alias: bool) -> Map:
        result = Map()
        result.loc = self.loc(node, path)
        result.marks = marks = {}
        merges = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merges.append(value_node)
                continue
            key = self.build(key_node, path, depth + 1, via_alias)
            if not isinstance(key, (str, int, float, bool)) or key is None:
                self.problems.append(Problem("a key must be a plain value (text or number)",
                                             self.loc(key_node, path)))
                continue
            if key in result:
                first = marks[key][0]
                self.problems.append(Problem(
                    f"duplicate key '{key}' (first at line {first})",
                    self.loc(key_node, child_path(path, key)),
                    hint="YAML would silently keep only the last one; remove one of them"))
                continue
            marks[key] = _mark(key_node)
            result[key] = self.build(value_node, child_path(path, key), depth + 1, via_alias)
        for merge in merges:  # '<<: *base' fills in keys not written here
            sources = merge.value if isinstance(merge, yaml.SequenceNode) else [merge]
            for source in sources:
                if not isinstance(source, yaml.MappingNode):
                    self.problems.append(Problem("'<<' must merge a mapping",
                                                 self.loc(source, path)))
                    continue
                merged = self.mapping(source, path, depth + 1, True)
                for key, value in merged.items():
                    if key not in result:
                        result[key] = value
                        marks[key] = merged.marks[key]
        return result


def _reason(exc: Exception) -> str:
    text = _problem(exc) if isinstance(exc, yaml.YAMLError) else str(exc)
    return shown(text.split("\n")[0], 100)


def _problem(exc: yaml.YAMLError) -> str:
    text = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    return f"{context}: {text}" if context else text


def parse(text: str, file: str, what: str = "spec") -> Any:
    """Parse one YAML document into Map/Seq/scalars; raise SpecError with every problem.
    ``what`` names the kind of file in messages ("spec", "budget file", ...)."""
    loader = _Loader(text)
    try:
        try:
            node = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            loc = Loc(file, mark.line + 1, mark.column + 1, "") if mark else None
            raise YamlSyntaxError(Problem(f"not valid YAML: {_problem(exc)}", loc,
                                          hint="check indentation, brackets and quotes near "
                                               "here"))
        except yaml.YAMLError as exc:
            raise YamlSyntaxError(Problem(f"not valid YAML: {_problem(exc)}",
                                          Loc(file, 1, 1, "")))
        if node is None:
            raise SpecError(Problem(f"the {what} is empty", Loc(file, 1, 1, ""),
                                    hint="a spec needs at least name, input and layers"
                                    if what == "spec" else "see: cnncost docs latency"
                                    if what == "device profile" else "see: cnncost docs ci"))
        builder = _Builder(file, loader)
        try:
            value = builder.build(node, "", 0, False)
        except RecursionError:
            raise SpecError(Problem("the document is nested too deeply", Loc(file, 1, 1, "")))
        if builder.problems:
            raise SpecError(builder.problems)
        return value
    finally:
        loader.dispose()


def load(path: str | Path, what: str = "spec") -> Any:
    """Read and parse a YAML file; every failure is a SpecError naming the file."""
    from cnncost.core.files import read_text

    hint = ("give the path of a .yaml spec or a bundled spec name" if what == "spec"
            else None)
    return parse(read_text(path, hint=hint), str(path), what)
