"""Routes of the enterprise blueprint for issue #3 (filled in by that issue)."""
