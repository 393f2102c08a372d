"""How SQLite transactions begin (the engine hook in app.py reads this).

Every SQLite transaction normally begins IMMEDIATE, so concurrent writers queue on the busy
timeout instead of failing half-way. A long read that must not hold the write lock (a
background job streaming 50,000 rows while it writes its progress from another connection)
runs inside deferred_reads(): its transactions begin DEFERRED, as plain WAL readers that
never block writers. PostgreSQL ignores this.
"""
from __future__ import annotations

import contextlib
import contextvars

DEFERRED: contextvars.ContextVar[bool] = contextvars.ContextVar("sqlite_deferred", default=False)


def begin_sql() -> str:
    return "BEGIN" if DEFERRED.get() else "BEGIN IMMEDIATE"


@contextlib.contextmanager
def deferred_reads(on: bool = True):
    token = DEFERRED.set(on)
    try:
        yield
    finally:
        DEFERRED.reset(token)


def write_transaction():
    """For a write inside a GET (a rate-limit counter): end the read transaction, so that the
    count and the insert that follow run in one transaction that holds the write lock."""
    from models import db

    db.session.commit()
    return deferred_reads(False)
