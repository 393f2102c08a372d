#!/usr/bin/env python3
"""Benchmark of the connection-record import: 10 million rows in ≤ 30 s end to end and
≤ 500 MB peak memory on a 2-core machine; the API ≥ 50,000 records/s in 10,000-record batches.

1. A data set of its own (cached under instance/bench/): a SQLite file (or USAGE_BENCH_DB) seeded by
   scripts/bench/seed.py at 10,000 vouchers (schema from models.py), then declared addresses for every
   voucher (its enterprise's:
   IPv4 addresses and /24-/28 ranges, IPv6 /48 and /64 ranges and addresses, line numbers) and endpoints
   for every supplier (IPv4 and IPv6 ranges, domains; a /16 shared by a fifth of them).
2. A realistic file (cached per row count): each row one voucher's enterprise reaching its supplier on a
   day of the last 45 (times naive, Z, +08:00 or dates; hosts inside ranges; subdomains; lines in either
   case), plus 5% noise rows that match nothing (undeclared addresses, other clouds). Written by DuckDB.
3. The import, in a fresh process: connections.import_csv + commit, timed; the process's peak RSS.
4. The API: connections.import_records + commit in 10,000-record batches, after the usage tables are
   emptied: the file's latest records in time order (as a supplier's or operator's system pushes them;
   the first batches of a day give every voucher a new day), and for reference the worst case, batches
   each spread over the whole 45 days (nearly every record a new day of another voucher).

Usage: .venv/bin/python scripts/bench/usage_import.py [--rows 10000000] [--batches 20] [--markdown]
The database is a SQLite file under instance/bench/; USAGE_BENCH_DB=postgresql://…/bench_usage measures on
PostgreSQL instead (that database is dropped and created).
"""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import ipaddress
import json
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = ROOT / "scripts" / "bench"
for _p in (ROOT, HERE):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))
OUT = ROOT / "instance" / "bench"
DB_PATH = OUT / "usage_import.db"
DB_URL = os.environ.get("USAGE_BENCH_DB", "")  # e.g. postgresql://postgres@127.0.0.1:5432/bench_usage
UPLOADS = OUT / "usage_import_uploads"
VOUCHERS = 10_000
NOISE = 0.05
WINDOW_DAYS = 45
SEED = 2026


def log(msg: str) -> None:
    print(f"[usage-bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def make_app():
    os.environ.setdefault("INSTANCE_DIR", str(OUT / "instance"))
    from app import _database_url, create_app

    if DB_URL:
        os.environ["DATABASE_URL"] = DB_URL
    url = _database_url() if DB_URL else f"sqlite:///{DB_PATH}"
    return create_app({"SQLALCHEMY_DATABASE_URI": url, "UPLOAD_DIR": str(UPLOADS)})


def engine_label() -> str:
    return "PostgreSQL" if DB_URL.startswith("postgres") else "SQLite"


def fresh_database() -> bool:
    """Drop and create the bench's database (PostgreSQL) or delete its file (SQLite); True when it exists."""
    if DB_URL:
        import psycopg

        base, name = DB_URL.rsplit("/", 1)
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        return True
    for suffix in ("", "-wal", "-shm"):
        Path(f"{DB_PATH}{suffix}").unlink(missing_ok=True)
    return True


def database_exists() -> bool:
    if not DB_URL:
        return DB_PATH.exists()
    import psycopg

    base, name = DB_URL.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


def peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---------------------------------------------------------------------- the data set


def world_key() -> str:
    h = hashlib.sha256(f"vouchers={VOUCHERS} seed={SEED} v2".encode())
    for p in (HERE / "seed.py", Path(__file__), ROOT / "models.py"):
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def declared_for(i: int, rng: random.Random) -> tuple[list[str], list[str]]:
    """Enterprise i's declared addresses and the values its records show (hosts inside ranges)."""
    kind = i % 10
    if kind < 4:  # one public IPv4 address
        a = ipaddress.IPv4Address("121.8.0.0") + i * 16 + 1
        declared, seen = [str(a)], [str(a)]
    elif kind < 6:  # an IPv4 range, /24 to /28
        plen = 24 if kind == 4 else 28
        net = ipaddress.IPv4Network((int(ipaddress.IPv4Address("122.0.0.0")) + i * 256, plen))
        declared = [str(net)]
        seen = [str(net.network_address + rng.randrange(1, net.num_addresses - 1)) for _ in range(3)]
    elif kind < 8:  # an IPv6 /48 (or /64) range
        plen = 48 if kind == 6 else 64
        net = ipaddress.IPv6Network((int(ipaddress.IPv6Address("2408:8456::")) + (i << 80), plen))
        declared = [str(net)]
        seen = [str(net.network_address + rng.randrange(1, 1 << 40)) for _ in range(3)]
    elif kind < 9:  # one IPv6 address
        a = ipaddress.IPv6Address("240e:3a1::") + (i << 64) + 7
        declared, seen = [str(a)], [str(a), a.exploded]
    else:  # a carrier's line number
        line = f"GD-ZX-{i:07d}"
        declared, seen = [line], [line, line.lower()]
    if i % 3 == 0:  # a second declaration: a line number
        line = f"GZ-DL-{i:06d}"
        declared.append(line)
        seen.append(line)
    return declared, seen


def endpoints_for(j: int, rng: random.Random) -> tuple[list[str], list[str]]:
    """Supplier j's endpoints and the cloud-side values its customers' records show."""
    kind = j % 5
    if kind == 0:
        net = ipaddress.IPv4Network(f"47.{100 + j % 100}.{(j // 100) * 16}.0/20")
        eps, seen = [str(net)], [str(net.network_address + rng.randrange(1, 4000)) for _ in range(4)]
    elif kind == 1:
        d = f"cloud{j}.yunqing.example.cn"
        eps, seen = [d], [d, f"api.{d}", f"cdn.{d}"]
    elif kind == 2:
        net = ipaddress.IPv6Network(f"2408:80{j % 256:02x}::/32")
        eps, seen = [str(net)], [str(net.network_address + rng.randrange(1, 1 << 60)) for _ in range(3)]
    elif kind == 3:
        d = f"svc{j}.example.com"
        eps = [d, f"39.{j % 250}.8.0/24"]
        seen = [d, f"www.{d}", f"39.{j % 250}.8.{rng.randrange(1, 255)}"]
    else:  # on a big public cloud: a range shared with other suppliers, and a domain of its own
        d = f"app{j}.saas.example.cn"
        eps = ["121.40.0.0/16", d]
        seen = [f"121.40.{rng.randrange(256)}.{rng.randrange(1, 255)}" for _ in range(2)] + [f"m.{d}"]
    return eps, seen


def build_world() -> dict:
    """The seeded database (cached), with declared addresses and endpoints; returns what the file needs."""
    stamp = OUT / f"usage_import_{engine_label().lower()}.json"
    key = world_key()
    if database_exists() and stamp.exists() and json.loads(stamp.read_text()).get("key") == key:
        log("cached data set (seed.py, models.py and this script unchanged)")
        return json.loads(stamp.read_text())["world"]
    fresh_database()
    stamp.unlink(missing_ok=True)
    import seed  # scripts/bench/seed.py

    from models import Application, Supplier, Voucher, VoucherAddress, db

    app = make_app()
    with app.app_context():
        db.create_all()
        seed.build(VOUCHERS, seed=SEED, pdfs=False)
        rng = random.Random(SEED)
        vouchers = db.session.execute(
            db.select(Voucher.id, Voucher.enterprise_id, Voucher.supplier_id, Application.contract_signed_on)
            .join(Application, Application.id == Voucher.application_id).order_by(Voucher.id)).all()
        ents = sorted({e for _, e, _, _ in vouchers})
        sups = sorted({s for _, _, s, _ in vouchers})
        ent_decl = {e: declared_for(n, rng) for n, e in enumerate(ents)}
        sup_eps = {s: endpoints_for(n, rng) for n, s in enumerate(sups)}
        rows = [dict(voucher_id=vid, kind=_kind(a), value=a, created_at=dt.datetime.now(dt.timezone.utc))
                for vid, e, _, _ in vouchers for a in ent_decl[e][0]]
        for i in range(0, len(rows), 5000):
            db.session.execute(db.insert(VoucherAddress), rows[i:i + 5000])
        for s, (eps, _) in sup_eps.items():
            db.session.execute(db.update(Supplier).where(Supplier.id == s).values(endpoints=eps))
        db.session.commit()
        world = dict(vouchers=[[vid, ent_decl[e][1], sup_eps[s][1], signed.isoformat()]
                               for vid, e, s, signed in vouchers],
                     addresses=len(rows), enterprises=len(ents), suppliers=len(sups))
        db.session.remove()
        db.engine.dispose()
    stamp.write_text(json.dumps({"key": key, "world": world}))
    log(f"data set built: {len(world['vouchers'])} vouchers, {len(rows)} declared addresses")
    return world


def _kind(value: str) -> str:
    from blueprints.core import usage

    return usage.parse_declared(value)[0]


def generate(path: Path, rows: int, world: dict) -> None:
    """The file, written by DuckDB from the vouchers' sample values (deterministic per row number)."""
    import duckdb

    today = dt.date.today()
    vs = world["vouchers"]
    con = duckdb.connect(config={"threads": 2})
    con.execute("CREATE TABLE vv AS SELECT unnest($1::INTEGER[]) AS n, unnest($2::VARCHAR[][]) AS ents, "
                "unnest($3::VARCHAR[][]) AS clouds", [list(range(len(vs))), [v[1] for v in vs], [v[2] for v in vs]])
    nv = len(vs)
    noise = int(NOISE * 1000)
    start = today - dt.timedelta(days=WINDOW_DAYS)
    # Local (Beijing) wall time of each row, then one of four spellings of it.
    sql = f"""
    COPY (
      SELECT CASE WHEN f < 12 THEN strftime(ts, '%Y-%m-%d %H:%M:%S')
                  WHEN f < 17 THEN strftime(ts - INTERVAL 8 HOUR, '%Y-%m-%dT%H:%M:%SZ')
                  WHEN f < 19 THEN strftime(ts, '%Y-%m-%dT%H:%M:%S+08:00')
                  ELSE strftime(ts, '%Y-%m-%d') END AS time,
             CASE WHEN z < {noise} AND z % 2 = 0 THEN
                       CASE WHEN z % 4 = 0 THEN '58.' || (h2 % 250) || '.' || (h3 % 250) || '.' || (h4 % 250 + 1)
                            ELSE 'XX-UNKNOWN-' || (h2 % 100000) END
                  ELSE ents[1 + h2 % len(ents)] END AS enterprise,
             CASE WHEN z < {noise} AND z % 2 = 1 THEN
                       CASE WHEN z % 4 = 1 THEN 'h' || (h3 % 1000) || '.noise' || (h4 % 100) || '.example.net'
                            ELSE '8.8.' || (h3 % 250) || '.' || (h4 % 250 + 1) END
                  ELSE clouds[1 + h3 % len(clouds)] END AS cloud,
             (h4 % 5000000)::VARCHAR AS bytes
      FROM (
        SELECT r.i, v.ents, v.clouds, (hash(r.i, 1) % 20)::BIGINT AS f, (hash(r.i, 2) % 1000)::BIGINT AS z,
               (hash(r.i, 3) % 1000000007)::BIGINT AS h2, (hash(r.i, 4) % 1000000007)::BIGINT AS h3,
               (hash(r.i, 5) % 1000000007)::BIGINT AS h4,
               DATE '{start.isoformat()}' + (hash(r.i, 6) % {WINDOW_DAYS})::INTEGER
                 + to_seconds((hash(r.i, 7) % 86400)::BIGINT) AS ts
        FROM range({rows}) r(i) JOIN vv v ON v.n = hash(r.i) % {nv}
      )
    ) TO '{path}' (HEADER, DELIMITER ',', QUOTE '')"""
    con.execute(sql)
    con.close()


# ---------------------------------------------------------------------- measurements


def reset_usage() -> None:
    """Empty what imports write, so every run measures the same work (and the same file imports again)."""
    from models import ConnectionImport, DataOrg, StoredFile, UsageDay, VoucherUsage, db

    db.session.execute(db.delete(UsageDay))
    db.session.execute(db.delete(VoucherUsage))
    db.session.execute(db.update(ConnectionImport).values(file_id=None))
    db.session.execute(db.delete(StoredFile).where(StoredFile.kind == "connections_csv"))
    db.session.execute(db.delete(ConnectionImport))
    db.session.execute(db.delete(DataOrg))
    db.session.commit()


def run_import(path: str) -> dict:
    """In this (fresh) process: the CSV import as the command runs it, committed; time and peak memory."""
    import shutil

    from blueprints.core import connections
    from models import db

    shutil.rmtree(UPLOADS, ignore_errors=True)
    app = make_app()
    with app.app_context():
        reset_usage()
        base = peak_mb()
        t = time.perf_counter()
        r = connections.import_csv(path, source="cli")
        db.session.commit()
        seconds = time.perf_counter() - t
        out = dict(rows=r.rows, matched=r.matched_rows, new_days=r.new_days, completed=r.vouchers_completed,
                   seconds=seconds, engine_seconds=r.seconds, peak_mb=peak_mb(), base_mb=base)
        db.session.remove()
    return out


def api_records(path: str, n: int, stream: bool) -> list[dict]:
    """API records from the file: as a supplier's system pushes them (the latest records in time order,
    so a batch covers minutes of every enterprise's traffic), or the file's first rows (each batch spread
    over the whole 45 days: nearly every record a new usage day, the worst case)."""
    import duckdb

    con = duckdb.connect(config={"threads": 2, "memory_limit": "1GB"})  # before the measurement
    con.execute("SET TimeZone = 'Asia/Shanghai'")
    src = (f"read_csv('{path}', header = true, auto_detect = false, "
           "columns = {'time': 'VARCHAR', 'enterprise': 'VARCHAR', 'cloud': 'VARCHAR', 'bytes': 'VARCHAR'})")
    order = "ORDER BY try_cast(time AS TIMESTAMPTZ) DESC" if stream else ""
    rows = con.execute(f"SELECT time, enterprise, cloud, bytes FROM {src} {order} LIMIT {n}").fetchall()
    con.close()
    if stream:
        rows.reverse()
    return [{"time": t, "enterprise": e, "cloud": c, "bytes": int(b)} for t, e, c, b in rows]


def run_api(path: str, batches: int, stream: bool, size: int = 10_000) -> dict:
    """import_records + commit per 10,000-record batch, the usage tables emptied first."""
    from blueprints.core import connections
    from models import DataOrg, db

    app = make_app()
    with app.app_context():
        reset_usage()
        org = DataOrg(name="基准测试运营商", kind="operator")
        db.session.add(org)
        db.session.commit()
        org_id = org.id
        data = api_records(path, batches * size, stream)
        times, new_days = [], 0
        for b in range(batches):
            records = data[b * size:(b + 1) * size]
            t = time.perf_counter()
            r = connections.import_records(records, org=db.session.get(DataOrg, org_id), batch_id=f"bench-{b}")
            db.session.commit()
            times.append(time.perf_counter() - t)
            new_days += r.new_days
        db.session.remove()
    total = sum(times)
    times.sort()
    return dict(batches=batches, records=batches * size, seconds=total, rate=batches * size / total,
                p50_ms=times[len(times) // 2] * 1000, max_ms=times[-1] * 1000, new_days=new_days, peak_mb=peak_mb())


def child(mode: str, path: str, batches: int) -> dict:
    out = subprocess.run([sys.executable, __file__, f"--child-{mode}", path, "--batches", str(batches)],
                         cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--batches", type=int, default=20, help="API batches of 10,000 records")
    ap.add_argument("--markdown", action="store_true", help="print only the Markdown table")
    ap.add_argument("--child-import")
    ap.add_argument("--child-api")
    ap.add_argument("--child-api-spread")
    args = ap.parse_args()
    if args.child_import:
        print(json.dumps(run_import(args.child_import)))
        return
    if args.child_api:
        print(json.dumps(run_api(args.child_api, args.batches, stream=True)))
        return
    if args.child_api_spread:
        print(json.dumps(run_api(args.child_api_spread, max(args.batches // 4, 2), stream=False)))
        return

    OUT.mkdir(parents=True, exist_ok=True)
    world = build_world()
    path = OUT / f"connections_{args.rows}.csv"
    if not path.exists() or _file_key(path) != world_key():
        log(f"writing {args.rows:,} rows to {path.relative_to(ROOT)}")
        t = time.perf_counter()
        generate(path, args.rows, world)
        Path(f"{path}.key").write_text(world_key())
        log(f"written in {time.perf_counter() - t:.1f} s ({path.stat().st_size / 1e6:.0f} MB)")
    log("importing the file (fresh process)")
    imp = child("import", str(path), args.batches)
    log("API batches, a time-ordered stream (fresh process)")
    api = child("api", str(path), args.batches)
    log("API batches, each spread over the whole period (fresh process)")
    spread = child("api-spread", str(path), args.batches)

    size_mb = path.stat().st_size / 1e6
    ok = lambda good: "✓" if good else "✗"  # noqa: E731
    per10m = imp["seconds"] * 10_000_000 / imp["rows"]
    lines = [
        f"Usage import benchmark ({time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, {engine_label()}, "
        f"{len(world['vouchers']):,} vouchers of {world['enterprises']:,} enterprises and {world['suppliers']} "
        f"suppliers, {world['addresses']:,} declared addresses, {NOISE:.0%} noise rows):",
        "",
        "| measure | figure | goal |",
        "|---|---|---|",
        f"| CSV file | {imp['rows']:,} rows, {size_mb:,.0f} MB | |",
        f"| `import_csv` + commit, end to end | {imp['seconds']:.1f} s ({imp['rows'] / imp['seconds']:,.0f} rows/s) "
        f"| ≤ 30 s per 10M rows {ok(per10m <= 30)} |",
        f"| peak memory of the importing process | {imp['peak_mb']:.0f} MB (before the import {imp['base_mb']:.0f} MB) "
        f"| ≤ 500 MB {ok(imp['peak_mb'] <= 500)} |",
        f"| matched rows / new usage days / vouchers completed | {imp['matched']:,} / {imp['new_days']:,} / "
        f"{imp['completed']:,} | |",
        f"| API: {api['batches']} batches of 10,000 records, `import_records` + commit, the latest records in time "
        f"order (as a system pushes them) | {api['rate']:,.0f} records/s "
        f"(batch p50 {api['p50_ms']:.0f} ms, max {api['max_ms']:.0f} ms; {api['new_days']:,} new days) "
        f"| ≥ 50,000 records/s {ok(api['rate'] >= 50_000)} |",
        f"| API worst case: {spread['batches']} batches, each spread over all 45 days (nearly every record a new "
        f"day of another voucher) | {spread['rate']:,.0f} records/s (batch p50 {spread['p50_ms']:.0f} ms; "
        f"{spread['new_days']:,} new days) | (shown for reference) |",
    ]
    table = "\n".join(lines) + "\n"
    out = OUT / f"usage_import_{engine_label().lower()}.md"
    out.write_text(table)
    print(table)
    if not args.markdown:
        print(f"(written to {out.relative_to(ROOT)})")


def _file_key(path: Path) -> str:
    key = Path(f"{path}.key")
    return key.read_text() if key.exists() else ""


if __name__ == "__main__":
    main()
