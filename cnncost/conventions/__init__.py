"""cnncost.conventions.tools."""
