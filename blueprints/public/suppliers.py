"""Routes of the public blueprint for issue #3 (filled in by that issue)."""
