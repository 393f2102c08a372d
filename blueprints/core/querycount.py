"""Opt-in SQL statement count per request, for `make bench` (queries per request).

When the config QUERY_COUNT_HEADER is on (env QUERY_COUNT_HEADER=1), a before_cursor_execute
listener counts the statements each request runs and an after_request hook reports the count
in the `X-Query-Count` response header. Off by default: production never pays for it, and the
header would tell a stranger how much work a page is.
"""
from __future__ import annotations

import os

from flask import Flask, has_request_context, request
from sqlalchemy import event

from models import db

_KEY = "bench.query_count"
_TX = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


def init_app(app: Flask) -> None:
    env = os.environ.get("QUERY_COUNT_HEADER", "").lower() in ("1", "true", "yes", "on")
    if not app.config.setdefault("QUERY_COUNT_HEADER", env):
        return
    with app.app_context():
        engine = db.engine

    @event.listens_for(engine, "before_cursor_execute")
    def _count(conn, cursor, statement, parameters, context, executemany):
        # Kept in the request's environ, not in g: an app context reused across requests
        # (tests, CLI) would carry g's count from one request into the next. Transaction control
        # (SQLite's explicit BEGIN) is not a query: skipping it keeps the engines comparable.
        if has_request_context() and not statement.lstrip()[:9].upper().startswith(_TX):
            request.environ[_KEY] = request.environ.get(_KEY, 0) + 1

    # Registered last, so it runs first among the after_request hooks: statements run by
    # later hooks (none read the database today) would not be counted.
    @app.after_request
    def _header(resp):
        resp.headers["X-Query-Count"] = str(request.environ.get(_KEY, 0))
        return resp
