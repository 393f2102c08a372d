"""During a database outage the platform says so (R45, F10): /healthz answers JSON 503 for the process
manager, pages and writes a plain Chinese 503 "please retry" with Retry-After, htmx a toast, the API JSON.
Never a bare 500, never a page that needs the database to render its error.

The app is pointed at a database that cannot be reached: a PostgreSQL URL on a closed port, and an SQLite
file in a directory that has been removed.
"""
from __future__ import annotations

import shutil
import socket

import pytest

from app import create_app

MESSAGE = "服务暂时不可用，请稍后重试"


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    return port


@pytest.fixture(params=["postgresql", "sqlite"])
def down_app(request, tmp_path):
    if request.param == "postgresql":
        url = f"postgresql+psycopg://postgres@127.0.0.1:{_closed_port()}/gone?connect_timeout=2"
    else:
        gone = tmp_path / "gone"
        gone.mkdir()
        url = f"sqlite:///{gone / 'app.db'}"
        shutil.rmtree(gone)
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "WTF_CSRF_ENABLED": False,
                      "UPLOAD_DIR": str(tmp_path / "uploads"), "SECRET_KEY": "test-secret", "SERVER_NAME": None,
                      "PROPAGATE_EXCEPTIONS": False})
    return app


def test_healthz_answers_json_503(down_app):
    # R45, F10 -- the process manager sees "unavailable", not an HTML 500
    r = down_app.test_client().get("/healthz")
    assert r.status_code == 503
    assert r.is_json and r.get_json()["status"] == "unavailable"
    assert int(r.headers["Retry-After"]) > 0


def test_pages_and_writes_answer_a_plain_chinese_503(down_app):
    # R45, F10 -- a page read, a write (the login form), a logged-in page: 503 + Retry-After, in Chinese
    import time

    c = down_app.test_client()
    with c.session_transaction() as s:  # a logged-in visitor: loading the user needs the database too
        s.update({"_user_id": "1:1", "_fresh": True, "login_at": time.time(), "seen": time.time()})
    for method, url, data in (("GET", "/enterprise/", None), ("GET", "/", None), ("GET", "/suppliers", None),
                              ("POST", "/login", {"username": "a", "password": "b"})):
        r = c.open(url, method=method, data=data)
        assert r.status_code == 503, (method, url, r.status_code)
        assert int(r.headers["Retry-After"]) > 0
        body = r.get_data(as_text=True)
        assert MESSAGE in body and "<html" in body
        assert r.headers["Content-Security-Policy"]  # the security headers stay (F9)


def test_htmx_and_api_get_their_own_503(down_app):
    # R45, F10 -- htmx: a toast and nothing swapped; the API: JSON
    c = down_app.test_client()
    r = c.get("/", headers={"HX-Request": "true"})
    assert r.status_code == 503 and r.headers["HX-Reswap"] == "none"
    assert MESSAGE in r.headers["HX-Trigger"].encode().decode("unicode_escape")
    r = c.post("/api/v1/connections", json={}, headers={"Authorization": "Bearer x" * 3})
    assert r.status_code == 503 and r.get_json()["error"] == MESSAGE
