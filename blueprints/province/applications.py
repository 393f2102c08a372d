"""Routes of the province blueprint for issue #5 (filled in by that issue)."""
