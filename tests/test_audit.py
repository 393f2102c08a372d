"""The append-only, hash-chained audit trail (SUP-1): what is written, what the database refuses,
and what `flask audit verify` reports after tampering.
"""
from __future__ import annotations

import datetime as dt
import tracemalloc
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from flask import render_template_string

from blueprints.core import audit, workflow
from models import AuditEvent, RegStatus, Role, db
from tests.factories import make_enterprise, make_supplier, make_user

# rule: SUP-1


def _events() -> list[AuditEvent]:
    return list(db.session.execute(db.select(AuditEvent).order_by(AuditEvent.id)).scalars())


def _some_events(n: int = 3) -> list[AuditEvent]:
    officer = make_user(Role.CITY, city_code="440100")
    for i in range(n):
        audit.record("enterprise", 100 + i, "note", actor=officer, reason=f"第{i + 1}条")
    db.session.commit()
    return _events()


def _tamper(engine_name: str, sql: str, params: dict | None = None) -> None:
    """Bypass the append-only guard the way an attacker with database access would."""
    if engine_name == "sqlite":
        db.session.execute(sa.text("DROP TRIGGER IF EXISTS audit_event_no_update"))
        db.session.execute(sa.text("DROP TRIGGER IF EXISTS audit_event_no_delete"))
    else:
        db.session.execute(sa.text("SET LOCAL session_replication_role = replica"))
    db.session.execute(sa.text(sql), params or {})
    db.session.commit()


def test_record_chains_rows_by_hash(app):
    events = _some_events(3)
    assert [e.prev_hash for e in events] == ["", events[0].row_hash, events[1].row_hash]
    assert all(len(e.row_hash) == 64 for e in events)
    assert len({e.row_hash for e in events}) == 3
    result = audit.verify()
    assert result.intact and result.checked == 3 and result.problems == []


def test_record_keeps_actor_body_time_and_address(app):
    # rule: ROLE-6 -- an operator's act is recorded with the operator and the body it acted for
    op = make_user(Role.OPERATOR, username="op_gz", city_code="440100")
    op.display_name = "第三方运营小王"
    with app.test_request_context("/", environ_base={"REMOTE_ADDR": "203.0.113.77"}):
        ev = audit.record("enterprise", 5, "note", actor=op, reason="代市局补录")
    db.session.commit()
    db.session.expire_all()
    ev = db.session.get(AuditEvent, ev.id)
    assert ev.actor_id == op.id and ev.actor_name == "第三方运营小王" and ev.actor_role == "operator"
    assert ev.body == "city:440100"
    assert ev.ip == "203.0.113.77"
    assert ev.reason == "代市局补录"
    assert ev.at.tzinfo is not None


def test_login_over_http_records_the_address(app):
    from tests.factories import PASSWORD

    user = make_user(Role.ENTERPRISE, username="ip_user")
    db.session.commit()
    r = app.test_client().post("/login", data={"username": "ip_user", "password": PASSWORD},
                               environ_base={"REMOTE_ADDR": "198.51.100.23"})
    assert r.status_code == 303
    ev = db.session.execute(db.select(AuditEvent).where(AuditEvent.action == "login")).scalar_one()
    assert ev.actor_id == user.id and ev.ip == "198.51.100.23" and ev.body == f"enterprise:{user.enterprise_id}"


@pytest.mark.parametrize("sql", ["UPDATE audit_event SET reason = 'changed'", "DELETE FROM audit_event"])
def test_database_refuses_update_and_delete(app, sql):
    _some_events(2)
    with pytest.raises(sa.exc.DBAPIError) as info:
        db.session.execute(sa.text(sql))
        db.session.flush()
    assert "append-only" in str(info.value)
    db.session.rollback()
    assert [e.reason for e in _events()] == ["第1条", "第2条"]


def test_orm_update_is_refused_too(app):
    ev = _some_events(1)[0]
    ev.reason = "改过了"
    with pytest.raises(sa.exc.DBAPIError):
        db.session.commit()
    db.session.rollback()
    db.session.expire_all()
    assert _events()[0].reason == "第1条"


def test_cli_verify_intact(app):
    _some_events(3)
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "intact" in result.output and "3" in result.output


def test_cli_verify_on_empty_trail(app):
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 0 and "intact" in result.output


@pytest.mark.parametrize("column, value", [
    ("reason", "'被改动的理由'"), ("body", "'province'"), ("to_state", "'approved'"), ("ip", "'10.0.0.1'"),
    ("actor_role", "'province'"), ("entity_id", "999"), ("actor_name", "'省经信局'"),  # every shown column
])
def test_cli_verify_detects_an_edited_row(app, engine_name, column, value):
    events = _some_events(3)
    victim = events[1].id
    _tamper(engine_name, f"UPDATE audit_event SET {column} = {value} WHERE id = :id", {"id": victim})
    db.session.expire_all()
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 1, result.output
    assert f"#{victim}" in result.output
    assert "被改动" in result.output
    assert f"#{events[0].id}" not in result.output and f"#{events[2].id}" not in result.output


def test_cli_verify_detects_a_removed_row(app, engine_name):
    events = _some_events(3)
    _tamper(engine_name, "DELETE FROM audit_event WHERE id = :id", {"id": events[1].id})
    db.session.expire_all()
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert f"#{events[2].id}" in result.output and "链接断开" in result.output


def test_cli_verify_detects_a_rewritten_chain_head(app, engine_name):
    # editing a row and recomputing its own hash still breaks the link to the next row
    events = _some_events(3)
    _tamper(engine_name, "UPDATE audit_event SET row_hash = :h WHERE id = :id", {"h": "0" * 64, "id": events[0].id})
    db.session.expire_all()
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert f"#{events[0].id}" in result.output and f"#{events[1].id}" in result.output


def test_timeline_lists_a_records_history_in_order(app):
    officer = make_user(Role.CITY, city_code="440100")
    officer.display_name = "广州市经信局审核员"
    owner = make_user(Role.ENTERPRISE)
    e = db.session.get(type(make_enterprise()), owner.enterprise_id)
    e.status = RegStatus.DRAFT
    db.session.flush()
    workflow.apply(e, "submit", owner)
    workflow.apply(e, "return", officer, reason="营业执照不清晰")
    audit.record("enterprise", e.id + 1000, "note", actor=officer)  # another record: not in the timeline
    db.session.commit()
    events = audit.timeline("enterprise", e.id)
    assert [(ev.from_state, ev.to_state) for ev in events] == [("draft", "city_review"), ("city_review", "returned")]
    with app.test_request_context():
        html = render_template_string('{% from "_macros/ui.html" import timeline %}{{ timeline(events) }}',
                                      events=events)
        empty = render_template_string('{% from "_macros/ui.html" import timeline %}{{ timeline([]) }}')
    assert "广州市经信局审核员" in html and "营业执照不清晰" in html
    assert "地市审核中" in html and "已退回待修改" in html
    assert html.index("地市审核中") < html.index("营业执照不清晰")
    assert "暂无记录" in empty


def test_audit_written_in_the_callers_transaction(app):
    # a rolled-back action leaves no audit row behind (nothing half-saved)
    s = make_supplier(status=RegStatus.PROVINCE_REVIEW)
    admin = make_user(Role.PROVINCE)
    db.session.commit()
    workflow.apply(s, "return", admin, reason="请补充材料")
    db.session.rollback()
    assert db.session.execute(db.select(db.func.count(AuditEvent.id)).where(
        AuditEvent.entity_type == "supplier")).scalar_one() == 0
    assert db.session.get(type(s), s.id).status == RegStatus.PROVINCE_REVIEW


# --------------------------------------------------------------------------- a long trail, streamed


def _bulk_trail(n: int, reason: str = "批量导入") -> None:
    """Append n chained events in one executemany (what record() would write, without 20,000 round trips)."""
    prev = db.session.execute(
        db.select(AuditEvent.row_hash).order_by(AuditEvent.id.desc()).limit(1)).scalar_one_or_none() or ""
    start = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.timezone.utc)
    rows = []
    for i in range(n):
        values = dict(at=start + dt.timedelta(seconds=i, microseconds=i % 997), actor_id=None, actor_name="市局审核员",
                      actor_role="city", body="city:440100", entity_type="application", entity_id=i, action="note",
                      from_state="city_review", to_state="approved", reason=f"{reason}{i}",
                      data={"face_value_fen": 100 * i, "note": "核验"}, ip="203.0.113.9")
        values["prev_hash"] = prev
        values["row_hash"] = prev = audit._hash(prev, SimpleNamespace(**values))
        rows.append(values)
    db.session.execute(sa.insert(AuditEvent.__table__), rows)
    db.session.commit()


def _ids() -> list[int]:
    return list(db.session.execute(db.select(AuditEvent.id).order_by(AuditEvent.id)).scalars())


def test_record_continues_a_bulk_written_chain_and_both_verify(app):
    # the hashes record() writes and the ones verify() recomputes from plain rows are the same
    _some_events(2)
    _bulk_trail(50)
    _some_events(2)
    result = audit.verify(batch=7)  # several batches, boundaries inside the trail
    assert result.intact and result.checked == 54


def test_verify_streams_and_still_finds_an_edited_and_a_removed_row(app, engine_name):
    _bulk_trail(3_000)
    ids = _ids()
    edited, removed = ids[1_234], ids[2_500]
    _tamper(engine_name, "UPDATE audit_event SET reason = '改过的理由' WHERE id = :id", {"id": edited})
    _tamper(engine_name, "DELETE FROM audit_event WHERE id = :id", {"id": removed})
    result = audit.verify(batch=1_000)
    assert result.checked == 2_999
    assert result.problems == [f"#{edited}: 内容与哈希不符（记录被改动）", f"#{ids[2_501]}: 链接断开（前一条记录被删除或改动）"]


def test_a_rewritten_trail_is_counted_not_listed_row_by_row(app, engine_name):
    _bulk_trail(40)
    _tamper(engine_name, "UPDATE audit_event SET ip = '10.0.0.1'")
    result = app.test_cli_runner().invoke(args=["audit", "verify", "--max-problems", "5"])
    assert result.exit_code == 1
    assert result.stdout.count("被改动") == 5
    assert "另有 35 个问题未列出（共 40 个）" in result.stdout


def test_verify_memory_does_not_grow_with_the_trail(app):
    def peak() -> int:
        tracemalloc.start()
        try:
            assert audit.verify().intact
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    _bulk_trail(2_000)
    audit.verify()  # compile and cache the statement before measuring
    small = peak()
    _bulk_trail(18_000)
    large = peak()
    # Loading ORM objects kept every row: ten times the rows took ten times the memory.
    assert large < small * 1.3 + 200_000, (small, large)


def test_hash_format_is_frozen():
    # Every stored hash depends on this exact serialisation: trails written before stay valid.
    ev = SimpleNamespace(at=dt.datetime(2026, 5, 4, 3, 2, 1, 12345, tzinfo=dt.timezone.utc), actor_id=7,
                         actor_name="广州市经信局 王审核",
                         actor_role="operator", body="city:440100", entity_type="voucher", entity_id=42,
                         action="issue", from_state="", to_state="issued", reason='代市局补录："引号" 与 emoji 🚀',
                         data={"z": 1, "a": [1, 2.5, None], "中": "文"}, ip="203.0.113.77")
    assert audit._hash("ab" * 32, ev, version=1) == "d385de41567fdd9e5e48786a7103a473a7a4ddccda83db0f24f9ca24145b22f9"
    # version 2 (what record() writes now) also covers the actor's name
    assert audit._hash("ab" * 32, ev) == "61d15fb6f702838d8b91021c4cccda256c51546bd92b5f284d49aed9f7f12b16"
