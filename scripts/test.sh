#!/usr/bin/env bash
# Install seckb with its dev tools and Airflow into .venv, then lint, type-check and run the tests.
# Tests marked `network` reach the real PyPI and are skipped when CI is set.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
"$ROOT/scripts/bootstrap.sh" dev airflow
# The HTML page and report tests drive headless Chromium (Debian's package): install it where we
# can (root with apt-get, as in CI); elsewhere those tests are skipped and say why.
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 \
    && [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
        >/dev/null 2>&1 || echo "note: could not install chromium; browser tests will be skipped" >&2
fi
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
markers=()
if [ -n "${CI:-}" ]; then markers=(-m "not network"); fi
exec .venv/bin/pytest "${markers[@]}" "$@"
