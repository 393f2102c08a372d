"""Who may take each transition, workflow by workflow (ROLE-1..6, ROLE-8, SUP-1).

For every table in workflow.WORKFLOWS: the table written out here, transition by transition with the roles that
may act, must equal the code's table; and each transition is taken through workflow.apply() by a principal of
every role, each one in scope (the record's own enterprise or supplier, an officer and an operator of its city,
the province, an expert): exactly the listed roles succeed, every other role is refused. Widening a role set (the
city's approval to the province, a supplier deciding its own registration) or narrowing one fails here.
"""
from __future__ import annotations

import pytest

from blueprints.core import workflow
from blueprints.core.timeutil import now
from models import (
    EntryStatus, ExpertReview, ListEntry, Objection, ProfileChange, RegStatus, Role, SettlementList, Supplier, db,
)
from tests.factories import make_application, make_catalog, make_settlement, make_user, make_voucher, make_world

E, S, C, P, X = Role.ENTERPRISE, Role.SUPPLIER, Role.CITY, Role.PROVINCE, Role.EXPERT

# (from, action, to): the roles that may act. Written out by hand: the specification, not a copy of the code.
EXPECTED = {
    "enterprise": {  # REG-3, REG-5, REG-6: the enterprise submits, its city decides
        ("draft", "submit", "city_review"): {E},
        ("returned", "submit", "city_review"): {E},
        ("city_review", "approve", "approved"): {C},
        ("city_review", "return", "returned"): {C},
        ("city_review", "reject", "rejected"): {C},
    },
    "supplier": {  # REG-4: in-province via its city, then the province (with experts); others the province
        ("draft", "submit", "city_review"): {S},
        ("draft", "submit", "province_review"): {S},
        ("returned", "submit", "city_review"): {S},
        ("returned", "submit", "province_review"): {S},
        ("city_review", "approve", "province_review"): {C},
        ("city_review", "return", "returned"): {C},
        ("city_review", "reject", "rejected"): {C},
        ("province_review", "approve", "approved"): {P},
        ("province_review", "return", "returned"): {P},
        ("province_review", "reject", "rejected"): {P},
    },
    "profile_change": {  # REG-9: the same reviewers as the registration
        ("draft", "submit", "city_review"): {E, S},
        ("draft", "submit", "province_review"): {S},
        ("returned", "submit", "city_review"): {E, S},
        ("returned", "submit", "province_review"): {S},
        ("city_review", "approve", "approved"): {C},
        ("city_review", "approve", "province_review"): {C},
        ("city_review", "return", "returned"): {C},
        ("city_review", "reject", "rejected"): {C},
        ("province_review", "approve", "approved"): {P},
        ("province_review", "return", "returned"): {P},
        ("province_review", "reject", "rejected"): {P},
        ("city_review", "withdraw", "withdrawn"): {E, S},
        ("province_review", "withdraw", "withdrawn"): {E, S},
        ("returned", "withdraw", "withdrawn"): {E, S},
    },
    "application": {  # APP-3, APP-4, APP-7: the supplier confirms, the city decides, the enterprise withdraws
        ("draft", "submit", "supplier_review"): {E},
        ("returned", "submit", "supplier_review"): {E},
        ("supplier_review", "confirm", "city_review"): {S},
        ("supplier_review", "return", "returned"): {S},
        ("city_review", "approve", "approved"): {C},
        ("city_review", "return", "returned"): {C},
        ("city_review", "reject", "rejected"): {C},
        ("draft", "withdraw", "withdrawn"): {E},
        ("supplier_review", "withdraw", "withdrawn"): {E},
        ("city_review", "withdraw", "withdrawn"): {E},
        ("returned", "withdraw", "withdrawn"): {E},
    },
    "settlement": {  # SET-1, SET-4, SET-5, SET-6: the province only overrides usage verification
        ("draft", "submit", "supplier_review"): {E},
        ("returned", "submit", "supplier_review"): {E},
        ("supplier_review", "withdraw", "draft"): {E},
        ("supplier_review", "confirm", "verification"): {S},
        ("supplier_review", "return", "returned"): {S},
        ("verification", "override", "city_review"): {P},
        ("city_review", "approve", "approved"): {C},
        ("city_review", "return", "returned"): {C},
        ("city_review", "reject", "rejected"): {C},
    },
    "catalog_version": {("draft", "publish", "published"): {P}},  # CAT-2
    "cycle": {("draft", "announce", "announced"): {P}},  # CYC-1, CYC-2
    "settlement_list": {  # PUB-1
        ("draft", "publish", "published"): {C},
        ("draft", "discard", "discarded"): {C},
    },
    "objection": {  # PUB-2, PUB-3: the city answers or escalates; the province decides escalated ones
        ("open", "upheld", "upheld"): {C},
        ("open", "dismissed", "dismissed"): {C},
        ("open", "escalate", "escalated"): {C},
        ("escalated", "upheld", "upheld"): {P},
        ("escalated", "dismissed", "dismissed"): {P},
    },
    "list_entry": {("committed", "pay", "paid"): {C}},  # PAY-1
}

PRINCIPALS = ("enterprise", "supplier", "city", "province", "expert", "operator_city", "operator_province")


def _code_table(name: str) -> dict:
    table = next(rows for n, rows in workflow.WORKFLOWS.values() if n == name)
    out = {(str(t.source), t.action, str(t.target)): set(t.roles) for t in table}
    assert len(out) == len(table), f"{name}: two rows for the same transition"
    return out


def test_every_workflow_is_written_out_here():
    # rule: ROLE-8 -- a workflow added later must get its table of roles in this file
    assert sorted(n for n, _ in workflow.WORKFLOWS.values()) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_code_table_states_exactly_these_roles(name):
    # rule: ROLE-1, ROLE-2, ROLE-3, ROLE-4, ROLE-5, ROLE-8, REG-4, APP-3, SET-1, PUB-3 -- transition by transition
    assert _code_table(name) == EXPECTED[name]


@pytest.fixture
def records(app):
    """One record of every workflow, with every principal in its scope (city 440100)."""
    w = make_world(cap_fen=900_000_00)
    ent, sup = w.enterprise, w.supplier
    users = {
        "enterprise": w.ent_user, "supplier": w.sup_user, "city": w.city_user, "province": make_user(P),
        "expert": make_user(X), "operator_city": make_user(Role.OPERATOR, city_code="440100"),
        "operator_province": make_user(Role.OPERATOR),
    }
    db.session.add(ExpertReview(supplier_id=sup.id, expert_id=users["expert"].id, round=sup.review_round, score=80,
                                opinion="能力符合要求"))  # REG-4: the province decides with a score in view
    application = make_application(ent, sup, w.cycle, stage="supplier_review", users=w.users)  # submitted once
    voucher = make_voucher(ent, sup, w.cycle, fee_fen=100_000_00, users=w.users)
    settlement = make_settlement(voucher, stage="supplier_review", users=w.users)  # submitted once
    submitted = now()
    changes = {
        "enterprise": ProfileChange(enterprise_id=ent.id, city_code="440100", submitted_at=submitted,
                                    proposed={"contact_name": "王工"}),
        "supplier_city": ProfileChange(supplier_id=sup.id, city_code="440100", submitted_at=submitted,
                                       proposed={"contact_name": "李工"}),
        "supplier_province": ProfileChange(supplier_id=sup.id, city_code=None, submitted_at=submitted,
                                           proposed={"contact_name": "赵工"}),
    }
    db.session.add_all(changes.values())
    lst = SettlementList(city_code="440100", period="2026-1")
    db.session.add(lst)
    db.session.flush()
    objection = Objection(tracking_no="YY-TEST-0001", list_id=lst.id, city_code="440100",
                          raised_by=w.ent_user.id, enterprise_id=ent.id, text="金额与合同不符")
    entry = ListEntry(list_id=lst.id, settlement_id=settlement.id, voucher_id=voucher.id, city_code="440100", seq=1,
                      submitted_at=submitted, face_fen=voucher.face_value_fen, amount_fen=voucher.face_value_fen,
                      status=EntryStatus.COMMITTED)
    draft_catalog = make_catalog(published=False)
    db.session.add_all([objection, entry])
    db.session.commit()
    return {
        "users": users,
        "enterprise": [ent], "supplier": [sup], "application": [application], "settlement": [settlement],
        "profile_change": list(changes.values()), "catalog_version": [draft_catalog], "cycle": [w.cycle],
        "settlement_list": [lst], "objection": [objection], "list_entry": [entry],
    }


def _owns(user, obj) -> bool:
    return (getattr(obj, "enterprise_id", None) is not None and obj.enterprise_id == user.enterprise_id) or \
        (getattr(obj, "supplier_id", None) is not None and obj.supplier_id == user.supplier_id)


def _record_for(t, candidates, user):
    """The record the transition is tried on: one its guard admits, the user's own where there is a choice."""
    fits = []
    for obj in candidates:
        obj.status = t.source
        if isinstance(obj, Supplier):
            # submitted straight to the province only from outside it; the city reviews its own in-province ones
            obj.in_province = not (t.action == "submit" and str(t.target) == "province_review")
        if t.guard is None or t.guard(obj):
            fits.append(obj)
    assert fits, f"no record fits {t}"
    return next((o for o in fits if _owns(user, o)), fits[0])


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_exactly_the_listed_roles_can_take_each_transition(records, name):
    # rule: ROLE-1, ROLE-2, ROLE-3, ROLE-4, ROLE-5, ROLE-6, ROLE-8, SUP-1 -- through workflow.apply(), every
    # principal in scope: the listed roles move the record on (and the trail records it), the others are refused
    users = records["users"]
    _, table = next((n, rows) for n, rows in workflow.WORKFLOWS.values() if n == name)
    problems = []
    for t in table:
        allowed = EXPECTED[name][(str(t.source), t.action, str(t.target))]
        for principal in PRINCIPALS:
            user = users[principal]
            obj = _record_for(t, records[name], user)
            db.session.flush()
            try:
                ev = workflow.apply(obj, t.action, user, reason="核对材料后处理")
                took = obj.status == t.target and ev.to_state == t.target and ev.actor_id == user.id
            except workflow.NotAllowed:
                took = False
            finally:
                db.session.rollback()
            if took != (user.acting_role in allowed):
                problems.append(f"{name} {t.source} -{t.action}-> {t.target} as {principal}: "
                                f"{'took it' if took else 'refused'}, expected "
                                f"{'to take it' if user.acting_role in allowed else 'a refusal'}")
    assert problems == [], "\n".join(problems)


def test_the_city_approval_of_an_enterprise_is_not_the_provinces(records):
    # rule: REG-3, ROLE-3, ROLE-4 -- the province sees the enterprise's registration but never decides it
    ent = records["enterprise"][0]
    ent.status = RegStatus.CITY_REVIEW
    db.session.commit()
    for principal in ("province", "operator_province"):
        assert workflow.actions_for(ent, records["users"][principal]) == []
        with pytest.raises(workflow.NotAllowed):
            workflow.apply(ent, "approve", records["users"][principal])
    assert [t.action for t in workflow.actions_for(ent, records["users"]["city"])] == ["approve", "return", "reject"]
    assert ent.status == RegStatus.CITY_REVIEW
