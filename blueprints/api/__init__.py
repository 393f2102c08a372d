"""The JSON API for data providers (VER-2, SUP-6): connection records pushed by suppliers and network operators.

Public at the role layer (no session, no login page): every endpoint authenticates itself by a bearer token
the province issued to an organisation (blueprints/api/auth.py). CSRF does not apply: app.py exempts this
blueprint, since a bearer token in a header is not something a browser sends on its own.
"""
from __future__ import annotations

from flask import Blueprint

from blueprints.core.access import PUBLIC, guard_blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")
guard_blueprint(bp, PUBLIC)

from blueprints.api import connections, openapi  # noqa: E402,F401  (registers the routes)
