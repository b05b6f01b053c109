"""Writes. One module per job: votes, comparisons, import_, export."""
