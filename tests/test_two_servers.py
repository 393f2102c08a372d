"""Two app servers on one database behave as one: two `gunicorn -c gunicorn.conf.py`
instances (what `make serve` starts, each with the job consumer it starts itself) on two ports,
one database, one upload folder and one Redis queue. A login on one is a login on the other, a
logout on one ends it on both, the login limit counts attempts made on either, and an export job
started on one is followed and downloaded on the other.
"""
from __future__ import annotations

import datetime as dt
import http.cookiejar
import io
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import insert

from models import Application, AppStatus, Role, Voucher, VoucherStatus, db
from tests.factories import PASSWORD, enrol_totp, make_catalog, make_cycle, make_enterprise, make_supplier, make_user

ROOT = Path(__file__).resolve().parent.parent
REDIS = ("127.0.0.1", 6379)
VOUCHERS = 40
LOGS = Path(".")  # where the servers of the running test write their logs
MASTERS: list = []  # the gunicorn master processes of the running test


def _consumers(master_pid: int) -> list[int]:
    """The job consumers a gunicorn master started (its children running `flask ... jobs worker`)."""
    found = []
    for task in Path(f"/proc/{master_pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                cmd = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"jobs" in cmd and b"worker" in cmd:
                found.append(int(child))
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _redis_up() -> bool:
    try:
        with socket.create_connection(REDIS, timeout=2) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Browser:
    """One person's browser: one cookie jar, sent to both servers (cookies ignore the port)."""

    def __init__(self):
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), NoRedirect)

    def open(self, url: str, data: dict | None = None) -> tuple[int, dict, bytes]:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        try:
            with self.opener.open(urllib.request.Request(url, data=body), timeout=30) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def login(self, base: str, username: str, password: str) -> tuple[int, dict, bytes]:
        _, _, html = self.open(f"{base}/login")
        token = re.search(rb'name="csrf_token"[^>]*value="([^"]+)"', html).group(1).decode()
        return self.open(f"{base}/login", {"csrf_token": token, "username": username, "password": password})

    def second_factor(self, base: str) -> tuple[int, dict, bytes]:
        """The code step after the password (officials), with the current code of the test secret."""
        from tests.factories import totp_code

        token = self.csrf(base, "/login/code")
        return self.open(f"{base}/login/code", {"csrf_token": token, "code": totp_code()})

    def csrf(self, base: str, path: str) -> str:
        _, _, html = self.open(base + path)
        return re.search(rb'name="csrf_token"[^>]*value="([^"]+)"', html).group(1).decode()


@pytest.fixture
def servers(app, db_url, tmp_path):
    if not _redis_up():
        pytest.fail("Redis must answer on 127.0.0.1:6379 for the two-server test (scripts/test.sh starts it)")
    global LOGS
    LOGS = tmp_path
    shared_uploads = tmp_path / "shared-uploads"
    env = {k: v for k, v in os.environ.items() if k not in ("TEST_DATABASE_URL", "FLASK_APP")}
    env.update(DATABASE_URL=db_url, SECRET_KEY="two-servers-" + uuid.uuid4().hex, UPLOAD_DIR=str(shared_uploads),
               REDIS_URL=f"redis://{REDIS[0]}:{REDIS[1]}/0", JOBS_QUEUE_NAME=f"test-{uuid.uuid4().hex[:12]}",
               JOBS_IMMEDIATE="0", JOBS_WORKERS="1", WEB_CONCURRENCY="1", COOKIE_SECURE="0", EXPORT_JOB_ROWS="5",
               HOST="127.0.0.1", LOG_LEVEL="WARNING")
    procs, bases = [], []
    global MASTERS
    MASTERS = procs
    db.session.remove()  # the servers need the database to themselves (SQLite's write lock)
    try:
        for name in ("a", "b"):
            port = _free_port()
            inst = tmp_path / f"instance-{name}"
            inst.mkdir()
            log = open(tmp_path / f"server-{name}.log", "wb")
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "app:create_app()"],
                cwd=ROOT, env={**env, "PORT": str(port), "INSTANCE_DIR": str(inst)}, stdout=log, stderr=log,
                start_new_session=True))
            bases.append(f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + 60
        for base, proc in zip(bases, procs):
            while True:
                try:
                    with urllib.request.urlopen(f"{base}/healthz", timeout=2) as r:
                        if r.status == 200:
                            break
                except OSError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    logs = "\n".join((tmp_path / f"server-{n}.log").read_text(errors="replace")[-3000:] for n in "ab")
                    pytest.fail(f"app server did not start:\n{logs}")
                time.sleep(0.2)
        yield bases
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def _vouchers_for(city_code: str, n: int) -> None:
    item = make_catalog().items[0]
    cycle = make_cycle()
    sup = make_supplier(name="广东两台服务器云服务有限公司")
    ent = make_enterprise(city_code=city_code, name="两台服务器测试企业有限公司")
    db.session.flush()
    issued = dt.datetime(2026, 6, 1, 2, 0, tzinfo=dt.timezone.utc)
    apps, vouchers = [], []
    for i in range(n):
        ident = 500_000 + i
        apps.append({"id": ident, "enterprise_id": ent.id, "supplier_id": sup.id, "cycle_id": cycle.id,
                     "city_code": city_code, "catalog_item_id": item.id, "contract_no": f"TS-{i:03d}",
                     "status": AppStatus.APPROVED})
        vouchers.append({"id": ident, "code": f"GD{ident:026d}", "application_id": ident, "enterprise_id": ent.id,
                         "supplier_id": sup.id, "cycle_id": cycle.id, "city_code": city_code,
                         "face_value_fen": 100_000_00, "status": VoucherStatus.ISSUED, "pilot": False,
                         "issued_at": issued + dt.timedelta(minutes=i)})
    db.session.execute(insert(Application), apps)
    db.session.execute(insert(Voucher), vouchers)


@pytest.fixture
def people(app):
    officer = enrol_totp(make_user(Role.CITY, username="gz_two_servers", city_code="440100"))
    officer.display_name = "广州审核员甲"
    make_user(Role.CITY, username="sz_locked_out", city_code="440300")
    _vouchers_for("440100", VOUCHERS)
    db.session.commit()
    return officer


def test_two_servers_behave_as_one(people, servers):
    a, b = servers
    me = Browser()
    status, headers, _ = me.login(a, "gz_two_servers", PASSWORD)
    assert status == 303 and headers["Location"].split("?")[0].endswith("/login/code"), "password on server A"
    status, headers, _ = me.second_factor(b)  # the half-open session is shared: its code step on B
    assert status == 303, "second factor on server B"

    # Logged in on A is logged in on B.
    status, _, html = me.open(f"{b}/city/vouchers")
    assert status == 200 and "广州审核员甲" in html.decode()
    assert html.decode().count("两台服务器测试企业有限公司") >= 20  # a page of the city's vouchers

    # An export too large for the request becomes a job on A; B shows its progress and serves the file.
    status, _, html = me.open(f"{a}/city/vouchers/export.xlsx")
    assert status == 200 and f"共 {VOUCHERS} 行" in html.decode()  # asks first: a GET starts nothing
    token = re.search(rb'name="csrf_token"[^>]*value="([^"]+)"', html).group(1).decode()
    status, headers, _ = me.open(f"{a}/city/vouchers/export.xlsx", {"csrf_token": token})
    assert status == 303 and re.fullmatch(r".*/jobs/\d+", headers["Location"]), headers
    job_path = urllib.parse.urlsplit(headers["Location"]).path
    deadline = time.monotonic() + 60
    while True:
        status, _, html = me.open(b + job_path)
        assert status == 200
        if "已完成" in html.decode() or "未能完成" in html.decode() or time.monotonic() > deadline:
            break
        assert 'hx-trigger="every 1s"' in html.decode()  # still polling while it runs
        time.sleep(0.3)
    if "已完成" not in html.decode():
        logs = "\n".join(p.read_text(errors="replace")[-4000:] for p in sorted(LOGS.glob("server-*.log")))
        pytest.fail(f"export job did not finish:\n{logs}")
    status, headers, body = me.open(f"{b}{job_path}/download")
    assert status == 200 and body.startswith(b"PK")
    rows = list(load_workbook(io.BytesIO(body), read_only=True).worksheets[0].iter_rows(values_only=True))
    assert len(rows) == 1 + VOUCHERS and all(r[3] == "两台服务器测试企业有限公司" for r in rows[1:])

    # Each server started its own consumer, and its master restarts one that dies.
    for master in MASTERS:
        assert len(_consumers(master.pid)) == 1
    dead = _consumers(MASTERS[0].pid)[0]
    os.kill(dead, signal.SIGKILL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and _consumers(MASTERS[0].pid) in ([], [dead]):
        time.sleep(0.3)
    assert len(_consumers(MASTERS[0].pid)) == 1 and _consumers(MASTERS[0].pid) != [dead]

    # The login limit counts the attempts made on either server (5 per account).
    thief = Browser()
    for i in range(5):
        status, _, _ = thief.login(a if i % 2 else b, "sz_locked_out", "wrong-password-1")
        assert status == 422
    for base in (a, b):
        status, _, html = thief.login(base, "sz_locked_out", PASSWORD)
        assert status == 429 and "尝试次数过多" in html.decode()

    # Logging out on B ends the session on A as well, even for a copy of the old cookie.
    copy = Browser()
    for cookie in me.jar:
        copy.jar.set_cookie(cookie)
    token = me.csrf(b, "/city/vouchers")
    status, _, _ = me.open(f"{b}/logout", {"csrf_token": token})
    assert status == 303
    status, headers, _ = copy.open(f"{a}/city/vouchers")
    assert status == 302 and "/login" in headers["Location"]

    # Stopping a server stops its consumer too (nothing is left running).
    consumer = _consumers(MASTERS[1].pid)[0]
    MASTERS[1].send_signal(signal.SIGTERM)
    MASTERS[1].wait(30)
    deadline = time.monotonic() + 25
    while time.monotonic() < deadline and Path(f"/proc/{consumer}").exists():
        time.sleep(0.3)
    assert not Path(f"/proc/{consumer}").exists() or b"Z" in Path(f"/proc/{consumer}/stat").read_bytes().split()[2:3]
