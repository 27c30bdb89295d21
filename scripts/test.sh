#!/usr/bin/env bash
# Install seckb with its dev tools and Airflow into .venv, then lint, type-check and run the tests.
# Tests marked `network` reach the real PyPI and are skipped when CI is set.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
"$ROOT/scripts/bootstrap.sh" dev airflow
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
markers=()
if [ -n "${CI:-}" ]; then markers=(-m "not network"); fi
exec .venv/bin/pytest "${markers[@]}" "$@"
