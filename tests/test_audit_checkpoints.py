"""The audit chain against an owner of the database (SUP-1, F12): every shown column is hashed, version-1 trails still verify, TRUNCATE is refused, and checkpoints kept
outside the database catch a chain cut at its end.
"""
from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade

from app import create_app
from blueprints.core import audit
from models import AuditEvent, Role, db
from tests.factories import make_user
from tests.test_migrations import empty_db_url  # noqa: F401  (fixture)

# rule: SUP-1 (F12)


def _events(n: int) -> list[AuditEvent]:
    officer = make_user(Role.CITY, city_code="440100")
    for i in range(n):
        audit.record("enterprise", 100 + i, "note", actor=officer, reason=f"第{i + 1}条")
    db.session.commit()
    return list(db.session.execute(db.select(AuditEvent).order_by(AuditEvent.id)).scalars())


def _tamper(engine_name: str, sql: str, params: dict | None = None) -> None:
    """Step around the append-only guard the way an owner of the database could."""
    if engine_name == "sqlite":
        db.session.execute(sa.text("DROP TRIGGER IF EXISTS audit_event_no_update"))
        db.session.execute(sa.text("DROP TRIGGER IF EXISTS audit_event_no_delete"))
    else:
        db.session.execute(sa.text("SET LOCAL session_replication_role = replica"))
    db.session.execute(sa.text(sql), params or {})
    db.session.commit()
    db.session.expire_all()


def _cli(app, *args):
    return app.test_cli_runner().invoke(args=["audit", *args])


def _legacy_trail(n: int) -> None:
    """Events as written before hash version 2 (actor_name outside the hash)."""
    prev = ""
    rows = []
    start = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.timezone.utc)
    for i in range(n):
        values = dict(at=start + dt.timedelta(seconds=i), actor_id=None, actor_name="市局审核员", actor_role="city",
                      body="city:440100", entity_type="application", entity_id=i, action="note", from_state="",
                      to_state="", reason=f"旧记录{i}", data=None, ip="203.0.113.9")
        values["prev_hash"] = prev
        values["row_hash"] = prev = audit._hash(prev, SimpleNamespace(**values), version=1)
        rows.append(values)
    db.session.execute(sa.insert(AuditEvent.__table__), rows)
    db.session.commit()


def test_the_actor_name_shown_on_timelines_is_in_the_hash(app, engine_name):
    events = _events(3)
    _tamper(engine_name, "UPDATE audit_event SET actor_name = '省厅领导' WHERE id = :id", {"id": events[1].id})
    result = _cli(app, "verify")
    assert result.exit_code == 1 and f"#{events[1].id}: 内容与哈希不符" in result.output


def test_stored_version_1_hashes_still_verify_and_new_events_continue_them(app, engine_name):
    _legacy_trail(4)
    _events(2)
    result = audit.verify()
    assert result.intact and result.checked == 6 and result.legacy == 4, result.problems
    out = _cli(app, "verify").output
    assert "intact (6 events)" in out and "4 events were hashed before actor names were covered" in out
    # a version-2 event rewritten with a version-1 hash (to change its actor's name unseen) is caught
    last = db.session.execute(db.select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1)).scalar_one()
    forged = SimpleNamespace(**{c: getattr(last, c) for c in audit._HASHED_V2})
    forged.actor_name = "别人"
    _tamper(engine_name, "UPDATE audit_event SET actor_name = '别人', row_hash = :h WHERE id = :id",
            {"h": audit._hash(last.prev_hash, forged, version=1), "id": last.id})
    result = audit.verify()
    assert not result.intact and result.problems == [f"#{last.id}: 内容与哈希不符（记录被改动）"]


def test_deleting_the_newest_events_is_caught_by_a_checkpoint(app, engine_name, tmp_path):
    events = _events(5)
    head, cut = events[-1].row_hash, events[3].id
    result = _cli(app, "checkpoint")
    assert result.exit_code == 0, result.output
    assert f"5 {head}" in result.output  # printed for the province's report
    assert f"--expect 5:{head}" in result.output
    _events(1)  # the chain grows after the checkpoint: still fine
    assert _cli(app, "verify").exit_code == 0
    _tamper(engine_name, "DELETE FROM audit_event WHERE id >= :id", {"id": cut})
    result = _cli(app, "verify")
    assert result.exit_code == 1, result.output
    assert "审计记录只有 3 条，少于检查点" in result.output and "末尾的记录被删除" in result.output
    # the same check from the printed report alone, with no checkpoint file at hand
    result = _cli(app, "verify", "--checkpoint-file", str(tmp_path / "none.txt"),
                  "--expect", f"5:{head}")
    assert result.exit_code == 1 and "少于检查点" in result.output


def test_a_tail_rewritten_to_the_same_length_disagrees_with_the_checkpoint(app, engine_name):
    events = _events(4)
    assert _cli(app, "checkpoint").exit_code == 0
    _tamper(engine_name, "DELETE FROM audit_event WHERE id = :id", {"id": events[-1].id})
    forged = audit.record("enterprise", 103, "note", reason="改写的第4条")  # re-chained, hashes all valid
    db.session.commit()
    assert audit.verify().intact  # without the checkpoint nothing shows
    result = _cli(app, "verify")
    assert result.exit_code == 1 and f"#{forged.id}: 与检查点" in result.output


def test_checkpoints_are_appended_and_a_broken_chain_gets_none(app, engine_name, tmp_path):
    path = tmp_path / "audit-checkpoints.txt"
    events = _events(2)
    assert _cli(app, "checkpoint").exit_code == 0
    _events(1)
    assert _cli(app, "checkpoint").exit_code == 0
    lines = path.read_text().splitlines()
    assert [ln.split("\t")[1:] for ln in lines] == [["2", events[-1].row_hash],
                                                    ["3", audit.verify().head]]
    assert "agrees with 2 checkpoint(s)" in _cli(app, "verify").output
    _tamper(engine_name, "UPDATE audit_event SET reason = '改' WHERE id = :id", {"id": events[0].id})
    result = _cli(app, "checkpoint")
    assert result.exit_code == 1 and "被改动" in result.output
    assert len(path.read_text().splitlines()) == 2  # nothing vouches for the tampered chain
    path.write_text(path.read_text() + "garbage line\n")
    result = _cli(app, "verify")
    assert result.exit_code != 0 and "无法读取" in result.output


def test_an_empty_trail_checkpoints_and_verifies(app):
    result = _cli(app, "checkpoint")
    assert result.exit_code == 0 and "--expect 0:-" in result.output
    assert _cli(app, "verify").exit_code == 0


def test_the_app_cannot_empty_the_audit_table(app, engine_name):
    _events(2)
    # PostgreSQL: TRUNCATE (directly or by cascade from the users) is refused; SQLite has no TRUNCATE and
    # refuses its equivalent, a DELETE of every row.
    statements = (["TRUNCATE audit_event", 'TRUNCATE "user" CASCADE'] if engine_name == "postgresql"
                  else ["DELETE FROM audit_event"])
    for stmt in statements:
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            db.session.execute(sa.text(stmt))
        db.session.rollback()
    assert db.session.execute(db.select(db.func.count(AuditEvent.id))).scalar_one() == 2


def test_a_migrated_database_refuses_truncate(empty_db_url, tmp_path, engine_name):  # noqa: F811
    app = create_app({"SQLALCHEMY_DATABASE_URI": empty_db_url, "TESTING": True, "UPLOAD_DIR": str(tmp_path)})
    with app.app_context():
        upgrade()
        audit.record("user", 1, "probe", reason="x")
        db.session.commit()
        stmt = "TRUNCATE audit_event" if engine_name == "postgresql" else "DELETE FROM audit_event"
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            db.session.execute(sa.text(stmt))
            db.session.commit()
        db.session.rollback()
        db.session.remove()
        db.engine.dispose()
