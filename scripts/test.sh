#!/usr/bin/env bash
# The whole suite: first on SQLite (browser tests included), then on PostgreSQL, then the reliability
# figures' CI subset (scripts/reliability/run.py --quick; SKIP_RELIABILITY=1 leaves it out).
# PostgreSQL: TEST_DATABASE_URL, or the server on 127.0.0.1:5432 (database `test`).
# In CI (CI=true) a missing PostgreSQL is an error, never a silent skip.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
PG_URL="${TEST_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/test}"

pg_up() {
  $PY - "$PG_URL" <<'PYEOF' >/dev/null 2>&1
import sys, psycopg
url = sys.argv[1].replace("postgresql+psycopg://", "postgresql://")
psycopg.connect(url, connect_timeout=3).close()
PYEOF
}

if ! pg_up && [ "${CI:-}" = "true" ] && command -v pg_ctlcluster >/dev/null; then
  echo ">> starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  for _ in 1 2 3 4 5 6 7 8 9 10; do pg_up && break; sleep 1; done
fi

# Redis carries the job queue between the two app servers of tests/test_two_servers.py.
redis_up() { command -v redis-cli >/dev/null && [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = "PONG" ]; }
if ! redis_up && command -v redis-server >/dev/null; then
  echo ">> starting Redis on 127.0.0.1:6379 (nothing kept on disk)"
  redis-server --bind 127.0.0.1 --port 6379 --save "" --appendonly no --daemonize yes >/dev/null
  for _ in 1 2 3 4 5 6 7 8 9 10; do redis_up && break; sleep 0.5; done
fi

echo "== pass 1: SQLite (with browser tests) =="
$PY -m pytest -q "$@" tests
rc1=$?

rc2=0
if pg_up; then
  echo "== pass 2: PostgreSQL ($PG_URL) =="
  TEST_DATABASE_URL="$PG_URL" $PY -m pytest -q -m "not browser" "$@" tests
  rc2=$?
elif [ "${CI:-}" = "true" ] || [ -n "${TEST_DATABASE_URL:-}" ]; then
  echo "!! PostgreSQL is required here but does not answer at $PG_URL"
  rc2=1
else
  echo "!! PostgreSQL does not answer at $PG_URL: the PostgreSQL pass did NOT run (set TEST_DATABASE_URL)"
fi

# The reliability figures' CI subset on the production path (gunicorn -w 4 on its own database).
rc3=0
if pg_up && [ "${SKIP_RELIABILITY:-}" != "1" ]; then
  echo "== pass 3: reliability figures, CI subset (make reliability for all of them) =="
  RELIABILITY_PG_URL="${PG_URL%/*}" $PY scripts/reliability/run.py --quick
  rc3=$?
fi

if [ -x ../shared/tools/rule-coverage ]; then
  ../shared/tools/rule-coverage --tests tests | tail -n 2 || true
fi
if [ $rc1 -ne 0 ] || [ $rc2 -ne 0 ] || [ $rc3 -ne 0 ]; then
  echo "FAILED: sqlite=$rc1 postgresql=$rc2 reliability=$rc3"
  exit 1
fi
