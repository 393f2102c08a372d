"""The voucher's life as a Hypothesis state machine (R41, F16): enterprises save and submit applications
(amounts drawn), the supplier confirms or returns, the city approves, returns or rejects, enterprises
withdraw, release vouchers and file settlements; every role also tries what it may not do (the wrong
role, another city or enterprise, the wrong state), which must be refused with nothing changed.

Each example starts from an empty database, made inside @initialize (a function-scoped fixture is
not run again per example): SQLite gets a fresh copy of the schema file, PostgreSQL its tables
truncated. The real service functions act (blueprints/core/application.py, issuance.py,
settlement.py) and a plain model predicts every status, face value and audit row.

STATE_MACHINE_EXAMPLES sets the number of examples (`make reliability` runs many more, figure F16);
STATE_MACHINE_STATS names a file that gets one JSON line per example (steps, refusals).
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, multiple, rule
from hypothesis.stateful import run_state_machine_as_test

from blueprints.core import application as flow
from blueprints.core import issuance, settlement
from blueprints.core.workflow import NotAllowed
from models import (
    AppStatus, Application, AuditEvent, CityTarget, Role, Settlement, Voucher, VoucherStatus, db,
)
from tests.factories import make_application, make_enterprise, make_settlement, make_user, make_world

# PostgreSQL empties its tables per example (slower than copying a SQLite file): fewer examples in the suite.
EXAMPLES = int(os.environ.get("STATE_MACHINE_EXAMPLES", "5" if os.environ.get("TEST_DATABASE_URL") else "8"))
STEPS = int(os.environ.get("STATE_MACHINE_STEPS", "25"))
REFUSED = (NotAllowed, flow.Refused, issuance.IssueRefused)
PENDING = (AppStatus.SUPPLIER_REVIEW, AppStatus.CITY_REVIEW, AppStatus.RETURNED)
ITEM_CAP = 200_000_00  # make_world's first catalog item (AMT-1)

# Who may do what from which status (workflow.APPLICATION): (action, status) -> the one actor allowed.
LEGAL = {
    ("submit", AppStatus.DRAFT): "enterprise", ("submit", AppStatus.RETURNED): "enterprise",
    ("confirm", AppStatus.SUPPLIER_REVIEW): "supplier", ("return", AppStatus.SUPPLIER_REVIEW): "supplier",
    ("approve", AppStatus.CITY_REVIEW): "city", ("return", AppStatus.CITY_REVIEW): "city",
    ("reject", AppStatus.CITY_REVIEW): "city",
    **{("withdraw", s): "enterprise" for s in (AppStatus.DRAFT, *PENDING)},
}
TARGET = {"submit": AppStatus.SUPPLIER_REVIEW, "confirm": AppStatus.CITY_REVIEW, "return": AppStatus.RETURNED,
          "approve": AppStatus.APPROVED, "reject": AppStatus.REJECTED, "withdraw": AppStatus.WITHDRAWN}
ACTIONS = sorted(TARGET)
FORWARD = {AppStatus.DRAFT: "submit", AppStatus.RETURNED: "submit", AppStatus.SUPPLIER_REVIEW: "confirm",
           AppStatus.CITY_REVIEW: "approve"}
USUAL = {"submit": "enterprise", "withdraw": "enterprise", "confirm": "supplier", "return": "city",
         "approve": "city", "reject": "city"}  # who tries an action in a state where nobody may
ACTORS = ["enterprise", "other_enterprise", "supplier", "city", "other_city", "province"]


def fresh_database(db_template: dict, db_url: str) -> None:
    """Empty the test database the app fixture points at (as the db_url fixture does before a test)."""
    db.session.remove()
    db.engine.dispose()
    if "url" in db_template:
        eng = sa.create_engine(db_url)
        with eng.begin() as conn:
            tables = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
            conn.execute(sa.text("SET LOCAL session_replication_role = replica"))  # past the audit guard
            conn.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        eng.dispose()
        return
    path = Path(db_url[len("sqlite:///"):])
    for extra in (Path(f"{path}-wal"), Path(f"{path}-shm")):
        extra.unlink(missing_ok=True)
    shutil.copy(db_template["path"], path)


class VoucherLife(RuleBasedStateMachine):
    apps = Bundle("apps")
    vouchers = Bundle("vouchers")

    def __init__(self, db_template: dict, db_url: str):
        super().__init__()
        self.db_template, self.db_url = db_template, db_url
        self.steps = self.refused = 0

    # ------------------------------------------------------------------ world and model

    @initialize(cap=st.sampled_from([250_000_00, 500_000_00]),
                quota=st.integers(min_value=1, max_value=8).map(lambda n: n * 50_000_00))
    def world(self, cap, quota):
        fresh_database(self.db_template, self.db_url)
        w = make_world(cap_fen=cap, quota_fen=quota)
        other = make_enterprise(city_code=w.enterprise.city_code)
        self.cap, self.quota, self.city = cap, quota, w.enterprise.city_code
        self.w = w
        self.enterprises = [(w.enterprise, w.ent_user), (other, make_user(Role.ENTERPRISE, enterprise_id=other.id))]
        self.users = {"supplier": w.sup_user, "city": w.city_user,
                      "other_city": make_user(Role.CITY, city_code="440300"), "province": make_user(Role.PROVINCE)}
        db.session.commit()
        self.model: dict[int, dict] = {}  # application id -> status, enterprise, item, seq, audit actions
        self.model_vouchers: dict[int, dict] = {}  # voucher id -> application, face, status, filed, actions
        self.seq = 0

    def teardown(self):
        stats = os.environ.get("STATE_MACHINE_STATS")
        if stats:
            with open(stats, "a") as fh:
                fh.write(json.dumps({"steps": self.steps, "refused": self.refused}) + "\n")
        db.session.remove()

    def actor(self, app_id: int, who: str):
        m = self.model[app_id]
        if who == "enterprise":
            return self.enterprises[m["ent"]][1]
        if who == "other_enterprise":
            return self.enterprises[1 - m["ent"]][1]
        return self.users[who]

    def issued_to(self, ent: int) -> int:
        return sum(v["face"] for v in self.model_vouchers.values()
                   if v["status"] == VoucherStatus.ISSUED and self.model[v["app"]]["ent"] == ent)

    def city_issued(self) -> int:
        return sum(v["face"] for v in self.model_vouchers.values() if v["status"] != VoucherStatus.RELEASED)

    def face_now(self, app_id: int) -> int:
        """AMT-3 as the scheme states it: earlier submissions still pending hold their place."""
        m = self.model[app_id]
        earlier = sum(o["item"] for o in self.model.values()
                      if o["ent"] == m["ent"] and o["status"] in PENDING and o["seq"] is not None
                      and o["seq"] < m["seq"] and o is not m)
        return min(m["item"], self.cap - self.issued_to(m["ent"]) - earlier)

    def attempt(self, fn) -> bool:
        """Run one act as a route would: commit when done, roll back when refused."""
        self.steps += 1
        try:
            fn()
        except REFUSED:
            db.session.rollback()
            self.refused += 1
            return False
        db.session.commit()
        return True

    # ------------------------------------------------------------------ rules

    @rule(target=apps, ent=st.integers(0, 1), submit=st.booleans(),
          fee_yuan=st.one_of(st.sampled_from([50_000, 120_000, 200_000, 300_000]),
                             st.integers(min_value=1_000, max_value=300_000)))
    def save_draft(self, ent, fee_yuan, submit):
        # rule: APP-1, AMT-1 -- the amount drawn is the contract's cloud fee
        enterprise, user = self.enterprises[ent]
        a = make_application(enterprise, self.w.supplier, self.w.cycle, stage="draft", fee_fen=fee_yuan * 100,
                             users={"enterprise": user})
        db.session.commit()
        self.steps += 1
        self.model[a.id] = {"status": AppStatus.DRAFT, "ent": ent, "item": min(ITEM_CAP, fee_yuan * 100),
                            "seq": None, "actions": []}
        if submit:
            self.act(a.id, "submit")
        return a.id

    def act_fn(self, a: Application, action: str, user):
        return {
            "submit": lambda: flow.submit(a, user),
            "confirm": lambda: flow.confirm(a, user),
            "return": lambda: flow.return_(a, user, ["合同编号与合同不一致"]),
            "approve": lambda: issuance.approve(a, user),
            "reject": lambda: flow.reject(a, user, "材料不实"),
            "withdraw": lambda: flow.withdraw(a, user),
        }[action]

    @rule(app=apps, action=st.sampled_from(ACTIONS))
    def act(self, app, action):
        # rule: APP-3, APP-4, APP-5, APP-7, AMT-3, CYC-3 (R41: only declared transitions)
        m = self.model[app]
        who = LEGAL.get((action, m["status"]))
        a = db.session.get(Application, app)
        done = self.attempt(self.act_fn(a, action, self.actor(app, who or USUAL[action])))
        if who is None:
            assert not done, f"{action} from {m['status']} was allowed"
            return
        face = self.face_now(app) if action == "approve" else 0
        if action == "approve" and (face <= 0 or self.city_issued() + face > self.quota):
            assert not done, f"approval issued past the cap or quota (face {face})"
            return
        assert done, f"{action} by {who} from {m['status']} was refused"
        m["status"] = TARGET[action]
        m["actions"].append(action)
        if action == "submit" and m["seq"] is None:
            self.seq += 1
            m["seq"] = self.seq  # APP-2: the first submission's place is kept on resubmission
        if action == "approve":
            v = db.session.execute(db.select(Voucher).where(Voucher.application_id == app)).scalar_one()
            assert v.face_value_fen == face, (v.face_value_fen, face)
            self.model_vouchers[v.id] = {"app": app, "face": face, "status": VoucherStatus.ISSUED, "filed": False,
                                         "actions": ["issue"]}

    @rule(app=apps, steps=st.integers(min_value=1, max_value=3))
    def advance(self, app, steps):
        # the usual way forward (submit, confirm, approve), so that many examples reach vouchers and quotas
        for _ in range(steps):
            action = FORWARD.get(self.model[app]["status"])
            if action is None:
                return
            self.act(app, action)

    @rule(app=apps, action=st.sampled_from(ACTIONS), who=st.sampled_from(ACTORS))
    def wrong_actor(self, app, action, who):
        # R41, R01: another role, another city's officer or another enterprise is always refused
        m = self.model[app]
        if LEGAL.get((action, m["status"])) == who:
            return
        a = db.session.get(Application, app)
        assert not self.attempt(self.act_fn(a, action, self.actor(app, who))), f"{who} could {action}"

    @rule(target=vouchers, app=apps)
    def voucher_of(self, app):
        v = next((vid for vid, v in self.model_vouchers.items() if v["app"] == app), None)
        return multiple() if v is None else v

    @rule(voucher=vouchers)
    def release(self, voucher):
        # rule: DL-2, CYC-3 -- before the deadline a release gives the face value back; once filed, refused
        mv = self.model_vouchers[voucher]
        v = db.session.get(Voucher, voucher)
        user = self.enterprises[self.model[mv["app"]]["ent"]][1]
        done = self.attempt(lambda: settlement.release(v, user))
        if mv["status"] != VoucherStatus.ISSUED or mv["filed"]:
            assert not done
            return
        assert done
        mv["status"] = VoucherStatus.RELEASED
        mv["actions"].append("release")

    @rule(voucher=vouchers)
    def file_settlement(self, voucher):
        # rule: SET-1 -- only an issued voucher can be filed, once
        mv = self.model_vouchers[voucher]
        v = db.session.get(Voucher, voucher)
        user = self.enterprises[self.model[mv["app"]]["ent"]][1]
        if mv["status"] != VoucherStatus.ISSUED:
            assert not self.attempt(lambda: settlement.start(v, user))
            return
        if mv["filed"]:
            return
        self.steps += 1
        make_settlement(v, stage="supplier_review", users={"enterprise": user, "supplier": self.users["supplier"]})
        db.session.commit()
        mv["filed"] = True

    # ------------------------------------------------------------------ invariants

    @invariant()
    def statuses_match_the_model(self):
        if not hasattr(self, "model"):
            return
        db.session.expire_all()
        got = dict(db.session.execute(db.select(Application.id, Application.status)).all())
        assert got == {k: m["status"] for k, m in self.model.items()}
        vouchers = db.session.execute(db.select(Voucher.id, Voucher.application_id, Voucher.status,
                                                Voucher.face_value_fen)).all()
        assert {v.id: (v.application_id, v.status, v.face_value_fen) for v in vouchers} == \
            {k: (m["app"], m["status"], m["face"]) for k, m in self.model_vouchers.items()}
        assert len({v.application_id for v in vouchers}) == len(vouchers)  # at most one voucher per application

    @invariant()
    def money_within_quota_and_cap(self):
        # rule: CYC-3, AMT-2, AMT-3
        if not hasattr(self, "model"):
            return
        t = db.session.execute(db.select(CityTarget).where(CityTarget.city_code == self.city)).scalar_one()
        live = db.session.execute(db.select(db.func.coalesce(db.func.sum(Voucher.face_value_fen), 0)).where(
            Voucher.city_code == self.city, Voucher.status != VoucherStatus.RELEASED)).scalar_one()
        assert t.issued_fen == live == self.city_issued()
        assert t.issued_fen <= t.quota_fen
        for enterprise, _ in self.enterprises:
            held = db.session.execute(db.select(db.func.coalesce(db.func.sum(Voucher.face_value_fen), 0)).where(
                Voucher.enterprise_id == enterprise.id,
                Voucher.status.not_in((VoucherStatus.VOID, VoucherStatus.RELEASED)))).scalar_one()
            assert held <= self.cap

    @invariant()
    def audit_rows_match_the_transitions(self):
        # R42: one audit row per transition, in order, and none for a refused attempt
        if not hasattr(self, "model"):
            return
        rows: dict = {}
        for etype, eid, action in db.session.execute(
                db.select(AuditEvent.entity_type, AuditEvent.entity_id, AuditEvent.action)
                .where(AuditEvent.entity_type.in_(("application", "voucher"))).order_by(AuditEvent.id)):
            rows.setdefault((etype, eid), []).append(action)
        want = {("application", k): m["actions"] for k, m in self.model.items() if m["actions"]}
        want |= {("voucher", k): m["actions"] for k, m in self.model_vouchers.items()}
        assert rows == want
        filed = {s for (s,) in db.session.execute(db.select(Settlement.voucher_id))}
        assert filed == {k for k, m in self.model_vouchers.items() if m["filed"]}


def test_voucher_life_state_machine(app, db_template, db_url, monkeypatch):
    # rule: APP-3, APP-4, APP-5, APP-7, AMT-2, AMT-3, CYC-3, DL-2, SET-1; R41, R42 (figure F16)
    monkeypatch.setattr(issuance, "render_voucher_pdf", lambda v: b"%PDF-1.4 stub")  # the PDF is not the subject
    run_state_machine_as_test(
        lambda: VoucherLife(db_template, db_url),
        settings=settings(max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]))


def test_the_model_refuses_what_the_table_refuses():
    # R41: the model's table of legal moves is the workflow's own (so the machine tests the real rules)
    from blueprints.core.workflow import APPLICATION

    table = {(t.action, t.source): t for t in APPLICATION}
    assert set(table) == set(LEGAL)
    for (action, source), who in LEGAL.items():
        assert table[(action, source)].roles == {Role.ENTERPRISE if who == "enterprise" else
                                                 Role.SUPPLIER if who == "supplier" else Role.CITY}
        assert table[(action, source)].target == TARGET[action]

