"""cnncost.jobs."""
