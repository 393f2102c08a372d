"""The probes: one function per figure, each bounded in requests and time, each returning a Result.

Probes that measure the running system talk HTTP to the gunicorn started by run.py (4 workers, the
run's own PostgreSQL database); probes of code properties run the project's own tests or tools.
"""
from __future__ import annotations

import re
import secrets
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from prodserver import Client, csrf_token, request
from reliability.common import BIN, ROOT, Probe, Result, flask, pytest

DEMO_PASSWORD = "Demo-2026-gd"
NEW_PASSWORD = "Reliability-2026-pw"


def _signup(ctx, prefix: str) -> tuple[Client, str]:
    """A fresh enterprise account made through the public sign-up form (its own address)."""
    c = Client(ctx.port)
    username = f"{prefix}{secrets.token_hex(4)}"
    fields = {"kind": "enterprise", "username": username, "display_name": "测试联系人", "phone": "13800000000",
              "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    status, _, body = c.post("/signup", fields, token_from="/signup", headers={"X-Forwarded-For": ctx.address()})
    if status != 303:
        raise RuntimeError(f"sign-up failed: HTTP {status} {body[-300:]!r}")
    return c, username


def _parallel(n: int, fn) -> list:
    barrier = threading.Barrier(n)

    def worker(i):
        barrier.wait()
        return fn(i)

    with ThreadPoolExecutor(n) as ex:
        return list(ex.map(worker, range(n)))


# ---------------------------------------------------------------------- F9 headers


def _header_problems(path: str, status: int, h) -> list[str]:
    out = []
    csp = h.get("Content-Security-Policy") or ""
    for d in ("object-src", "base-uri", "frame-ancestors"):
        if d not in csp:
            out.append(f"{path} ({status}): CSP without {d}")
    hsts = h.get("Strict-Transport-Security") or ""
    m = re.search(r"max-age=(\d+)", hsts)
    if not m or int(m.group(1)) < 31536000:
        out.append(f"{path} ({status}): HSTS missing or under a year")
    if (h.get("X-Content-Type-Options") or "").lower() != "nosniff":
        out.append(f"{path} ({status}): no nosniff")
    if not h.get("Referrer-Policy"):
        out.append(f"{path} ({status}): no Referrer-Policy")
    return out


def f9_headers(ctx) -> Result:
    anon = Client(ctx.port)
    ent = Client(ctx.port)
    ent.login("ent_gz", DEMO_PASSWORD)
    targets = [(anon, p, {}) for p in ("/", "/login", "/signup", "/v", "/public/suppliers", "/no-such-page",
                                       "/static/app.css", "/healthz")]
    targets += [(anon, "/", {"HX-Request": "true"})]
    targets += [(ent, p, {}) for p in ("/enterprise/", "/enterprise/applications", "/enterprise/vouchers",
                                       "/notices", "/team", "/enterprise/applications/999999")]
    targets += [(ent, "/enterprise/applications", {"HX-Request": "true"})]
    problems, n = [], 0
    for client, path, headers in targets:
        status, h, _ = client.get(path, headers=headers)
        n += 1
        problems += _header_problems(path, status, h)
    # A POST refused for its CSRF token, and a method not allowed.
    status, h, _ = request(ctx.port, "POST", "/login", {"Content-Type": "application/x-www-form-urlencoded"}, b"x=1")
    problems += _header_problems("POST /login without token", status, h)
    status, h, _ = request(ctx.port, "DELETE", "/")
    problems += _header_problems("DELETE /", status, h)
    n += 2
    share = 100 * (n - len({p.split(" (")[0] for p in problems})) / n
    return Result("F9", "Header coverage", f"{n} responses: pages, fragments, 404, 405, 400, static, JSON",
                  f"{share:.0f}% complete" + (f"; {problems[:3]}" if problems else ""), "100%", not problems)


# ---------------------------------------------------------------------- F13 session revocation


def f13_sessions(ctx) -> Result:
    replays, accepted = 0, []

    def replay(cookie_jar: dict, what: str):
        nonlocal replays
        replays += 1
        c = Client(ctx.port)
        c.jar = dict(cookie_jar)
        status, h, _ = c.get("/enterprise/")
        if status == 200:
            accepted.append(what)

    # logout (everywhere)
    c, name = _signup(ctx, "sess")
    c2 = Client(ctx.port)
    assert c2.login(name, NEW_PASSWORD) == 303
    saved = dict(c.jar)
    c2.post("/logout", {}, token_from="/enterprise/")
    replay(saved, "after logout")
    # password change
    c3 = Client(ctx.port)
    c3.login(name, NEW_PASSWORD)
    saved = dict(c3.jar)
    c4 = Client(ctx.port)
    c4.login(name, NEW_PASSWORD)
    c4.post("/account/password", {"current": NEW_PASSWORD, "password": NEW_PASSWORD + "x",
                                  "confirm": NEW_PASSWORD + "x"}, token_from="/account/password")
    replay(saved, "after password change")
    # disabled by the organisation's manager
    boss, _ = _signup(ctx, "boss")
    mate = f"mate{secrets.token_hex(3)}"
    _, _, body = boss.post("/team/invite", {"username": mate, "display_name": "同事", "phone": "13800000002"},
                           token_from="/team")
    m = re.search(rb"/invite/([A-Za-z0-9_-]{20,})", body)  # the one-time link, shown once in this answer
    token = m.group(1).decode()
    joiner = Client(ctx.port)
    joiner.post(f"/invite/{token}", {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}, token_from=f"/invite/{token}")
    mc = Client(ctx.port)
    mc.login(mate, NEW_PASSWORD)
    saved = dict(mc.jar)
    member_id = ctx.sql('SELECT id FROM "user" WHERE username = %s', mate)[0][0]
    boss.post(f"/team/{member_id}/active", {"active": "0"}, token_from="/team")
    replay(saved, "after disable")
    return Result("F13", "Session revocation", f"{replays} replays of a captured cookie: after logout, password "
                  "change, disable", f"{len(accepted)} accepted" + (f" ({', '.join(accepted)})" if accepted else ""),
                  "0 accepted", not accepted)


# ---------------------------------------------------------------------- F14 login limit with W workers


def _brute(ctx, port: int, attempts: int) -> tuple[int, int, dict]:
    """attempts parallel wrong passwords for one fresh account from one address: (checked, refused, statuses)."""
    _, name = _signup(ctx, "brute")
    addr = ctx.address()
    clients = []
    for _ in range(attempts):
        c = Client(port)
        token = csrf_token(c.get("/login")[2])
        clients.append((c, token))

    def guess(i):
        c, token = clients[i]
        status, _, body = c.post("/login", {"username": name, "password": f"wrong-{i}-{secrets.token_hex(3)}",
                                            "csrf_token": token}, headers={"X-Forwarded-For": addr})
        return status, body

    out = _parallel(attempts, guess)
    statuses: dict = {}
    for status, _ in out:
        statuses[status] = statuses.get(status, 0) + 1
    checked = sum(1 for status, body in out if status == 422 and "用户名或密码错误".encode() in body)
    return checked, attempts - checked, statuses


def f14_login_limit(ctx) -> Result:
    limit = 5  # LOGIN_LIMIT_PER_ACCOUNT
    attempts = 30 if ctx.quick else 60
    w4, _, s4 = _brute(ctx, ctx.port, attempts)
    one = ctx.start_server(1, "w1")
    try:
        w1, _, s1 = _brute(ctx, one.port, attempts)
    finally:
        one.stop()
    ok = w4 == limit and w1 == limit
    return Result("F14", "Login limit with W workers", f"{attempts} parallel wrong passwords for one account, "
                  "W = 4 and W = 1", f"checked W=4: {w4} {s4}; W=1: {w1} {s1}", f"= {limit} both", ok)


# ---------------------------------------------------------------------- F15 verification enumeration


_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def f15_enumeration(ctx) -> Result:
    total = 1000 if ctx.quick else 10000
    per_address = 50  # under the per-address limit, so every code is really looked up
    hits, limited, pii, errors = 0, 0, 0, 0
    phones = [r[0] for r in ctx.sql("SELECT contact_phone FROM enterprise WHERE contact_phone <> ''")]

    def look(i):
        code = "GD" + "".join(secrets.choice(_B32) for _ in range(26))
        addr = f"172.16.{(i // per_address) >> 8 & 255}.{(i // per_address) & 255}"
        status, _, body = request(ctx.port, "GET", f"/v/{code}", {"X-Forwarded-For": addr})
        return status, body

    with ThreadPoolExecutor(16) as ex:
        for status, body in ex.map(look, range(total)):
            if status == 200:
                hits += 1
            elif status == 429:
                limited += 1
            elif status != 404:
                errors += 1
            if any(p.encode() in body for p in phones):
                pii += 1
    # One address past its limit: answered 429 from the (limit + 1)-th look-up on.
    addr = ctx.address()
    statuses = [request(ctx.port, "GET", f"/v/GD{'A' * 26}", {"X-Forwarded-For": addr})[0] for _ in range(62)]
    first_429 = statuses.index(429) + 1 if 429 in statuses else None
    ok = hits == 0 and pii == 0 and errors == 0 and first_429 == 61
    return Result("F15", "Verification enumeration", f"{total} random well-formed codes from {total // per_address} "
                  "addresses; 62 look-ups from one", f"hits {hits}, PII {pii}, errors {errors}; 429 from look-up "
                  f"{first_429}", "hits 0, PII 0; 429 after 60/min", ok)


# ---------------------------------------------------------------------- F18 money type hygiene


MONEY_MODULES = ["blueprints/core/money.py", "blueprints/core/amounts.py", "blueprints/core/issuance.py",
                 "blueprints/core/settlement.py", "blueprints/core/payout.py", "blueprints/core/supervision.py"]


def _float_uses(path) -> list[int]:
    """Lines with float(), a float literal, or a true division of anything but a Decimal."""
    import ast

    def is_decimal(node) -> bool:
        return isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "Decimal"

    lines = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "float":
            lines.add(node.lineno)
        elif isinstance(node, ast.Constant) and isinstance(node.value, float):
            lines.add(node.lineno)
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div) and not is_decimal(node.left):
            lines.add(node.lineno)
    return sorted(lines)


def f18_money(ctx) -> Result:
    floats = [f"{rel}:{n}" for rel in MONEY_MODULES for n in _float_uses(ROOT / rel)]
    real_cols = ctx.sql("SELECT table_name || '.' || column_name FROM information_schema.columns "
                        "WHERE table_schema = 'public' AND data_type IN ('real', 'double precision')")
    fen_not_int = ctx.sql("SELECT table_name || '.' || column_name FROM information_schema.columns "
                          "WHERE table_schema = 'public' AND column_name LIKE '%%\\_fen' "
                          "AND data_type NOT IN ('integer', 'bigint')")
    bad = floats + [r[0] for r in real_cols + fen_not_int]
    return Result("F18", "Money type hygiene", f"float use in {len(MONEY_MODULES)} money modules; column types "
                  "of the PostgreSQL schema", f"{len(bad)} found" + (f": {bad[:4]}" if bad else ""), "0", not bad)


# ---------------------------------------------------------------------- F19 password hashing


def f19_hashing(ctx) -> Result:
    from argon2 import PasswordHasher
    from argon2.exceptions import VerifyMismatchError  # noqa: F401

    stored = ctx.sql('SELECT password_hash FROM "user" WHERE username = %s', "ent_gz")[0][0]
    m = re.match(r"\$(argon2id)\$v=\d+\$m=(\d+),t=(\d+),p=(\d+)\$", stored)
    if not m:
        return Result("F19", "Password hashing", "the stored hash of a demo account", stored[:20], "argon2id", False)
    mem_kib, t = int(m.group(2)), int(m.group(3))
    t0 = time.perf_counter()
    PasswordHasher().verify(stored, DEMO_PASSWORD)
    ms = (time.perf_counter() - t0) * 1000
    ok = mem_kib >= 19 * 1024 and t >= 2
    return Result("F19", "Password hashing", "the stored hash of a demo account; one verify timed",
                  f"argon2id m={mem_kib // 1024} MiB t={t}; verify {ms:.0f} ms", "argon2id, m ≥ 19 MiB, t ≥ 2", ok)


# ---------------------------------------------------------------------- F20 secrets in logs


def f20_canaries(ctx) -> Result:
    canary = ctx.env["RELIABILITY_CANARY"]
    c = Client(ctx.port)
    c.post("/login", {"username": "ent_gz", "password": canary}, token_from="/login")
    c.post("/login", {"username": canary, "password": canary}, token_from="/login")
    request(ctx.port, "POST", "/api/v1/connections", {"Authorization": f"Bearer {canary}",
                                                       "Content-Type": "text/csv"}, b"x")
    c.post("/signup", {"kind": "enterprise", "username": "canary" + secrets.token_hex(3), "display_name": "x",
                       "phone": "13800000000", "password": canary, "confirm": canary + "x"}, token_from="/signup")
    time.sleep(1)
    hits = []
    for path in [ctx.server.logfile.name, *map(str, (ctx.run_dir / "instance").rglob("*.log"))]:
        try:
            if canary in open(path, errors="replace").read():
                hits.append(path)
        except OSError:
            pass
    db_hits = ctx.sql("SELECT count(*) FROM audit_event WHERE data::text LIKE %s OR reason LIKE %s",
                      f"%{canary}%", f"%{canary}%")[0][0]
    return Result("F20", "Secrets in logs", "a canary as password, username, bearer token and sign-up password; "
                  "server logs and the audit trail searched", f"{len(hits) + db_hits} hits", "0",
                  not hits and not db_hits)


# ---------------------------------------------------------------------- F12 audit


def f12_audit(ctx) -> Result:
    import psycopg

    refused = []
    for stmt in ("UPDATE audit_event SET reason = 'x' WHERE id = (SELECT max(id) FROM audit_event)",
                 "DELETE FROM audit_event WHERE id = (SELECT max(id) FROM audit_event)",
                 "TRUNCATE audit_event"):
        try:
            with psycopg.connect(ctx.url, autocommit=True) as conn:
                conn.execute(stmt)
            refused.append(False)
        except psycopg.Error:
            refused.append(True)
    clean = flask(ctx.env, "audit", "verify", check=False)
    # Tamper with one row the way an owner of the database could (triggers off for this session only).
    with psycopg.connect(ctx.url, autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute("UPDATE audit_event SET actor_name = actor_name || 'x' WHERE id = "
                     "(SELECT min(id) + 3 FROM audit_event)")
    tampered = flask(ctx.env, "audit", "verify", check=False)
    with psycopg.connect(ctx.url, autocommit=True) as conn:  # put it back for the later probes
        conn.execute("SET session_replication_role = replica")
        conn.execute("UPDATE audit_event SET actor_name = left(actor_name, length(actor_name) - 1) WHERE id = "
                     "(SELECT min(id) + 3 FROM audit_event)")
    ok = all(refused) and clean.returncode == 0 and tampered.returncode != 0
    return Result("F12", "Audit completeness and tampering", "UPDATE, DELETE, TRUNCATE on the audit table by the "
                  "app's connection; one edited row (actor name)", f"refused {sum(refused)}/3; verify clean "
                  f"{'ok' if clean.returncode == 0 else 'FAILED'}; tamper {'detected' if tampered.returncode else 'MISSED'}",
                  "3/3 refused; detected", ok)


# ---------------------------------------------------------------------- F5 matrix (the project's tests on PostgreSQL)


def f5_matrix(ctx) -> Result:
    ok, summary = pytest(ctx.env, "tests/test_access_matrix.py")
    return Result("F5", "Authorization matrix", "every route × 7 principals × GET/POST, with and without "
                  "HX-Request (tests/test_access_matrix.py on PostgreSQL)", summary, "all pass", ok)


# ---------------------------------------------------------------------- F21 dependencies and SAST


def f21_deps(ctx) -> Result:
    bandit = subprocess.run([str(ROOT / ".venv-tools" / "bin" / "bandit"), "-q", "-r", "app.py", "models.py", "cli.py", "blueprints",
                             "-lll", "-f", "custom", "--msg-template", "{relpath}:{line} {test_id}"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    high = [ln for ln in bandit.stdout.splitlines() if ln.strip()]
    audit = subprocess.run([str(ROOT / ".venv-tools" / "bin" / "pip-audit"), "-r", "requirements.txt", "--progress-spinner", "off",
                            "--timeout", "20"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    unreachable = "could not be audited" in audit.stdout + audit.stderr
    if audit.returncode == 0 and not unreachable:
        vulns = "0 known-vulnerable"
        audit_ok = True
    elif "Found" in audit.stdout and not unreachable:
        vulns = audit.stdout.strip().splitlines()[0][:120]
        audit_ok = False
    else:
        vulns = "pip-audit: the vulnerability database cannot be reached from here (registry only)"
        audit_ok = None
    ok = (not high) and audit_ok is not False
    return Result("F21", "Dependency/SAST findings", "bandit (high) over the app; pip-audit over requirements.txt",
                  f"bandit high {len(high)}{(': ' + ', '.join(high[:3])) if high else ''}; {vulns}",
                  "0 and 0", ok)


ALL = [
    Probe("F5", "Authorization matrix", f5_matrix, quick=False),
    Probe("F9", "Header coverage", f9_headers),
    Probe("F12", "Audit completeness and tampering", f12_audit),
    Probe("F13", "Session revocation", f13_sessions),
    Probe("F14", "Login limit with W workers", f14_login_limit),
    Probe("F15", "Verification enumeration", f15_enumeration),
    Probe("F18", "Money type hygiene", f18_money),
    Probe("F19", "Password hashing", f19_hashing),
    Probe("F20", "Secrets in logs", f20_canaries),
    Probe("F21", "Dependency/SAST findings", f21_deps, quick=False),
]


# ---------------------------------------------------------------------- F1-F4 money under concurrency

DEMO_TOTP = "GDDEMOTOTPSECRETGDDEMOTOTPSECRET"  # cli.DEMO_TOTP_SECRET: the demo officials' published secret


def _seed_money(ctx, apps: int, quota_share: float) -> dict:
    import json

    out = subprocess.run([str(BIN / "python"), str(ROOT / "scripts" / "reliability" / "seed_money.py"), "--apps",
                          str(apps), "--quota-share", str(quota_share)], cwd=ROOT, env=ctx.env, capture_output=True,
                         text=True, timeout=900, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _officer(ctx, username: str) -> Client:
    c = Client(ctx.port)
    if c.login(username, DEMO_PASSWORD, DEMO_TOTP) != 303:
        raise RuntimeError(f"official login failed for {username}")
    return c


def f1_overspend(ctx) -> Result:
    n = 60 if ctx.quick else 200
    rounds = 1 if ctx.quick else 3
    lines, ok = [], True
    for _ in range(rounds):
        m = _seed_money(ctx, n, 1 / 3)
        officer = _officer(ctx, m["officer"])
        token = csrf_token(officer.get("/city/applications")[2])

        def approve(i):
            return officer.post(f"/city/applications/{m['apps'][i]}/approve", {"csrf_token": token}, timeout=120)[0]

        statuses = _parallel(n, approve)
        accepted = statuses.count(303)
        server_errors = sum(1 for s in statuses if s >= 500)
        issued = ctx.sql("SELECT issued_fen FROM city_target WHERE city_code = %s AND year = %s", m["city"],
                         m["year"])[0][0]
        vouchers = ctx.sql("SELECT count(*), coalesce(sum(v.face_value_fen), 0) FROM voucher v JOIN application a "
                           "ON a.id = v.application_id WHERE a.city_code = %s", m["city"])[0]
        overspend = max(0, issued - m["quota_fen"])
        round_ok = (overspend == 0 and issued == vouchers[1] and vouchers[0] == accepted and server_errors == 0
                    and accepted == m["fits"])
        ok = ok and round_ok
        lines.append(f"accepted {accepted}/{n} (fits {m['fits']}), overspend {overspend}, issued = Σ vouchers "
                     f"{'yes' if issued == vouchers[1] else 'NO'}, 5xx {server_errors}")
    return Result("F1", "Budget overspend / F2 FCFS", f"{rounds} round(s) of {n} parallel approvals of equal "
                  f"amounts (Σ = 3 × the city's quota) over HTTP, 4 workers", "; ".join(lines),
                  "overspend 0; issued = Σ vouchers; accepted = what fits; 5xx 0", ok)


def f3_double_issue(ctx) -> Result:
    apps, k = (3, 30) if ctx.quick else (10, 100)
    m = _seed_money(ctx, apps, 1.0)
    officer = _officer(ctx, m["officer"])
    token = csrf_token(officer.get("/city/applications")[2])
    per_app, bad_responses = [], 0
    for app_id in m["apps"]:
        statuses = _parallel(k, lambda i: officer.post(f"/city/applications/{app_id}/approve", {"csrf_token": token},
                                                       timeout=120)[0])
        if statuses.count(303) != 1 or statuses.count(409) != k - 1:
            bad_responses += 1
        per_app.append(ctx.sql("SELECT count(*) FROM voucher WHERE application_id = %s", app_id)[0][0])
    ok = all(c == 1 for c in per_app) and bad_responses == 0
    return Result("F3", "Double issuance", f"{k} parallel approvals of one application, {apps} applications",
                  f"vouchers per application {sorted(set(per_app))}; answers not 1×303 + {k - 1}×409: {bad_responses}",
                  "1 each; 1×2xx + rest 409", ok)


def f4_replays(ctx) -> Result:
    import json

    out = subprocess.run([str(BIN / "python"), "-c", _DRAFT_SCRIPT], cwd=ROOT, env=ctx.env, capture_output=True,
                         text=True, timeout=300, check=True)
    d = json.loads(out.stdout.strip().splitlines()[-1])
    c = Client(ctx.port)
    assert c.login(d["username"], d["password"]) == 303
    token = csrf_token(c.get(f"/enterprise/applications/{d['app_id']}/edit")[2])
    fields = dict(d["fields"], csrf_token=token, nonce=secrets.token_hex(8), do="submit")
    path = f"/enterprise/applications/{d['app_id']}/edit"
    concurrent = _parallel(10, lambda i: c.post(path, fields)[0])
    sequential = [c.post(path, fields)[0] for _ in range(10)]
    submits = ctx.sql("SELECT count(*) FROM audit_event WHERE entity_type = 'application' AND entity_id = %s "
                      "AND action = 'submit'", d["app_id"])[0][0]
    errors = sum(1 for s in concurrent + sequential if s >= 500)
    return Result("F4", "Idempotent replays", "one application submit replayed 10× at once and 10× in turn with the "
                  "same form (same one-time key)", f"submissions {submits}; 5xx {errors}", "1; 0",
                  submits == 1 and errors == 0)


_DRAFT_SCRIPT = r'''
import json, sys
sys.path[:0] = [".", "scripts/reliability"]
from seed_money import unique_numbers
from tests import factories
unique_numbers(factories)
from app import create_app
from models import Cycle, Role, db
from tests.factories import PASSWORD, make_application, make_enterprise, make_supplier, make_user
app = create_app()
with app.app_context():
    cycle = db.session.execute(db.select(Cycle).order_by(Cycle.id.desc())).scalars().first()
    ent = make_enterprise(city_code="440100")
    user = make_user(Role.ENTERPRISE, enterprise_id=ent.id)
    a = make_application(ent, make_supplier(), cycle, stage="draft", users={"enterprise": user})
    fields = {"contract_no": a.contract_no, "contract_signed_on": a.contract_signed_on.isoformat(),
              "contract_fee": str(a.contract_fee_fen // 100), "catalog_item_id": str(a.catalog_item_id),
              "supplier_id": str(a.supplier_id), "place_in_guangdong": "y", "single_fund_declared": "y"}
    db.session.commit()
    print(json.dumps({"app_id": a.id, "username": user.username, "password": PASSWORD, "fields": fields}))
'''

ALL[0:0] = [
    Probe("F1", "Budget overspend / FCFS", f1_overspend),
    Probe("F3", "Double issuance", f3_double_issue),
    Probe("F4", "Idempotent replays", f4_replays),
]

from reliability import probes_faults  # noqa: E402,F401  (F10, F11, F16: appended to ALL)

from reliability.probes_input import PROBES as INPUT_PROBES  # noqa: E402  F6-F8, F17, F23

ALL += INPUT_PROBES
from reliability import probes_mutation  # noqa: E402,F401  (F22: appended to ALL)
