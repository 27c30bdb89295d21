#!/usr/bin/env bash
# Create .venv (Python >= 3.11) and install seckb into it, with extras given as arguments.
# Sourced by scripts/ingest.sh and scripts/test.sh; safe to run again (pip skips what is there).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "seckb needs Python >= 3.11")'
if [ ! -x "$ROOT/.venv/bin/python" ]; then
    "$PYTHON" -m venv "$ROOT/.venv"
    "$ROOT/.venv/bin/python" -m pip install --quiet --upgrade pip
fi
spec="$ROOT"
if [ "$#" -gt 0 ]; then spec="$ROOT[$(IFS=,; echo "$*")]"; fi
"$ROOT/.venv/bin/python" -m pip install --quiet --disable-pip-version-check -e "$spec"
