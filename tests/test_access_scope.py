"""Row scope without a database: who sees which record (ROLE-3, ROLE-6, ROLE-7, ROLE-8).

Fast on purpose (no app, no database): it is the test set that mutation testing (F22) runs after each
change to blueprints/core/access.py. Records are transient model objects; users are plain stand-ins
with the attributes the checks read. The whole-app matrix is tests/test_access_matrix.py.
"""
from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest

from blueprints.core import access
from blueprints.core.access import ANY_USER, PUBLIC, can_act, can_see, role_allowed
from models import (Application, AppStatus, Budget, CatalogVersion, CityTarget, Complaint, CompletionTable,
                    ConnectionImport, Cycle, Enterprise, ListEntry, Objection, ProfileChange, RegStatus, Role,
                    Settlement, SettlementList, StoredFile, Supplier, Voucher)

NOW = dt.datetime(2026, 5, 1, 9, 0)


def user(role, *, uid=1, enterprise_id=None, supplier_id=None, city_code=None, authenticated=True):
    return SimpleNamespace(id=uid, role=role, acting_role=role, enterprise_id=enterprise_id, supplier_id=supplier_id,
                           city_code=city_code, is_authenticated=authenticated)


ENT = user(Role.ENTERPRISE, uid=1, enterprise_id=10)
SUP = user(Role.SUPPLIER, uid=2, supplier_id=20)
CITY = user(Role.CITY, uid=3, city_code="4401")
PROV = user(Role.PROVINCE, uid=4)
EXPERT = user(Role.EXPERT, uid=5)
OTHER_ENT = user(Role.ENTERPRISE, uid=6, enterprise_id=11)
OTHER_SUP = user(Role.SUPPLIER, uid=7, supplier_id=21)
OTHER_CITY = user(Role.CITY, uid=8, city_code="4403")
ALL = (ENT, SUP, CITY, PROV, EXPERT, OTHER_ENT, OTHER_SUP, OTHER_CITY)
NAMES = ("ENT", "SUP", "CITY", "PROV", "EXPERT", "OTHER_ENT", "OTHER_SUP", "OTHER_CITY")


def seen_by(obj) -> set[str]:
    return {n for n, u in zip(NAMES, ALL) if can_see(u, obj)}


# --------------------------------------------------------------------------- routes


def test_role_allowed_by_declaration():
    # rule: ROLE-7, ROLE-8 — public pages for anyone; everything else needs a login and a declared role
    anon = user(None, authenticated=False)
    assert role_allowed(anon, {PUBLIC})
    assert not role_allowed(anon, {ANY_USER})
    assert not role_allowed(anon, {Role.CITY})
    assert role_allowed(ENT, {ANY_USER})
    assert role_allowed(CITY, {Role.CITY, Role.PROVINCE})
    assert not role_allowed(ENT, {Role.CITY, Role.PROVINCE})
    assert not role_allowed(ENT, set())


def test_not_logged_in_sees_nothing():
    # rule: ROLE-8
    anon = user(Role.PROVINCE, authenticated=False)
    assert not can_see(anon, Enterprise(id=10, city_code="4401", status=RegStatus.APPROVED))


# --------------------------------------------------------------------------- registrations


def test_enterprise_profile_scope():
    # rule: ROLE-3, ROLE-8 — own enterprise; its city once submitted; the province
    e = Enterprise(id=10, city_code="4401", status=RegStatus.CITY_REVIEW)
    assert seen_by(e) == {"ENT", "CITY", "PROV"}
    assert seen_by(Enterprise(id=10, city_code="4401", status=RegStatus.DRAFT)) == {"ENT", "PROV"}
    # acting on it: the owner, and its own city (even a draft it cannot see is not acted on by another city)
    assert can_act(ENT, e) and not can_act(OTHER_ENT, e)
    assert can_act(CITY, e) and not can_act(OTHER_CITY, e)
    assert can_act(PROV, e) and not can_act(SUP, e)


def test_supplier_profile_scope():
    # rule: ROLE-3, ROLE-5, ROLE-8 — own supplier; its city for an in-province supplier once submitted;
    # the province; an expert once it reached the province with a submission
    s = Supplier(id=20, city_code="4401", in_province=True, status=RegStatus.CITY_REVIEW, submitted_at=NOW)
    assert seen_by(s) == {"SUP", "CITY", "PROV"}
    assert seen_by(Supplier(id=20, city_code="4401", in_province=True, status=RegStatus.DRAFT)) == {"SUP", "PROV"}
    assert seen_by(Supplier(id=20, city_code="4401", in_province=False, status=RegStatus.PROVINCE_REVIEW,
                            submitted_at=NOW)) == {"SUP", "PROV", "EXPERT"}
    for st in (RegStatus.PROVINCE_REVIEW, RegStatus.APPROVED, RegStatus.REJECTED, RegStatus.RETURNED):
        assert can_see(EXPERT, Supplier(id=20, city_code="4401", in_province=True, status=st, submitted_at=NOW))
        assert not can_see(EXPERT, Supplier(id=20, city_code="4401", in_province=True, status=st))
    assert can_act(SUP, s) and not can_act(OTHER_SUP, s)
    assert can_act(CITY, s) and not can_act(OTHER_CITY, s)
    assert can_act(PROV, s)  # the province acts on any supplier it sees
    assert not can_act(CITY, Supplier(id=20, city_code="4401", in_province=False, status=RegStatus.CITY_REVIEW))


def test_profile_change_scope():
    # rule: REG-9, ROLE-8 — its owner; its city and the province once submitted
    ent_change = ProfileChange(enterprise_id=10, city_code="4401", submitted_at=NOW)
    assert seen_by(ent_change) == {"ENT", "CITY", "PROV"}
    assert seen_by(ProfileChange(enterprise_id=10, city_code="4401")) == {"ENT"}
    assert seen_by(ProfileChange(supplier_id=20, submitted_at=NOW)) == {"SUP", "PROV"}
    assert seen_by(ProfileChange(supplier_id=20, city_code="4401", submitted_at=NOW)) == {"SUP", "CITY", "PROV"}
    # a change without an owner of that kind is nobody's: the user's missing id must not match it
    assert not can_see(user(Role.ENTERPRISE), ProfileChange(supplier_id=20, submitted_at=NOW))
    assert not can_see(user(Role.SUPPLIER), ProfileChange(enterprise_id=10, submitted_at=NOW))
    assert not can_see(user(Role.CITY), ProfileChange(supplier_id=20, submitted_at=NOW))


# --------------------------------------------------------------------------- applications and vouchers


def test_application_scope():
    # rule: ROLE-2, ROLE-3, ROLE-8 — the enterprise always; its supplier, city and the province once submitted
    a = Application(id=1, enterprise_id=10, supplier_id=20, city_code="4401", status=AppStatus.CITY_REVIEW,
                    submitted_at=NOW)
    assert seen_by(a) == {"ENT", "SUP", "CITY", "PROV"}
    draft = Application(id=1, enterprise_id=10, supplier_id=20, city_code="4401", status=AppStatus.DRAFT)
    assert seen_by(draft) == {"ENT"}
    assert not can_see(user(Role.SUPPLIER), Application(id=1, enterprise_id=10, supplier_id=None,
                                                        city_code="4401", status=AppStatus.CITY_REVIEW,
                                                        submitted_at=NOW))


def test_voucher_scope():
    # rule: ROLE-8 — its enterprise, its supplier, its city and the province
    v = Voucher(enterprise_id=10, supplier_id=20, city_code="4401")
    assert seen_by(v) == {"ENT", "SUP", "CITY", "PROV"}
    assert not can_see(EXPERT, v)


def test_settlement_scope():
    # rule: SET-1, ROLE-8 — the enterprise always; the others once submitted and not withdrawn to a draft
    st = Settlement(enterprise_id=10, supplier_id=20, city_code="4401", status="city_review", submitted_at=NOW)
    assert seen_by(st) == {"ENT", "SUP", "CITY", "PROV"}
    assert seen_by(Settlement(enterprise_id=10, supplier_id=20, city_code="4401", status="draft")) == {"ENT"}
    withdrawn = Settlement(enterprise_id=10, supplier_id=20, city_code="4401", status="draft", submitted_at=NOW)
    assert seen_by(withdrawn) == {"ENT"}
    assert not can_see(EXPERT, st)


# --------------------------------------------------------------------------- province data


def test_catalog_cycle_and_city_figures_scope():
    # rule: ROLE-4, ROLE-8 — drafts are the province's; a city sees its own targets and budget only
    assert seen_by(CatalogVersion(status="draft")) == {"PROV"}
    assert seen_by(CatalogVersion(status="published")) == set(NAMES)
    assert seen_by(Cycle()) == {"PROV"}
    assert seen_by(Cycle(announced_at=NOW)) == set(NAMES)
    assert seen_by(CityTarget(city_code="4401")) == {"CITY", "PROV"}
    assert seen_by(Budget(city_code="4401")) == {"CITY", "PROV"}


def test_completion_table_and_connection_import_scope():
    # rule: VER-2, VER-4, ROLE-8
    assert seen_by(CompletionTable(city_code="4401")) == {"PROV"}
    assert seen_by(CompletionTable(city_code="4401", sent_at=NOW)) == {"CITY", "PROV"}
    assert seen_by(ConnectionImport()) == {"PROV"}


# --------------------------------------------------------------------------- lists, objections, complaints


def test_settlement_list_entry_and_objection_scope():
    # rule: PAY-1, PAY-3, ROLE-7, ROLE-8 — a draft list is its city's; a published one everybody's
    assert seen_by(SettlementList(city_code="4401", status="draft")) == {"CITY", "PROV"}
    # (another city's officer works in its own city's lists only; the public pages show every published list)
    assert seen_by(SettlementList(city_code="4401", status="published")) == set(NAMES) - {"OTHER_CITY"}
    st = Settlement(enterprise_id=10, supplier_id=20, city_code="4401", status="approved", submitted_at=NOW)
    assert seen_by(ListEntry(city_code="4401", settlement=st)) == {"ENT", "SUP", "CITY", "PROV"}
    # objections: its city, the province and its author
    assert seen_by(Objection(city_code="4401", raised_by=ENT.id)) == {"ENT", "CITY", "PROV"}
    # same enterprise, another account: not the author
    assert not can_see(user(Role.ENTERPRISE, uid=9, enterprise_id=10), Objection(city_code="4401", raised_by=1))
    assert not can_see(user(Role.ENTERPRISE, uid=None), Objection(city_code="4401", raised_by=None))


def test_complaint_scope():
    # rule: SUP-5, ROLE-8 — the province; a city once forwarded to it
    assert seen_by(Complaint()) == {"PROV"}
    assert seen_by(Complaint(city_code="4401")) == {"CITY", "PROV"}
    assert not can_see(user(Role.CITY), Complaint())


def test_removed_file_is_the_enterprises_alone(monkeypatch):
    # rule: ROLE-8 — material the enterprise took back before submitting is not shown to anyone else
    e = Enterprise(id=10, city_code="4401", status=RegStatus.CITY_REVIEW)
    monkeypatch.setattr(access, "owner_of", lambda f: e if f.owner_id else None)
    kept = StoredFile(kind="licence", owner_type="enterprise", owner_id=10)
    removed = StoredFile(kind="licence_removed", owner_type="enterprise", owner_id=10)
    assert seen_by(kept) == {"ENT", "CITY", "PROV"}
    assert seen_by(removed) == {"ENT"}
    assert seen_by(StoredFile(kind="licence", owner_type="enterprise", owner_id=None)) == set()


def test_unknown_record_type_is_refused():
    # rule: ROLE-8 — fails closed: a type without a visibility rule is seen by nobody
    assert seen_by(SimpleNamespace(city_code="4401")) == set()


@pytest.mark.parametrize("role", [Role.ENTERPRISE, Role.SUPPLIER, Role.CITY, Role.EXPERT])
def test_only_the_province_sees_everything(role):
    # rule: ROLE-4, ROLE-8 — a record of nobody this user belongs to is hidden from every role but the province
    u = user(role, enterprise_id=99, supplier_id=99, city_code="4499")
    for obj in (Enterprise(id=1, city_code="4401", status=RegStatus.APPROVED),
                Application(id=1, enterprise_id=1, supplier_id=1, city_code="4401", status=AppStatus.APPROVED,
                            submitted_at=NOW),
                Voucher(enterprise_id=1, supplier_id=1, city_code="4401"),
                Settlement(enterprise_id=1, supplier_id=1, city_code="4401", status="approved", submitted_at=NOW)):
        assert not can_see(u, obj)
        assert can_see(PROV, obj)


# --------------------------------------------------------------------------- enforce(), on a tiny app


class _Principal:
    is_active = True
    is_anonymous = False
    is_authenticated = True

    def __init__(self, role):
        self.id, self.role, self.acting_role = 1, role, role

    def get_id(self):
        return str(self.id)


@pytest.fixture(scope="module")
def mini():
    """A Flask app with no database: one guarded blueprint, views that narrow or widen it, a public
    view, an undeclared view; enforce() runs before every request as in the real app."""
    from pathlib import Path

    from flask import Blueprint, Flask
    from flask_login import LoginManager

    app = Flask("access_scope_mini", static_folder=str(Path(__file__).resolve().parents[1] / "static"))
    app.secret_key = "test"
    lm = LoginManager(app)
    lm.request_loader(lambda req: _Principal(Role(req.headers["X-Role"])) if req.headers.get("X-Role") else None)
    bp = Blueprint("access_scope_city", __name__, url_prefix="/city")
    access.guard_blueprint(bp, Role.CITY)
    bp.add_url_rule("/queue", "queue", lambda: "queue")
    bp.add_url_rule("/help", "help", access.public(lambda: "help"))
    bp.add_url_rule("/figures", "figures", access.allow(Role.PROVINCE)(lambda: "figures"))
    bp.add_url_rule("/me", "me", access.allow(ANY_USER)(lambda: "me"))
    app.register_blueprint(bp)
    app.add_url_rule("/pub", "pub", access.public(lambda: "pub"))
    app.add_url_rule("/naked", "naked", lambda: "naked")
    app.before_request(access.enforce)
    return app.test_client()


def _status(client, path, role=None):
    return client.get(path, headers={"X-Role": str(role)} if role else {}).status_code


def test_enforce_fails_closed_and_follows_each_declaration(mini):
    # rule: ROLE-7, ROLE-8 — a blueprint's roles; a view's own declaration narrows or widens it;
    # an undeclared endpoint is refused to everybody; not logged in -> the login answer (401 here)
    assert _status(mini, "/city/queue", Role.CITY) == 200
    assert _status(mini, "/city/queue", Role.ENTERPRISE) == 403
    assert _status(mini, "/city/queue") == 401
    assert _status(mini, "/city/help") == 200  # public view inside a guarded blueprint
    assert _status(mini, "/city/figures", Role.PROVINCE) == 200  # the view's own roles replace the blueprint's
    assert _status(mini, "/city/figures", Role.CITY) == 403
    assert _status(mini, "/city/me", Role.SUPPLIER) == 200
    assert _status(mini, "/city/me") == 401
    assert _status(mini, "/pub") == 200
    for role in (None, Role.PROVINCE, Role.CITY):
        assert _status(mini, "/naked", role) == 403
    assert _status(mini, "/static/app.css") == 200  # static files are public
    assert _status(mini, "/static/no-such-file.css") == 404
    assert _status(mini, "/no-such-page", Role.CITY) == 404


# --------------------------------------------------------------------------- with the database


def test_a_supplier_sees_submitted_applications_made_to_it_also_in_sql(app):
    # rule: ROLE-2, ROLE-8 — a supplier sees an application once submitted to it; a returned one only while it
    # holds the contract claim (not a new supplier the enterprise switched to); the SQL list says the same
    from werkzeug.exceptions import NotFound

    from models import ContractClaim, db
    from tests.factories import make_application, make_supplier, make_user, make_world

    w = make_world()
    other = make_supplier()
    other_user = make_user(Role.SUPPLIER, supplier_id=other.id)
    draft = make_application(w.enterprise, w.supplier, w.cycle, stage="draft", users=w.users)
    a = make_application(w.enterprise, w.supplier, w.cycle, stage="supplier_review", users=w.users)

    def listed(u):
        return set(db.session.execute(db.select(Application.id).where(
            access.supplier_applications_clause(u.supplier_id))).scalars())

    assert can_see(w.sup_user, a) and not can_see(w.sup_user, draft) and not can_see(other_user, a)
    assert listed(w.sup_user) == {a.id} and listed(other_user) == set()
    assert access.get_visible_or_404(Application, a.id, user=w.sup_user) is a
    for u, ident in ((other_user, a.id), (w.sup_user, draft.id), (w.sup_user, 10**9)):
        with pytest.raises(NotFound):
            access.get_visible_or_404(Application, ident, user=u)

    a.status = AppStatus.RETURNED  # returned to the enterprise: the supplier it was made to still sees it
    db.session.flush()
    assert can_see(w.sup_user, a) and listed(w.sup_user) == {a.id}
    a.supplier_id = other.id  # the enterprise picks another supplier: not shown to it before resubmission
    db.session.flush()
    assert db.session.execute(db.select(ContractClaim).where(ContractClaim.application_id == a.id)).scalar_one()
    assert not can_see(other_user, a) and listed(other_user) == set()
    assert not can_see(w.sup_user, a) and listed(w.sup_user) == set()

    # a file follows its owner: the contract of the draft is the enterprise's alone
    f = db.session.get(StoredFile, draft.contract_file_id)
    assert access.owner_of(f) is draft
    assert access.owner_of(StoredFile(kind="x", owner_type="no_such_owner", owner_id=draft.id)) is None
    assert access.owner_of(StoredFile(kind="x", owner_type="application", owner_id=None)) is None
    assert can_see(w.ent_user, f) and not can_see(w.sup_user, f) and not can_see(w.city_user, f)
