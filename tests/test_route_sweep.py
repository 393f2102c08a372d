"""Route sweep over a built data set (R01, R02, F13): every GET route of app.url_map, as every role, with and
without HX-Request, with the ids of records that exist (the ones each principal may see where there are
some). Nobody ever gets a server error; a fragment route asked for without HX-Request answers a full page
or a redirect, never a bare fragment; a role the route declares gets through the role check.

tests/test_access_matrix.py walks the same routes with ids that exist nowhere (the refusals); this file walks
them where the records are real, so the pages' own code runs.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from werkzeug.routing import FloatConverter, IntegerConverter

from blueprints.core.access import ANY_USER, PUBLIC, can_see, declaration
from models import (
    Application, Budget, CatalogVersion, CityTarget, Complaint, Cycle, DataOrg, Enterprise, Job,
    Objection, PayoutBatch, Role, Settlement, SettlementList, StoredFile, Supplier, User, Voucher, db,
)
from tests.factories import make_settlement, make_user

_SPEC = importlib.util.spec_from_file_location(
    "bench_seed_sweep", Path(__file__).resolve().parent.parent / "scripts" / "bench" / "seed.py")
seed = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(seed)

HX = {"HX-Request": "true"}

# URL argument -> the model whose ids fill it.
ARG_MODELS = {
    "app_id": Application, "c_id": Complaint, "obj_id": Objection, "list_id": SettlementList,
    "batch_id": PayoutBatch, "st_id": Settlement, "voucher_id": Voucher, "file_id": StoredFile, "job_id": Job,
    "version_id": CatalogVersion, "cycle_id": Cycle, "org_id": DataOrg, "supplier_id": Supplier,
}


@pytest.fixture
def world(app):
    manifest = seed.build(50, pdfs=False)
    voucher = db.session.execute(db.select(Voucher).where(Voucher.status == "issued").order_by(Voucher.id)
                                 .limit(1)).scalar_one()
    make_settlement(voucher, stage="supplier_review")
    # the records the bench set does not make: a draft list and an objection to it, a message forwarded to the
    # city, a payout batch, a data organisation
    ent_user = db.session.execute(db.select(User).where(User.username == "ent_bench")).scalar_one()
    lst = SettlementList(city_code=seed.GZ, period="2026-1")
    db.session.add(lst)
    db.session.flush()
    db.session.add_all([
        Objection(tracking_no="YY-SWEEP-01", list_id=lst.id, city_code=seed.GZ, raised_by=ent_user.id,
                  enterprise_id=ent_user.enterprise_id, text="金额与合同不符"),
        Complaint(tracking_no="LY-SWEEP-01", category="consult", text="如何申领服务券？", city_code=seed.GZ,
                  due_on=voucher.issued_at.date()),
        PayoutBatch(city_code=seed.GZ, period="2026-1"),
        DataOrg(name="广东省工业互联网数据中心"),
    ])
    db.session.commit()
    return manifest


def _principals() -> dict[str, User | None]:
    def named(username):
        return db.session.execute(db.select(User).where(User.username == username)).scalar_one()

    out = {"anonymous": None, "enterprise": named("ent_bench"), "supplier": named("sup_bench"),
           "city": named("city_guangzhou"), "province": named("admin"), "expert": named("expert"),
           "operator_province": named("operator"), "operator_city": named("operator_gz")}
    out["enterprise_stranger"] = make_user(Role.ENTERPRISE)  # logged in, no organisation yet
    db.session.commit()
    return out


def _pick(model, user):
    """The id of a record `user` may see, else of any record, else one that exists nowhere."""
    rows = db.session.execute(db.select(model).order_by(model.id).limit(400)).scalars().all()
    if user is not None:
        for row in rows:
            if can_see(user, row):
                return row.id
    return rows[0].id if rows else 999999


def _values(rule, user) -> dict:
    values = {}
    for arg, conv in rule._converters.items():
        if arg in ARG_MODELS:
            values[arg] = _pick(ARG_MODELS[arg], user)
        elif arg in ("ident", "item_id"):
            values[arg] = None  # filled below, from the kind / the version
        elif arg == "kind":
            values[arg] = "enterprise"
        elif arg == "city_code":
            values[arg] = getattr(user, "city_code", None) or seed.GZ
        elif arg == "year":
            values[arg] = db.session.execute(db.select(db.func.max(CityTarget.year))).scalar() or 2026
        elif arg == "period":
            values[arg] = db.session.execute(db.select(db.func.max(Budget.period))).scalar() or "2026"
        elif arg == "code":
            values[arg] = db.session.execute(db.select(Voucher.code).order_by(Voucher.id).limit(1)).scalar()
        elif isinstance(conv, (IntegerConverter, FloatConverter)):
            values[arg] = 999999
        else:
            values[arg] = "zz-unknown"
    if "ident" in values:
        model = Supplier if values.get("kind") == "supplier" else Enterprise
        values["ident"] = _pick(model, user)
    if "item_id" in values:
        version = db.session.get(CatalogVersion, values["version_id"])
        values["item_id"] = version.items[0].id if version and version.items else 999999
    return values


def _urls(rule, user) -> list[str]:
    values = _values(rule, user)
    urls = [rule.build(values, append_unknown=False)[1]]
    if "kind" in values:  # registrations: both kinds
        values = dict(values, kind="supplier", ident=_pick(Supplier, user))
        urls.append(rule.build(values, append_unknown=False)[1])
    return urls


def test_every_get_route_with_real_ids_never_fails(app, login, world):
    # R01, R02, F13 -- every GET route x every principal x {page, htmx}, with real ids: no 5xx; without
    # HX-Request a full page or a redirect (never a fragment); a declared role passes the role check
    app.config["PROPAGATE_EXCEPTIONS"] = False  # a failing view is a 500 in the list, not the end of the walk
    principals = _principals()
    clients = {name: (login(u) if u is not None else app.test_client()) for name, u in principals.items()}
    rules = [r for r in app.url_map.iter_rules() if r.endpoint != "static" and "GET" in r.methods
             and r.endpoint != "auth.logout"]
    problems, cells, reached = [], 0, 0
    for rule in rules:
        decl = declaration(rule.endpoint)
        for name, user in principals.items():
            role = user.acting_role if user is not None else None
            for url in _urls(rule, user):
                for htmx in (False, True):
                    resp = clients[name].get(url, headers=HX if htmx else {})
                    cells += 1
                    code = resp.status_code
                    where = f"GET {url} as {name}{' (htmx)' if htmx else ''}: {code}"
                    if code >= 500:
                        problems.append("server error " + where)
                        continue
                    allowed = PUBLIC in decl or (role is not None and (ANY_USER in decl or role in decl))
                    if allowed and code == 403:
                        problems.append("allowed role refused " + where)
                    if allowed and code == 200:
                        reached += 1
                    body = resp.get_data()
                    html = resp.mimetype == "text/html"
                    if not htmx and code == 200 and html and b"<html" not in body:
                        problems.append("fragment without HX-Request " + where)
    assert cells > 1000 and reached > 300
    assert problems == [], "\n".join(problems[:60])


@pytest.mark.parametrize("verb", ["suppliers", "preview"])
def test_application_form_fragments_without_htmx_send_to_the_form(app, login, world, verb):
    # R02 -- the supplier search and the live preview are fragments of the application form: asked for
    # without HX-Request (a bookmark, a new tab) they redirect to the form; with it they are the fragment
    ent = db.session.execute(db.select(User).where(User.username == "ent_bench")).scalar_one()
    a = db.session.execute(db.select(Application).where(Application.enterprise_id == ent.enterprise_id)
                           .order_by(Application.id).limit(1)).scalar_one()
    c = login(ent)
    r = c.get(f"/enterprise/applications/{a.id}/{verb}?supplier_q=云")
    assert r.status_code == 303 and r.headers["Location"].endswith(f"/enterprise/applications/{a.id}/edit")
    r = c.get(f"/enterprise/applications/{a.id}/{verb}?supplier_q=云", headers=HX)
    assert r.status_code == 200 and b"<html" not in r.data and r.data.strip()


@pytest.mark.parametrize("role, prefix", [(Role.CITY, "/city"), (Role.PROVINCE, "/province")])
def test_the_return_reason_row_without_htmx_sends_to_the_queue(login_as, role, prefix):
    # R02 -- one more row of the return form is a fragment: without HX-Request, the registration queue instead
    c, _ = login_as(role, city_code="440100") if role == Role.CITY else login_as(role)
    r = c.get(f"{prefix}/registrations/reason-row?kind=enterprise")
    assert r.status_code == 303 and r.headers["Location"].startswith(f"{prefix}/registrations")
    r = c.get(f"{prefix}/registrations/reason-row?kind=enterprise", headers=HX)
    assert r.status_code == 200 and b"<html" not in r.data and b"<select" in r.data
