"""Role-by-route matrix, generated from app.url_map (ROLE-8, R01, R02, R08).

Every endpoint must declare who may use it. For every endpoint x principal x method, with
and without HX-Request: a role that is not declared gets 403, anonymous users are sent to
login (302, or 204 + HX-Redirect for htmx), and nobody ever gets a 5xx. Object-level
checks (another enterprise's or city's records) live in each feature's tests.
"""
from __future__ import annotations

import pytest

from blueprints.core.access import ANY_USER, PUBLIC, declaration
from models import AuditEvent, Role, db
from tests.factories import make_user

PRINCIPALS = ["anonymous", "enterprise", "supplier", "city", "province", "expert", "operator_province", "operator_city"]


def _acting(principal: str) -> Role | None:
    return {
        "anonymous": None, "enterprise": Role.ENTERPRISE, "supplier": Role.SUPPLIER, "city": Role.CITY,
        "province": Role.PROVINCE, "expert": Role.EXPERT, "operator_province": Role.PROVINCE,
        "operator_city": Role.CITY,
    }[principal]


def _users():
    return {
        "enterprise": make_user(Role.ENTERPRISE),
        "supplier": make_user(Role.SUPPLIER),
        "city": make_user(Role.CITY, city_code="440300"),
        "province": make_user(Role.PROVINCE),
        "expert": make_user(Role.EXPERT),
        "operator_province": make_user(Role.OPERATOR),
        "operator_city": make_user(Role.OPERATOR, city_code="440300"),
    }


def _url_for_rule(rule) -> str:
    """The rule's URL with every argument filled: ids that exist nowhere, strings likewise."""
    from werkzeug.routing import FloatConverter, IntegerConverter

    values = {
        arg: 999999 if isinstance(conv, (IntegerConverter, FloatConverter)) else "zz-unknown"
        for arg, conv in rule._converters.items()
    }
    return rule.build(values, append_unknown=False)[1]


def _rules(app):
    return [r for r in app.url_map.iter_rules() if r.endpoint != "static"]


def test_every_endpoint_declares_access(app):
    # rule: ROLE-8
    undeclared = [r.endpoint for r in _rules(app) if declaration(r.endpoint) is None]
    assert undeclared == [], f"endpoints without an access declaration: {undeclared}"


def test_every_view_has_a_docstring(app):
    missing = [r.endpoint for r in _rules(app) if not (app.view_functions[r.endpoint].__doc__ or "").strip()]
    assert missing == []


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_role_route_matrix(app, login, htmx):
    # rule: ROLE-8, ROLE-1, ROLE-2, ROLE-3, ROLE-4, ROLE-5, ROLE-6, ROLE-7
    users = _users()
    db.session.commit()
    clients = {name: login(u) for name, u in users.items()}
    clients["anonymous"] = app.test_client()
    headers = {"HX-Request": "true"} if htmx else {}
    problems, cells = [], 0
    audit_before = db.session.execute(db.select(db.func.count(AuditEvent.id))).scalar_one()
    for rule in _rules(app):
        decl = declaration(rule.endpoint)
        url = _url_for_rule(rule)
        for method in sorted(rule.methods & {"GET", "POST"}):
            for principal in PRINCIPALS:
                if rule.endpoint == "auth.logout" and principal != "anonymous":
                    continue  # would end the session the rest of the walk needs
                c = clients[principal]
                resp = c.open(url, method=method, headers=headers, data={})
                cells += 1
                code = resp.status_code
                role = _acting(principal)
                where = f"{method} {url} as {principal}{' (htmx)' if htmx else ''}: {code} {resp.headers.get('Location', '')}"
                if code >= 500:
                    problems.append("server error " + where)
                    continue
                if PUBLIC in decl:
                    continue
                if role is None:
                    if htmx:
                        ok = code == 204 and "/login" in resp.headers.get("HX-Redirect", "")
                    else:
                        ok = code == 302 and "/login" in resp.headers.get("Location", "")
                    if not ok:
                        problems.append("anonymous not sent to login " + where)
                elif ANY_USER not in decl and role not in decl:
                    if code not in (403, 404):
                        problems.append("denied role got through " + where)
    assert cells > 100
    assert problems == [], "\n".join(problems[:50])
    # GET requests by everyone wrote nothing to the audit trail beyond the walk's POSTs (R11).
    db.session.rollback()
    assert db.session.execute(db.select(db.func.count(AuditEvent.id))).scalar_one() >= audit_before


def test_get_requests_change_nothing(app, login):
    """Every GET route, for every role, leaves the audit trail and notices untouched (R11)."""
    users = _users()
    db.session.commit()
    clients = [login(u) for u in users.values()] + [app.test_client()]
    before = db.session.execute(db.select(db.func.count(AuditEvent.id))).scalar_one()
    for rule in _rules(app):
        if "GET" not in rule.methods:
            continue
        for c in clients:
            c.get(_url_for_rule(rule))
    db.session.rollback()
    after = db.session.execute(db.select(db.func.count(AuditEvent.id))).scalar_one()
    assert after == before
