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


# Allowed GETs without arguments that answer the walk's users something else than their page, and why. Every
# other allowed GET without arguments must answer 200 (or, for htmx, 204 + HX-Redirect where listed).
NOT_A_PAGE_FOR_THE_WALK = {
    "auth.two_factor_code": (302,),  # the second-factor step: a user already logged in is sent home
    "enterprise.application_form_new": (303, 204),  # the walk's enterprise user has no organisation yet
    "enterprise.application_new_preview": (303, 204),
    "enterprise.application_new_supplier_search": (303, 204),
    "city.registration_reason_row": (404,),  # a form row: 404 without ?kind=
    "province.registration_reason_row": (404,),
    "province.payout_overview_xlsx": (404,),  # no period has a budget yet
}


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_role_route_matrix(app, login, htmx):
    # rule: ROLE-8, ROLE-1, ROLE-2, ROLE-3, ROLE-4, ROLE-5, ROLE-6, ROLE-7
    users = _users()
    db.session.commit()
    clients = {name: login(u) for name, u in users.items()}
    clients["anonymous"] = app.test_client()
    headers = {"HX-Request": "true"} if htmx else {}
    problems, cells, allowed_pages = [], 0, 0
    def audit_count() -> int:
        db.session.rollback()  # a fresh read: the requests commit on their own connections
        return db.session.execute(db.select(db.func.count(AuditEvent.id))).scalar_one()

    audit_seen = audit_count()
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
                if method == "GET":  # R11: a GET, by anyone, writes nothing to the audit trail
                    now_count = audit_count()
                    if now_count != audit_seen:
                        problems.append("GET wrote to the audit trail " + where)
                    audit_seen = now_count
                else:
                    audit_seen = audit_count()
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
                elif code in (401, 403):  # the allowed cells: refusing every user would pass the checks above
                    problems.append("allowed role refused " + where)
                elif method == "GET" and not rule.arguments:
                    if code == 200:
                        allowed_pages += 1
                    elif code not in NOT_A_PAGE_FOR_THE_WALK.get(rule.endpoint, ()):
                        problems.append("allowed role did not get its page " + where)
    assert cells > 100 and allowed_pages > 100
    assert problems == [], "\n".join(problems[:50])


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


def _check_route_table(app, login, routes: dict) -> None:
    """Each route's declared roles, and what every principal gets: the allowed role the page (or 404 for a
    record that does not exist, past the role check), every other role 403, anonymous the login page.
    A key "endpoint POST" checks the POST of a route that also answers GET (an empty form: 422)."""
    users = _users()
    db.session.commit()
    clients = {name: login(u) for name, u in users.items()}
    clients["anonymous"] = app.test_client()
    rules = {r.endpoint: r for r in _rules(app)}
    problems = []
    for key, (roles, allowed_code) in routes.items():
        endpoint, _, forced = key.partition(" ")
        rule = rules[endpoint]
        assert declaration(endpoint) == frozenset(roles), endpoint
        url = _url_for_rule(rule)
        method = forced or ("POST" if "POST" in rule.methods and "GET" not in rule.methods else "GET")
        assert method in rule.methods, key
        for principal in PRINCIPALS:
            code = clients[principal].open(url, method=method, data={}).status_code
            role = _acting(principal)
            if PUBLIC in roles:  # a public route: everyone, logged in or not, gets the same answer
                want = allowed_code
            else:
                want = 302 if role is None else (allowed_code if role in roles else 403)
            if code != want:
                problems.append(f"{method} {url} as {principal}: {code}, expected {want}")
    assert problems == [], "\n".join(problems)


# The settlement pages of the supplier, the city, the province and the enterprise. Each route's roles, and what
# an allowed principal gets (the page, or 404 for a record that does not exist: past the role check)
# beside what every other principal gets (403, or the login page).
SETTLEMENT_ROUTES = {
    "supplier.settlement_list": ({Role.SUPPLIER}, 200),
    "supplier.settlement_detail": ({Role.SUPPLIER}, 404),
    "supplier.settlement_confirm": ({Role.SUPPLIER}, 404),
    "supplier.settlement_return": ({Role.SUPPLIER}, 404),
    "city.settlement_list": ({Role.CITY}, 200),
    "city.settlement_bulk_approve": ({Role.CITY}, 200),
    "city.settlement_detail": ({Role.CITY}, 404),
    "city.settlement_approve": ({Role.CITY}, 404),
    "city.settlement_return": ({Role.CITY}, 404),
    "city.settlement_reject": ({Role.CITY}, 404),
    "city.settlement_export": ({Role.CITY}, 200),
    "province.settlement_overview": ({Role.PROVINCE}, 200),
    "province.settlement_list": ({Role.PROVINCE}, 200),
    "province.settlement_detail": ({Role.PROVINCE}, 404),
    "province.settlement_override": ({Role.PROVINCE}, 404),
    "enterprise.settlement_list": ({Role.ENTERPRISE}, 200),
    "enterprise.settlement_start": ({Role.ENTERPRISE}, 404),
    "enterprise.settlement_edit": ({Role.ENTERPRISE}, 404),
    "enterprise.settlement_check": ({Role.ENTERPRISE}, 404),
    "enterprise.settlement_detail": ({Role.ENTERPRISE}, 404),
    "enterprise.settlement_withdraw": ({Role.ENTERPRISE}, 404),
    "enterprise.voucher_release": ({Role.ENTERPRISE}, 404),
}


def test_settlement_routes_allow_their_role_and_refuse_the_others(app, login):
    # rule: ROLE-8, ROLE-2, ROLE-3, ROLE-4
    _check_route_table(app, login, SETTLEMENT_ROUTES)


# The province's usage-intake pages (data organisations, tokens, imports, the CSV upload), and the
# connection-records API, public at the role layer (it authenticates itself by bearer token).
USAGE_ROUTES = {
    "province.data_orgs": ({Role.PROVINCE}, 200),
    "province.data_org_new": ({Role.PROVINCE}, 200),
    "province.data_org_new POST": ({Role.PROVINCE}, 422),
    "province.data_org_detail": ({Role.PROVINCE}, 404),
    "province.token_new": ({Role.PROVINCE}, 404),
    "province.token_revoke": ({Role.PROVINCE}, 404),
    "province.connection_imports": ({Role.PROVINCE}, 200),
    "province.connection_upload": ({Role.PROVINCE}, 200),
    "province.connection_upload POST": ({Role.PROVINCE}, 422),
}


def test_usage_routes_allow_the_province_and_refuse_the_others(app, login):
    # rule: ROLE-8, ROLE-6, VER-2
    _check_route_table(app, login, USAGE_ROUTES)


def test_the_api_is_public_at_the_role_layer_and_authenticates_itself(app, login):
    # rule: ROLE-8, VER-2 -- nobody gets in without a token, whatever session they hold
    assert declaration("api.connections_post") == frozenset({PUBLIC})
    assert declaration("api.openapi_document") == frozenset({PUBLIC})
    users = _users()
    db.session.commit()
    clients = {name: login(u) for name, u in users.items()}
    clients["anonymous"] = app.test_client()
    for principal, c in clients.items():
        r = c.post("/api/v1/connections", json={"batch_id": "b", "records": []})
        assert r.status_code == 401, principal
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
        assert c.get("/api/v1/openapi.json").status_code == 200, principal


# The usage pages (declared addresses, the supplier's voucher list, the province's override and the
# completion tables of the province and the cities). A POST without a record (or without a cycle) is a 404.
USAGE_PAGE_ROUTES = {
    "enterprise.voucher_address_add": ({Role.ENTERPRISE}, 404),
    "enterprise.voucher_address_remove": ({Role.ENTERPRISE}, 404),
    "enterprise.voucher_address_check": ({Role.ENTERPRISE}, 404),
    "supplier.voucher_list": ({Role.SUPPLIER}, 200),
    "province.voucher_usage_override": ({Role.PROVINCE}, 404),
    "province.completion_tables": ({Role.PROVINCE}, 200),
    "province.completion_generate": ({Role.PROVINCE}, 404),
    "province.completion_send": ({Role.PROVINCE}, 404),
    "province.completion_send_all": ({Role.PROVINCE}, 404),
    "city.completion_tables": ({Role.CITY}, 200),
}


def test_usage_page_routes_allow_their_role_and_refuse_the_others(app, login):
    # rule: ROLE-8, VER-1, VER-3, VER-4
    _check_route_table(app, login, USAGE_PAGE_ROUTES)


# The modules of the usage pages: a route added to one of them must get its row in a table above.
USAGE_MODULES = ("blueprints.province.usage", "blueprints.province.usage_override", "blueprints.province.completion",
                 "blueprints.enterprise.usage", "blueprints.supplier.usage", "blueprints.city.completion")


def test_every_usage_route_is_in_a_route_table(app):
    # rule: ROLE-8
    listed = {key.partition(" ")[0] for key in (*USAGE_ROUTES, *USAGE_PAGE_ROUTES)}
    mine = [r.endpoint for r in _rules(app) if app.view_functions[r.endpoint].__module__ in USAGE_MODULES]
    assert len(mine) >= 17
    assert [e for e in mine if e not in listed] == []


# The province's payout overview (404 for the xlsx while no period has a budget or a list) and the
# objections the cities escalate (an unknown one is a 404 past the role check).
PAYOUT_PROVINCE_ROUTES = {
    "province.payout_overview": ({Role.PROVINCE}, 200),
    "province.payout_overview_xlsx": ({Role.PROVINCE}, 404),
    "province.objections": ({Role.PROVINCE}, 200),
    "province.objection_detail": ({Role.PROVINCE}, 404),
    "province.objection_detail POST": ({Role.PROVINCE}, 404),
}


def test_payout_province_routes_allow_the_province_and_refuse_the_others(app, login):
    # rule: ROLE-8, CYC-4, PUB-3
    _check_route_table(app, login, PAYOUT_PROVINCE_ROUTES)
    mine = [r.endpoint for r in _rules(app) if app.view_functions[r.endpoint].__module__ == "blueprints.province.payout"]
    assert sorted(mine) == sorted({k.partition(" ")[0] for k in PAYOUT_PROVINCE_ROUTES})


# The public settlement lists, objections and their look-up: no login, every role the same (ROLE-7).
# Unknown lists are a 404 for everyone (GET and POST); the index and the look-up form are pages.
PAYOUT_PUBLIC_ROUTES = {
    "public.settlement_lists": ({PUBLIC}, 200),
    "public.settlement_list": ({PUBLIC}, 404),
    "public.settlement_list_pdf": ({PUBLIC}, 404),
    "public.objection_new": ({PUBLIC}, 404),
    "public.objection_new POST": ({PUBLIC}, 404),
    "public.objection_lookup": ({PUBLIC}, 200),
}


def test_payout_public_routes_are_open_to_everyone(app, login):
    # rule: ROLE-8, ROLE-7, PUB-1, PUB-2
    _check_route_table(app, login, PAYOUT_PUBLIC_ROUTES)
    mine = [r.endpoint for r in _rules(app) if app.view_functions[r.endpoint].__module__ == "blueprints.public.lists"]
    assert sorted(mine) == sorted({k.partition(" ")[0] for k in PAYOUT_PUBLIC_ROUTES})


# The city's settlement lists, objections, payout and payments. An empty POST to the list form is a
# refusal (422: no period); to the payout confirm a refusal (422: no period with a budget).
PAYOUT_CITY_ROUTES = {
    "city.payout_lists": ({Role.CITY}, 200),
    "city.payout_list_create": ({Role.CITY}, 422),
    "city.payout_list_detail": ({Role.CITY}, 404),
    "city.payout_list_act": ({Role.CITY}, 404),
    "city.payout_list_documents": ({Role.CITY}, 404),
    "city.objections": ({Role.CITY}, 200),
    "city.objection_detail": ({Role.CITY}, 404),
    "city.objection_detail POST": ({Role.CITY}, 404),
    "city.payout": ({Role.CITY}, 200),
    "city.payout_confirm": ({Role.CITY}, 422),
    "city.payout_batches": ({Role.CITY}, 200),
    "city.payout_batch": ({Role.CITY}, 404),
    "city.entry_pay": ({Role.CITY}, 404),
    "city.payout_batch_payments": ({Role.CITY}, 404),
}


def test_payout_city_routes_allow_the_city_and_refuse_the_others(app, login):
    # rule: ROLE-8, PUB-1, PUB-2, PAY-1
    _check_route_table(app, login, PAYOUT_CITY_ROUTES)
    mine = [r.endpoint for r in _rules(app) if app.view_functions[r.endpoint].__module__ == "blueprints.city.payout"]
    assert sorted(mine) == sorted({k.partition(" ")[0] for k in PAYOUT_CITY_ROUTES})


def test_payout_workflows_state_who_may_act(app):
    # rule: ROLE-8, PUB-1, PUB-2, PUB-3, PAY-1 -- transition by transition, exactly which roles may act
    from blueprints.core import workflow

    def table(rows):
        return {(t.source, t.action): set(t.roles) for t in rows}

    assert table(workflow.SETTLEMENT_LIST) == {("draft", "publish"): {Role.CITY}, ("draft", "discard"): {Role.CITY}}
    assert table(workflow.OBJECTION) == {
        ("open", "upheld"): {Role.CITY}, ("open", "dismissed"): {Role.CITY}, ("open", "escalate"): {Role.CITY},
        ("escalated", "upheld"): {Role.PROVINCE}, ("escalated", "dismissed"): {Role.PROVINCE},
    }
    assert table(workflow.LIST_ENTRY) == {("committed", "pay"): {Role.CITY}}


# Spot checks and recoveries (city: its own; province: all), pilot units, sanctions, supplier quotas
# (province) and the public pilot list. An empty POST to a form is a refusal (422); to an unknown record 404.
SUPERVISION_ROUTES = {
    "city.spot_checks": ({Role.CITY}, 200),
    "city.spot_check_create": ({Role.CITY}, 422),
    "city.recoveries": ({Role.CITY}, 200),
    "city.recovery_create": ({Role.CITY}, 422),
    "city.recovery_returned": ({Role.CITY}, 404),
    "province.spot_checks": ({Role.PROVINCE}, 200),
    "province.spot_check_create": ({Role.PROVINCE}, 422),
    "province.recoveries": ({Role.PROVINCE}, 200),
    "province.recovery_create": ({Role.PROVINCE}, 422),
    "province.recovery_returned": ({Role.PROVINCE}, 404),
    "province.pilots": ({Role.PROVINCE}, 200),
    "province.pilot_create": ({Role.PROVINCE}, 422),
    "province.pilot_revoke": ({Role.PROVINCE}, 404),
    "province.sanctions": ({Role.PROVINCE}, 200),
    "province.sanction_create": ({Role.PROVINCE}, 422),
    "province.sanction_lift": ({Role.PROVINCE}, 404),
    "province.supplier_quotas": ({Role.PROVINCE}, 200),
    "province.supplier_quota_defaults": ({Role.PROVINCE}, 422),
    "province.supplier_quota_set": ({Role.PROVINCE}, 404),
    "public.pilots": ({PUBLIC}, 200),
}


def test_supervision_routes_allow_their_roles_and_refuse_the_others(app, login):
    # rule: ROLE-8, SUP-2, REL-2, PIL-1, SUP-4
    _check_route_table(app, login, SUPERVISION_ROUTES)
    modules = ("blueprints.province.supervision", "blueprints.core.supervision_pages", "blueprints.public.pilots")
    mine = [r.endpoint for r in _rules(app) if app.view_functions[r.endpoint].__module__ in modules]
    assert sorted(mine) == sorted({k.partition(" ")[0] for k in SUPERVISION_ROUTES})


# The province's fraud signals per city (records under the cities' review, with their flags).
SIGNAL_ROUTES = {
    "province.signals": ({Role.PROVINCE}, 200),
}


def test_signal_routes_allow_the_province_and_refuse_the_others(app, login):
    # rule: ROLE-8, ROLE-4, ROLE-6
    _check_route_table(app, login, SIGNAL_ROUTES)
    mine = [r.endpoint for r in _rules(app) if app.view_functions[r.endpoint].__module__ == "blueprints.province.signals"]
    assert sorted(mine) == sorted({k.partition(" ")[0] for k in SIGNAL_ROUTES})


# The province's mail outbox: the page, retrying one failed mail (an unknown one is 404 past the role check) and
# retrying every failed mail (none here: back to the page, 303).
MAIL_ROUTES = {
    "province.mail_outbox": ({Role.PROVINCE}, 200),
    "province.mail_retry": ({Role.PROVINCE}, 404),
    "province.mail_retry_all": ({Role.PROVINCE}, 303),
}


def test_mail_routes_allow_the_province_and_refuse_the_others(app, login):
    # rule: ROLE-8, ROLE-6
    _check_route_table(app, login, MAIL_ROUTES)
    mine = [r.endpoint for r in _rules(app) if app.view_functions[r.endpoint].__module__ == "blueprints.province.mail"]
    assert sorted(mine) == sorted(MAIL_ROUTES)


# Supplier evaluation (SUP-3): the enterprise rates its supplier, the province's scorecards, xlsx and
# award, the public supplier page. An unknown record is 404 past the role check.
EVALUATION_ROUTES = {
    "enterprise.settlement_rating": ({Role.ENTERPRISE}, 404),
    "province.evaluation": ({Role.PROVINCE}, 200),
    "province.evaluation_xlsx": ({Role.PROVINCE}, 200),
    "province.supplier_award": ({Role.PROVINCE}, 404),
    "public.supplier_detail": ({PUBLIC}, 404),
}


def test_evaluation_routes_allow_their_roles_and_refuse_the_others(app, login):
    # rule: ROLE-8, SUP-3
    _check_route_table(app, login, EVALUATION_ROUTES)
    modules = ("blueprints.province.evaluation", "blueprints.enterprise.rating")
    mine = [r.endpoint for r in _rules(app) if app.view_functions[r.endpoint].__module__ in modules]
    assert sorted(mine + ["public.supplier_detail"]) == sorted(EVALUATION_ROUTES)


# Public messages and complaints (SUP-5): the public form and look-up (no login, every role the same;
# an empty POST fails the human check: 422), the province's queue and message page (all messages), the city's
# (those forwarded to it). An unknown message is 404 past the role check, GET and POST.
COMPLAINT_ROUTES = {
    "public.complaint_new": ({PUBLIC}, 200),
    "public.complaint_new POST": ({PUBLIC}, 422),
    "public.complaint_lookup": ({PUBLIC}, 200),
    "province.complaints": ({Role.PROVINCE}, 200),
    "province.complaint_detail": ({Role.PROVINCE}, 404),
    "province.complaint_detail POST": ({Role.PROVINCE}, 404),
    "city.complaints": ({Role.CITY}, 200),
    "city.complaint_detail": ({Role.CITY}, 404),
    "city.complaint_detail POST": ({Role.CITY}, 404),
}


def test_complaint_routes_allow_their_roles_and_refuse_the_others(app, login):
    # rule: ROLE-8, ROLE-7, SUP-5
    app.config["COMPLAINT_LIMIT_PER_ADDRESS"] = 1000  # every principal posts from one address here
    _check_route_table(app, login, COMPLAINT_ROUTES)
    modules = ("blueprints.public.complaints", "blueprints.province.complaints", "blueprints.city.complaints")
    mine = [r.endpoint for r in _rules(app) if app.view_functions[r.endpoint].__module__ in modules]
    assert sorted(mine) == sorted({k.partition(" ")[0] for k in COMPLAINT_ROUTES})


# R21: the second factor. The province resets an account's second factor (an unknown account: 404 past the
# role check); the account pages and the login steps are every logged-in user's (checked below and in
# tests/test_two_factor.py).
TWO_FACTOR_ROUTES = {
    "province.user_two_factor_reset": ({Role.PROVINCE}, 404),
}
TWO_FACTOR_OWN_ROUTES = {"auth.two_factor_code", "auth.two_factor_enrol", "auth.two_factor_show",
                         "auth.two_factor_recovery_renew", "auth.two_factor_off", "auth.two_factor_devices_forget"}
OFFICIALS = ["city", "province", "expert", "operator_province", "operator_city"]


def test_two_factor_routes_declare_their_roles(app, login):
    # rule: ROLE-8 -- R21
    _check_route_table(app, login, TWO_FACTOR_ROUTES)
    mine = [r.endpoint for r in _rules(app) if app.view_functions[r.endpoint].__module__ == "blueprints.auth_two_factor"]
    assert sorted(mine) == sorted(TWO_FACTOR_OWN_ROUTES)
    assert all(declaration(e) == frozenset({ANY_USER}) for e in mine)
    assert [e for e in mine if e.endswith("_show")] and app.test_client().get("/account/two-factor").status_code == 302


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_password_only_official_session_reaches_only_the_code_step(app, htmx):
    # R21 -- every route (role pages, shared pages, public pages alike), GET and POST, page and htmx:
    # an official past the password but not the second factor is sent to the code step, and nothing runs.
    from blueprints.core.two_factor import PENDING_ENDPOINTS
    from tests.factories import PASSWORD, enrol_totp

    users = _users()
    for name in OFFICIALS:
        enrol_totp(users[name])
    db.session.commit()
    clients = {}
    for i, name in enumerate(OFFICIALS):
        c = app.test_client()
        r = c.post("/login", data={"username": users[name].username, "password": PASSWORD},
                   environ_base={"REMOTE_ADDR": f"198.51.100.{i + 1}"})
        assert r.status_code == 303 and r.headers["Location"] == "/login/code", name
        clients[name] = c
    headers = {"HX-Request": "true"} if htmx else {}
    audit_before = db.session.execute(db.select(db.func.count(AuditEvent.id))).scalar_one()
    problems, cells = [], 0
    for rule in _rules(app):
        if rule.endpoint in PENDING_ENDPOINTS:
            continue
        url = _url_for_rule(rule)
        for method in sorted(rule.methods & {"GET", "POST"}):
            for name, c in clients.items():
                resp = c.open(url, method=method, headers=headers, data={})
                cells += 1
                if rule.endpoint.startswith("api."):
                    # the token API reads no session at all: without its bearer token it answers 401
                    if resp.status_code != (200 if rule.endpoint == "api.openapi_document" else 401):
                        problems.append(f"{method} {url} as {name}: {resp.status_code} (the API: its public document, else 401 without a token)")
                    continue
                target = resp.headers.get("HX-Redirect", "") if htmx else resp.headers.get("Location", "")
                want = 204 if htmx else 302
                if resp.status_code != want or not target.startswith("/login/code"):
                    problems.append(f"{method} {url} as {name}: {resp.status_code} {target}")
    assert cells > 500
    assert problems == [], "\n".join(problems[:50])
    db.session.rollback()
    assert db.session.execute(db.select(db.func.count(AuditEvent.id))).scalar_one() == audit_before
    # the sessions are still half open: the code step answers, the pages do not
    for name, c in clients.items():
        assert c.get("/login/code").status_code == 200, name


def test_official_without_second_factor_is_sent_to_enrolment_everywhere(app):
    # R21 -- an official who never enrolled reaches only the enrolment page after the password
    from tests.factories import PASSWORD

    officer = make_user(Role.CITY, city_code="440300")
    db.session.commit()
    c = app.test_client()
    r = c.post("/login", data={"username": officer.username, "password": PASSWORD})
    assert r.status_code == 303 and r.headers["Location"] == "/login/enrol"
    for url in ("/city/", "/notices", "/jobs", "/account/password", "/account/two-factor", "/login/code", "/"):
        resp = c.get(url)
        assert resp.status_code == 302 and resp.headers["Location"].startswith("/login/enrol"), url
    assert c.get("/login/enrol").status_code == 200


# A first-time user: the blank application form and its live parts (no open cycle here: back to the eligibility
# page, 303), deleting a draft (an unknown one is 404), and the reviewers' decision addresses, which answer GET
# too (a reload after a refusal leads to the record: an unknown record is 404 past the role check).
FIRST_USE_ROUTES = {
    "enterprise.application_form_new": ({Role.ENTERPRISE}, 303),
    "enterprise.application_form_new POST": ({Role.ENTERPRISE}, 303),
    "enterprise.application_new_preview": ({Role.ENTERPRISE}, 303),
    "enterprise.application_new_supplier_search": ({Role.ENTERPRISE}, 303),
    "enterprise.application_delete": ({Role.ENTERPRISE}, 404),
    "city.application_approve": ({Role.CITY}, 404),
    "city.application_approve POST": ({Role.CITY}, 404),
    "city.application_return": ({Role.CITY}, 404),
    "city.application_return POST": ({Role.CITY}, 404),
    "city.application_reject": ({Role.CITY}, 404),
    "city.application_reject POST": ({Role.CITY}, 404),
    "city.registration_decide": ({Role.CITY}, 404),
    "city.registration_decide POST": ({Role.CITY}, 404),
    "province.registration_decide": ({Role.PROVINCE}, 404),
    "province.registration_decide POST": ({Role.PROVINCE}, 404),
    "city.settlement_approve POST": ({Role.CITY}, 404),
    "city.settlement_return POST": ({Role.CITY}, 404),
    "city.settlement_reject POST": ({Role.CITY}, 404),
}


def test_first_use_routes_allow_their_role_and_refuse_the_others(app, login):
    # rule: ROLE-8, ROLE-2, ROLE-3, APP-1
    _check_route_table(app, login, FIRST_USE_ROUTES)


# Colleagues (单位成员): the members page and a manager's changes, for enterprises and suppliers alike. An
# unknown member is a 404 past the role check; an empty invitation form is a 422.
TEAM_ROUTES = {
    "team.members": ({Role.ENTERPRISE, Role.SUPPLIER}, 200),
    "team.invite": ({Role.ENTERPRISE, Role.SUPPLIER}, 422),
    "team.renew": ({Role.ENTERPRISE, Role.SUPPLIER}, 404),
    "team.revoke": ({Role.ENTERPRISE, Role.SUPPLIER}, 404),
    "team.set_active": ({Role.ENTERPRISE, Role.SUPPLIER}, 404),
    "team.set_roles": ({Role.ENTERPRISE, Role.SUPPLIER}, 404),
}


def test_team_routes_allow_enterprises_and_suppliers_and_refuse_the_others(app, login):
    # rule: ROLE-8
    _check_route_table(app, login, TEAM_ROUTES)
    # The invitation link is public: an unknown one is a 404 when logged out; a logged-in user goes home.
    assert declaration("team.accept") == frozenset({PUBLIC})
    assert app.test_client().post("/invite/zz-unknown", data={}).status_code == 404
    assert login(make_user(Role.CITY)).get("/invite/zz-unknown").status_code == 302
    mine = [r.endpoint for r in _rules(app) if app.view_functions[r.endpoint].__module__ == "blueprints.team"]
    assert sorted(mine) == sorted([*TEAM_ROUTES, "team.accept"])
