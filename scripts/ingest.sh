#!/usr/bin/env bash
# Install seckb into .venv if needed, then run the main job: `seckb ingest` (arguments pass through).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/bootstrap.sh"
exec "$ROOT/.venv/bin/seckb" ingest "$@"
