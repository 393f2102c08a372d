"""Routes of the enterprise blueprint for issue #5 (filled in by that issue)."""
