"""Routes of the supplier blueprint for issue #5 (filled in by that issue)."""
