"""Fault-injection and stateful figures: F10 (crash/restart durability), F11 (files after a crash), F16
(the voucher state machine). Imported at the end of probes.py, which lists them in probes.ALL.

F10 and F11 follow Appendix B4 of the reliability requirements: a bounded load whose every request records
whether it was acknowledged, a chaos loop (kill -9 of a gunicorn worker every 1-2 s; on PostgreSQL the run
database's connections cut with pg_terminate_backend, never the shared server itself; on SQLite kill -9 of
the whole gunicorn process group, then a restart), one retry of everything not acknowledged, then checks
of what was committed against what was acknowledged.
"""
from __future__ import annotations

import hashlib
import http.client
import io
import json
import os
import random
import signal
import sqlite3
import subprocess
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from prodserver import Client, Server, csrf_token, request
from reliability import probes
from reliability.common import BIN, ROOT, Probe, Result, flask, pytest

ERRORS = (OSError, http.client.HTTPException)  # a connection cut by a killed worker: not acknowledged


# ---------------------------------------------------------------------- data and queries


def _seed(env: dict, apps: int, quota_share: float) -> dict:
    out = subprocess.run([str(BIN / "python"), str(ROOT / "scripts" / "reliability" / "seed_money.py"), "--apps",
                          str(apps), "--quota-share", str(quota_share)], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=900, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


_DRAFTS_SCRIPT = r'''
import json, sys
sys.path[:0] = [".", "scripts/reliability"]
from seed_money import unique_numbers
from tests import factories
unique_numbers(factories)
from app import create_app
from models import Cycle, Role, db
from tests.factories import PASSWORD, make_application, make_enterprise, make_supplier, make_user
app = create_app()
out = []
with app.app_context():
    cycle = db.session.execute(db.select(Cycle).order_by(Cycle.id.desc())).scalars().first()
    supplier = make_supplier()
    for _ in range(int(sys.argv[1])):
        ent = make_enterprise(city_code="440100")
        user = make_user(Role.ENTERPRISE, enterprise_id=ent.id)
        a = make_application(ent, supplier, cycle, stage="draft", users={"enterprise": user})
        out.append({"app_id": a.id, "username": user.username, "password": PASSWORD, "fields": {
            "contract_no": a.contract_no, "contract_signed_on": a.contract_signed_on.isoformat(),
            "contract_fee": str(a.contract_fee_fen // 100), "catalog_item_id": str(a.catalog_item_id),
            "supplier_id": str(a.supplier_id), "place_in_guangdong": "y", "single_fund_declared": "y",
            "do": "save"}})
    db.session.commit()
print(json.dumps(out))
'''


def _seed_drafts(env: dict, n: int) -> list[dict]:
    out = subprocess.run([str(BIN / "python"), "-c", _DRAFTS_SCRIPT, str(n)], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=900, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


class Db:
    """The same SQL (with %s placeholders) on the run's PostgreSQL database or on a SQLite file."""

    def __init__(self, url: str):
        self.url = url

    def q(self, query: str, *params) -> list:
        if self.url.startswith("sqlite:///"):
            conn = sqlite3.connect(self.url[len("sqlite:///"):], timeout=30)
            try:
                return conn.execute(query.replace("%s", "?"), params).fetchall()
            finally:
                conn.close()
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            cur = conn.execute(query, params or None)
            return cur.fetchall() if cur.description else []

    def ids(self, ids) -> str:
        return ",".join(str(int(i)) for i in ids) or "0"


# ---------------------------------------------------------------------- chaos


def _age(pid: int) -> float:
    """Seconds since the process started (0 when it is gone)."""
    try:
        start = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0
    return uptime - start / os.sysconf("SC_CLK_TCK")


class Chaos(threading.Thread):
    """kill -9 of one worker every 1-2 s (gunicorn starts a new one); every `cut_every`-th time also the
    database connections of the run's database cut (PostgreSQL). Stops by itself after max_seconds."""

    def __init__(self, server, db_name: str | None, pg_url: str | None, cut_every: int = 4, max_seconds: float = 300,
                 min_age: float = 8.0):
        super().__init__(daemon=True)
        self.min_age = min_age
        self.server, self.db_name, self.pg_url = server, db_name, pg_url
        self.cut_every, self.max_seconds = cut_every, max_seconds
        self.stop_event = threading.Event()
        self.kills = self.cuts = self.cut_backends = 0
        self.last = 0.0

    def cut(self) -> None:
        import psycopg

        with psycopg.connect(self.pg_url, autocommit=True) as conn:
            rows = conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                                "AND pid <> pg_backend_pid()", (self.db_name,)).fetchall()
        self.cuts += 1
        self.cut_backends += len(rows)
        self.last = time.time()

    def kill_one(self) -> None:
        # Only a worker up for min_age seconds: one still loading the app (5 s and more on a busy 2-core
        # machine) killed again and again would leave no worker serving, and the load would never end.
        workers = [p for p in self.server.workers() if _age(p) >= self.min_age]
        if workers:
            try:
                os.kill(random.choice(workers), signal.SIGKILL)
                self.kills += 1
                self.last = time.time()
            except ProcessLookupError:
                pass

    def run(self) -> None:
        end = time.time() + self.max_seconds
        n = 0
        while not self.stop_event.wait(random.uniform(1.0, 2.0)) and time.time() < end:
            n += 1
            self.kill_one()
            if self.pg_url and n % self.cut_every == 0:
                self.cut()

    def stop(self) -> None:
        self.stop_event.set()
        self.join(30)


def _wait_2xx(fn, timeout: float = 60) -> float | None:
    """Seconds until fn() answers 2xx (polled every 50 ms), None when it never does in time."""
    t0 = time.time()
    while time.time() < t0 + timeout:
        try:
            if 200 <= fn() < 300:
                return time.time() - t0
        except ERRORS:
            pass
        time.sleep(0.05)
    return None


# ---------------------------------------------------------------------- load: approvals and draft saves


def _approve(officer: Client, token: str, app_id: int) -> int | str:
    try:
        return officer.post(f"/city/applications/{app_id}/approve", {"csrf_token": token}, timeout=120)[0]
    except ERRORS as exc:
        return type(exc).__name__


def _approvals(officer: Client, token: str, app_ids: list[int], threads: int = 6, stop=None,
               seconds: float = 600) -> dict:
    """{app_id: status of its approval request (or the error's name)}; each request once, none sent after
    `seconds` or once stop() is true."""
    out: dict = {}
    end = time.time() + seconds

    def one(app_id):
        if (stop is not None and stop()) or time.time() > end:
            return
        out[app_id] = _approve(officer, token, app_id)

    with ThreadPoolExecutor(threads) as ex:
        list(ex.map(one, app_ids))
    return out


class Drafts:
    """Enterprise clients saving their drafts in turn, each save with a new contract number; records the
    numbers acknowledged (303) and attempted, per application."""

    def __init__(self, port: int, drafts: list[dict]):
        self.drafts = drafts
        self.clients = []
        self.acked: dict[int, list[str]] = {}
        self.tried: dict[int, list[str]] = {}
        for d in drafts:
            c = Client(port)
            if c.login(d["username"], d["password"]) != 303:
                raise RuntimeError(f"enterprise login failed for {d['username']}")
            self.clients.append(c)

    def move(self, port: int) -> None:
        for c in self.clients:
            c.port = port

    def save(self, i: int, seq: int) -> None:
        d, c = self.drafts[i], self.clients[i]
        number = f"REL-{d['app_id']}-{seq}"
        self.tried.setdefault(d["app_id"], []).append(number)
        path = f"/enterprise/applications/{d['app_id']}/edit"
        try:
            token = csrf_token(c.get(path)[2])
            status = c.post(path, dict(d["fields"], contract_no=number, csrf_token=token))[0]
        except ERRORS:
            return
        if status == 303:
            self.acked.setdefault(d["app_id"], []).append(number)

    def run(self, rounds: int, stop) -> None:
        def loop(i):
            for seq in range(rounds):
                if stop():
                    return
                self.save(i, seq)

        with ThreadPoolExecutor(len(self.clients)) as ex:
            list(ex.map(loop, range(len(self.clients))))

    def lost(self, db: Db) -> int:
        """Drafts whose stored contract number is older than the last acknowledged save."""
        stored = dict(db.q(f"SELECT id, contract_no FROM application WHERE id IN ({db.ids(self.tried)})"))
        bad = 0
        for app_id, acked in self.acked.items():
            tried = self.tried[app_id]
            if stored.get(app_id) not in tried[tried.index(acked[-1]):]:
                bad += 1
        return bad


# ---------------------------------------------------------------------- the money invariants


def _money_checks(db: Db, m: dict, acked: set[int]) -> dict:
    apps = m["apps"]
    ids = db.ids(apps)
    vouchers = db.q(f"SELECT id, application_id, face_value_fen, status, pdf_file_id FROM voucher "
                    f"WHERE application_id IN ({ids})")
    per_app: dict = {}
    for _, app_id, *_ in vouchers:
        per_app[app_id] = per_app.get(app_id, 0) + 1
    approved = {r[0] for r in db.q(f"SELECT id FROM application WHERE id IN ({ids}) AND status = 'approved'")}
    approve_rows: dict = {}
    for (eid,) in db.q(f"SELECT entity_id FROM audit_event WHERE entity_type = 'application' AND action = 'approve' "
                       f"AND entity_id IN ({ids})"):
        approve_rows[eid] = approve_rows.get(eid, 0) + 1
    vids = [v[0] for v in vouchers]
    issue_rows: dict = {}
    for (eid,) in db.q(f"SELECT entity_id FROM audit_event WHERE entity_type = 'voucher' AND action = 'issue' "
                       f"AND entity_id IN ({db.ids(vids)})"):
        issue_rows[eid] = issue_rows.get(eid, 0) + 1
    issued = db.q("SELECT issued_fen FROM city_target WHERE city_code = %s AND year = %s", m["city"], m["year"])[0][0]
    total = db.q("SELECT coalesce(sum(v.face_value_fen), 0) FROM voucher v JOIN cycle c ON c.id = v.cycle_id "
                 "WHERE v.city_code = %s AND c.year = %s AND v.status <> 'released'", m["city"], m["year"])[0][0]
    with_voucher = set(per_app)
    return {
        "lost": len(acked - (approved & with_voucher)),
        "double": sum(1 for n in per_app.values() if n > 1),
        "partial": len(approved ^ with_voucher) + sum(1 for v in vouchers if v[4] is None) + (issued != total),
        "audit": (sum(1 for a in approved if approve_rows.get(a) != 1) + sum(1 for a in approve_rows if a not in approved)
                  + sum(1 for v in vids if issue_rows.get(v) != 1)),
        "approved": len(approved), "issued_ok": issued == total,
    }


def _retry(officer: Client, token: str, statuses: dict) -> set[int]:
    """Retry every approval not acknowledged, once; the set acknowledged in either attempt."""
    acked = {a for a, s in statuses.items() if s == 303}
    for app_id in [a for a, s in statuses.items() if s != 303]:
        if _approve(officer, token, app_id) == 303:
            acked.add(app_id)
    return acked


# ---------------------------------------------------------------------- F10 on PostgreSQL


def f10_crash_pg(ctx) -> Result:
    n, n_drafts, rounds, seconds = (12, 2, 4, 25) if ctx.quick else (150, 8, 25, 150)
    m = _seed(ctx.env, n, 1.0)  # ample quota: every approval fits
    drafts = Drafts(ctx.port, _seed_drafts(ctx.env, n_drafts))
    officer = probes._officer(ctx, m["officer"])
    token = csrf_token(officer.get("/city/applications")[2])
    db = Db(ctx.url)
    chaos = Chaos(ctx.server, ctx.url.rsplit("/", 1)[1], ctx.url, cut_every=3 if ctx.quick else 4)
    chaos.start()
    done = threading.Event()
    saver = threading.Thread(target=drafts.run, args=(rounds, done.is_set), daemon=True)
    saver.start()
    try:
        statuses = _approvals(officer, token, m["apps"], seconds=seconds)
    finally:
        done.set()
        chaos.stop()
        saver.join(120)
    # The last blow: every connection cut and every worker killed at once (the CI subset: one worker), then
    # the time to the first 2xx; a full restart of all workers includes loading the app in each.
    for pid in ctx.server.workers()[:1 if ctx.quick else None]:
        os.kill(pid, signal.SIGKILL)
    chaos.cut()
    last_blow = "one worker killed" if ctx.quick else "all workers killed"
    recovery = _wait_2xx(lambda: officer.get("/city/applications", timeout=10)[0])
    ctx.server.wait_ready()
    acked_first = sum(1 for s in statuses.values() if s == 303)
    acked = _retry(officer, token, statuses)
    c = _money_checks(db, m, acked)
    drafts_lost = drafts.lost(db)
    verify = flask(ctx.env, "audit", "verify", check=False)
    ok = (c["lost"] == 0 and drafts_lost == 0 and c["double"] == 0 and c["partial"] == 0 and c["audit"] == 0
          and verify.returncode == 0 and recovery is not None and recovery <= 10)
    saves = sum(len(v) for v in drafts.tried.values())
    saves_acked = sum(len(v) for v in drafts.acked.values())
    return Result("F10", "Crash/restart durability (PostgreSQL)",
                  f"{len(statuses)} approvals (6 clients) + {saves} draft saves; kill -9 of a worker every 1-2 s "
                  f"({chaos.kills} kills), the run database's connections cut {chaos.cuts}× "
                  f"({chaos.cut_backends} backends); last: connections cut and {last_blow}; unacknowledged retried once",
                  f"acknowledged {acked_first}/{len(statuses)} (+{len(acked) - acked_first} on retry), approved {c['approved']}; "
                  f"acknowledged-but-lost {c['lost'] + drafts_lost} (draft saves acknowledged {saves_acked}); "
                  f"double {c['double']}; partial {c['partial']}; audit mismatches {c['audit']}; audit verify "
                  f"{'ok' if verify.returncode == 0 else 'FAILED'}; recovery "
                  f"{'never' if recovery is None else f'{recovery:.1f} s'} (load average {os.getloadavg()[0]:.1f})",
                  "lost 0; partial 0; audit mismatches 0; recovery ≤ 10 s", ok)


# ---------------------------------------------------------------------- F10 on SQLite


def f10_crash_sqlite(ctx) -> Result:
    n, n_drafts, crashes = 150, 6, 3
    path = ctx.run_dir / "f10-sqlite.db"
    env = dict(ctx.env, DATABASE_URL=f"sqlite:///{path}", UPLOAD_DIR=str(ctx.run_dir / "uploads-sqlite"),
               INSTANCE_DIR=str(ctx.run_dir / "instance-sqlite"), JOBS_QUEUE_NAME=f"{ctx.env['JOBS_QUEUE_NAME']}-sqlite")
    flask(env, "db", "upgrade")
    flask(env, "demo-data")
    m = _seed(env, n, 1.0)
    drafts_data = _seed_drafts(env, n_drafts)
    db = Db(env["DATABASE_URL"])
    server = Server(env, ctx.run_dir / "gunicorn-sqlite-0.log", workers=4)
    recoveries, statuses = [], {}
    try:
        officer = Client(server.port)
        if officer.login(m["officer"], probes.DEMO_PASSWORD, probes.DEMO_TOTP) != 303:
            raise RuntimeError("official login failed (SQLite)")
        token = csrf_token(officer.get("/city/applications")[2])
        drafts = Drafts(server.port, drafts_data)
        pending = list(m["apps"])
        for crash in range(crashes + 1):
            stop = threading.Event()
            saver = threading.Thread(target=drafts.run, args=(1000, stop.is_set), daemon=True)
            saver.start()
            if crash < crashes:  # kill -9 the whole process group (arbiter, workers, job consumer) mid-load
                killer = threading.Timer(random.uniform(3.0, 6.0), lambda s=server: os.killpg(s.proc.pid,
                                                                                             signal.SIGKILL))
                killer.start()
                batch = _approvals(officer, token, pending, stop=lambda s=server: s.proc.poll() is not None)
                killer.join()
            else:
                batch = _approvals(officer, token, pending)
            stop.set()
            saver.join(120)
            statuses.update(batch)
            pending = [a for a in pending if a not in batch]
            if crash < crashes:
                killed_at = time.time()
                server.proc.wait()
                server.stop()
                server = Server(env, ctx.run_dir / f"gunicorn-sqlite-{crash + 1}.log", workers=4)
                officer.port = server.port
                drafts.move(server.port)
                recoveries.append(time.time() - killed_at + (
                    _wait_2xx(lambda: officer.get("/city/applications", timeout=10)[0]) or 999))
        acked_first = sum(1 for s in statuses.values() if s == 303)
        acked = _retry(officer, token, statuses)
    finally:
        server.stop()
    c = _money_checks(db, m, acked)
    drafts_lost = drafts.lost(db)
    integrity = db.q("PRAGMA integrity_check")[0][0]
    fk = db.q("PRAGMA foreign_key_check")
    verify = flask(env, "audit", "verify", check=False)
    worst = max(recoveries) if recoveries else None
    ok = (c["lost"] == 0 and drafts_lost == 0 and c["double"] == 0 and c["partial"] == 0 and c["audit"] == 0
          and integrity == "ok" and not fk and verify.returncode == 0 and worst is not None and worst <= 10)
    return Result("F10", "Crash/restart durability (SQLite)",
                  f"{n} approvals + draft saves on a SQLite file (WAL), gunicorn -w 4; the whole process group "
                  f"killed -9 {crashes}× mid-load and restarted; unacknowledged retried once",
                  f"acknowledged {acked_first}/{n} (+{len(acked) - acked_first} on retry); acknowledged-but-lost "
                  f"{c['lost'] + drafts_lost}; double {c['double']}; partial {c['partial']}; audit mismatches "
                  f"{c['audit']}; audit verify {'ok' if verify.returncode == 0 else 'FAILED'}; integrity_check "
                  f"{integrity}, foreign_key_check {len(fk)}; kill → first 2xx (restart included) "
                  f"{', '.join(f'{r:.1f}' for r in recoveries)} s",
                  "lost 0; partial 0; audit 0; integrity ok; ≤ 10 s", ok)


# ---------------------------------------------------------------------- F11 files after a crash


def _pdf(label: str) -> bytes:
    from pypdf import PdfWriter

    w = PdfWriter()
    w.add_blank_page(width=595, height=842)
    w.add_metadata({"/Title": label})
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


def _multipart(fields: dict, files: dict) -> tuple[str, bytes]:
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
             for k, v in fields.items()]
    for k, (name, data, mime) in files.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"; filename="{name}"\r\n'
                     f"Content-Type: {mime}\r\n\r\n".encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return f"multipart/form-data; boundary={boundary}", b"".join(parts)


def _orphans(env: dict, *extra: str) -> tuple[int, int, str]:
    """(orphans listed or removed, rows whose file is missing, summary line) of `flask files orphans`."""
    out = flask(env, "files", "orphans", "--grace-minutes", "0", *extra, check=False)
    lines = out.stdout.splitlines()
    missing = sum(1 for ln in lines if ln.startswith("missing file for stored rows"))
    summary = next((ln for ln in lines if " orphan files" in ln), out.stderr.strip()[-200:])
    return int(summary.split()[0]) if summary[:1].isdigit() else -1, missing, summary


def f11_files(ctx) -> Result:
    n_drafts, per = (4, 3) if ctx.quick else (20, 15)  # ≤ 20 stored files per application (R32)
    drafts = _seed_drafts(ctx.env, n_drafts)
    clients = []
    for d in drafts:
        c = Client(ctx.port)
        if c.login(d["username"], d["password"]) != 303:
            raise RuntimeError("enterprise login failed")
        clients.append(c)
    acked: dict[int, list[str]] = {}
    tried: dict[int, list[str]] = {}

    def upload(i):
        d, c = drafts[i], clients[i]
        path = f"/enterprise/applications/{d['app_id']}/edit"
        for k in range(per):
            data = _pdf(f"F11 {d['app_id']} {k} {uuid.uuid4().hex}")
            sha = hashlib.sha256(data).hexdigest()
            tried.setdefault(d["app_id"], []).append(sha)
            try:
                token = csrf_token(c.get(path)[2])
                ctype, body = _multipart(dict(d["fields"], csrf_token=token),
                                         {"contract_file": ("contract.pdf", data, "application/pdf")})
                status = request(ctx.port, "POST", path, {"Cookie": c.cookie, "Content-Type": ctype}, body,
                                 timeout=60)[0]
            except ERRORS:
                continue
            if status == 303:
                acked.setdefault(d["app_id"], []).append(sha)

    chaos = Chaos(ctx.server, None, None)
    chaos.start()
    try:
        with ThreadPoolExecutor(len(drafts)) as ex:
            list(ex.map(upload, range(len(drafts))))
    finally:
        chaos.stop()
    ctx.server.wait_ready()
    db = Db(ctx.url)
    ids = db.ids(tried)
    stored = {(r[0], r[1]) for r in db.q(f"SELECT owner_id, sha256 FROM stored_file WHERE owner_type = 'application' "
                                         f"AND owner_id IN ({ids})")}
    current = dict(db.q(f"SELECT a.id, f.sha256 FROM application a JOIN stored_file f ON f.id = a.contract_file_id "
                        f"WHERE a.id IN ({ids})"))
    lost = sum(1 for app_id, shas in acked.items() for s in shas if (app_id, s) not in stored)
    lost += sum(1 for app_id, shas in acked.items() if current.get(app_id) not in tried[app_id][tried[app_id].index(shas[-1]):])
    before, missing, _ = _orphans(ctx.env)
    removed, missing_after, _ = _orphans(ctx.env, "--delete")
    after, _, summary = _orphans(ctx.env)
    uploads = sum(len(v) for v in tried.values())
    n_acked = sum(len(v) for v in acked.values())
    ok = missing == 0 and missing_after == 0 and after == 0 and lost == 0
    return Result("F11", "File/DB consistency after crash",
                  f"{uploads} contract uploads (multipart, {len(drafts)} clients) with kill -9 of a worker every "
                  f"1-2 s ({chaos.kills} kills); then `flask files orphans`, `--delete`, and again",
                  f"acknowledged {n_acked}, acknowledged-but-lost {lost}; rows → missing file {missing}; orphans "
                  f"found {before}, removed {removed}, left after the reconciler {after}",
                  "missing 0; orphans after reconciler 0", ok)


# ---------------------------------------------------------------------- F16 the state machine


def f16_state_machine(ctx) -> Result:
    examples = 5 if ctx.quick else 12  # on PostgreSQL each example empties every table first
    seed = random.randrange(1, 2**31)
    stats = ctx.run_dir / "f16-stats.jsonl"
    env = dict(ctx.env, STATE_MACHINE_EXAMPLES=str(examples), STATE_MACHINE_STATS=str(stats))
    ok, summary = pytest(env, "tests/test_voucher_state_machine.py", f"--hypothesis-seed={seed}", "-o",
                         f"timeout={300 if ctx.quick else 1800}",
                         timeout=300 if ctx.quick else 1800)
    runs = [json.loads(ln) for ln in stats.read_text().splitlines()] if stats.exists() else []
    steps = sum(r["steps"] for r in runs)
    refused = sum(r["refused"] for r in runs)
    return Result("F16", "Stateful workflow testing",
                  f"Hypothesis state machine over the voucher life on PostgreSQL (tests/test_voucher_state_machine.py), "
                  f"max {examples} examples, seed {seed}",
                  f"{len(runs)} examples, {steps} steps ({refused} refused as they must be); {summary}",
                  "invariant violations 0", ok)


probes.ALL += [
    Probe("F10", "Crash/restart durability (PostgreSQL)", f10_crash_pg),
    Probe("F10", "Crash/restart durability (SQLite)", f10_crash_sqlite, quick=False),
    Probe("F11", "File/DB consistency after crash", f11_files),
    Probe("F16", "Stateful workflow testing", f16_state_machine),
]
