"""The DAG with an object store (``SECKB_STORE_URL=s3://…``, moto's S3 server on loopback,
started here): every task stages its result in the store, publish writes the snapshot and
``LATEST`` there, and the data root holds only scratch."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fakes import json_reply, make_sdist, serve_project, serving
from s3server import S3Server

from aggregators.core.config import load_settings
from aggregators.store.locations import open_published
from helpers import AdvisoryRepo, advisory_yaml

CARD = {
    "date": "2026-11-16",
    "repo": {"name": "github.com/pallets/flask", "commit": "c"},
    "scorecard": {"version": "v5", "commit": "s"},
    "score": 7.5,
    "checks": [],
}


@pytest.fixture
def s3(tmp_path: Path) -> Iterator[S3Server]:
    pytest.importorskip("moto.server", reason="moto[server] is not installed (pip install .[dev])")
    server = S3Server(tmp_path / "moto.log")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def store_env(
    s3: S3Server,
    advisory_repo: AdvisoryRepo,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    clean_env: None,
) -> Iterator[dict[str, Any]]:
    advisory_repo.write("vulns/flask/PYSEC-1.yaml", advisory_yaml("PYSEC-1", fixed="0.12.3"))
    advisory_repo.commit()
    bucket = s3.make_bucket()
    with serving() as pypi, serving() as scorecard:
        code = {"flask/app.py": "def run(x):\n    return eval(x)\n"}
        serve_project(
            pypi,
            "flask",
            {v: make_sdist("flask", v, code) for v in ("0.12.2", "0.12.3")},
            project_urls={"Source": "https://github.com/pallets/flask"},
        )
        scorecard.routes["/projects/github.com/pallets/flask"] = json_reply(CARD)
        for key, value in {
            **s3.env(),
            "SECKB_HOME": str(tmp_path / "scratch"),
            "SECKB_STORE_URL": f"s3://{bucket}/kb",
            "SECKB_ADVISORY_DB_URL": advisory_repo.url,
            "SECKB_PYPI_URL": pypi.url,
            "SECKB_SCORECARD_URL": scorecard.url,
            "SECKB_HTTP_ATTEMPTS": "2",
            "SECKB_HTTP_BACKOFF_MAX_SECONDS": "0.01",
            "SECKB_TASK_RETRIES": "0",
            "SECKB_SCAN_LATEST": "2",
        }.items():
            monkeypatch.setenv(key, value)
        yield {"bucket": bucket, "scratch": tmp_path / "scratch", "reader": tmp_path / "reader"}


def test_the_dag_publishes_to_the_object_store(
    airflow_home: Path, store_env: dict[str, Any], s3: S3Server
) -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(Path(__file__).resolve().parents[2] / "dags"))
    assert bag.import_errors == {}
    dag = bag.dags["seckb_nightly"]
    publish = next(t for t in dag.tasks if t.task_id == "publish")
    assert [a.uri for a in publish.outlets] == [f"s3://{store_env['bucket']}/kb/snapshots"]
    dag_run = dag.test()
    states = {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}
    assert str(dag_run.state) == "success", states

    reader = load_settings(env={}, home=store_env["reader"], snapshot_url=s3_url(store_env))
    snapshot = open_published(reader)
    snapshot.verify()
    scans = snapshot.read("bandit_scans")
    assert scans is not None and sorted(scans.column("status").to_pylist()) == ["scanned"] * 2
    keys = s3.keys(store_env["bucket"], "kb/")
    assert f"kb/snapshots/{snapshot.id}/manifest.json" in keys
    assert any(k.startswith(f"kb/runs/{dag_run.run_id.replace(':', '_')}/") for k in keys)
    assert any(k.startswith("kb/cache/bandit/part-") for k in keys)
    assert not (store_env["scratch"] / "snapshots" / "LATEST").exists()  # scratch only


def s3_url(env: dict[str, Any]) -> str:
    return f"s3://{env['bucket']}/kb"
