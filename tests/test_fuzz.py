"""Bad input never crashes: bundled specs with random values, keys and items broken must either
build and analyse or fail with a CnncostError (exit 2), never another exception."""

from __future__ import annotations

import random

import pytest
import yaml

from cnncost.pipeline import analyze
from cnncost.core.errors import CnncostError
from cnncost.frontends.yamlspec import graph_from_text, spec_from_text
from conftest import SPECS

JUNK = [0, -1, 1, 2, 3, 10**9, 10**30, 1.5, -0.5, "", "x", "same", "valid", "in_channels",
        "1/0", "2**200", [], [1], [1, 2, 3], {}, {"a": 1}, None, True, False, "relu", "conv2d",
        "input", "[1,2][5]", "max()", "'a'*3", "index", "__import__('os')", [0, 0], "1e400",
        {"op": "relu"}, [{"op": "add"}]]
NEW_KEYS = ["zzz", "op", "block", "inputs", "repeat", "when", "name", "args", "let", "budget"]


def mutate(node, rng: random.Random):
    """Replace, add or delete a few values somewhere in a parsed spec."""
    if isinstance(node, dict) and node:
        roll = rng.random()
        if roll < 0.3:
            key = rng.choice(list(node))
            node[key] = rng.choice(JUNK) if rng.random() < 0.7 else mutate(node[key], rng)
        elif roll < 0.4:
            node[rng.choice(NEW_KEYS)] = rng.choice(JUNK)
        elif roll < 0.45:
            del node[rng.choice(list(node))]
        else:
            for key in list(node):
                if rng.random() < 0.2:
                    node[key] = mutate(node[key], rng)
    elif isinstance(node, list) and node:
        roll = rng.random()
        if roll < 0.3:
            i = rng.randrange(len(node))
            node[i] = rng.choice(JUNK) if rng.random() < 0.5 else mutate(node[i], rng)
        elif roll < 0.4:
            del node[rng.randrange(len(node))]
        else:
            for i in range(len(node)):
                if rng.random() < 0.2:
                    node[i] = mutate(node[i], rng)
    return node


@pytest.mark.parametrize("seed", range(4))
def test_mutated_specs_fail_cleanly(seed):
    rng = random.Random(seed)
    paths = sorted(SPECS.rglob("*.yaml"))
    for _ in range(40):
        doc = yaml.safe_load(rng.choice(paths).read_text())
        for _ in range(rng.randint(1, 4)):
            doc = mutate(doc, rng)
        text = yaml.safe_dump(doc, sort_keys=False)
        try:
            analyze(graph_from_text(text), fuse=rng.choice(["none", "bn-act"]))
        except CnncostError as exc:
            assert exc.problems and all(p.message for p in exc.problems)


ODD = ["2023-02-30", "2020-01-01", "!!int abc", "!!bool maybe", "!!timestamp 2023-13-45",
       "!!binary aGVsbG8=", "!!set {a, b}", "!!python/object:os.system x", "9" * 5000,
       "123456789012345678901234567890", ".inf", "-.nan", "1.0e+999", '"\\e[31mred\\a"',
       '"[bold]x[/] [link=http://e]y[/link]"', '"\\u202eevil"', "'<script>|*_x_*'",
       "&anchor 3", "!!str 4", "0x1F", "1:30", "~", "''", "[]", "{}", "!!float 1e-9"]


@pytest.mark.parametrize("seed", range(4))
def test_odd_yaml_values_never_crash(seed):
    """Bundled specs with a scalar replaced, as text, by an odd YAML value (dates, tags, huge
    numbers, escapes, markup): each either analyses and renders in every format, or fails with
    a CnncostError; never another exception."""
    import re

    from cnncost.report.render import Terminal
    from cnncost.report.views import analysis_text

    rng = random.Random(seed)
    paths = sorted(SPECS.rglob("*.yaml"))
    scalar = re.compile(r"(?<=: )[^\s{}\[\],#][^,}\]\n#]*")
    for _ in range(30):
        text = rng.choice(paths).read_text()
        spots = list(scalar.finditer(text))
        for match in rng.sample(spots, min(len(spots), rng.randint(1, 3))):
            text = text[:match.start()] + rng.choice(ODD) + text[match.end():]
            spots = list(scalar.finditer(text))
        try:
            a = analyze(spec_from_text(text, file="fuzz.yaml"))
        except CnncostError as exc:
            assert exc.problems and all(p.message for p in exc.problems)
            assert "\x1b" not in exc.format()
            continue
        for fmt in ("json", "table", "csv", "markdown"):
            out = analysis_text(a, fmt, layers=fmt != "csv", terminal=Terminal(width=80))
            assert "\x1b[31m" not in out
