"""Routes of the city blueprint for issue #5 (filled in by that issue)."""
