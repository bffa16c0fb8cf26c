"""Number formatting for people. Machine formats (JSON, CSV) carry the exact integers."""

from __future__ import annotations

_SI = ((10**12, "T"), (10**9, "G"), (10**6, "M"), (10**3, "K"))
_BINARY = ((1 << 40, "TiB"), (1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB"))


def grouped(n: int) -> str:
    """3185088 -> '3,185,088'."""
    return f"{n:,}"


def human(n: float) -> str:
    """3185088 -> '3.19M' (SI prefixes, three significant figures)."""
    for scale, suffix in _SI:
        if abs(n) >= scale:
            return f"{n / scale:.3g}{suffix}"
    return f"{n:g}" if isinstance(n, float) else str(n)


def human_bytes(n: int) -> str:
    """6422528 -> '6.12 MiB'."""
    for scale, suffix in _BINARY:
        if n >= scale:
            return f"{n / scale:.2f} {suffix}"
    return f"{n} B"


def percent(fraction: float) -> str:
    return f"{100 * fraction:.2f}%"


def shape(dims: tuple[int, ...]) -> str:
    return "x".join(str(d) for d in dims)


def seconds(value: float) -> str:
    """``0.00723`` -> ``7.23 ms``: three significant digits in the unit that fits."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if value >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value * 1e9:.3g} ns" if value else "0"
