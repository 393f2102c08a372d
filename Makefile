# The two commands: `make run` and `make test`. Both set everything up on first use.
HOST ?= 127.0.0.1
PORT ?= 5000
export FLASK_APP := app:create_app

.PHONY: run test serve setup lint migrate-check clean-db bench reliability

run:
	@bash scripts/setup.sh run
	@HOST=$(HOST) PORT=$(PORT) bash scripts/print-logins.sh
	@HOST=$(HOST) PORT=$(PORT) bash scripts/run.sh

test:
	@bash scripts/setup.sh test
	bash scripts/test.sh

# Production: gunicorn with sync workers (see gunicorn.conf.py, which also starts the job consumer); migrate first.
serve:
	@bash scripts/setup.sh serve
	.venv/bin/flask db upgrade
	COOKIE_SECURE=$${COOKIE_SECURE:-1} .venv/bin/gunicorn -c gunicorn.conf.py "app:create_app()"

# Province-scale benchmark: builds its own data sets and prints the table (also written
# to instance/bench/results.md). BENCH_QUICK=1: one 3 s run per page; BENCH_ENGINES=postgresql.
bench:
	@bash scripts/setup.sh test
	@bash scripts/setup.sh bench
	.venv/bin/python scripts/bench/run.py

# Reliability figures F1-F23 on the production path (gunicorn -w 4, PostgreSQL on 127.0.0.1:5432, own
# database created and dropped); prints the table and writes instance/reliability/results.md.
# RELIABILITY_QUICK=1: the CI subset (about 3 minutes), also run by `make test`.
reliability:
	@bash scripts/setup.sh test
	@bash scripts/setup.sh reliability
	.venv/bin/python scripts/reliability/run.py $$( [ -n "$${RELIABILITY_QUICK:-}" ] && echo --quick )

setup:
	@bash scripts/setup.sh run

clean-db:
	rm -f instance/platform.db instance/platform.db-wal instance/platform.db-shm
