"""The append-only, hash-chained audit trail (SUP-1).

record() writes one AuditEvent in the caller's transaction; the chain is serialised
(SQLite: BEGIN IMMEDIATE already holds the write lock; PostgreSQL: a transaction-level
advisory lock) so two writers never fork it. Database triggers refuse UPDATE and DELETE, and
TRUNCATE on PostgreSQL. verify() recomputes every hash: an edited or removed row is reported. It
streams plain columns (no ORM objects, a server-side cursor on PostgreSQL) so its memory stays flat
however long the trail grows: a million events in under 20 s and ~140 MB on a 2-core machine.

Hash versions: version 1 hashed every column but actor_name; version 2 (every event written now)
hashes every column a timeline shows, actor_name included, and starts with its version, so a
version-2 hash can never pass as a version-1 one. Stored version-1 hashes keep verifying; once a
version-2 event appears, every later event must be version 2.

Checkpoints: a chain can always be cut at its end without breaking a link. checkpoint() appends
the chain's length and head hash to a file outside the database (instance/audit-checkpoints.txt,
which the app's database role cannot rewrite) and prints it for the province's report; verify()
fails when the chain is shorter than, or differs from, any checkpoint.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from flask import current_app, has_request_context, request
from sqlalchemy import select, text

from blueprints.core.timeutil import now
from models import AuditEvent, db

_PG_AUDIT_LOCK = 715_001  # arbitrary advisory lock key for the audit chain

# PostgreSQL's TRUNCATE fires no row trigger: a statement trigger refuses it (the same function). Only a
# superuser can step around it (session_replication_role = replica, as the tests' cleanup does); the
# app's database role must not be one.
TRUNCATE_GUARD_SQL = [
    "DROP TRIGGER IF EXISTS audit_event_no_truncate ON audit_event",
    "CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_event_no_rewrite()",
]

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
        *TRUNCATE_GUARD_SQL,
    ],
}


def install_guards(connection) -> None:
    """Create the append-only triggers (used by the migrations and by the test schema)."""
    for stmt in GUARD_SQL.get(connection.dialect.name, []):
        connection.execute(text(stmt))


# One encoder, made once: json.dumps() with these options builds a new JSONEncoder per call,
# which was a tenth of verify's time. The output is byte for byte what json.dumps() gives.
_ENCODER = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"))
# The hashed columns of version 1, in the order they are hashed (never change it: stored hashes depend on it).
_HASHED = ("at", "actor_id", "actor_role", "body", "entity_type", "entity_id", "action", "from_state",
           "to_state", "reason", "data", "ip")
# Version 2 hashes these, after its version tag: every column a timeline shows (never change it either).
_HASHED_V2 = ("at", "actor_id", "actor_name", "actor_role", "body", "entity_type", "entity_id", "action",
              "from_state", "to_state", "reason", "data", "ip")
HASH_VERSION = 2
_V2_TAG = "audit-v2"


def _canonical_values(at, *rest) -> str:
    """The hashed content of a version-1 event from its _HASHED values, in that order."""
    return _ENCODER.encode([at.isoformat(timespec="microseconds"), *rest])


def _canonical_values_v2(at, *rest) -> str:
    """The hashed content of a version-2 event from its _HASHED_V2 values, in that order."""
    return _ENCODER.encode([_V2_TAG, at.isoformat(timespec="microseconds"), *rest])


def _canonical(ev, version: int = HASH_VERSION) -> str:
    """The hashed content of an AuditEvent (or of any object with the hashed attributes)."""
    if version == 1:
        return _canonical_values(*(getattr(ev, name) for name in _HASHED))
    return _canonical_values_v2(*(getattr(ev, name) for name in _HASHED_V2))


def _hash(prev: str, ev, version: int = HASH_VERSION) -> str:
    return hashlib.sha256((prev + _canonical(ev, version)).encode()).hexdigest()


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


MAX_PROBLEMS = 1000  # problems kept to print; a wholesale rewrite is counted, not listed row by row


@dataclass
class Verification:
    """What verify() found: how many events were checked, every problem counted, the first ones kept."""

    checked: int = 0
    problem_count: int = 0
    problems: list[str] = field(default_factory=list)
    max_problems: int = MAX_PROBLEMS
    head: str = ""  # the last event's hash
    legacy: int = 0  # version-1 events (their hash does not cover actor_name)
    checkpoints: int = 0  # checkpoints compared

    @property
    def intact(self) -> bool:
        return self.problem_count == 0

    def add(self, problem: str) -> None:
        self.problem_count += 1
        if len(self.problems) < self.max_problems:
            self.problems.append(problem)


@dataclass(frozen=True)
class Checkpoint:
    """The chain's length and head hash at a moment, kept outside the database."""

    count: int
    head: str
    label: str = ""


def verify(*, max_problems: int = MAX_PROBLEMS, batch: int = 1_000,
           progress: Callable[[int], None] | None = None, progress_every: int = 100_000,
           checkpoints: Iterable[Checkpoint] = ()) -> Verification:
    """Recompute the chain in id order; report each broken link, each row whose hash does not match,
    and each checkpoint the chain no longer reaches or no longer agrees with.

    Rows are read as plain column tuples (Core, not ORM entities: nothing lands in the session's
    identity map) in batches of `batch`, through a server-side cursor where the engine has one, so
    memory does not grow with the trail. progress(checked) is called every `progress_every` rows.
    """
    table = AuditEvent.__table__
    columns = [table.c.id, *(table.c[name] for name in _HASHED_V2), table.c.prev_hash, table.c.row_hash]
    stmt = select(*columns).order_by(table.c.id).execution_options(stream_results=True, yield_per=batch)
    result = Verification(max_problems=max_problems)
    marks: dict[int, list[Checkpoint]] = {}
    for cp in checkpoints:
        marks.setdefault(cp.count, []).append(cp)
        result.checkpoints += 1
    prev = ""
    version = 1  # until the first version-2 event
    sha256, v1, v2, every = hashlib.sha256, _canonical_values, _canonical_values_v2, progress_every if progress else 0
    # Tuples unpacked by position, helpers bound to locals: this loop runs a million times.
    for ev_id, at, actor_id, actor_name, *rest, prev_hash, row_hash in db.session.execute(stmt):
        if prev_hash != prev:
            result.add(f"#{ev_id}: 链接断开（前一条记录被删除或改动）")
        if version == 2 or sha256((prev_hash + v1(at, actor_id, *rest)).encode()).hexdigest() != row_hash:
            if sha256((prev_hash + v2(at, actor_id, actor_name, *rest)).encode()).hexdigest() == row_hash:
                version = 2
            else:
                result.add(f"#{ev_id}: 内容与哈希不符（记录被改动）")
        if version == 1:
            result.legacy += 1
        prev = row_hash
        result.checked += 1
        for cp in marks.get(result.checked, ()):
            if cp.head != row_hash:
                result.add(f"#{ev_id}: 与检查点{cp.label}不符（前 {cp.count} 条记录被改写）")
        if every and result.checked % every == 0:
            progress(result.checked)
    result.head = prev
    for count, cps in sorted(marks.items()):
        for cp in cps:
            if count > result.checked:
                result.add(f"审计记录只有 {result.checked} 条，少于检查点{cp.label}的 {count} 条（末尾的记录被删除）")
            elif count == 0 and cp.head:
                result.add(f"检查点{cp.label}无效（0 条记录却有哈希）")
    return result


# --------------------------------------------------------------------------- checkpoints


def checkpoint_path() -> Path:
    """AUDIT_CHECKPOINT_FILE, else audit-checkpoints.txt in the instance folder."""
    configured = current_app.config.get("AUDIT_CHECKPOINT_FILE") or os.environ.get("AUDIT_CHECKPOINT_FILE")
    return Path(configured) if configured else Path(current_app.instance_path) / "audit-checkpoints.txt"


def format_checkpoint(at: str, count: int, head: str) -> str:
    return f"{at}\t{count}\t{head or '-'}"


def read_checkpoints(path: Path) -> list[Checkpoint]:
    """The checkpoints in a file written by append_checkpoint() (a missing file has none).
    A line that cannot be read is an error: a damaged file must not pass as an empty one."""
    if not path.exists():
        return []
    found = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        try:
            at, count, head = line.split("\t")
            found.append(Checkpoint(int(count), "" if head == "-" else head, f"（{at}）"))
        except ValueError:
            raise ValueError(f"{path} 第 {n} 行无法读取：{line[:80]!r}") from None
    return found


def parse_expected(text: str) -> Checkpoint:
    """A checkpoint typed from a report, COUNT:HASH (the hash of an empty chain is -)."""
    count, _, head = text.partition(":")
    if not count.isdigit() or not (head == "-" or (len(head) == 64 and all(c in "0123456789abcdef" for c in head))):
        raise ValueError(f"检查点格式应为 条数:哈希，收到 {text!r}")
    return Checkpoint(int(count), "" if head == "-" else head, f"（{count}:{head[:12]}…）")


def append_checkpoint(path: Path, at: str, count: int, head: str) -> str:
    """Append one checkpoint line (the file is only ever opened for appending) and flush it to disk."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = format_checkpoint(at, count, head)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(fd, (line + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    return line


def timeline(entity_type: str, entity_id: int) -> list[AuditEvent]:
    return list(
        db.session.execute(
            db.select(AuditEvent)
            .where(AuditEvent.entity_type == entity_type, AuditEvent.entity_id == entity_id)
            .order_by(AuditEvent.id)
        ).scalars()
    )


# --------------------------------------------------------------------------- what changed between submissions


def last_snapshot(entity_type: str, entity_id: int, action: str = "submit") -> dict | None:
    """The facts kept in the record's latest `action` event (data["snapshot"]), or None when there is
    none or it was written before submissions kept them."""
    from models import AuditEvent, db

    data = db.session.execute(
        db.select(AuditEvent.data).where(AuditEvent.entity_type == entity_type, AuditEvent.entity_id == entity_id,
                                         AuditEvent.action == action)
        .order_by(AuditEvent.id.desc()).limit(1)
    ).scalar_one_or_none()
    return (data or {}).get("snapshot")


def field_changes(before: dict | None, after: dict, labels: dict) -> list[dict]:
    """Field by field what differs, in `after`'s order: [{"label", "before", "after"}]; nothing when the
    earlier facts are unknown. Empty values read "—"."""
    if before is None:
        return []
    return [{"label": labels.get(key, key), "before": before.get(key) or "—", "after": value or "—"}
            for key, value in after.items() if (before.get(key) or "—") != (value or "—")]

