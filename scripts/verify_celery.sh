#!/usr/bin/env bash
# Verify the Celery deployment for real, on this machine: Airflow's CeleryExecutor with Redis and
# PostgreSQL from Debian's packages, two Celery workers with separate scratch directories, moto's
# S3 server as the store (what scripts/verify_celery.py does and checks is in its docstring).
#
#   scripts/verify_celery.sh [--keep] [--timeout SECONDS]
#
# Needs: redis-server and postgresql (installed with apt-get when missing and run as root), and a
# virtual environment with seckb[airflow,dev], the Celery provider, psycopg2 and asyncpg (created once in
# $VERIFY_VENV, default ~/.cache/seckb/verify-venv; about two minutes the first time).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VERIFY_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/seckb/verify-venv}"

if ! command -v redis-server >/dev/null 2>&1 || ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server postgresql
    else
        echo "verify_celery: install Debian's redis-server and postgresql packages first" >&2
        exit 2
    fi
fi

if ! "$VENV/bin/python" -c "from celery.backends.database import retry; import airflow.providers.celery, psycopg2, asyncpg, obstore, moto, aggregators" >/dev/null 2>&1; then
    echo "verify_celery: creating $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --upgrade pip
    # celery 5.7 removed celery.backends.database.retry, which the Celery provider 3.26 imports
    "$VENV/bin/pip" install -q -e "$ROOT[airflow,dev]" apache-airflow-providers-celery "celery<5.7" \
        psycopg2-binary asyncpg
fi

exec "$VENV/bin/python" "$ROOT/scripts/verify_celery.py" "$@"
