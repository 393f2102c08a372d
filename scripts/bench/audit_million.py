#!/usr/bin/env python3
"""`flask audit verify` over a long trail: time and peak memory (1,000,000 events, <= 30 s, <= 200 MB).

Creates a throwaway database (PostgreSQL by default: a new database on the server of --server-url,
dropped afterwards; or --sqlite for a temporary file), appends --events hash-chained events with
bulk inserts (the same hashes audit.record() writes), then runs the real command
`flask audit verify` in a child process and reports its wall time and peak RSS.

Usage: .venv/bin/python scripts/bench/audit_million.py [--events 1000000] [--sqlite]
           [--server-url postgresql://postgres@127.0.0.1:5432/test] [--keep]
       .venv/bin/python scripts/bench/audit_million.py --database-url URL   (verify an existing trail only)
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("INSTANCE_DIR", tempfile.mkdtemp(prefix="audit-bench-"))

import sqlalchemy as sa  # noqa: E402

BATCH = 10_000


def _psycopg(url: str) -> str:
    return "postgresql+psycopg://" + url.split("://", 1)[1] if url.startswith("postgresql://") else url


def fill(url: str, events: int) -> float:
    """Create the schema and append `events` chained events; returns the seconds it took."""
    from app import create_app
    from blueprints.core import audit
    from models import AuditEvent, db

    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    started = time.perf_counter()
    with app.app_context():
        db.create_all()
        with db.engine.begin() as conn:
            audit.install_guards(conn)
        table = AuditEvent.__table__
        start = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
        kinds = ("enterprise", "supplier", "application", "voucher", "user")
        prev, rows = "", []
        for i in range(events):
            values = dict(
                at=start + dt.timedelta(seconds=i * 7, microseconds=i % 999_983), actor_id=None,
                actor_name="广州市经信局审核员", actor_role="city", body="city:440100", entity_type=kinds[i % 5],
                entity_id=i // 5, action=("submit", "accept", "approve", "issue", "login")[i % 5],
                from_state="city_review", to_state="approved", reason="材料齐全，同意" if i % 3 else "",
                data={"face_value_fen": 150_000_00 + i, "application_id": i // 5} if i % 2 else None,
                ip=f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}",
            )
            values["prev_hash"] = prev
            values["row_hash"] = prev = audit._hash(prev, SimpleNamespace(**values))
            rows.append(values)
            if len(rows) == BATCH:
                db.session.execute(sa.insert(table), rows)
                db.session.commit()
                rows = []
                if (i + 1) % 100_000 == 0:
                    print(f"  {i + 1:,} events written ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
        if rows:
            db.session.execute(sa.insert(table), rows)
            db.session.commit()
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(sa.text("VACUUM ANALYZE audit_event"))
        db.engine.dispose()
    return time.perf_counter() - started


def run_verify(url: str) -> tuple[float, float, str]:
    env = dict(os.environ, DATABASE_URL=url, FLASK_APP="app:create_app")
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    proc = subprocess.run([str(ROOT / ".venv/bin/flask"), "audit", "verify"], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    seconds = time.perf_counter() - started
    peak_mb = max(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, before) / 1024
    if proc.returncode != 0:
        raise SystemExit(f"verify failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return seconds, peak_mb, proc.stdout.strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--sqlite", action="store_true", help="a temporary SQLite file instead of PostgreSQL")
    ap.add_argument("--server-url", default=os.environ.get("TEST_DATABASE_URL",
                                                           "postgresql://postgres@127.0.0.1:5432/test"))
    ap.add_argument("--keep", action="store_true", help="keep the database (its URL is printed)")
    ap.add_argument("--database-url", help="time verify on this existing database; nothing written or dropped")
    args = ap.parse_args()
    if args.database_url:
        seconds, peak_mb, out = run_verify(_psycopg(args.database_url))
        print(out)
        print(f"flask audit verify: {seconds:.1f} s, peak RSS {peak_mb:.0f} MB")
        return

    admin = None
    if args.sqlite:
        path = Path(tempfile.mkdtemp(prefix="audit-bench-")) / "audit.db"
        url = f"sqlite:///{path}"
    else:
        base = sa.engine.make_url(_psycopg(args.server_url))
        name = f"audit_bench_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        url = base.set(database=name).render_as_string(hide_password=False)
    try:
        print(f"writing {args.events:,} events to {url.split('@')[-1]}", file=sys.stderr)
        fill_s = fill(url, args.events)
        print(f"written in {fill_s:.0f} s; running flask audit verify", file=sys.stderr)
        seconds, peak_mb, out = run_verify(url)
        print(out)
        engine = "SQLite" if args.sqlite else "PostgreSQL"
        print(f"{engine}: flask audit verify over {args.events:,} events: {seconds:.1f} s, peak RSS {peak_mb:.0f} MB")
    finally:
        if args.keep:
            print(f"kept: {url}", file=sys.stderr)
        elif admin is not None:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
        elif args.sqlite:
            path.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
