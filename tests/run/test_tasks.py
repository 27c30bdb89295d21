"""The staged-run tasks the Airflow DAG calls, run directly (no Airflow needed)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fakes import json_reply, make_sdist, serve_project, serving

from aggregators.core.config import Settings
from aggregators.core.errors import StaleRunError
from aggregators.core.workspace import Workspace
from aggregators.run.ingest import ingest
from aggregators.run.tasks import plan_source, publish_run, run_part, run_source
from aggregators.store.snapshots import SnapshotStore
from helpers import AdvisoryRepo, advisory_yaml

CARD = {
    "date": "2026-11-16",
    "repo": {"name": "x", "commit": "c"},
    "score": 5.0,
    "scorecard": {"version": "v5", "commit": "s"},
    "checks": [],
}


@pytest.fixture
def settings(
    advisory_repo: AdvisoryRepo, make_settings: Callable[..., Settings]
) -> Iterator[Settings]:
    advisory_repo.write("vulns/flask/PYSEC-1.yaml", advisory_yaml("PYSEC-1", fixed="0.12.3"))
    advisory_repo.commit()
    with serving() as pypi, serving() as scorecard:
        code = {"app.py": "def f(x):\n    return eval(x)\n"}
        serve_project(
            pypi,
            "flask",
            {v: make_sdist("flask", v, code) for v in ("0.12.2", "0.12.3", "1.0")},
            project_urls={"Source": "https://github.com/pallets/flask"},
        )
        scorecard.routes["/projects/github.com/pallets/flask"] = json_reply(CARD)
        yield make_settings(
            advisory_repo.url,
            pypi_url=pypi.url,
            scorecard_url=scorecard.url,
            http_attempts=2,
            http_backoff_max_seconds=0.01,
            scan_latest=3,
        )


def stage_all(run_id: str, settings: Settings, scan: bool = True) -> list[list[dict[str, object]]]:
    for name in ("advisories", "pypi"):
        run_source(run_id, name, settings)
    batches = plan_source(run_id, "bandit", settings)
    if scan:
        for i, batch in enumerate(batches):
            run_part(run_id, "bandit", i, batch, settings)
    run_source(run_id, "scorecards", settings)
    run_source(run_id, "popularity", settings)
    return batches


def test_a_staged_run_publishes_once_and_again_after_a_rerun(settings: Settings) -> None:
    stage_all("run-1", settings)
    first = publish_run("run-1", settings)
    assert first["published"] and not first["failures"]
    again = publish_run("run-1", settings)
    assert not again["published"] and again["snapshot_id"] == first["snapshot_id"]
    run_source("run-1", "scorecards", settings)  # an operator clears and re-runs one task
    third = publish_run("run-1", settings)
    assert third["published"] and third["snapshot_id"] != first["snapshot_id"]


def test_an_unfinished_bandit_batch_keeps_the_previous_analyses(
    settings: Settings, advisory_repo: AdvisoryRepo
) -> None:
    stage_all("run-1", settings)
    publish_run("run-1", settings)
    store = SnapshotStore(Workspace(settings.home))
    before = store.latest()
    assert before is not None
    advisory_repo.write("vulns/flask/PYSEC-2.yaml", advisory_yaml("PYSEC-2", fixed="1.0"))
    advisory_repo.commit()
    # a new release list would give Bandit work; simulate one batch that never finished
    run_source("run-2", "advisories", settings)
    run_source("run-2", "pypi", settings)
    plan_source("run-2", "bandit", settings)
    from aggregators.store.staged import StagedRun

    StagedRun(Workspace(settings.home), "run-2").save_plan("bandit", 2, True)
    outcome = publish_run("run-2", settings)
    assert "bandit" in outcome["failures"]
    assert "did not finish" in outcome["failures"]["bandit"]
    after = store.latest()
    assert after is not None and after.id != before.id
    old, new = before.read("bandit_scans"), after.read("bandit_scans")
    assert old is not None and new is not None and old.equals(new)
    assert after.manifest["sources"]["bandit"]["status"] == "failed"


def test_a_run_older_than_latest_refuses_to_publish(settings: Settings) -> None:
    stage_all("old-run", settings)
    ingest(settings, "advisories,pypi")  # someone publishes meanwhile
    with pytest.raises(StaleRunError, match="LATEST moved"):
        publish_run("old-run", settings)


def test_old_run_staging_is_pruned(
    settings: Settings,
    make_settings: Callable[..., Settings],
    tmp_path: Path,
    advisory_repo: AdvisoryRepo,
) -> None:
    small = make_settings(
        settings.advisory_db_url,
        pypi_url=settings.pypi_url,
        scorecard_url=settings.scorecard_url,
        keep_snapshots=1,
        http_attempts=2,
        http_backoff_max_seconds=0.01,
    )
    for i in range(3):
        advisory_repo.write(f"vulns/flask/PYSEC-{i + 10}.yaml", advisory_yaml(f"PYSEC-{i + 10}"))
        advisory_repo.commit()  # something new each night, so each run publishes
        run_source(f"run-{i}", "advisories", small)
        run_source(f"run-{i}", "pypi", small)
        publish_run(f"run-{i}", small)
    runs = sorted(p.name for p in (small.home / "runs").iterdir())
    assert runs == ["run-2"]


def test_a_publish_retry_after_a_crash_does_not_publish_twice(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    stage_all("run-1", settings)
    from aggregators.store.staged import StagedRun

    def crash(self: StagedRun, snapshot: object) -> None:
        raise OSError("killed right after publishing (simulated)")

    with monkeypatch.context() as patch:
        patch.setattr(StagedRun, "record_published", crash)
        with pytest.raises(OSError, match="simulated"):
            publish_run("run-1", settings)
    store = SnapshotStore(Workspace(settings.home))
    published = store.latest()
    assert published is not None and published.manifest["run_id"] == "run-1"
    retry = publish_run("run-1", settings)  # the task's retry
    assert not retry["published"] and retry["snapshot_id"] == published.id
    assert len(store.all()) == 1
