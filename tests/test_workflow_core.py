"""The workflow core: explicit transition tables, actions_for() and apply() (SUP-1, ROLE-6, ROLE-8).

Table-wide checks walk every table in workflow.WORKFLOWS, so a workflow added later is
checked too.
"""
from __future__ import annotations

import pytest

from blueprints.core import workflow
from blueprints.core.workflow import NotAllowed
from models import AuditEvent, Enterprise, RegStatus, Role, db
from tests.factories import make_enterprise, make_supplier, make_user

# rule: SUP-1


def _audit_rows(entity_type: str, entity_id: int) -> list[AuditEvent]:
    return list(db.session.execute(
        db.select(AuditEvent).where(AuditEvent.entity_type == entity_type, AuditEvent.entity_id == entity_id)
        .order_by(AuditEvent.id)
    ).scalars())


def _enterprise_in_review(city_code="440100") -> Enterprise:
    e = make_enterprise(status=RegStatus.CITY_REVIEW, city_code=city_code)
    db.session.commit()
    return e


# --------------------------------------------------------------------------- apply()


def test_apply_writes_one_audit_row_with_actor_body_states_reason_ip(app):
    # rule: ROLE-3 -- a city officer acts for its city, and the trail says so
    e = _enterprise_in_review()
    officer = make_user(Role.CITY, city_code="440100")
    with app.test_request_context("/", environ_base={"REMOTE_ADDR": "203.0.113.9"}):
        ev = workflow.apply(e, "return", officer, reason="  请补充营业执照  ")
    db.session.commit()
    assert e.status == RegStatus.RETURNED
    rows = _audit_rows("enterprise", e.id)
    assert len(rows) == 1 and rows[0].id == ev.id
    row = rows[0]
    assert row.actor_id == officer.id and row.actor_role == "city"
    assert row.body == "city:440100"
    assert (row.from_state, row.to_state, row.action) == ("city_review", "returned", "return")
    assert row.reason == "请补充营业执照"
    assert row.ip == "203.0.113.9"
    assert row.row_hash and row.at is not None


@pytest.mark.parametrize("city_code, body", [("440100", "city:440100"), (None, "province")])
def test_operator_acts_for_its_body_and_the_trail_shows_both(app, city_code, body):
    # rule: ROLE-6 -- an operator has the permissions of the body it acts for; the trail names both
    op = make_user(Role.OPERATOR, city_code=city_code) if city_code else make_user(Role.OPERATOR)
    if city_code:
        obj = _enterprise_in_review("440100")
        action, expected = "return", RegStatus.RETURNED
    else:
        obj = make_supplier(status=RegStatus.PROVINCE_REVIEW)
        action, expected = "return", RegStatus.RETURNED
    db.session.commit()
    labels = [t.action for t in workflow.actions_for(obj, op)]
    assert action in labels
    ev = workflow.apply(obj, action, op, reason="材料不全，请补充")
    db.session.commit()
    assert obj.status == expected
    assert ev.actor_id == op.id and ev.actor_role == "operator" and ev.body == body


def test_province_body_for_a_province_admin(app):
    # rule: ROLE-4
    s = make_supplier(status=RegStatus.PROVINCE_REVIEW)
    admin = make_user(Role.PROVINCE)
    db.session.commit()
    ev = workflow.apply(s, "reject", admin, reason="不符合条件")
    assert ev.body == "province" and ev.actor_role == "province" and s.status == RegStatus.REJECTED


def test_illegal_action_raises_and_changes_nothing(app):
    e = _enterprise_in_review()
    officer = make_user(Role.CITY, city_code="440100")
    owner = make_user(Role.ENTERPRISE, enterprise_id=e.id)
    db.session.commit()
    with pytest.raises(NotAllowed):
        workflow.apply(e, "submit", officer)  # not from city_review
    with pytest.raises(NotAllowed):
        workflow.apply(e, "approve", owner)  # an enterprise never approves itself
    with pytest.raises(NotAllowed):
        workflow.apply(e, "no_such_action", officer)
    assert e.status == RegStatus.CITY_REVIEW
    assert _audit_rows("enterprise", e.id) == []


def test_reason_required_where_the_table_says_so(app):
    e = _enterprise_in_review()
    officer = make_user(Role.CITY, city_code="440100")
    with pytest.raises(NotAllowed, match="请填写理由"):
        workflow.apply(e, "reject", officer, reason="   ")
    assert e.status == RegStatus.CITY_REVIEW
    assert _audit_rows("enterprise", e.id) == []


def test_other_city_gets_no_actions(app):
    # rule: ROLE-8 -- another city's officer sees no buttons and cannot act
    e = _enterprise_in_review("440100")
    shenzhen = make_user(Role.CITY, city_code="440300")
    op_shenzhen = make_user(Role.OPERATOR, city_code="440300")
    for user in (shenzhen, op_shenzhen):
        assert workflow.actions_for(e, user) == []
        with pytest.raises(NotAllowed):
            workflow.apply(e, "approve", user)
    assert e.status == RegStatus.CITY_REVIEW


def test_other_enterprise_cannot_submit_my_registration(app):
    # rule: ROLE-8
    mine = make_enterprise(status=RegStatus.DRAFT)
    stranger = make_user(Role.ENTERPRISE)
    owner = make_user(Role.ENTERPRISE, enterprise_id=mine.id)
    assert workflow.actions_for(mine, stranger) == []
    with pytest.raises(NotAllowed):
        workflow.apply(mine, "submit", stranger)
    assert [t.action for t in workflow.actions_for(mine, owner)] == ["submit"]


@pytest.mark.parametrize("role", [Role.EXPERT, Role.SUPPLIER])
def test_role_not_in_the_table_gets_no_actions(app, role):
    e = _enterprise_in_review()
    user = make_user(role)
    assert workflow.actions_for(e, user) == []
    with pytest.raises(NotAllowed):
        workflow.apply(e, "approve", user)


def test_anonymous_gets_no_actions(app):
    from flask_login import AnonymousUserMixin

    e = _enterprise_in_review()
    assert workflow.actions_for(e, AnonymousUserMixin()) == []
    assert workflow.actions_for(e, None) == []


def test_actions_for_lists_exactly_the_table_rows(app):
    e = _enterprise_in_review()
    officer = make_user(Role.CITY, city_code="440100")
    _, table = workflow.table_for(e)
    expected = [t for t in table if t.source == RegStatus.CITY_REVIEW and Role.CITY in t.roles
                and (t.guard is None or t.guard(e))]
    assert workflow.actions_for(e, officer) == expected
    assert {t.action for t in expected} >= {"return", "reject"}


def test_guard_picks_the_supplier_route(app):
    # REG-4 routing is a table guard: in-province suppliers go to their city, others to the province
    inside = make_supplier(status=RegStatus.DRAFT, in_province=True)
    outside = make_supplier(status=RegStatus.DRAFT, in_province=False)
    u_in = make_user(Role.SUPPLIER, supplier_id=inside.id)
    u_out = make_user(Role.SUPPLIER, supplier_id=outside.id)
    assert len(workflow.actions_for(inside, u_in)) == 1
    workflow.apply(inside, "submit", u_in)
    workflow.apply(outside, "submit", u_out)
    assert inside.status == RegStatus.CITY_REVIEW
    assert outside.status == RegStatus.PROVINCE_REVIEW


def test_the_province_approves_a_supplier_only_with_a_score_of_this_round(app):
    # rule: REG-4 — an expert's score of the current review round must be in view; an earlier round's is not enough
    from models import ExpertReview

    s = make_supplier(status=RegStatus.PROVINCE_REVIEW, in_province=False)
    s.review_round = 2
    province, expert = make_user(Role.PROVINCE), make_user(Role.EXPERT)
    other = make_supplier(status=RegStatus.PROVINCE_REVIEW, in_province=False)
    other.review_round = 2
    db.session.add(ExpertReview(supplier_id=s.id, expert_id=expert.id, round=1, score=80, opinion="上一轮"))
    db.session.add(ExpertReview(supplier_id=other.id, expert_id=expert.id, round=2, score=80, opinion="另一家"))
    db.session.flush()
    assert "approve" not in {t.action for t in workflow.actions_for(s, province)}
    db.session.add(ExpertReview(supplier_id=s.id, expert_id=expert.id, round=2, score=85, opinion="本轮"))
    db.session.flush()
    assert "approve" in {t.action for t in workflow.actions_for(s, province)}


def test_a_disqualified_supplier_gets_no_confirm_button(app):
    # rule: REL-4, APP-3 — the supplier confirms an application only while it may be chosen
    from tests.factories import make_application, make_world

    w = make_world()
    a = make_application(w.enterprise, w.supplier, w.cycle, stage="supplier_review", users=w.users)
    assert "confirm" in {t.action for t in workflow.actions_for(a, w.sup_user)}
    w.supplier.disqualified = True
    assert "confirm" not in {t.action for t in workflow.actions_for(a, w.sup_user)}
    assert "return" in {t.action for t in workflow.actions_for(a, w.sup_user)}  # it may still send it back


def test_only_a_signatory_submits_but_any_member_may_withdraw(app):
    # rule: ELIG-6, REL-1, APP-7 (the declarations of a submission are a signatory's; withdrawing is any member's)
    from tests.factories import make_application, make_world

    w = make_world()
    a = make_application(w.enterprise, w.supplier, w.cycle, stage="draft", users=w.users)
    clerk = make_user(Role.ENTERPRISE, enterprise_id=w.enterprise.id, is_signatory=False)
    with pytest.raises(NotAllowed, match="法定代表人或授权签字人"):
        workflow.find(a, "submit", clerk)
    assert workflow.find(a, "withdraw", clerk).action == "withdraw"
    assert workflow.find(a, "submit", w.ent_user).action == "submit"


def test_a_timeline_names_each_step_by_its_transition():
    # rule: SUP-1 — the timeline names the row the event went through (the province's approval is not the city's)
    from types import SimpleNamespace as Ev

    assert workflow.event_label(Ev(entity_type="supplier", action="approve", from_state="city_review")) \
        == "基本信息属实，报省复核"
    assert workflow.event_label(Ev(entity_type="supplier", action="approve", from_state="province_review")) == "通过"
    assert workflow.event_label(Ev(entity_type="enterprise", action="submit", from_state=None)) == "提交审核"
    assert workflow.event_label(Ev(entity_type="enterprise", action="submit", from_state="returned")) == "重新提交"
    assert workflow.event_label(Ev(entity_type="nothing", action="no_such_action", from_state=None)) == "no_such_action"


# --------------------------------------------------------------------------- the tables


def _tables():
    return [(name, table) for name, table in workflow.WORKFLOWS.values()]


@pytest.mark.parametrize("name, table", _tables(), ids=[n for n, _ in _tables()])
def test_terminal_states_have_no_outgoing_transitions(name, table):
    assert name in workflow.TERMINAL, f"workflow {name} must declare its terminal states"
    terminal = workflow.TERMINAL[name]
    assert terminal, name
    for t in table:
        assert t.source not in terminal, f"{name}: terminal state {t.source} has action {t.action}"
    targets = {t.target for t in table}
    for state in terminal:
        assert state in targets, f"{name}: terminal state {state} is never reached"


@pytest.mark.parametrize("name, table", _tables(), ids=[n for n, _ in _tables()])
def test_table_rows_are_well_formed(name, table):
    valid_roles = set(Role)
    for t in table:
        assert t.roles and t.roles <= valid_roles, (name, t)
        assert Role.OPERATOR not in t.roles, "operators act through acting_role, never by their own role"
        assert t.label.strip(), (name, t)
        assert t.source != t.target, f"{name}: {t.action} from {t.source} must move the record on"
        assert t.style in ("primary", "danger", "secondary"), (name, t)
        assert str(t.source) in workflow.STATUS_LABELS, f"{name}: no label for status {t.source}"
        assert str(t.target) in workflow.STATUS_LABELS, f"{name}: no label for status {t.target}"
        if t.action in ("reject", "return"):
            assert t.needs_reason, f"{name}: {t.action} must ask for a reason"
    # the same (state, action, role) never leads to two targets unless guards choose between them
    seen = {}
    for t in table:
        for role in t.roles:
            key = (t.source, t.action, role)
            if key in seen:
                assert t.guard is not None and seen[key].guard is not None, (name, key)
            seen[key] = t


@pytest.mark.parametrize("name, table", _tables(), ids=[n for n, _ in _tables()])
def test_every_state_reachable_from_the_start(name, table):
    sources = {t.source for t in table}
    targets = {t.target for t in table}
    starts = (sources - targets) or ({"draft"} & sources)  # a table may lead back to its draft
    assert starts, f"{name}: no initial state"
    reached = set(starts)
    frontier = list(starts)
    while frontier:
        state = frontier.pop()
        for t in table:
            if t.source == state and t.target not in reached:
                reached.add(t.target)
                frontier.append(t.target)
    assert reached == sources | targets, f"{name}: unreachable {sorted(map(str, (sources | targets) - reached))}"
