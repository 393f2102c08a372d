#!/usr/bin/env bash
# `make run`: the background-job consumer alongside the development server; both stop together.
set -uo pipefail
cd "$(dirname "$0")/.."
export FLASK_APP=app:create_app
.venv/bin/flask jobs worker --workers 1 &
worker=$!
trap 'kill "$worker" 2>/dev/null; wait "$worker" 2>/dev/null' EXIT INT TERM
.venv/bin/flask run --host "${HOST:-127.0.0.1}" --port "${PORT:-5000}"
