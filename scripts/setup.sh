#!/usr/bin/env bash
# One idempotent set-up for `make run` and `make test` on a fresh Debian machine:
# system packages (as root, with apt), .venv with pinned packages, htmx from the npm
# registry, compiled translations, database migrations, demo data once.
# Usage: scripts/setup.sh [run|test|bench|reliability]
set -euo pipefail
cd "$(dirname "$0")/.."
MODE="${1:-run}"
PY=python3
STAMP=.venv/.installed

need_pkgs=(fonts-noto-cjk libharfbuzz-subset0 libpango-1.0-0 libpangoft2-1.0-0)
if [ "$MODE" = "test" ]; then
  # redis-server: the two-app-server test shares its job queue through Redis
  need_pkgs+=(poppler-utils chromium redis-server)
fi
if [ "$MODE" = "bench" ]; then
  need_pkgs+=(wrk)  # the load generator of `make bench`
fi

missing=()
for p in "${need_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo ">> installing system packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "!! missing system packages: ${missing[*]}"
    echo "   install them as root:  apt-get install -y --no-install-recommends ${missing[*]}"
    exit 1
  fi
fi

if ! command -v npm >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && apt-get install -y -qq --no-install-recommends npm >/dev/null
  else
    echo "!! npm is needed once to fetch htmx from the npm registry: apt-get install npm"; exit 1
  fi
fi

if [ ! -x .venv/bin/python ]; then
  echo ">> creating .venv"
  $PY -m venv .venv
fi
req_hash=$(sha256sum requirements.txt | cut -c1-16)
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$req_hash" ]; then
  echo ">> installing Python packages (requirements.txt)"
  .venv/bin/pip install -q --disable-pip-version-check -r requirements.txt
  echo "$req_hash" > "$STAMP"
fi

if [ "$MODE" = "reliability" ]; then
  tools_hash=$(sha256sum requirements-tools.txt | cut -c1-16)
  if [ ! -f .venv-tools/.installed ] || [ "$(cat .venv-tools/.installed)" != "$tools_hash" ]; then
    echo ">> installing the reliability tools (requirements-tools.txt) into .venv-tools"
    $PY -m venv .venv-tools
    .venv-tools/bin/pip install -q --disable-pip-version-check -r requirements-tools.txt
    echo "$tools_hash" > .venv-tools/.installed
  fi
fi

HTMX_VERSION=2.0.11
if [ ! -f static/vendor/htmx.min.js ] || ! grep -q "$HTMX_VERSION" static/vendor/.htmx-version 2>/dev/null; then
  echo ">> fetching htmx.org@$HTMX_VERSION from the npm registry"
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "htmx.org@$HTMX_VERSION" >/dev/null && tar xzf htmx.org-*.tgz)
  mkdir -p static/vendor
  cp "$tmp/package/dist/htmx.min.js" static/vendor/htmx.min.js
  echo "$HTMX_VERSION" > static/vendor/.htmx-version
  rm -rf "$tmp"
fi

if ls translations/*/LC_MESSAGES/messages.po >/dev/null 2>&1; then
  .venv/bin/pybabel compile -d translations >/dev/null
fi

# The PDFs' common-characters cut of Noto Sans CJK SC (static/vendor/fonts/, git-ignored): built
# once from the system font in well under a second; see blueprints/core/pdf.py.
.venv/bin/python -c "from blueprints.core.pdf import build_fonts; build_fonts()"

mkdir -p instance
if [ "$MODE" = "run" ]; then
  export FLASK_APP=app:create_app
  .venv/bin/flask db upgrade
  .venv/bin/flask demo-data --if-empty
fi
