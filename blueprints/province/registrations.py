"""Routes of the province blueprint for issue #3 (filled in by that issue)."""
