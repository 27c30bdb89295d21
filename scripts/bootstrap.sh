#!/usr/bin/env bash
# Create .venv (Python >= 3.11) and install seckb into it, with extras given as arguments.
# Used by scripts/ingest.sh and scripts/test.sh. It installs only when needed: when .venv is new,
# or pyproject.toml or the extras asked for changed since the last install (a stamp in .venv; the
# install is editable, so code changes need none). Quiet: pip's output is shown only when the
# install fails. SECKB_REINSTALL=1 installs anyway.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "seckb needs Python >= 3.11")'
extras="$(IFS=,; echo "$*")"
spec="$ROOT"
if [ -n "$extras" ]; then spec="$ROOT[$extras]"; fi
stamp="$ROOT/.venv/.seckb-installed-${extras:-base}"
want="$("$PYTHON" -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$ROOT/pyproject.toml") [$extras]"
if [ -x "$ROOT/.venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
    && [ -z "${SECKB_REINSTALL:-}" ]; then
    exit 0
fi
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
if [ ! -x "$ROOT/.venv/bin/python" ]; then
    "$PYTHON" -m venv "$ROOT/.venv"
    "$ROOT/.venv/bin/python" -m pip install --quiet --upgrade pip >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
fi
if ! "$ROOT/.venv/bin/python" -m pip install --quiet --disable-pip-version-check -e "$spec" >"$log" 2>&1; then
    cat "$log" >&2
    echo "bootstrap: installing seckb into $ROOT/.venv failed (pip's output above)" >&2
    exit 1
fi
echo "$want" >"$stamp"
