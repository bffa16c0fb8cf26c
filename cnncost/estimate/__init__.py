"""cnncost.estimate."""
