"""Routes of the public blueprint for issue #5 (filled in by that issue)."""
