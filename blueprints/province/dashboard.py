"""Routes of the province blueprint for issue #4 (filled in by that issue)."""
