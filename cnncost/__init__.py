"""cnncost: what a CNN architecture costs, from a YAML spec, without a framework.

    >>> import cnncost
    >>> a = cnncost.analyze(cnncost.load_model("mobilenet_v1"))
    >>> cnncost.totals(a)["mult_adds"]
    568740352

The names below are loaded on first use, so that ``import cnncost`` stays light: see
cnncost.api and docs/api.md.
"""

from typing import Any

from cnncost.core.version import __version__

_API = ("Analysis", "GraphBuilder", "Model", "analyze", "blocks", "check_graph", "document",
        "layers", "load_model", "make_op", "sweep", "to_json", "totals")
_ERRORS = ("ArgumentError", "ArgumentTypeError", "ArgumentValueError", "CnncostError",
           "RuleError", "SpecError", "UsageError")  # docs/api.md, Exceptions
__all__ = ["__version__", *_API, *_ERRORS]


def __getattr__(name: str) -> Any:
    if name in _API:
        from cnncost import api

        return getattr(api, name)
    if name in _ERRORS:
        from cnncost.core import errors

        return getattr(errors, name)
    raise AttributeError(f"module 'cnncost' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
