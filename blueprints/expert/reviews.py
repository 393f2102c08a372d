"""Routes of the expert blueprint for issue #3 (filled in by that issue)."""
