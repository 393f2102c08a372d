"""Routes of the supplier blueprint for issue #3 (filled in by that issue)."""
