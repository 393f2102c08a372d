"""Figures that aggregate the whole province, computed once per change and shared by every worker.

The province dashboard, a city's figures and the home-page panels sum tens of thousands of rows
(about 100 ms of SQL at province scale). cached(kind, key, compute) keeps the result in the
figure_snapshot table (two app servers share one database, so an in-process cache would not do)
and recomputes it only when

- something changed since: the change mark (the newest id of the audit trail, which every state
  change writes, logins aside, and of the tables the figures count) differs from the one stored, or
- it is older than FIGURES_MAX_AGE seconds (60): a change the mark cannot see (a date passing
  makes a review overdue; on PostgreSQL, a transaction that took its id before another's but
  committed after it) shows within a minute.

Only one worker recomputes a snapshot at a time: it claims the row with one conditional upsert
(refreshing_since) and commits, so the others keep serving the previous figures meanwhile; a
claim older than REFRESH_TIMEOUT (a worker that died) is taken over. Pages show the time the
figures are from ("数据截至 HH:MM:SS"). Reading a fresh snapshot costs two indexed queries.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Callable

from flask import current_app, g, has_app_context, has_request_context
from sqlalchemy import func, or_, select

from blueprints.core.sqlite_tx import deferred_reads
from blueprints.core.timeutil import now
from models import (
    Application, AuditEvent, Budget, CityTarget, Cycle, Enterprise, FigureSnapshot, Supplier, Voucher, db,
)

DEFAULT_MAX_AGE = 60  # seconds; app.config["FIGURES_MAX_AGE"] overrides
REFRESH_TIMEOUT = dt.timedelta(seconds=30)
# The tables whose newest id is part of the change mark (with the audit trail, which every
# workflow step, decision and setting change writes). Rows added without an audit row (imports,
# fixtures) still change the mark.
MARKED = (AuditEvent, Voucher, Application, Enterprise, Supplier, CityTarget, Budget, Cycle)


@dataclass
class Snapshot:
    value: Any
    as_of: dt.datetime


def max_age() -> dt.timedelta:
    seconds = current_app.config.get("FIGURES_MAX_AGE", DEFAULT_MAX_AGE) if has_app_context() else DEFAULT_MAX_AGE
    return dt.timedelta(seconds=seconds)


def change_mark() -> str:
    """The newest ids of the marked tables in one query (each an index lookup), once per request."""
    # Keyed by the request id: an app context (and its g) can outlive one request (tests, CLI).
    rid = g.get("request_id") if has_request_context() else None
    cached_mark = g.get("figures_mark")
    if rid and cached_mark and cached_mark[0] == rid:
        return cached_mark[1]
    # Logins and logouts write the audit trail too but change no figure: the audit part of the mark
    # is the newest event about anything else (read backwards from the newest id, stopping at once).
    newest_change = (select(AuditEvent.id).where(AuditEvent.entity_type != "user")
                     .order_by(AuditEvent.id.desc()).limit(1).scalar_subquery())
    ids = db.session.execute(select(newest_change, *(select(func.max(m.id)).scalar_subquery()
                                                     for m in MARKED if m is not AuditEvent))).one()
    mark = ".".join(str(i or 0) for i in ids)
    if rid:
        g.figures_mark = (rid, mark)
    return mark


def _claim(kind: str, key: str, at: dt.datetime) -> bool:
    """Mark the snapshot as being recomputed by us; False if another worker is already at it."""
    if db.engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    t = FigureSnapshot.__table__
    stmt = insert(t).values(kind=kind, key=key, mark="", refreshing_since=at)
    stmt = stmt.on_conflict_do_update(
        index_elements=[t.c.kind, t.c.key], set_={"refreshing_since": at},
        where=or_(t.c.refreshing_since.is_(None), t.c.refreshing_since < at - REFRESH_TIMEOUT))
    # rowcount of an INSERT is only kept on request (SQLAlchemy 2): 1 = inserted or updated (ours), 0 = taken.
    with _writing():
        claimed = db.session.execute(stmt.execution_options(preserve_rowcount=True)).rowcount == 1
        _commit()  # publish the claim to the other workers before the long computation
    return claimed


def _store(kind: str, key: str, value: Any, mark: str, at: dt.datetime) -> None:
    with _writing():
        db.session.execute(
            db.update(FigureSnapshot).where(FigureSnapshot.kind == kind, FigureSnapshot.key == key)
            .values(payload=value, mark=mark, computed_at=at, refreshing_since=None)
            .execution_options(synchronize_session=False))
        _commit()


def _writing():
    """A page (GET) reads as a plain SQLite reader (sqlite_tx): end that read, and make the write
    that follows begin its own transaction holding the write lock."""
    _commit()
    return deferred_reads(False)


def _commit() -> None:
    """Commit without expiring what the page has loaded already (rows on the page, the user):
    expiring them would reload each one afterwards, a query per row."""
    session = db.session()
    keep, session.expire_on_commit = session.expire_on_commit, False
    try:
        session.commit()
    finally:
        session.expire_on_commit = keep


def cached(kind: str, key: str, compute: Callable[[], Any], depends_on: str = "") -> Snapshot:
    """compute()'s JSON-able result as stored for (kind, key), recomputed when stale (see module doc).

    depends_on: anything else the figures depend on (e.g. the date, for overdue counts); when it
    differs from what the snapshot was computed with, the snapshot is stale.

    Recomputing commits the session (the claim must be visible to other workers): call it from
    a page that has nothing of its own to commit, not in the middle of a change.
    """
    row = db.session.execute(
        select(FigureSnapshot.payload, FigureSnapshot.mark, FigureSnapshot.computed_at)
        .where(FigureSnapshot.kind == kind, FigureSnapshot.key == key)
    ).first()
    mark, at = f"{change_mark()}|{depends_on}", now()
    if row is not None and row.computed_at is not None and row.mark == mark and at - row.computed_at < max_age():
        return Snapshot(row.payload, row.computed_at)
    if not _claim(kind, key, at):
        if row is not None and row.computed_at is not None:
            return Snapshot(row.payload, row.computed_at)  # another worker is recomputing: the previous figures
        return Snapshot(compute(), at)  # the very first computation is under way elsewhere: do not wait for it
    value = compute()
    _store(kind, key, value, mark, at)
    return Snapshot(value, at)
