"""The Airflow DAGs: import, structure, and end-to-end runs with ``dag.test()`` against local
stand-ins (a git repository for the advisory-db, loopback PyPI and Scorecard servers)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fakes import FakeServer, Reply, json_reply, make_sdist, serve_project, serving

from aggregators.core.workspace import Workspace
from aggregators.store.snapshots import Snapshot, SnapshotStore
from aggregators.store.staged import StagedRun
from helpers import AdvisoryRepo, advisory_yaml

ALL_TABLES = {
    "advisories",
    "advisory_packages",
    "advisory_ranges",
    "osv_records",
    "affected_versions",
    "ingest_errors",
    "package_version_security",
    "changes",
    "packages",
    "releases",
    "bandit_scans",
    "bandit_findings",
    "bandit_errors",
    "scorecards",
    "scorecard_checks",
    "package_popularity",
}
CARD = {
    "date": "2026-11-16",
    "repo": {"name": "github.com/pallets/flask", "commit": "c"},
    "scorecard": {"version": "v5", "commit": "s"},
    "score": 7.5,
    "checks": [
        {
            "name": "Code-Review",
            "score": 9,
            "reason": "r",
            "details": None,
            "documentation": {"short": "s", "url": "u"},
        }
    ],
}


def load_dags() -> Any:
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(Path(__file__).resolve().parents[2] / "dags"))


def test_dags_import_without_errors(airflow_home: Path) -> None:
    bag = load_dags()
    assert bag.import_errors == {}
    assert "seckb_nightly" in bag.dags


def test_dag_structure(airflow_home: Path) -> None:
    dag = load_dags().dags["seckb_nightly"]
    tasks = {t.task_id: t for t in dag.tasks}
    assert set(tasks) == {
        "advisories.sync_and_parse",
        "pypi.fetch_projects",
        "bandit.plan",
        "bandit.scan",
        "scorecards.fetch_scorecards",
        "popularity.fetch_dataset",
        "publish",
        "report",
        "projects",
    }
    assert tasks["pypi.fetch_projects"].upstream_task_ids == {"advisories.sync_and_parse"}
    assert tasks["bandit.plan"].upstream_task_ids == {"pypi.fetch_projects"}
    assert tasks["bandit.scan"].upstream_task_ids == {"bandit.plan"}
    assert tasks["scorecards.fetch_scorecards"].upstream_task_ids == {"pypi.fetch_projects"}
    assert tasks["popularity.fetch_dataset"].upstream_task_ids == {"advisories.sync_and_parse"}
    assert tasks["publish"].upstream_task_ids == {
        "bandit.scan",
        "scorecards.fetch_scorecards",
        "popularity.fetch_dataset",
    }
    # one failing source does not stop the others, and publish always runs
    for task_id in (
        "pypi.fetch_projects",
        "bandit.plan",
        "scorecards.fetch_scorecards",
        "popularity.fetch_dataset",
        "publish",
    ):
        assert tasks[task_id].trigger_rule == "all_done", task_id
    assert tasks["pypi.fetch_projects"].pool == "pypi"
    assert tasks["bandit.scan"].pool == "pypi"
    assert tasks["scorecards.fetch_scorecards"].pool == "scorecard"
    assert [o.name for o in tasks["publish"].outlets] == ["seckb_snapshot"]
    assert tasks["report"].upstream_task_ids == {"publish"}
    assert tasks["projects"].upstream_task_ids == {"publish"}
    assert tasks["projects"].trigger_rule == "all_done"  # also after a skipped publish
    assert dag.catchup is False and dag.max_active_runs == 1
    assert "0 3 * * *" in repr(dag.timetable)
    assert dag.doc_md and "publish" in dag.doc_md and "seckb" in dag.tags
    for task in dag.tasks:
        assert task.retry_exponential_backoff and task.execution_timeout is not None


@pytest.fixture
def stand_ins(advisory_repo: AdvisoryRepo) -> Iterator[tuple[AdvisoryRepo, FakeServer, FakeServer]]:
    advisory_repo.write(
        "vulns/flask/PYSEC-2018-66.yaml",
        advisory_yaml("PYSEC-2018-66", package="flask", fixed="0.12.3"),
    )
    advisory_repo.commit()
    with serving() as pypi, serving() as scorecard:
        serve_project(
            pypi,
            "flask",
            {
                "0.12.2": make_sdist(
                    "flask", "0.12.2", {"flask/app.py": "def run(x):\n    return eval(x)\n"}
                ),
                "0.12.3": make_sdist(
                    "flask",
                    "0.12.3",
                    {
                        "flask/app.py": "def run(x):\n    return eval(x)\n",
                        "tests/test_app.py": "assert True\n",
                    },
                ),
            },
            project_urls={"Source": "https://github.com/pallets/flask"},
        )
        scorecard.routes["/projects/github.com/pallets/flask"] = json_reply(CARD)
        yield advisory_repo, pypi, scorecard


@pytest.fixture
def seckb_env(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    stand_ins: tuple[AdvisoryRepo, FakeServer, FakeServer],
    clean_env: None,
) -> Path:
    repo, pypi, scorecard = stand_ins
    home = tmp_path / "seckb-home"
    for key, value in {
        "SECKB_HOME": str(home),
        "SECKB_ADVISORY_DB_URL": repo.url,
        "SECKB_PYPI_URL": pypi.url,
        "SECKB_SCORECARD_URL": scorecard.url,
        "SECKB_HTTP_ATTEMPTS": "2",
        "SECKB_HTTP_BACKOFF_MAX_SECONDS": "0.01",
        "SECKB_TASK_RETRIES": "0",
        "SECKB_SCAN_LATEST": "2",
    }.items():
        monkeypatch.setenv(key, value)
    return home


def latest(home: Path) -> Snapshot:
    snapshot = SnapshotStore(Workspace(home)).latest()
    assert snapshot is not None
    return snapshot


def run_dag() -> Any:
    dag = load_dags().dags["seckb_nightly"]
    return dag.test()


def test_end_to_end_and_idempotent_rerun(airflow_home: Path, seckb_env: Path) -> None:
    first_run = run_dag()
    assert str(first_run.state) == "success"
    first = latest(seckb_env)
    assert set(first.tables) == ALL_TABLES
    first.verify()
    scans = first.read("bandit_scans")
    assert scans is not None
    assert sorted(scans.column("status").to_pylist()) == ["scanned", "scanned"]
    findings = first.read("bandit_findings")
    assert findings is not None and "B307" in findings.column("test_id").to_pylist()  # eval
    manifest = first.manifest["sources"]
    assert {name: manifest[name]["status"] for name in manifest} == {
        "advisories": "updated",
        "pypi": "updated",
        "bandit": "updated",
        "scorecards": "updated",
        "popularity": "updated",
    }

    second_run = run_dag()
    assert str(second_run.state) == "success"
    states = {ti.task_id: str(ti.state) for ti in second_run.get_task_instances()}
    assert states["publish"] == "skipped"  # nothing changed: no snapshot, no asset event
    assert latest(seckb_env).id == first.id
    plan = StagedRun(Workspace(seckb_env), second_run.run_id).plan("bandit")
    assert plan is not None
    assert plan["batches"] == 0  # no release analysed twice


def test_scorecard_down_still_publishes(
    airflow_home: Path,
    seckb_env: Path,
    stand_ins: tuple[AdvisoryRepo, FakeServer, FakeServer],
) -> None:
    repo, _pypi, scorecard = stand_ins
    assert str(run_dag().state) == "success"
    before = latest(seckb_env)
    scorecard.routes["/projects/github.com/pallets/flask"] = Reply(503)
    repo.write("vulns/flask/PYSEC-2024-1.yaml", advisory_yaml("PYSEC-2024-1", package="flask"))
    repo.commit()  # something new, so the run publishes and records the failure
    monkey_refresh = {"SECKB_SCORECARD_REFRESH_DAYS": "0"}
    import os

    os.environ.update(monkey_refresh)
    try:
        dag_run = run_dag()
    finally:
        os.environ.pop("SECKB_SCORECARD_REFRESH_DAYS")
    states = {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}
    assert states["scorecards.fetch_scorecards"] == "failed"
    assert states["publish"] == "success"
    assert states["report"] == "failed" and str(dag_run.state) == "failed"  # the run shows red
    after = latest(seckb_env)
    manifest = json.loads((after.path / "manifest.json").read_text())
    entry = manifest["sources"]["scorecards"]
    assert entry["status"] == "failed" and "unavailable" in entry["error"]
    assert entry["age_seconds"] is not None
    for table in ("scorecards", "scorecard_checks"):
        old, new = before.read(table), after.read(table)
        assert old is not None and new is not None and old.equals(new)
