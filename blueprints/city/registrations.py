"""Routes of the city blueprint for issue #3 (filled in by that issue)."""
