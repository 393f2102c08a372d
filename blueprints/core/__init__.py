"""Shared logic that is not a blueprint: access, workflow, audit, htmx, pdf, money, time, uploads."""
