"""One orchestrator, two entry points: the Airflow DAG (``dag.test()``, one step per task,
Bandit fanned out over mapped tasks) and ``seckb ingest`` (every step in one process) publish
identical tables from the same inputs.

Both run against the same stand-ins (one local advisory-db commit, one loopback PyPI with
sdists, one loopback Scorecard API), each into its own data root, twice: a first run from
nothing, then a run after the advisory-db and PyPI changed (carry-forward, the Bandit cache
and the change feed).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fakes import FakeServer, json_reply, make_sdist, serve_project, serving

from aggregators.core.config import load_settings
from aggregators.core.workspace import Workspace
from aggregators.run.ingest import ingest
from aggregators.store.snapshots import Snapshot, SnapshotStore
from helpers import AdvisoryRepo, advisory_yaml

VOLATILE: dict[str, set[str]] = {
    # when this run's Bandit analysed the release and how long it took; and how many of its
    # files this run found in the Bandit cache: the cache is per data root, content-addressed,
    # and filled in whatever order the releases were analysed (mapped tasks run in any order;
    # the releases here share files), so which release counts the hits is the run's, not the
    # release's (the per-file results are the same: compare bandit_findings)
    "bandit_scans": {"scanned_at", "duration_ms", "files_from_cache"},
    # when this run's request to PyPI / the Scorecard API was answered
    "packages": {"fetched_at"},
    "scorecards": {"fetched_at"},
    # the id of the snapshot the row belongs to (random suffix, each data root its own)
    "package_version_security": {"snapshot_id"},
    # the id of the snapshot compared against (each data root has its own ids)
    "changes": {"previous_snapshot"},
}
"""The only columns allowed to differ between the two runs, and why."""
VOLATILE_SOURCE_KEYS = {"refreshed_at", "age_seconds"}
"""Times in a manifest's source entries (when the run ran), left out of the comparison."""
VOLATILE_STATS = {"seconds_ms"}
"""Timings in a source's stats (how long its parse took), left out of the comparison."""

CODE = {"flask/app.py": "def run(x):\n    return eval(x)\n", "tests/test_app.py": "assert 1\n"}
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
            "details": ["d"],
            "documentation": {"short": "s", "url": "u"},
        },
        {
            "name": "Fuzzing",
            "score": -1,
            "reason": "inconclusive",
            "details": None,
            "documentation": {"short": "s", "url": "u"},
        },
    ],
}


SDISTS: dict[str, bytes] = {}


def serve_flask(pypi: FakeServer, versions: tuple[str, ...]) -> None:
    """flask with ``versions``; a version's sdist keeps its bytes (gzip stamps the time)."""
    for v in versions:
        SDISTS.setdefault(v, make_sdist("flask", v, CODE))
    serve_project(
        pypi,
        "flask",
        {v: SDISTS[v] for v in versions},
        project_urls={"Source": "https://github.com/pallets/flask"},
        serial=1000 + len(versions),
    )


@pytest.fixture
def stand_ins(
    advisory_repo: AdvisoryRepo, monkeypatch: pytest.MonkeyPatch, clean_env: None
) -> Iterator[tuple[AdvisoryRepo, FakeServer]]:
    """Two flask advisories, one for a package PyPI does not know, one file that is not
    YAML; flask on PyPI with sdists; its Scorecard result; the ``SECKB_*`` settings of both
    runs (all but ``SECKB_HOME``)."""
    advisory_repo.write(
        "vulns/flask/PYSEC-2018-66.yaml", advisory_yaml("PYSEC-2018-66", fixed="0.12.3")
    )
    advisory_repo.write(
        "vulns/flask/PYSEC-2019-1.yaml",
        advisory_yaml("PYSEC-2019-1", introduced="0.12", fixed=None, versions=("0.12.2",)),
    )
    advisory_repo.write(
        "vulns/ghost/PYSEC-2020-9.yaml", advisory_yaml("PYSEC-2020-9", package="ghost")
    )
    advisory_repo.write("vulns/flask/broken.yaml", "id: X\naliases: [unclosed\n")
    advisory_repo.commit()
    with serving() as pypi, serving() as scorecard:
        serve_flask(pypi, ("0.12.2", "0.12.3"))
        scorecard.routes["/projects/github.com/pallets/flask"] = json_reply(CARD)
        for key, value in {
            "SECKB_ADVISORY_DB_URL": advisory_repo.url,
            "SECKB_PYPI_URL": pypi.url,
            "SECKB_SCORECARD_URL": scorecard.url,
            "SECKB_HTTP_ATTEMPTS": "2",
            "SECKB_HTTP_BACKOFF_MAX_SECONDS": "0.01",
            "SECKB_TASK_RETRIES": "0",
            "SECKB_SCAN_LATEST": "2",
        }.items():
            monkeypatch.setenv(key, value)
        yield advisory_repo, pypi


def latest(home: Path) -> Snapshot:
    snapshot = SnapshotStore(Workspace(home)).latest()
    assert snapshot is not None
    return snapshot


def run_dag(home: Path, monkeypatch: pytest.MonkeyPatch) -> Snapshot:
    """The DAG, parsed and run in-process with ``SECKB_HOME=home`` (read at parse time and by
    every task)."""
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("SECKB_HOME", str(home))
    bag = DagBag(dag_folder=str(Path(__file__).resolve().parents[2] / "dags"))
    assert bag.import_errors == {}
    dag_run = bag.dags["seckb_nightly"].test()
    states = {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}
    assert str(dag_run.state) == "success", states
    return latest(home)


def run_cli(home: Path) -> Snapshot:
    """``seckb ingest``: the same settings (``SECKB_*``) but another data root."""
    report = ingest(load_settings(home=home))
    assert report.published and not report.failures
    return latest(home)


def comparable(name: str, table: pa.Table) -> pa.Table:
    return table.drop_columns(sorted(VOLATILE.get(name, set())))


def assert_same_tables(dag: Snapshot, cli: Snapshot) -> None:
    assert set(dag.tables) == set(cli.tables)
    for name in dag.tables:
        ours, theirs = dag.read(name), cli.read(name)
        assert ours is not None and theirs is not None
        assert ours.schema.equals(theirs.schema, check_metadata=True), name
        assert VOLATILE.get(name, set()) <= set(ours.column_names), name
        a, b = comparable(name, ours), comparable(name, theirs)
        assert a.equals(b), f"{name} differs:\n{a.to_pylist()}\n!=\n{b.to_pylist()}"


def sources_without_times(snapshot: Snapshot) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for name, entry in snapshot.manifest["sources"].items():
        kept = {k: v for k, v in entry.items() if k not in VOLATILE_SOURCE_KEYS}
        kept["stats"] = {k: v for k, v in entry["stats"].items() if k not in VOLATILE_STATS}
        found[name] = kept
    return found


def assert_same_manifests(dag: Snapshot, cli: Snapshot) -> None:
    ours, theirs = sources_without_times(dag), sources_without_times(cli)
    assert set(ours) == set(theirs)
    for name in ours:
        for key in set(ours[name]) | set(theirs[name]):
            assert ours[name].get(key) == theirs[name].get(key), (name, key)
    for snapshot in (dag, cli):
        snapshot.verify()
        for entry in snapshot.manifest["sources"].values():
            assert entry["age_seconds"] == 0 and entry["refreshed_at"] is not None
    counts = {n: (t["rows"], t["schema_version"]) for n, t in dag.manifest["tables"].items()}
    assert counts == {
        n: (t["rows"], t["schema_version"]) for n, t in cli.manifest["tables"].items()
    }
    # the same Parquet layout (the files' bytes differ: see test_publish.py's xfail about
    # the list child names of the embedded Arrow schema)
    for name in dag.tables:
        ours = pq.ParquetFile(dag.table_path(name)).schema
        assert ours.equals(pq.ParquetFile(cli.table_path(name)).schema), name


def test_the_dag_and_the_cli_ingest_publish_identical_tables(
    airflow_home: Path,
    stand_ins: tuple[AdvisoryRepo, FakeServer],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    repo, pypi = stand_ins
    dag_home, cli_home = tmp_path / "dag-home", tmp_path / "cli-home"

    dag, cli = run_dag(dag_home, monkeypatch), run_cli(cli_home)
    assert_same_tables(dag, cli)
    assert_same_manifests(dag, cli)
    # the inputs are really exercised: errors, a not-found package, findings, scorecards
    errors = dag.read("ingest_errors")
    assert errors is not None and set(errors.column("source").to_pylist()) >= {"advisories"}
    packages = dag.read("packages")
    assert packages is not None
    assert dict(zip(*packages.select(["package", "status"]).to_pydict().values(), strict=True)) == {
        "flask": "ok",
        "ghost": "not_found",
    }
    findings = dag.read("bandit_findings")
    assert findings is not None and "B307" in findings.column("test_id").to_pylist()
    assert {s["status"] for s in dag.manifest["sources"].values()} == {"updated"}

    # the second night: a new advisory and a new release with its sdist
    repo.write("vulns/flask/PYSEC-2021-7.yaml", advisory_yaml("PYSEC-2021-7", fixed="1.0.1"))
    repo.commit()
    serve_flask(pypi, ("0.12.2", "0.12.3", "1.0"))
    dag2, cli2 = run_dag(dag_home, monkeypatch), run_cli(cli_home)
    assert dag2.manifest["previous_snapshot"] == dag.id
    assert cli2.manifest["previous_snapshot"] == cli.id
    assert_same_tables(dag2, cli2)
    assert_same_manifests(dag2, cli2)
    changes = dag2.read("changes")
    assert changes is not None
    assert ("advisory_added", "PYSEC-2021-7") in set(
        zip(*changes.select(["change", "advisory_id"]).to_pydict().values(), strict=True)
    )
    assert dag2.manifest["sources"]["bandit"]["stats"].get("carried_forward") == 1
