"""The op registry. Importing this package registers every op."""

from cnncost.ops import (  # noqa: F401  (importing a family registers its ops)
    activation, attention, conv, elementwise, norm, pool, tensor, tokens)
from cnncost.ops.base import Op, lookup, op_names, registered
from cnncost.ops.tensor import Input

__all__ = ["Input", "Op", "lookup", "op_names", "registered"]
