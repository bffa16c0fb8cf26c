"""cnncost.core."""
