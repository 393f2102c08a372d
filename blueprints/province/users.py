"""Routes of the province blueprint for issue #2 (filled in by that issue)."""
