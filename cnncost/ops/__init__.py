"""The op registry. Importing this package registers every op."""

from cnncost.ops import activation, conv, elementwise, norm, pool, tensor  # noqa: F401
from cnncost.ops.base import Op, lookup, op_names, registered
from cnncost.ops.tensor import Input

__all__ = ["Input", "Op", "lookup", "op_names", "registered"]
