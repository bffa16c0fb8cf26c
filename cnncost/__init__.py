"""cnncost: what a CNN architecture costs, from a YAML spec, without a framework."""

__version__ = "0.1.0"
