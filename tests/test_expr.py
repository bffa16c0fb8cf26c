"""The expression evaluator: what it computes, and everything it refuses."""

from __future__ import annotations

import re

import pytest

from cnncost.frontends.yamlspec.expr import ExprError, evaluate, make_divisible

ENV = {"alpha": 0.75, "resolution": 128, "widths": [24, 116, 232], "act": "relu"}


@pytest.mark.parametrize("text, expected", [
    ("32 * alpha", 24.0),
    ("max(int(32 * alpha), 8)", 24),
    ("max(int(16 * 0.25), 8)", 8),  # TF-slim min_depth
    ("resolution // 2 + resolution % 3", 66),  # 64 + 2
    ("(resolution - 1) / 2", 63.5),
    ("2 ** 10", 1024),
    ("-resolution + 1", -127),
    ("widths[1] * 2", 232),
    ("2 if resolution > 100 else 1", 2),
    ("act == 'relu' and not alpha > 1", True),
    ("1 < alpha * 2 <= 2", True),
    ("ceil(resolution / 3)", 43),  # 42.67 up
    ("floor(resolution / 3)", 42),
    ("round(2.5)", 2),  # Python's round: half to even, as in the reference implementations
    ("round(0.125, 2)", 0.12),
    ("min(3, 4, 2)", 2),
    ("abs(-3)", 3),
    ("sqrt(16)", 4.0),
    ("len(widths)", 3),
    ("24 in widths", True),
    ("[1, 2][0]", 1),
])
def test_evaluates(text, expected):
    assert evaluate(text, ENV) == expected


@pytest.mark.parametrize("value, divisor, expected", [
    # TF-slim mobilenet/mobilenet.py _make_divisible: nearest multiple of 8, at least 8,
    # and not more than 10% below the value
    (32 * 1.0, 8, 32),
    (32 * 0.35, 8, 16),  # 11.2 -> int(15.2)//8*8 = 8, but 8 < 0.9*11.2 = 10.08 so 16
    (16 * 0.5, 8, 8),
    (96 * 0.75, 8, 72),
    (1280 * 1.4, 8, 1792),
    (24 * 1.3, 8, 32),  # 31.2 -> int(35.2)//8*8 = 32
    (22, 16, 32),  # MobileNeXt's divisor 16: int(30)//16*16 = 16 < 19.8, so 32
])
def test_make_divisible(value, divisor, expected):
    assert make_divisible(value, divisor) == expected
    assert evaluate(f"make_divisible({value}, {divisor})", {}) == expected


def test_make_divisible_min_value():
    assert evaluate("make_divisible(3, 8, min_value=4)", {}) == 4


@pytest.mark.parametrize("text, message", [
    ("__import__('os').system('echo hi')", "unknown function '__import__('os').system'"),
    ("__import__('os')", "unknown function '__import__'"),
    ("alpha.__class__", "is not allowed"),
    ("(lambda: 1)()", "unknown function"),
    ("[x for x in widths]", "is not allowed"),
    ("open('/etc/passwd')", "unknown function 'open'"),
    ("widths.append", "is not allowed"),
    ("10 ** 100", "exponent 100 is too large"),
    ("10 ** 18 * 10", "out of range"),
    ("1 / 0", "division by zero"),
    ("'a' * 1000000000", "arithmetic on str"),
    ("alpah * 2", "unknown name 'alpah'"),
    ("widths[5]", "index 5 is outside the list of 3"),
    ("max()", "max(...) failed"),
    ("1 +", "cannot parse expression"),
    ("x" * 2001, "longer than 2000 characters"),
])
def test_refuses(text, message):
    with pytest.raises(ExprError, match=re.escape(message)):
        evaluate(text, ENV)


def test_unknown_name_suggests_a_close_one():
    with pytest.raises(ExprError) as info:
        evaluate("alpah * 2", ENV)
    assert "did you mean 'alpha'?" in info.value.hint


def test_unknown_function_suggests_a_close_one():
    with pytest.raises(ExprError) as info:
        evaluate("make_divisable(10)", ENV)
    assert "did you mean 'make_divisible'?" in info.value.hint
