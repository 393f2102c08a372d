"""CSRF on every state-changing request, plain forms and htmx alike (R10).

The rest of the suite runs with WTF_CSRF_ENABLED=False; here the app is built with it on.
"""
from __future__ import annotations

import json
import re

import pytest
from flask import url_for

from app import create_app
from models import Role, db
from tests.factories import PASSWORD, make_user

# rule: ROLE-8 -- a forged cross-site request never changes anyone's records


@pytest.fixture
def csrf_app(db_url, tmp_path):
    # No app context stays pushed during requests (as in production): Flask-WTF caches the
    # token in `g`, which an outer context would share between requests.
    app = create_app({
        "TESTING": True, "SQLALCHEMY_DATABASE_URI": db_url, "WTF_CSRF_ENABLED": True,
        "UPLOAD_DIR": str(tmp_path / "uploads"), "SECRET_KEY": "test-secret",
    })
    yield app
    with app.app_context():
        db.engine.dispose()


def _user(app, role, username):
    with app.app_context():
        make_user(role, username=username)
        db.session.commit()
        db.session.remove()


def _token(client, url="/login") -> str:
    html = client.get(url).get_data(as_text=True)
    m = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'name="csrf_token" value="([^"]+)"', html
    )
    assert m, html[:500]
    return m.group(1)


def _login(client, username) -> None:
    token = _token(client)
    r = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 303


def test_post_without_token_is_400(csrf_app):
    _user(csrf_app, Role.ENTERPRISE, "csrf_user")
    client = csrf_app.test_client()
    client.get("/login")
    r = client.post("/login", data={"username": "csrf_user", "password": PASSWORD})
    assert r.status_code == 400
    assert "安全令牌无效" in r.get_data(as_text=True)
    assert client.get("/enterprise/").status_code == 302


def test_post_with_wrong_token_is_400(csrf_app):
    _user(csrf_app, Role.ENTERPRISE, "csrf_user")
    client = csrf_app.test_client()
    token = _token(client)
    r = client.post("/login", data={"username": "csrf_user", "password": PASSWORD, "csrf_token": token[:-4] + "AAAA"})
    assert r.status_code == 400
    assert client.get("/enterprise/").status_code == 302


def test_token_of_another_session_is_400(csrf_app):
    _user(csrf_app, Role.ENTERPRISE, "csrf_user")
    attacker, victim = csrf_app.test_client(), csrf_app.test_client()
    foreign = _token(attacker)
    victim.get("/login")
    r = victim.post("/login", data={"username": "csrf_user", "password": PASSWORD, "csrf_token": foreign})
    assert r.status_code == 400


def test_valid_form_token_works(csrf_app):
    _user(csrf_app, Role.ENTERPRISE, "csrf_user")
    client = csrf_app.test_client()
    _login(client, "csrf_user")
    assert client.get("/enterprise/").status_code == 200


def test_logout_needs_the_token(csrf_app):
    _user(csrf_app, Role.SUPPLIER, "csrf_sup")
    client = csrf_app.test_client()
    _login(client, "csrf_sup")
    assert client.post("/logout").status_code == 400
    assert client.get("/supplier/").status_code == 200  # a forged logout did nothing
    token = _token(client, "/supplier/")  # the logout form in the menu carries it
    assert client.post("/logout", data={"csrf_token": token}).status_code == 303
    assert client.get("/supplier/").status_code == 302


def test_htmx_header_token_works_and_missing_is_a_toast(csrf_app):
    _user(csrf_app, Role.ENTERPRISE, "csrf_hx")
    client = csrf_app.test_client()
    _login(client, "csrf_hx")
    html = client.get("/enterprise/").get_data(as_text=True)
    m = re.search(r"hx-headers='\{&#34;X-CSRFToken&#34;: &#34;([^&]+)&#34;\}'|hx-headers='\{\"X-CSRFToken\": \"([^\"]+)\"\}'", html)
    assert m, "the <body> must carry the token for htmx requests"
    token = m.group(1) or m.group(2)

    r = client.post("/notices/read", headers={"HX-Request": "true"})
    assert r.status_code == 400
    assert "<html" not in r.get_data(as_text=True)
    toast = json.loads(r.headers["HX-Trigger"])["toast"][0]
    assert toast["level"] == "error" and "安全令牌无效" in toast["message"]

    r = client.post("/notices/read", headers={"HX-Request": "true", "X-CSRFToken": token})
    assert r.status_code == 204 and r.headers["HX-Redirect"] == "/notices"


def test_every_post_route_refuses_a_missing_token(csrf_app):
    # walk the url map: no state-changing endpoint is exempt from CSRF
    _user(csrf_app, Role.PROVINCE, "csrf_walker")
    client = csrf_app.test_client()
    _login(client, "csrf_walker")
    checked = 0
    for rule in csrf_app.url_map.iter_rules():
        unsafe = rule.methods & {"POST", "PUT", "PATCH", "DELETE"}
        if not unsafe or rule.endpoint.startswith("api."):
            continue  # the bearer-token API is exempt (test_the_token_api_is_exempt_and_needs_its_token)
        with csrf_app.test_request_context():
            url = url_for(rule.endpoint, **{arg: 1 for arg in rule.arguments})
        for method in unsafe:
            r = client.open(url, method=method)
            assert r.status_code == 400, (method, url, r.status_code)
            checked += 1
    assert checked >= 5


def test_the_token_api_is_exempt_and_needs_its_token(csrf_app):
    # The API (blueprints/api) is the only exemption: it authenticates by a bearer token in a header,
    # which a browser never attaches to a forged cross-site request; a session cookie opens nothing there.
    exempt = [r.endpoint for r in csrf_app.url_map.iter_rules()
              if r.methods & {"POST", "PUT", "PATCH", "DELETE"} and r.endpoint.startswith("api.")]
    assert exempt == ["api.connections_post"]
    _user(csrf_app, Role.PROVINCE, "csrf_api")
    client = csrf_app.test_client()
    _login(client, "csrf_api")
    r = client.post("/api/v1/connections", json={"batch_id": "b", "records": []})
    assert r.status_code == 401 and r.get_json()["code"] == "missing_token"
