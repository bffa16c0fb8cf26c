"""The version of cnncost, for outputs that say which version wrote them."""

__version__ = "0.1.0"
