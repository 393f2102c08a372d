"""The append-only, hash-chained audit trail (SUP-1).

record() writes one AuditEvent in the caller's transaction; the chain is serialised
(SQLite: BEGIN IMMEDIATE already holds the write lock; PostgreSQL: a transaction-level
advisory lock) so two writers never fork it. Database triggers refuse UPDATE and DELETE.
verify() recomputes every hash: an edited or removed row is reported.
"""
from __future__ import annotations

import hashlib
import json

from flask import has_request_context, request
from sqlalchemy import text

from blueprints.core.timeutil import now
from models import AuditEvent, db

_PG_AUDIT_LOCK = 715_001  # arbitrary advisory lock key for the audit chain

GUARD_SQL = {
    "sqlite": [
        "CREATE TRIGGER IF NOT EXISTS audit_event_no_update BEFORE UPDATE ON audit_event "
        "BEGIN SELECT RAISE(ABORT, 'audit_event is append-only'); END",
        "CREATE TRIGGER IF NOT EXISTS audit_event_no_delete BEFORE DELETE ON audit_event "
        "BEGIN SELECT RAISE(ABORT, 'audit_event is append-only'); END",
    ],
    "postgresql": [
        "CREATE OR REPLACE FUNCTION audit_event_no_rewrite() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'audit_event is append-only (%)', TG_OP; END $$",
        "DROP TRIGGER IF EXISTS audit_event_append_only ON audit_event",
        "CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event "
        "FOR EACH ROW EXECUTE FUNCTION audit_event_no_rewrite()",
    ],
}


def install_guards(connection) -> None:
    """Create the append-only triggers (used by the migration and by the test schema)."""
    for stmt in GUARD_SQL.get(connection.dialect.name, []):
        connection.execute(text(stmt))


def _canonical(ev: AuditEvent) -> str:
    return json.dumps(
        [
            ev.at.isoformat(timespec="microseconds"),
            ev.actor_id,
            ev.actor_role,
            ev.body,
            ev.entity_type,
            ev.entity_id,
            ev.action,
            ev.from_state,
            ev.to_state,
            ev.reason,
            ev.data,
            ev.ip,
        ],
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
    )


def _hash(prev: str, ev: AuditEvent) -> str:
    return hashlib.sha256((prev + _canonical(ev)).encode()).hexdigest()


def client_ip() -> str:
    return (request.remote_addr or "") if has_request_context() else ""


def record(
    entity_type: str,
    entity_id: int,
    action: str,
    *,
    actor=None,
    from_state: str = "",
    to_state: str = "",
    reason: str = "",
    data: dict | None = None,
) -> AuditEvent:
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_AUDIT_LOCK})
    prev = db.session.execute(
        db.select(AuditEvent.row_hash).order_by(AuditEvent.id.desc()).limit(1)
    ).scalar_one_or_none() or ""
    ev = AuditEvent(
        at=now(),
        actor_id=getattr(actor, "id", None),
        actor_name=getattr(actor, "display_name", "") or getattr(actor, "username", "") or "",
        actor_role=str(getattr(actor, "role", "") or ""),
        body=getattr(actor, "body", "") if actor is not None else "",
        entity_type=entity_type,
        entity_id=entity_id,
        action=action,
        from_state=str(from_state or ""),
        to_state=str(to_state or ""),
        reason=reason or "",
        data=data,
        ip=client_ip(),
        prev_hash=prev,
    )
    ev.row_hash = _hash(prev, ev)
    db.session.add(ev)
    db.session.flush()
    return ev


def verify() -> list[str]:
    """Recompute the chain; return a list of problems (empty when intact)."""
    problems: list[str] = []
    prev = ""
    for ev in db.session.execute(db.select(AuditEvent).order_by(AuditEvent.id)).scalars():
        if ev.prev_hash != prev:
            problems.append(f"#{ev.id}: 链接断开（前一条记录被删除或改动）")
        if _hash(ev.prev_hash, ev) != ev.row_hash:
            problems.append(f"#{ev.id}: 内容与哈希不符（记录被改动）")
        prev = ev.row_hash
    return problems


def timeline(entity_type: str, entity_id: int) -> list[AuditEvent]:
    return list(
        db.session.execute(
            db.select(AuditEvent)
            .where(AuditEvent.entity_type == entity_type, AuditEvent.entity_id == entity_id)
            .order_by(AuditEvent.id)
        ).scalars()
    )
