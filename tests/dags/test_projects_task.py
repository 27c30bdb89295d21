"""The ``projects`` task of the nightly DAG: after ``publish`` it re-evaluates the watched projects
and notifies; on a night with nothing to publish (``publish`` skipped) it still runs, evaluating a
project added during the day."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fakes import make_sdist, serve_project, serving
from projects.receiver import Receiver, receiving

from aggregators.clients.projects.inputs import read_components
from aggregators.clients.projects.service import add_project
from aggregators.core.clock import utcnow
from aggregators.core.workspace import Workspace
from aggregators.store.projects import ProjectStore
from helpers import AdvisoryRepo, advisory_yaml


def load_dag() -> Any:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(Path(__file__).resolve().parents[2] / "dags"))
    return bag.dags["seckb_nightly"]


@pytest.fixture
def environment(
    advisory_repo: AdvisoryRepo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    clean_env: None,
) -> Iterator[tuple[Path, Receiver]]:
    advisory_repo.write(
        "vulns/flask/PYSEC-2018-66.yaml", advisory_yaml("PYSEC-2018-66", fixed="0.12.3")
    )
    advisory_repo.commit()
    home = tmp_path / "seckb-home"
    with serving() as pypi, serving() as scorecard, receiving() as receiver:
        code = {"flask/app.py": "def run(x):\n    return x\n"}
        serve_project(pypi, "flask", {"0.12.2": make_sdist("flask", "0.12.2", code)})
        for key, value in {
            "SECKB_HOME": str(home),
            "SECKB_ADVISORY_DB_URL": advisory_repo.url,
            "SECKB_PYPI_URL": pypi.url,
            "SECKB_SCORECARD_URL": scorecard.url,
            "SECKB_HTTP_ATTEMPTS": "2",
            "SECKB_HTTP_BACKOFF_MAX_SECONDS": "0.01",
            "SECKB_TASK_RETRIES": "0",
            "SECKB_NOTIFY_WEBHOOKS": receiver.url,
        }.items():
            monkeypatch.setenv(key, value)
        yield home, receiver


def add(home: Path, name: str, tmp_path: Path, line: str) -> None:
    path = tmp_path / f"{name}.txt"
    path.write_text(line, encoding="utf-8")
    store = ProjectStore(Workspace(home))
    add_project(store, name, read_components(path, "requirements"), None, utcnow())


def test_projects_task_notifies_after_publish_and_on_a_quiet_night(
    airflow_home: Path, environment: tuple[Path, Receiver], tmp_path: Path
) -> None:
    home, receiver = environment
    add(home, "shop", tmp_path, "flask==0.12.2\n")
    first = load_dag().test()
    states = {ti.task_id: str(ti.state) for ti in first.get_task_instances()}
    assert states["publish"] == "success" and states["projects"] == "success"
    [document] = [d.document() for d in receiver.received]
    assert document["counts"] == {"project_added": 1, "newly_affected": 1}
    assert document["events"][1]["advisory_id"] == "PYSEC-2018-66"

    add(home, "api", tmp_path, "flask==0.12.2\n")  # added during the day
    second = load_dag().test()
    states = {ti.task_id: str(ti.state) for ti in second.get_task_instances()}
    assert states["publish"] == "skipped" and states["projects"] == "success"
    assert len(receiver.received) == 2
    quiet = receiver.received[1].document()
    assert quiet["projects"] == ["api"] and quiet["snapshot"]["id"] == document["snapshot"]["id"]

    third = load_dag().test()  # nothing new at all: nothing sent
    assert {ti.task_id: str(ti.state) for ti in third.get_task_instances()}["projects"] == "success"
    assert len(receiver.received) == 2
