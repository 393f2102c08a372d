"""Routes of the city blueprint for issue #4 (filled in by that issue)."""
