#!/usr/bin/env python3
"""`make reliability`: the figures F1–F23 of the reliability requirements, measured on the production path.

It creates a PostgreSQL database of its own (dropped at the end), migrates it, loads the demo data,
starts gunicorn with 4 sync workers on 127.0.0.1 and a free port (gunicorn.conf.py, as `make serve`),
runs bounded probes and prints one table: figure, what was tried, result, target, pass/fail. The
table is also written to instance/reliability/results.md. Exit status 1 when a figure misses its target.

  --quick       the CI subset (about 3 minutes): smaller counts, no mutation testing
  --only F9,F14 only these figures
  RELIABILITY_PG_URL  the PostgreSQL server, without a database (default postgresql://postgres@127.0.0.1:5432)
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

from prodserver import Server  # noqa: E402
from reliability import probes  # noqa: E402
from reliability.common import Ctx, Result, flask, render_table  # noqa: E402

OUT = ROOT / "instance" / "reliability"
PG_BASE = os.environ.get("RELIABILITY_PG_URL", "postgresql://postgres@127.0.0.1:5432").rstrip("/")


def _pg_admin():
    import psycopg

    return psycopg.connect(f"{PG_BASE}/postgres", autocommit=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="")
    args = ap.parse_args()
    only = {x.strip().upper() for x in args.only.split(",") if x.strip()}
    chosen = [p for p in probes.ALL if (not only or p.figure in only) and (not args.quick or p.quick)]
    started = time.time()
    name = f"rel_{uuid.uuid4().hex[:8]}"
    run_dir = OUT / name
    run_dir.mkdir(parents=True, exist_ok=True)
    url = f"{PG_BASE}/{name}"
    with _pg_admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    env = dict(os.environ, DATABASE_URL=url, UPLOAD_DIR=str(run_dir / "uploads"), FLASK_APP="app:create_app",
               INSTANCE_DIR=str(run_dir / "instance"), JOBS_QUEUE_NAME=f"reliability-{name}", COOKIE_SECURE="0",
               TRUSTED_PROXIES="1", RELIABILITY_CANARY=f"CANARY-{uuid.uuid4().hex}")
    servers: list[Server] = []
    results: list[Result] = []
    try:
        print(f"[reliability] database {name}: migrate and load the demo data", flush=True)
        flask(env, "db", "upgrade")
        flask(env, "demo-data")
        server = Server(env, run_dir / "gunicorn-w4.log", workers=4)
        servers.append(server)
        ctx = Ctx(env=env, url=url, port=server.port, server=server, run_dir=run_dir, quick=args.quick,
                  start_server=lambda workers, tag: servers.append(Server(env, run_dir / f"gunicorn-{tag}.log",
                                                                          workers=workers)) or servers[-1])
        for probe in chosen:
            t0 = time.time()
            print(f"[reliability] {probe.figure} {probe.title} …", flush=True)
            try:
                res = probe.fn(ctx)
            except Exception as exc:  # a probe that breaks is a failed figure, not a crashed harness
                traceback.print_exc()
                res = Result(probe.figure, probe.title, "probe failed", f"{type(exc).__name__}: {exc}", "", False)
            res.seconds = time.time() - t0
            results.append(res)
            print(f"    → {'pass' if res.ok else ('n/a' if res.ok is None else 'FAIL')}: {res.result} "
                  f"({res.seconds:.0f} s)", flush=True)
    finally:
        for s in servers:
            s.stop()
        with _pg_admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    table = render_table(results, quick=args.quick, seconds=time.time() - started)
    print(table)
    (OUT / ("results-quick.md" if args.quick else "results.md")).write_text(table)
    return 0 if all(r.ok is not False for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
