"""The DAG as operators meet it: one configuration with the CLI, and mapped Bandit tasks named by
their packages in the UI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fakes import json_reply, make_sdist, serve_project, serving

from aggregators.run.tasks import batch_label
from helpers import AdvisoryRepo, advisory_yaml

DAGS = Path(__file__).resolve().parents[2] / "dags"


def load_dag() -> Any:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS))
    assert bag.import_errors == {}
    return bag.dags["seckb_nightly"]


def test_the_dag_reads_the_same_toml_configuration_as_the_cli(
    airflow_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_env: None
) -> None:
    """A TOML ``home``, ``schedule`` and ``task_retries`` reach the DAG, and the asset points at
    the data root's real snapshots directory."""
    home = tmp_path / "data-root"
    config = tmp_path / "seckb.toml"
    config.write_text(f'home = "{home}"\nschedule = "15 4 * * *"\ntask_retries = 1\n')
    monkeypatch.setenv("SECKB_CONFIG", str(config))
    dag = load_dag()
    assert "15 4 * * *" in repr(dag.timetable)
    assert {task.retries for task in dag.tasks} == {1}
    publish = next(task for task in dag.tasks if task.task_id == "publish")
    assert [o.uri for o in publish.outlets] == [(home / "snapshots").as_uri()]


def test_a_batch_is_named_by_its_packages() -> None:
    batch = [{"package": "flask", "version": v} for v in ("1.0", "1.1")]
    assert batch_label(batch) == "flask"
    many = [{"package": f"package-number-{i}", "version": "1.0"} for i in range(10)]
    label = batch_label(many)
    assert label.startswith("package-number-0, package-number-1") and label.endswith(" more")
    assert len(label) < 80
    assert batch_label([]) == "empty batch"


def test_mapped_bandit_tasks_show_their_packages(
    airflow_home: Path,
    tmp_path: Path,
    advisory_repo: AdvisoryRepo,
    monkeypatch: pytest.MonkeyPatch,
    clean_env: None,
) -> None:
    for package in ("flask", "requests"):
        advisory_repo.write(
            f"vulns/{package}/PYSEC-{package}.yaml", advisory_yaml(f"PYSEC-{package}", package)
        )
    advisory_repo.commit()
    with serving() as pypi, serving() as scorecard:
        for package in ("flask", "requests"):
            serve_project(
                pypi,
                package,
                {"1.0": make_sdist(package, "1.0", {"m.py": "x = 1\n"})},
                project_urls={"Source": f"https://github.com/o/{package}"},
            )
            scorecard.routes[f"/projects/github.com/o/{package}"] = json_reply({}, status=404)
        for name, value in {
            "SECKB_HOME": str(tmp_path / "home"),
            "SECKB_ADVISORY_DB_URL": advisory_repo.url,
            "SECKB_PYPI_URL": pypi.url,
            "SECKB_SCORECARD_URL": scorecard.url,
            "SECKB_TASK_RETRIES": "0",
            "SECKB_HTTP_ATTEMPTS": "1",
        }.items():
            monkeypatch.setenv(name, value)
        dag_run = load_dag().test()
    scans = [ti for ti in dag_run.get_task_instances() if ti.task_id == "bandit.scan"]
    assert scans and all(str(ti.state) == "success" for ti in scans)
    names = sorted(ti.rendered_map_index for ti in scans)
    assert names and all(names), names  # a name, not only an index
    assert set(", ".join(names).split(", ")) == {"flask", "requests"}
