"""cnncost.frontends."""
