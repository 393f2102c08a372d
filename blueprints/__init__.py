"""Blueprints: one per role, plus auth and public. blueprints/core holds the shared logic."""
