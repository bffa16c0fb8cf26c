"""Analysis passes: plain functions from the (immutable) graph to new data."""
