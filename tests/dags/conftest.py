"""An Airflow home in a temporary directory, migrated once per test session (SQLite)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parents[2] / "dags"
# Airflow reads its configuration when first imported: point it at a private home before that.
HOME = Path(tempfile.mkdtemp(prefix="seckb-airflow-home-"))
os.environ.update(
    {
        "AIRFLOW_HOME": str(HOME),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
    }
)

pytest.importorskip("airflow", reason="apache-airflow is not installed (pip install -e .[airflow])")


@pytest.fixture(scope="session")
def airflow_home() -> Iterator[Path]:
    """AIRFLOW_HOME with a migrated database and the pools the DAG uses."""
    airflow = [sys.executable, "-m", "airflow"]
    env = dict(os.environ)
    subprocess.run([*airflow, "db", "migrate"], check=True, env=env, capture_output=True)
    for pool, slots in (("pypi", 8), ("scorecard", 4)):
        subprocess.run(
            [*airflow, "pools", "set", pool, str(slots), f"seckb {pool}"],
            check=True,
            env=env,
            capture_output=True,
        )
    yield HOME
    shutil.rmtree(HOME, ignore_errors=True)
