"""Routes of the public blueprint for issue #4 (filled in by that issue)."""
