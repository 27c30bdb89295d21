"""The stale-run guard: a staged run publishes only on top of the snapshot it started from.

A run records its base snapshot when its first task runs. When that snapshot is pruned before
the run ends (another run published in between and ``keep_snapshots`` let it go), every later
task of the run and its publish are refused: computing on another base would mix two runs'
data. When LATEST moved but the base still exists, the publish is refused as well. Re-running
the run's first task (clearing the whole run) starts it afresh on LATEST, and what its other
tasks staged on the old base is then ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fakes import FakeServer, json_reply, make_sdist, serve_project, serving

from aggregators.core.config import Settings
from aggregators.core.errors import StaleRunError
from aggregators.core.workspace import Workspace
from aggregators.run.ingest import ingest
from aggregators.run.tasks import plan_source, publish_run, run_part, run_source
from aggregators.store.snapshots import Snapshot, SnapshotStore
from aggregators.store.staged import StagedRun
from helpers import AdvisoryRepo, advisory_yaml

CARD = {
    "date": "2026-11-16",
    "repo": {"name": "github.com/pallets/flask", "commit": "c"},
    "score": 5.0,
    "scorecard": {"version": "v5", "commit": "s"},
    "checks": [],
}


def serve_flask(pypi: FakeServer, versions: tuple[str, ...]) -> None:
    code = {"app.py": "def f(x):\n    return eval(x)\n"}
    serve_project(
        pypi,
        "flask",
        {v: make_sdist("flask", v, code) for v in versions},
        project_urls={"Source": "https://github.com/pallets/flask"},
    )


@pytest.fixture
def pypi(advisory_repo: AdvisoryRepo) -> Iterator[tuple[FakeServer, FakeServer]]:
    """One advisory in the local advisory-db; loopback PyPI (with sdists) and Scorecard."""
    advisory_repo.write("vulns/flask/PYSEC-1.yaml", advisory_yaml("PYSEC-1", fixed="0.12.3"))
    advisory_repo.commit()
    with serving() as pypi, serving() as scorecard:
        serve_flask(pypi, ("0.12.2", "0.12.3"))
        scorecard.routes["/projects/github.com/pallets/flask"] = json_reply(CARD)
        yield pypi, scorecard


@pytest.fixture
def settings_for(
    pypi: tuple[FakeServer, FakeServer],
    advisory_repo: AdvisoryRepo,
    make_settings: Callable[..., Settings],
) -> Callable[[int], Settings]:
    def build(keep: int) -> Settings:
        return make_settings(
            advisory_repo.url,
            pypi_url=pypi[0].url,
            scorecard_url=pypi[1].url,
            keep_snapshots=keep,
            http_attempts=2,
            http_backoff_max_seconds=0.01,
            scan_latest=2,
        )

    return build


def store_of(settings: Settings) -> SnapshotStore:
    return SnapshotStore(Workspace(settings.home))


def latest(settings: Settings) -> Snapshot:
    snapshot = store_of(settings).latest()
    assert snapshot is not None
    return snapshot


def new_advisory(repo: AdvisoryRepo, adv_id: str) -> None:
    """A new commit in the advisory-db, so the next ingest has something to publish."""
    repo.write(f"vulns/flask/{adv_id}.yaml", advisory_yaml(adv_id, fixed="1.0"))
    repo.commit()


def finish(run_id: str, settings: Settings) -> None:
    """The rest of a run after its advisories task: every other task, in DAG order."""
    run_source(run_id, "pypi", settings)
    for i, batch in enumerate(plan_source(run_id, "bandit", settings)):
        run_part(run_id, "bandit", i, batch, settings)
    run_source(run_id, "scorecards", settings)
    run_source(run_id, "popularity", settings)


def test_a_run_whose_base_was_pruned_is_refused_not_published(
    settings_for: Callable[[int], Settings], advisory_repo: AdvisoryRepo
) -> None:
    settings = settings_for(1)
    s0 = ingest(settings).snapshot
    assert s0 is not None
    run_source("R", "advisories", settings)  # R starts: its base S0 is recorded
    assert StagedRun(Workspace(settings.home), "R").base_id(store_of(settings)) == s0.id
    new_advisory(advisory_repo, "PYSEC-2")
    meanwhile = ingest(settings)  # someone publishes S1; keep_snapshots=1 prunes S0
    s1 = meanwhile.snapshot
    assert meanwhile.published and s1 is not None and meanwhile.pruned == [s0.id]

    with pytest.raises(StaleRunError, match=f"{s0.id}, which no longer exists"):
        run_source("R", "pypi", settings)  # R's next task
    with pytest.raises(StaleRunError):
        publish_run("R", settings)

    assert latest(settings).id == s1.id
    snapshots = store_of(settings).all()
    assert [s.id for s in snapshots] == [s1.id]
    assert all(s.manifest.get("run_id") != "R" for s in snapshots)
    assert StagedRun(Workspace(settings.home), "R").published() == []


def test_the_pruned_base_check_itself_refuses_a_publish(
    settings_for: Callable[[int], Settings], advisory_repo: AdvisoryRepo
) -> None:
    """LATEST is the run's own snapshot, so only the base check can refuse: R published P on
    base S0 (pruning S0), then a task of R was re-run; its new data would be computed on a
    base that no longer exists."""
    settings = settings_for(1)
    s0 = ingest(settings).snapshot
    assert s0 is not None
    new_advisory(advisory_repo, "PYSEC-2")
    run_source("R", "advisories", settings)
    finish("R", settings)
    published = publish_run("R", settings)
    assert published["published"] and published["pruned"] == [s0.id]
    run = StagedRun(Workspace(settings.home), "R")
    run.clear("scorecards")  # an operator clears a task of R after it published: R is dirty
    assert run.dirty()
    with pytest.raises(StaleRunError, match="no longer exists"):
        publish_run("R", settings)
    assert latest(settings).id == published["snapshot_id"]
    assert len(store_of(settings).all()) == 1


def test_latest_moved_but_base_still_exists_refuses_the_publish(
    settings_for: Callable[[int], Settings], advisory_repo: AdvisoryRepo
) -> None:
    settings = settings_for(7)
    s0 = ingest(settings).snapshot
    assert s0 is not None
    run_source("R", "advisories", settings)
    new_advisory(advisory_repo, "PYSEC-2")
    s1 = ingest(settings).snapshot
    assert s1 is not None and s1.id != s0.id
    finish("R", settings)  # the base still exists: R's tasks run on it
    assert store_of(settings).get(s0.id).id == s0.id

    with pytest.raises(StaleRunError, match="LATEST moved"):
        publish_run("R", settings)
    assert latest(settings).id == s1.id
    assert {s.id for s in store_of(settings).all()} == {s0.id, s1.id}


def test_republishing_after_the_run_pruned_its_own_base_is_a_no_op(
    settings_for: Callable[[int], Settings], advisory_repo: AdvisoryRepo
) -> None:
    settings = settings_for(1)
    s0 = ingest(settings).snapshot
    assert s0 is not None
    new_advisory(advisory_repo, "PYSEC-2")  # so that R has something new to publish
    run_source("R", "advisories", settings)
    finish("R", settings)
    first = publish_run("R", settings)
    assert first["published"] and first["pruned"] == [s0.id]
    mine = latest(settings)
    assert mine.manifest["run_id"] == "R" and mine.manifest["previous_snapshot"] == s0.id

    again = publish_run("R", settings)  # the publish task retried, or cleared alone
    assert not again["published"] and again["snapshot_id"] == mine.id
    assert again["failures"] == {} and again["pruned"] == []
    assert [s.id for s in store_of(settings).all()] == [mine.id]


def test_a_run_published_on_its_recorded_base_is_accepted(
    settings_for: Callable[[int], Settings], advisory_repo: AdvisoryRepo
) -> None:
    """The guard does not refuse the ordinary case: base still LATEST."""
    settings = settings_for(1)
    s0 = ingest(settings).snapshot
    assert s0 is not None
    new_advisory(advisory_repo, "PYSEC-2")
    run_source("R", "advisories", settings)
    finish("R", settings)
    outcome = publish_run("R", settings)
    assert outcome["published"] and not outcome["failures"]
    advisories = latest(settings).read("advisories")
    assert advisories is not None
    assert sorted(advisories.column("id").to_pylist()) == ["PYSEC-1", "PYSEC-2"]


def test_clearing_the_whole_stale_run_recomputes_it_on_the_current_snapshot(
    settings_for: Callable[[int], Settings], advisory_repo: AdvisoryRepo
) -> None:
    """What StaleRunError advises works: clearing a DAG run re-runs its tasks with the same
    run_id, and its first task starts the run afresh on LATEST."""
    settings = settings_for(1)
    ingest(settings)
    run_source("R", "advisories", settings)
    new_advisory(advisory_repo, "PYSEC-2")
    s1 = ingest(settings).snapshot
    assert s1 is not None
    with pytest.raises(StaleRunError):
        run_source("R", "pypi", settings)
    # what the message advises: clear the whole run (same run_id), every task runs again
    new_advisory(advisory_repo, "PYSEC-3")
    run_source("R", "advisories", settings)
    assert StagedRun(Workspace(settings.home), "R").base_id(store_of(settings)) == s1.id
    finish("R", settings)
    outcome = publish_run("R", settings)
    assert outcome["published"] and not outcome["failures"]
    mine = latest(settings)
    assert mine.manifest["run_id"] == "R" and mine.manifest["previous_snapshot"] == s1.id
    advisories = mine.read("advisories")
    assert advisories is not None
    assert sorted(advisories.column("id").to_pylist()) == ["PYSEC-1", "PYSEC-2", "PYSEC-3"]


def test_results_staged_on_the_old_base_are_never_published(
    settings_for: Callable[[int], Settings],
    advisory_repo: AdvisoryRepo,
    pypi: tuple[FakeServer, FakeServer],
) -> None:
    """Only R's first task is re-run after LATEST moved: R starts afresh on LATEST, and what
    its other tasks staged on the old base is not mixed into its snapshot."""
    settings = settings_for(7)
    ingest(settings)
    new_advisory(advisory_repo, "PYSEC-2")
    run_source("R", "advisories", settings)
    finish("R", settings)  # R's PyPI result knows 0.12.2 and 0.12.3
    serve_flask(pypi[0], ("0.12.2", "0.12.3", "1.0"))
    s1 = ingest(settings).snapshot  # someone publishes flask 1.0 meanwhile
    assert s1 is not None
    new_advisory(advisory_repo, "PYSEC-3")
    run_source("R", "advisories", settings)  # only the first task is cleared and re-run
    outcome = publish_run("R", settings)
    assert outcome["published"]
    assert set(outcome["failures"]) == {"pypi", "bandit", "scorecards", "popularity"}
    mine = latest(settings)
    assert mine.manifest["previous_snapshot"] == s1.id
    for name in ("packages", "releases", "bandit_scans", "scorecards"):
        old, new = s1.read(name), mine.read(name)
        assert old is not None and new is not None and new.equals(old), name
    releases = mine.read("releases")
    assert releases is not None and "1.0" in releases.column("version").to_pylist()
