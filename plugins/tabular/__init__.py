"""The tabular plugin: synthetic tables and dataset families (work in progress)."""
