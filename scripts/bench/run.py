#!/usr/bin/env python3
"""`make bench`: the platform's pages at province scale beside a bare 20-row page.

For each engine (PostgreSQL, then SQLite) and each size (1k and 50k vouchers) it builds the
data set with scripts/bench/seed.py (cached: rebuilt only when seed.py, the migrations or the
size changed), starts the production path (gunicorn -c gunicorn.conf.py "app:create_app()",
2 sync workers) and the bare baseline (scripts/bench/baseline.py, same gunicorn settings),
logs in once per role and runs wrk (16 connections) against each page: medians of 3 runs.
On the largest set it also measures the documents: the voucher PDF (warm median of 20, the
worker's RSS after it), the two big xlsx exports (time, peak worker memory) and
`flask audit verify` (time, peak memory). The Markdown table is printed and written to
instance/bench/results.md.

Environment: BENCH_QUICK=1 (1 run of 3 s per page), BENCH_ENGINES=postgresql,sqlite,
BENCH_SIZES=1000,50000, BENCH_RUNS, BENCH_DURATION (seconds, every size), BENCH_PG_URL
(server URL without a database; default postgresql://postgres@127.0.0.1:5432), BENCH_DOCS=0
to skip the document figures, BENCH_USAGE=0 to skip the connection-record import (BENCH_USAGE_ROWS,
default 10000000), BENCH_LIST=0 to skip the settlement list and payout allocation
(scripts/bench/settlement_list.py), BENCH_SCHEMA_FROM_MODELS=1 to add the tables and indexes models.py
has and the migrations do not have yet (a stop-gap while a migration is being written).
"""
from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[2]
HERE = ROOT / "scripts" / "bench"
sys.path.insert(0, str(ROOT / "scripts"))
import prodserver  # noqa: E402
from prodserver import _cookies, get, login, request  # noqa: E402
BIN = ROOT / ".venv" / "bin"
OUT = ROOT / "instance" / "bench"
PG_BASE = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432").rstrip("/")
QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
ENGINES = [e.strip() for e in os.environ.get("BENCH_ENGINES", "postgresql,sqlite").split(",") if e.strip()]
SIZES = sorted(int(x) for x in os.environ.get("BENCH_SIZES", "1000,50000").split(",") if x.strip())
RUNS = int(os.environ.get("BENCH_RUNS", "1" if QUICK else "3"))
CONNECTIONS, THREADS, WORKERS = 16, 2, 2
DOCS = os.environ.get("BENCH_DOCS", "1") != "0"
PDF_REPEAT = 20
ENGINE_LABEL = {"postgresql": "PostgreSQL", "sqlite": "SQLite"}


def duration_for(vouchers: int) -> int:
    """Seconds per wrk run: the largest set carries the figures; smaller sets only give p50 to compare."""
    if os.environ.get("BENCH_DURATION"):
        return int(os.environ["BENCH_DURATION"])
    if QUICK:
        return 3
    return 10 if vouchers == SIZES[-1] else 5


def size_label(vouchers: int) -> str:
    return f"{vouchers // 1000}k" if vouchers % 1000 == 0 else str(vouchers)


# Pages: (label, role, path, throughput goal applies). {code} is a Guangzhou voucher's code.
PAGES = [
    ("city: vouchers", "city", "/city/vouchers", True),
    ("city: review queue", "city", "/city/applications", True),
    ("city: review queue, all", "city", "/city/applications?status=", True),
    ("city: registration queue", "city", "/city/registrations", True),
    ("city: notices", "city", "/notices", True),
    ("supplier: queue", "supplier", "/supplier/applications", True),
    ("enterprise: applications", "enterprise", "/enterprise/applications", True),
    ("enterprise: home", "enterprise", "/enterprise/", False),
    ("province: dashboard", "province", "/province/dashboard", True),
    ("province: directory", "province", "/province/directory", True),
    ("province: applications", "province", "/province/applications", True),
    ("public: voucher verification", None, "/v/{code}", False),
]
BASELINE = "bare 20-row page (baseline)"


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ---------------------------------------------------------------------- data sets


SCHEMA_FROM_MODELS = os.environ.get("BENCH_SCHEMA_FROM_MODELS", "") not in ("", "0")


def seed_key(vouchers: int) -> str:
    h = hashlib.sha256(f"vouchers={vouchers} schema_from_models={SCHEMA_FROM_MODELS}\n".encode())
    extra = [ROOT / "models.py"] if SCHEMA_FROM_MODELS else []
    for p in [HERE / "seed.py", *sorted((ROOT / "migrations").rglob("*.py")), *extra]:
        h.update(str(p.relative_to(ROOT)).encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def _pg_admin():
    import psycopg

    return psycopg.connect(f"{PG_BASE}/postgres", autocommit=True)


def pg_exists(name: str) -> bool:
    with _pg_admin() as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


def dataset(engine: str, vouchers: int) -> dict:
    """The seeded database for (engine, size): reused when its stamp matches, else built afresh."""
    label = size_label(vouchers)
    name = f"bench_{label}"
    stamp = OUT / f"{engine}_{label}.json"
    uploads = OUT / f"uploads_{engine}_{label}"
    if engine == "sqlite":
        path = OUT / f"{name}.db"
        url = f"sqlite:///{path}"
        exists = path.exists()
    else:
        url = f"{PG_BASE}/{name}"
        exists = pg_exists(name)
    key = seed_key(vouchers)
    if exists and stamp.exists():
        saved = json.loads(stamp.read_text())
        if saved.get("key") == key:
            log(f"{ENGINE_LABEL[engine]} {label}: cached data set (seed.py and migrations unchanged)")
            return dict(engine=engine, vouchers=vouchers, label=label, url=url, uploads=str(uploads),
                        manifest=saved["manifest"])
    log(f"{ENGINE_LABEL[engine]} {label}: building the data set ({vouchers} vouchers)")
    stamp.unlink(missing_ok=True)
    subprocess.run(["rm", "-rf", str(uploads)], check=True)
    if engine == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    else:
        with _pg_admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
    manifest_path = OUT / f"{engine}_{label}.manifest.json"
    subprocess.run([str(BIN / "python"), str(HERE / "seed.py"), "--database-url", url, "--vouchers", str(vouchers),
                    "--upload-dir", str(uploads), "--manifest", str(manifest_path),
                    *(["--schema-from-models"] if SCHEMA_FROM_MODELS else [])], cwd=ROOT, check=True)
    manifest = json.loads(manifest_path.read_text())
    manifest_path.unlink()
    stamp.write_text(json.dumps({"key": key, "manifest": manifest}, ensure_ascii=False, indent=1))
    return dict(engine=engine, vouchers=vouchers, label=label, url=url, uploads=str(uploads), manifest=manifest)


def purge_rate_events(ds: dict) -> None:
    """Earlier runs' look-ups would count against this run's limits: start every run with none."""
    if ds["engine"] == "sqlite":
        import sqlite3

        conn = sqlite3.connect(ds["url"][len("sqlite:///"):])
        conn.execute("DELETE FROM rate_event")
        conn.commit()
        conn.close()
    else:
        import psycopg

        with psycopg.connect(ds["url"], autocommit=True) as conn:
            conn.execute("DELETE FROM rate_event")


# ---------------------------------------------------------------------- servers


def bench_env(ds: dict) -> dict:
    """The environment of everything run on a data set. The instance folder (secret key, the job
    queue's SQLite file) and the queue's name are the bench's own, so a `make run` on the same
    machine never takes the bench's jobs nor the bench its."""
    return dict(os.environ, DATABASE_URL=ds["url"], UPLOAD_DIR=ds["uploads"], FLASK_APP="app:create_app",
                INSTANCE_DIR=str(OUT / "instance"), JOBS_QUEUE_NAME=f"bench-{ds['engine']}-{ds['label']}")


class Server(prodserver.Server):
    """gunicorn with the app's gunicorn.conf.py: the platform or the bare baseline."""

    def __init__(self, kind: str, ds: dict, workers: int = WORKERS, tag: str = "pages"):
        self.kind = kind
        # As behind nginx: the client address comes from X-Forwarded-For (see report.lua).
        env = dict(bench_env(ds), COOKIE_SECURE="0", QUERY_COUNT_HEADER="1", TRUSTED_PROXIES="1")
        target = ("app:create_app()",) if kind == "app" else ("--pythonpath", str(HERE), "baseline:create_app()")
        super().__init__(env, OUT / "logs" / f"{kind}-{ds['engine']}-{ds['label']}-{tag}.log", workers, target,
                         probe="/healthz" if kind == "app" else "/")


def proc_mem(pid: int) -> dict:
    """VmRSS (now) and VmHWM (peak) of a process, in MB."""
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) / 1024
    except OSError:
        pass
    return out


# ---------------------------------------------------------------------- HTTP


class RowCounter(HTMLParser):
    """Rows a page shows: <tr> inside <tbody>, and <li> of the notices list."""

    def __init__(self):
        super().__init__()
        self.rows, self.tbody, self.notices = 0, 0, 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "tbody":
            self.tbody += 1
        elif tag == "tr" and self.tbody:
            self.rows += 1
        elif tag == "ul" and "notices" in (a.get("class") or "").split():
            self.notices += 1
        elif tag == "li" and self.notices:
            self.rows += 1

    def handle_endtag(self, tag):
        if tag == "tbody":
            self.tbody = max(0, self.tbody - 1)
        elif tag == "ul" and self.notices:
            self.notices -= 1


def count_rows(html: bytes) -> int:
    p = RowCounter()
    p.feed(html.decode("utf-8", "replace"))
    return p.rows


# ---------------------------------------------------------------------- wrk


def wrk(port: int, path: str, cookie: str, seconds: int, xff: bool) -> dict:
    cmd = ["wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency", "-s", str(HERE / "report.lua")]
    if cookie:
        cmd += ["-H", f"Cookie: {cookie}"]
    cmd.append(f"http://127.0.0.1:{port}{path}")
    env = dict(os.environ, BENCH_XFF="1" if xff else "0")
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=seconds + 120).stdout
    m = re.search(r"BENCHJSON (\{.*\})", out)
    if not m:
        raise SystemExit(f"wrk gave no figures for {path}:\n{out}")
    r = json.loads(m.group(1))
    r["rps"] = r["requests"] / (r["duration_us"] / 1e6)
    r["errors"] = r["status_errors"] + r["connect_errors"] + r["read_errors"] + r["write_errors"] + r["timeouts"]
    return r


def measure(port: int, path: str, cookie: str, seconds: int, xff: bool = False) -> dict:
    """One GET to check the page (status, rows), a 1 s warm-up, one GET for the query count, then RUNS
    wrk runs (medians)."""
    headers = {"X-Forwarded-For": "10.255.0.1"} if xff else {}
    status, msg, body = get(port, path, cookie, headers=headers)
    res = {"status": status, "rows": count_rows(body) if status == 200 else None, "queries": None}
    if status != 200:
        return res
    wrk(port, path, cookie, 1, xff)
    # Counted once warm: a first view may fill a cache (dashboard figures) that later views only read.
    _, msg, _ = get(port, path, cookie, headers=headers)
    res["queries"] = int(msg["X-Query-Count"]) if msg["X-Query-Count"] else None
    runs = [wrk(port, path, cookie, seconds, xff) for _ in range(RUNS)]
    res.update(rps=statistics.median(r["rps"] for r in runs), p50=statistics.median(r["p50_us"] for r in runs) / 1000,
               p99=statistics.median(r["p99_us"] for r in runs) / 1000, errors=sum(r["errors"] for r in runs),
               requests=sum(r["requests"] for r in runs))
    return res


def bench_pages(ds: dict) -> dict:
    m = ds["manifest"]
    seconds = duration_for(ds["vouchers"])
    purge_rate_events(ds)
    app, base = Server("app", ds), Server("baseline", ds)
    results = {}
    try:
        cookies = {role: login(app.port, user, m["password"], m.get("totp_secret")) for role, user in m["logins"].items()}
        for label, role, path, _ in PAGES:
            path = path.format(code=m["verify_code"])
            r = measure(app.port, path, cookies.get(role, ""), seconds, xff=role is None)
            results[label] = r
            log(f"{ENGINE_LABEL[ds['engine']]} {ds['label']} {label}: " + (
                f"{r['rps']:.1f} req/s, p50 {r['p50']:.1f} ms, p99 {r['p99']:.1f} ms, {r['rows']} rows, "
                f"{r['queries']} queries" if "rps" in r else f"HTTP {r['status']}"))
        r = measure(base.port, "/", "", seconds)
        r["queries"] = 1
        results[BASELINE] = r
        log(f"{ENGINE_LABEL[ds['engine']]} {ds['label']} baseline: {r['rps']:.1f} req/s, p50 {r['p50']:.1f} ms")
    finally:
        app.stop()
        base.stop()
    return results


# ---------------------------------------------------------------------- documents


def timed_get(port: int, path: str, cookie: str, timeout: float = 120) -> tuple[int, float, object, bytes]:
    t = time.perf_counter()
    try:
        status, msg, body = get(port, path, cookie, timeout=timeout)
    except (OSError, http.client.HTTPException) as exc:
        return 0, time.perf_counter() - t, None, str(exc).encode()
    return status, time.perf_counter() - t, msg, body


def xlsx_rows(data: bytes) -> int | None:
    import io

    try:
        from openpyxl import load_workbook

        wb = load_workbook(io.BytesIO(data), read_only=True)
        return sum(1 for _ in wb.worksheets[0].iter_rows(values_only=True)) - 1  # minus the header
    except Exception:
        return None


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def job_row(ds: dict, job_id: int) -> dict:
    """A finished job's seconds queued and running, status and message, from its row."""
    import datetime as dt

    sql = "SELECT created_at, started_at, finished_at, status, message FROM job WHERE id = {}"
    if ds["engine"] == "sqlite":
        import sqlite3

        conn = sqlite3.connect(ds["url"][len("sqlite:///"):])
        row = conn.execute(sql.format("?"), (job_id,)).fetchone()
        conn.close()
        if row:
            row = [dt.datetime.fromisoformat(v) if v else None for v in row[:3]] + list(row[3:])
    else:
        import psycopg

        with psycopg.connect(ds["url"]) as conn:
            row = conn.execute(sql.format("%s"), (job_id,)).fetchone()
    if not row:
        return {}
    out = {"job_status": row[3], "job_message": row[4]}
    if row[1] and row[2]:
        out.update(job_wait=(row[1] - row[0]).total_seconds(), seconds=(row[2] - row[1]).total_seconds())
    return out


def export_figure(ds: dict, role: str, path: str) -> dict:
    """One export through a fresh one-worker server: a file streamed in the request, or a background
    job followed to its download as the user would. Time, rows, and the peak memory of the process
    that wrote it (the worker, or the job consumer)."""
    m = ds["manifest"]
    srv = Server("app", ds, workers=1, tag=f"export-{role}")
    try:
        cookie = login(srv.port, m["logins"][role], m["password"], m.get("totp_secret"))
        pids = srv.workers()
        t0 = time.perf_counter()
        status, seconds, msg, body = timed_get(srv.port, path, cookie)
        if status == 200 and b'id="export-confirm"' in body:
            # A large export asks first (a GET never starts work); confirm it as the user would.
            jar = _cookies(msg, dict(c.split("=", 1) for c in cookie.split("; ")))
            cookie = "; ".join(f"{k}={v}" for k, v in jar.items())
            field = re.search(rb'<input[^>]*name="csrf_token"[^>]*>', body)
            token = re.search(rb'value="([^"]+)"', field.group(0)).group(1).decode() if field else ""
            t1 = time.perf_counter()
            status, msg, body = request(srv.port, "POST", path, {"Cookie": cookie, "Content-Type":
                                        "application/x-www-form-urlencoded"}, urlencode({"csrf_token": token}).encode())
            seconds += time.perf_counter() - t1
        res = dict(status=status, seconds=seconds, via="request", job_wait=None)
        location = (msg.get("Location") or msg.get("HX-Redirect") or "") if msg else ""
        job = re.search(r"/jobs/(\d+)", location) if status in (200, 302, 303) else None
        if job:
            job_id, res["via"] = int(job.group(1)), "job"
            finished = False
            while time.perf_counter() - t0 < 600:
                st, _, page = get(srv.port, f"/jobs/{job_id}", cookie)
                if st != 200 or f'id="job-{job_id}-download"'.encode() in page or b'role="alert"' in page:
                    finished = st == 200 and f'id="job-{job_id}-download"'.encode() in page
                    break
                time.sleep(0.2)
            if finished:
                status, _, msg, body = timed_get(srv.port, f"/jobs/{job_id}/download", cookie)
            else:
                status, msg, body = 0, None, b""
            res["until_download"] = time.perf_counter() - t0
            res.update(job_row(ds, job_id))
            res["status"] = status
            pids = [srv.consumer()] if srv.consumer() else []
        alive = [p for p in pids if p in srv.children()]
        res["peak_mb"] = max((proc_mem(p).get("VmHWM", 0) for p in alive), default=None)
        res["worker_killed"] = not alive
        ctype = (msg.get("Content-Type") or "") if msg else ""
        res["content_type"] = ctype.split(";")[0]
        res["rows"] = xlsx_rows(body) if status == 200 and ctype.startswith(XLSX) else None
        return res
    finally:
        srv.stop()


def pdf_figure(ds: dict) -> dict:
    m = ds["manifest"]
    if not m.get("pdf_voucher_id"):
        return {"status": None}
    srv = Server("app", ds, workers=1, tag="pdf")
    try:
        cookie = login(srv.port, m["logins"]["enterprise"], m["password"])
        path = f"/enterprise/vouchers/{m['pdf_voucher_id']}/pdf"
        status, first, _, body = timed_get(srv.port, path, cookie)
        warm = [timed_get(srv.port, path, cookie)[1] for _ in range(PDF_REPEAT)] if status == 200 else []
        mem = max((proc_mem(p) for p in srv.workers()), key=lambda d: d.get("VmRSS", 0), default={})
        return dict(status=status, first_ms=first * 1000, warm_ms=statistics.median(warm) * 1000 if warm else None,
                    rss_mb=mem.get("VmRSS"), peak_mb=mem.get("VmHWM"), is_pdf=body.startswith(b"%PDF-"))
    finally:
        srv.stop()


def _flask(args: list[str], ds: dict) -> tuple[int, float, float, str]:
    """Run a flask command; (exit code, seconds, peak RSS in MB of that process alone, output)."""
    env = bench_env(ds)
    t = time.perf_counter()
    proc = subprocess.Popen([str(BIN / "flask"), *args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak, not every child's
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, time.perf_counter() - t, usage.ru_maxrss / 1024, out


def render_pdf_in_process(voucher_id: int) -> None:
    """(Run in a subprocess.) Render one voucher's PDF as issuance does, once cold and PDF_REPEAT
    times warm; print the times and this process's memory as JSON."""
    sys.path.insert(0, str(ROOT))
    from app import create_app
    from blueprints.core import issuance
    from models import Voucher, db

    app = create_app()
    with app.app_context():
        v = db.session.get(Voucher, voucher_id)
        times = []
        for _ in range(PDF_REPEAT + 1):
            t = time.perf_counter()
            data = issuance.render_voucher_pdf(v)
            times.append(time.perf_counter() - t)
        print("BENCHJSON " + json.dumps(dict(first_ms=times[0] * 1000, warm_ms=statistics.median(times[1:]) * 1000,
                                             is_pdf=data.startswith(b"%PDF-"), **proc_mem(os.getpid()))))


def render_figure(ds: dict) -> dict:
    vid = ds["manifest"].get("pdf_voucher_id")
    if not vid:
        return {}
    out = subprocess.run([str(BIN / "python"), str(HERE / "run.py"), "--render-pdf", str(vid)], cwd=ROOT,
                         env=bench_env(ds), capture_output=True, text=True, timeout=600).stdout
    m = re.search(r"BENCHJSON (\{.*\})", out)
    return json.loads(m.group(1)) if m else {}


def audit_figure(ds: dict) -> dict:
    """`flask audit verify`: wall time and peak memory; the start-up (loading the app) is timed apart
    so that the time per million events is extrapolated from the verification alone."""
    _, startup, _, _ = _flask(["audit", "--help"], ds)
    code, seconds, peak, out = _flask(["audit", "verify"], ds)
    m = re.search(r"\((\d+) events\)", out)
    return dict(ok=code == 0, seconds=seconds, startup=startup, peak_mb=peak,
                events=int(m.group(1)) if m else None, output=out.strip().splitlines()[-1:] if out else [])


def bench_documents(ds: dict) -> dict:
    log(f"{ENGINE_LABEL[ds['engine']]} {ds['label']}: documents (PDF, exports, audit verify)")
    docs = {"pdf": pdf_figure(ds), "render": render_figure(ds),
            "city_export": export_figure(ds, "city", "/city/vouchers/export.xlsx"),
            "directory_export": export_figure(ds, "province", "/province/directory/export"),
            "audit": audit_figure(ds)}
    for k, v in docs.items():
        log(f"  {k}: {v}")
    return docs


# ---------------------------------------------------------------------- the table


def fmt(x, digits=1) -> str:
    if x is None:
        return "–"
    return f"{x:,.{digits}f}"


def page_goals(label: str, throughput_goal: bool, big: dict, small: dict | None, base_rps: float) -> str:
    if "rps" not in big:
        return f"✗ HTTP {big['status']}"
    fails = []
    ratio = big["rps"] / base_rps if base_rps else 0
    if throughput_goal and ratio < 0.8:
        fails.append("×bare<0.5" if ratio < 0.5 else "×bare<0.8")
    if small and "p50" in small and big["p50"] / small["p50"] > 1.2:
        fails.append("p50 grows")
    if small and small.get("queries") != big.get("queries"):
        fails.append("queries grow")
    if big.get("errors"):
        fails.append(f"{big['errors']} errors")
    return "✓" if not fails else "✗ " + ", ".join(fails)


def render(results: dict, docs: dict, datasets: dict, started: float) -> str:
    big, small = SIZES[-1], (SIZES[0] if len(SIZES) > 1 else None)
    engines = [e for e in ENGINES if e in results]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), "")
    runs = (f"{RUNS} run{'s' if RUNS > 1 else ''} of {duration_for(big)} s"
            + (f" ({size_label(small)}: {duration_for(small)} s)"
               if small and duration_for(small) != duration_for(big) else "")
            + (", medians" if RUNS > 1 else "") + (" — QUICK MODE" if QUICK else ""))
    lines = [f"Benchmark run {time.strftime('%Y-%m-%d %H:%M %Z')}, commit {commit}, {os.cpu_count()} cores ({cpu}); "
             f"gunicorn.conf.py with {WORKERS} sync workers; wrk {CONNECTIONS} connections, {runs}; "
             f"took {(time.time() - started) / 60:.1f} min.", ""]
    any_ds = next(iter(datasets.values()))
    c = any_ds["manifest"]["counts"]
    lines += [f"Data set ({size_label(big)}): {c['enterprise_approved']:,} approved enterprises, {c['supplier']:,} "
              f"suppliers, {c['application']:,} applications, {c['voucher']:,} vouchers (Guangzhou "
              f"{c['voucher_guangzhou']:,}), {c['audit_event']:,} audit events, {c['notice']:,} notices. "
              f"Ratios: req/s ÷ the bare page's req/s on the same engine; p50 at {size_label(big)} ÷ p50 at "
              f"{size_label(small) if small else '–'} vouchers. Goals: list/queue/dashboard pages ≥ 0.8× "
              "the bare page, p50 growth ≤ 1.2×, queries per request constant.", ""]
    for (e, _), ds in sorted(datasets.items()):
        drift = ds["manifest"].get("schema_drift") or {}
        if drift.get("missing"):
            how = ("added from models.py (BENCH_SCHEMA_FROM_MODELS=1)" if drift.get("filled")
                   else "absent from the measured schema")
            lines += [f"**{ENGINE_LABEL[e]} schema:** the migrations lack {', '.join(drift['missing'])}: {how}.", ""]
    head = ["page", "rows", "queries"]
    for e in engines:
        n = ENGINE_LABEL[e]
        growth = f"p50 {size_label(big)}/{size_label(small) if small else '–'}"
        head += [f"{n} req/s", "p50 ms", "p99 ms", "× bare", growth, "goals"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label, _, _, tgoal in [(BASELINE, None, None, False)] + PAGES:
        rows, queries, cells = [], [], []
        for e in engines:
            b = results[e][big].get(label, {})
            s = results[e][small].get(label, {}) if small else None
            base = results[e][big].get(BASELINE, {}).get("rps")
            rows.append(b.get("rows"))
            q = b.get("queries")
            queries.append(f"{q}" if not s or s.get("queries") == q else f"{s.get('queries')}→{q}")
            if "rps" not in b:
                cells += ["–"] * 5 + [f"✗ HTTP {b.get('status')}"]
                continue
            growth = b["p50"] / s["p50"] if s and s.get("p50") else None
            cells += [fmt(b["rps"]), fmt(b["p50"]), fmt(b["p99"]), fmt(b["rps"] / base, 2) if base else "–",
                      fmt(growth, 2), "" if label == BASELINE else page_goals(label, tgoal, b, s, base)]
        def once(values) -> str:  # engine order; one value when every engine agrees
            return " / ".join("–" if v is None else str(v) for v in dict.fromkeys(values))

        lines.append("| " + " | ".join([label, once(rows), once(queries)] + cells) + " |")

    if docs:
        lines += ["", "| document | goal | " + " | ".join(ENGINE_LABEL[e] for e in engines if e in docs) + " |",
                  "|---|---|" + "---|" * sum(1 for e in engines if e in docs)]

        def row(name, goal, cell):
            lines.append(f"| {name} | {goal} | " + " | ".join(cell(docs[e]) for e in engines if e in docs) + " |")

        def mark(ok) -> str:
            return "✓" if ok else "✗"

        def pdf_warm(d):
            p = d["pdf"]
            if p.get("warm_ms") is None:
                return f"✗ HTTP {p.get('status')}"
            return f"{p['warm_ms']:.0f} ms {mark(p['warm_ms'] <= 100)} (first {p['first_ms']:.0f} ms)"

        def pdf_rss(d):
            p = d["pdf"]
            return "–" if p.get("rss_mb") is None else f"{p['rss_mb']:.0f} MB {mark(p['rss_mb'] <= 250)}"

        def export(key):
            def cell(d):
                x = d[key]
                if x["status"] != 200 or x["rows"] is None or x["seconds"] is None:
                    why = ("worker killed (timeout)" if x["worker_killed"] else
                           f"job {x['job_status']}: {x.get('job_message')}" if x.get("job_status") not in (None, "done")
                           else (x["content_type"] or "no response"))
                    return f"✗ HTTP {x['status']} after {x['seconds'] or 0:.1f} s ({why}, {x['via']})"
                # Linear per 50,000 rows once the rows outweigh the fixed cost of a request.
                per50k = x["seconds"] * 50_000 / x["rows"] if x["rows"] >= 5_000 else None
                peak = "–" if x["peak_mb"] is None else f"{x['peak_mb']:.0f} MB"
                ok = (per50k if per50k is not None else x["seconds"]) <= 10 and (x["peak_mb"] or 0) <= 200
                rate = f" ({per50k:.1f} s per 50k)" if per50k is not None else ""
                via = (f"; background job, download {x['until_download']:.1f} s after the click"
                       if x["via"] == "job" else "; in the request")
                return f"{x['rows']:,} rows in {x['seconds']:.1f} s{rate}, peak {peak} {mark(ok)}{via}"
            return cell

        def audit_cell(d):
            a = d["audit"]
            if not a["ok"] or not a["events"]:
                return f"✗ failed: {' '.join(a['output'])}"
            work = max(a["seconds"] - a["startup"], 0.0)
            per_m = a["startup"] + work * 1_000_000 / a["events"] if a["events"] >= 100_000 else None
            ok = (per_m if per_m is not None else a["seconds"]) <= 30 and a["peak_mb"] <= 200
            rate = f", ≈ {per_m:.0f} s per 1M" if per_m is not None else ""
            return (f"{a['events']:,} events in {a['seconds']:.1f} s (start-up {a['startup']:.1f} s{rate}), "
                    f"peak {a['peak_mb']:.0f} MB {mark(ok)}")

        row("voucher PDF (enterprise, warm median of 20)", "≤ 100 ms", pdf_warm)
        row("worker RSS after the PDF", "≤ 250 MB", pdf_rss)

        def render_cell(d):
            r = d.get("render") or {}
            if not r.get("is_pdf"):
                return "–"
            return (f"{r['warm_ms']:.0f} ms warm, first {r['first_ms']:.0f} ms; process RSS {r.get('VmRSS', 0):.0f} MB "
                    f"(peak {r.get('VmHWM', 0):.0f} MB)")

        row("voucher PDF rendered as at issuance (median of 20)", "(shown for reference)", render_cell)
        row("city voucher export xlsx (Guangzhou)", "≤ 10 s per 50k rows, ≤ 200 MB, no timeout", export("city_export"))
        row("province directory export xlsx", "≤ 10 s per 50k rows, ≤ 200 MB, no timeout", export("directory_export"))
        row("`flask audit verify`", "≤ 30 s per 1M events, ≤ 200 MB", audit_cell)
    return "\n".join(lines) + "\n"


def main() -> None:
    if subprocess.run(["which", "wrk"], capture_output=True).returncode != 0:
        raise SystemExit("wrk is not installed: run `make bench` (it installs Debian's wrk) or apt-get install wrk")
    OUT.mkdir(parents=True, exist_ok=True)
    started = time.time()
    results: dict = {}
    docs: dict = {}
    datasets: dict = {}
    for engine in ENGINES:
        results[engine] = {}
        for vouchers in SIZES:
            ds = dataset(engine, vouchers)
            datasets[(engine, vouchers)] = ds
            results[engine][vouchers] = bench_pages(ds)
            if DOCS and vouchers == SIZES[-1]:
                docs[engine] = bench_documents(ds)
    datasets = {k: v for k, v in datasets.items() if k[1] == SIZES[-1]}
    table = render(results, docs, datasets, started)
    if os.environ.get("BENCH_USAGE", "1") != "0":  # the connection-record import (scripts/bench/usage_import.py)
        log("usage import: 10 million connection records, then API batches")
        usage = subprocess.run([str(BIN / "python"), str(HERE / "usage_import.py"), "--markdown",
                                "--rows", os.environ.get("BENCH_USAGE_ROWS", "10000000")],
                               cwd=ROOT, capture_output=True, text=True)
        table += "\n" + (usage.stdout if usage.returncode == 0 else f"usage import failed: {usage.stderr[-2000:]}\n")
    if os.environ.get("BENCH_LIST", "1") != "0":  # settlement list PDF/xlsx, payout allocation
        log("settlement list: 5,000-row PDF and xlsx, allocation of 10,000 entries")
        lst = subprocess.run([str(BIN / "python"), str(HERE / "settlement_list.py"), "--markdown"],
                             cwd=ROOT, capture_output=True, text=True)
        table += "\n" + (lst.stdout if lst.returncode == 0 else f"settlement list failed: {lst.stderr[-2000:]}\n")
    (OUT / "results.md").write_text(table)
    (OUT / "results.json").write_text(json.dumps({"results": {e: {str(k): v for k, v in r.items()}
                                                              for e, r in results.items()}, "docs": docs},
                                                 ensure_ascii=False, indent=1, default=str))
    print()
    print(table)
    print(f"(written to {OUT / 'results.md'})")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--render-pdf"]:
        render_pdf_in_process(int(sys.argv[2]))
    else:
        main()
