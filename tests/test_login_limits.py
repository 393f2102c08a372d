"""Login limits against real app servers (R24, F14): gunicorn with W = 1 and W = 4 workers on the test
database (SQLite file or PostgreSQL), sixty guesses sent at the same moment. Exactly L passwords are
checked and exactly L public look-ups are answered, however many workers share the burst.
"""
from __future__ import annotations

import datetime as dt
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import pytest

from blueprints.core import issuance, security
from models import Role, db
from tests.factories import PASSWORD, make_user

ROOT = Path(__file__).resolve().parent.parent
BURST = 60

pytestmark = pytest.mark.timeout(300)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _open(opener, url: str, data: dict | None = None) -> tuple[int, bytes]:
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    try:
        with opener.open(urllib.request.Request(url, data=body), timeout=120) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def _browser():
    import http.cookiejar

    return urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), NoRedirect)


@pytest.fixture
def serve(app, db_url, tmp_path):
    """serve(workers) -> base URL of a gunicorn on the test database (stopped after the test)."""
    procs = []

    def start(workers: int) -> str:
        db.session.commit()
        db.session.remove()  # the servers need the database to themselves (SQLite's write lock)
        port = _free_port()
        inst = tmp_path / f"instance-{port}"
        inst.mkdir()
        env = {k: v for k, v in os.environ.items() if k not in ("TEST_DATABASE_URL", "FLASK_APP", "REDIS_URL")}
        env.update(DATABASE_URL=db_url, SECRET_KEY="limits-" + uuid.uuid4().hex, JOBS_CONSUMER="0",
                   JOBS_IMMEDIATE="1", WEB_CONCURRENCY=str(workers), COOKIE_SECURE="0", HOST="127.0.0.1",
                   PORT=str(port), INSTANCE_DIR=str(inst), LOG_LEVEL="WARNING", UPLOAD_DIR=str(inst / "up"))
        log = open(tmp_path / f"server-{port}.log", "wb")
        proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "app:create_app()"],
                                cwd=ROOT, env=env, stdout=log, stderr=log, start_new_session=True)
        procs.append(proc)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        booted = 0
        while booted < workers:  # every worker answers (each its own process and connections)
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=5) as r:
                    booted += r.status == 200
            except OSError:
                time.sleep(0.2)
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("app server did not start:\n" + (tmp_path / f"server-{port}.log").read_text()[-3000:])
        return base

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def _burst(calls) -> list[int]:
    """Run every call at the same moment (one thread each); return their status codes."""
    barrier = threading.Barrier(len(calls))
    codes: list[int] = [0] * len(calls)

    def go(i, call):
        barrier.wait()
        codes[i] = call()

    threads = [threading.Thread(target=go, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(200)
    return codes


@pytest.mark.parametrize("workers", [1, 4])
def test_parallel_wrong_passwords_get_exactly_the_limit_checked(app, serve, workers):
    # F14, R24: sixty wrong passwords for one account at once: L are checked (422), the rest refused (429)
    make_user(Role.CITY, username="burst_target")
    limit = app.config["LOGIN_LIMIT_PER_ACCOUNT"]
    base = serve(workers)
    calls = []
    for _ in range(BURST):
        b = _browser()
        _, html = _open(b, f"{base}/login")
        token = re.search(rb'name="csrf_token"[^>]*value="([^"]+)"', html).group(1).decode()
        calls.append(lambda b=b, t=token: _open(b, f"{base}/login", {"csrf_token": t, "username": "burst_target",
                                                                    "password": "wrong-password-1"})[0])
    codes = _burst(calls)
    assert sorted(codes) == [422] * limit + [429] * (BURST - limit), codes


@pytest.mark.parametrize("workers", [1, 4])
def test_parallel_public_lookups_get_exactly_the_limit_answered(app, serve, workers):
    # F14, F15: ninety voucher look-ups at once from one address: exactly the per-minute limit is answered
    limit = app.config["VERIFY_LIMIT_PER_ADDRESS"]
    base = serve(workers)
    burst = limit + 30
    codes = _burst([lambda: _open(_browser(), f"{base}/v/{issuance.new_code()}")[0]] * burst)
    assert sorted(codes) == [404] * limit + [429] * (burst - limit), codes


# --------------------------------------------------------------------------- the soft lock, in one process

ATTACKER, OWNER_ADDR = "203.0.113.66", "198.51.100.20"


def _post(client, username, password, addr=ATTACKER):
    return client.post("/login", data={"username": username, "password": password}, environ_base={"REMOTE_ADDR": addr})


def _notices(user) -> list:
    from models import Notice

    return db.session.execute(db.select(Notice).where(Notice.user_id == user.id)).scalars().all()


def _owner_with_known_device(app, username, addr=ATTACKER):
    """An account whose owner logged in once on a browser (which is now a known device) and logged out."""
    user = make_user(Role.ENTERPRISE, username=username)
    db.session.commit()
    owner = app.test_client()
    assert _post(owner, username, PASSWORD, addr).status_code == 303
    assert any(c.key == "device" for c in owner._cookies.values())
    with owner.session_transaction() as s:
        s.clear()  # logged out; the device cookie stays
    return user, owner


def test_waits_grow_after_the_free_attempts(app):
    # R24: after L failures each attempt waits longer (1, 2, 4 ... minutes, at most the window)
    import time_machine

    from blueprints.core.timeutil import now

    make_user(Role.ENTERPRISE, username="slowed")
    db.session.commit()
    c = app.test_client()
    start = now()
    with time_machine.travel(start, tick=False):
        for _ in range(5):
            assert _post(c, "slowed", "Wrong-pass-2026").status_code == 422
        r = _post(c, "slowed", PASSWORD)
        assert r.status_code == 429 and "尝试次数过多，请 1 分钟后再试" in r.get_data(as_text=True)
    with time_machine.travel(start + dt.timedelta(seconds=61), tick=False):
        assert _post(c, "slowed", "Wrong-pass-2026").status_code == 422  # the sixth is checked after a minute
        r = _post(c, "slowed", PASSWORD)
        assert r.status_code == 429 and "请 2 分钟后再试" in r.get_data(as_text=True)
    with time_machine.travel(start + dt.timedelta(seconds=61 + 100), tick=False):
        assert _post(c, "slowed", PASSWORD).status_code == 429  # two minutes have not passed
    with time_machine.travel(start + dt.timedelta(seconds=61 + 121), tick=False):
        assert _post(c, "slowed", PASSWORD).status_code == 303


def test_the_owner_on_a_known_device_gets_in_while_an_attacker_at_the_same_address_is_slowed(app):
    # R24: five wrong passwords (or thirty from the address) cannot lock the owner out of a known device
    app.config["LOGIN_LIMIT_PER_ADDRESS"] = 8
    user, owner = _owner_with_known_device(app, "officer_known")
    attacker = app.test_client()
    for _ in range(5):
        assert _post(attacker, "officer_known", "Wrong-pass-2026").status_code == 422
    for i in range(3):  # the address's total is used up on other accounts too
        assert _post(attacker, f"guess{i}", "Wrong-pass-2026").status_code == 422
    assert _post(attacker, "officer_known", PASSWORD).status_code == 429
    assert _post(app.test_client(), "someone_else", PASSWORD).status_code == 429  # every new browser there waits
    assert _post(owner, "officer_known", PASSWORD).status_code == 303
    # a forged or foreign device cookie is no known device
    forged = app.test_client()
    forged.set_cookie("device", "eyJkIjoieCIsInUiOlsxXX0.forged.sig")
    assert _post(forged, "officer_known", PASSWORD).status_code == 429


def test_a_known_device_has_a_soft_lock_of_its_own(app):
    # R24: a stolen device cookie does not give unlimited guesses
    _, owner = _owner_with_known_device(app, "device_thief")
    for _ in range(5):
        assert _post(owner, "device_thief", "Wrong-pass-2026").status_code == 422
    assert _post(owner, "device_thief", PASSWORD).status_code == 429
    assert _post(app.test_client(), "device_thief", PASSWORD, OWNER_ADDR).status_code == 303  # not the owner elsewhere


def test_guesses_from_many_addresses_are_limited_per_account(app):
    # R24: the per-account total across addresses; the known device still works
    user, owner = _owner_with_known_device(app, "spread_target", OWNER_ADDR)
    total = app.config["LOGIN_LIMIT_ACCOUNT_TOTAL"]
    for i in range(total):
        assert _post(app.test_client(), "spread_target", "Wrong-pass-2026", f"192.0.2.{i + 1}").status_code == 422
    assert _post(app.test_client(), "spread_target", PASSWORD, "192.0.2.250").status_code == 429
    assert _post(owner, "spread_target", PASSWORD, OWNER_ADDR).status_code == 303


def test_the_owner_is_told_once_and_the_refusal_does_not_reveal_the_account(app):
    # R24: the account's owner is told (a notice); an unknown user name is refused the same way
    user = make_user(Role.ENTERPRISE, username="told_owner")
    db.session.commit()
    for addr in (ATTACKER, "203.0.113.67"):
        c = app.test_client()
        for _ in range(7):
            _post(c, "told_owner", "Wrong-pass-2026", addr)
    notes = _notices(user)
    assert len(notes) == 1, [n.title for n in notes]
    assert "错误的密码" in notes[0].body and ATTACKER in notes[0].body and "修改密码" in notes[0].body
    ghost = app.test_client()
    for _ in range(5):
        assert "用户名或密码错误" in _post(ghost, "no_such_user", "Wrong-pass-2026").get_data(as_text=True)
    known = _post(app.test_client(), "told_owner", "Wrong-pass-2026").get_data(as_text=True)
    unknown = _post(ghost, "no_such_user", "Wrong-pass-2026").get_data(as_text=True)
    assert re.search(r"尝试次数过多，请 \d+ 分钟后再试", unknown)
    assert re.search(r"尝试次数过多，请 \d+ 分钟后再试", known)


def test_the_current_password_on_password_change_is_limited(app, login):
    # R24: /account/password checked 25 wrong guesses; now L are checked, then it waits like login
    user = make_user(Role.ENTERPRISE, username="pw_guess")
    db.session.commit()
    c = login(user)
    data = {"current": "Wrong-pass-2026", "password": "Fresh-harbour-2027", "confirm": "Fresh-harbour-2027"}
    codes = [c.post("/account/password", data=data).status_code for _ in range(8)]
    assert codes == [422] * 5 + [429] * 3, codes
    r = c.post("/account/password", data={**data, "current": PASSWORD})
    assert r.status_code == 429 and "尝试次数过多" in r.get_data(as_text=True)
    db.session.expire_all()
    assert security.verify_password(db.session.get(type(user), user.id).password_hash, PASSWORD)  # unchanged
    assert len(_notices(user)) == 1


def test_parallel_current_password_guesses_get_exactly_the_limit_checked(app, login):
    # F14: eight guesses at the same moment (threads, each its own connection): five checked, three refused
    user = make_user(Role.ENTERPRISE, username="pw_burst")
    db.session.commit()
    clients = [login(user) for _ in range(8)]
    db.session.remove()
    data = {"current": "Wrong-pass-2026", "password": "Fresh-harbour-2027", "confirm": "Fresh-harbour-2027"}
    codes = _burst([lambda c=c: c.post("/account/password", data=data).status_code for c in clients])
    assert sorted(codes) == [422] * 5 + [429] * 3, codes
