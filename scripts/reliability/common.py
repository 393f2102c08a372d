"""What every probe shares: the run's context, a result row, the table, and running flask/pytest."""
from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".venv" / "bin"


@dataclass
class Ctx:
    env: dict
    url: str  # the run's PostgreSQL database
    port: int  # gunicorn -w 4
    server: object
    run_dir: Path
    quick: bool
    start_server: Callable  # (workers, tag) -> Server on the same database
    addr_seq: list = field(default_factory=lambda: [0])

    def address(self) -> str:
        """A fresh client address (X-Forwarded-For; the server trusts one proxy): probes never share
        per-address counters."""
        self.addr_seq[0] += 1
        n = self.addr_seq[0]
        return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"

    def sql(self, query: str, *params):
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            cur = conn.execute(query, params or None)
            return cur.fetchall() if cur.description else None


@dataclass
class Result:
    figure: str
    title: str
    tried: str
    result: str
    target: str
    ok: Optional[bool]  # None: cannot be measured here (the result says why)
    seconds: float = 0.0


@dataclass
class Probe:
    figure: str
    title: str
    fn: Callable
    quick: bool = True


def flask(env: dict, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "flask"), *args], cwd=ROOT, env=env, check=check, capture_output=True,
                          text=True, timeout=timeout)


def pytest(env: dict, *args: str, timeout: float = 900) -> tuple[bool, str]:
    """Run tests on PostgreSQL (a private database per run); (passed, last summary line)."""
    pg = env["DATABASE_URL"].rsplit("/", 1)[0] + "/postgres"
    run_env = dict(env, TEST_DATABASE_URL=pg)
    run_env.pop("DATABASE_URL", None)
    proc = subprocess.run([str(BIN / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider", *args], cwd=ROOT,
                          env=run_env, capture_output=True, text=True, timeout=timeout)
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    return proc.returncode == 0, (lines[-1] if lines else proc.stderr.strip()[-200:])


def render_table(results: list[Result], quick: bool, seconds: float) -> str:
    mark = {True: "pass", False: "**FAIL**", None: "n/a"}
    rows = ["| Figure | What was tried | Result | Target | |", "|---|---|---|---|---|"]
    for r in results:
        rows.append(f"| {r.figure} {r.title} | {r.tried} | {r.result} | {r.target} | {mark[r.ok]} |")
    head = (f"Reliability figures ({'CI subset' if quick else 'full run'}), {platform.node()}: "
            f"{os.cpu_count()} cores, PostgreSQL, gunicorn 4 sync workers on 127.0.0.1; {seconds:.0f} s in all.\n\n")
    return head + "\n".join(rows) + "\n"
