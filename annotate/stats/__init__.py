"""Agreement and rater-quality statistics: pure functions on numpy arrays (agreement, raters)
and the selectors that load a project's votes into them in a few queries (tables)."""
