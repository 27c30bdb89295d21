"""Workers that share nothing but the store: the Airflow tasks of one run spread over two
"workers" — two data roots standing for two machines' scratch, no directory in common — with
the mapped Bandit parts alternating between them, against the real S3-compatible server on
loopback. What they publish equals what one process (``seckb ingest``) publishes on its own
disk from the same inputs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fakes import FakeServer, json_reply, make_sdist, serve_project, serving
from s3server import S3Server

from aggregators.core.config import Settings
from aggregators.core.workspace import Workspace
from aggregators.run.ingest import ingest
from aggregators.run.tasks import plan_source, publish_run, run_part, run_source
from aggregators.sources.bandit.cache import SHARED_PREFIX, ResultCache
from aggregators.sources.bandit.compact import replaced_by
from aggregators.sources.bandit.engine import bandit_version, config_hash
from aggregators.store.locations import open_store
from aggregators.store.snapshots import Snapshot, SnapshotStore
from helpers import AdvisoryRepo, advisory_yaml

VOLATILE: dict[str, set[str]] = {  # as in tests/dags/test_parity.py, and for the same reasons
    "bandit_scans": {"scanned_at", "duration_ms", "files_from_cache"},
    "packages": {"fetched_at"},
    "scorecards": {"fetched_at"},
    "package_version_security": {"snapshot_id"},
    "changes": {"previous_snapshot"},
}
CODE = {"flask/app.py": "def run(x):\n    return eval(x)\n", "flask/util.py": "import pickle\n"}
CARD = {
    "date": "2026-11-16",
    "repo": {"name": "github.com/pallets/flask", "commit": "c"},
    "scorecard": {"version": "v5", "commit": "s"},
    "score": 7.5,
    "checks": [],
}


@pytest.fixture
def stand_ins(advisory_repo: AdvisoryRepo) -> Iterator[tuple[FakeServer, FakeServer]]:
    advisory_repo.write("vulns/flask/PYSEC-1.yaml", advisory_yaml("PYSEC-1", fixed="0.12.3"))
    advisory_repo.write("vulns/flask/PYSEC-2.yaml", advisory_yaml("PYSEC-2", introduced="1.0"))
    advisory_repo.commit()
    with serving() as pypi, serving() as scorecard:
        versions = ("0.12.2", "0.12.3", "1.0", "1.1")
        serve_project(
            pypi,
            "flask",
            {
                v: make_sdist("flask", v, {**CODE, "flask/version.py": f"V = {v!r}\n"})
                for v in versions
            },
            project_urls={"Source": "https://github.com/pallets/flask"},
        )
        scorecard.routes["/projects/github.com/pallets/flask"] = json_reply(CARD)
        yield pypi, scorecard


def settings_of(
    make: Callable[..., Settings], repo: AdvisoryRepo, servers: tuple[FakeServer, FakeServer]
) -> Callable[..., Settings]:
    pypi, scorecard = servers

    def build(home: str, **overrides: object) -> Settings:
        return make(
            repo.url,
            home=home,
            pypi_url=pypi.url,
            scorecard_url=scorecard.url,
            scan_latest=4,
            workers=1,
            **overrides,
        )

    return build


def run_on_two(first: Settings, second: Settings) -> int:
    """Run-1's advisories, pypi and mapped Bandit parts, alternating between the two workers;
    return the number of Bandit parts."""
    run_source("run-1", "advisories", first)
    run_source("run-1", "pypi", second)
    batches = plan_source("run-1", "bandit", first)
    for index, batch in enumerate(batches):
        run_part("run-1", "bandit", index, batch, (first, second)[index % 2])
    return len(batches)


def comparable(name: str, table: pa.Table) -> pa.Table:
    return table.drop_columns(sorted(VOLATILE.get(name, set()) & set(table.column_names)))


def assert_same_tables(ours: Snapshot, theirs: Snapshot) -> None:
    assert ours.tables == theirs.tables
    for name in ours.tables:
        a, b = ours.read(name), theirs.read(name)
        assert a is not None and b is not None
        assert comparable(name, a).equals(comparable(name, b)), name


def test_two_workers_sharing_only_the_store_publish_what_one_process_does(
    stand_ins: tuple[FakeServer, FakeServer],
    advisory_repo: AdvisoryRepo,
    remote_settings: Callable[..., Settings],
    make_settings: Callable[..., Settings],
    s3_server: S3Server,
    bucket: str,
    tmp_path: Path,
) -> None:
    worker = settings_of(remote_settings, advisory_repo, stand_ins)
    first, second = worker("worker-1"), worker("worker-2")
    assert run_on_two(first, second) == 4  # one release each: two per worker
    run_source("run-1", "scorecards", second)
    run_source("run-1", "popularity", first)
    outcome = publish_run("run-1", first)
    assert outcome["published"] and not outcome["failures"]

    single = settings_of(make_settings, advisory_repo, stand_ins)(str(tmp_path / "single"))
    report = ingest(single)
    assert report.published and report.snapshot is not None

    shared = open_store(worker("reader"), writing=True).latest()
    assert shared is not None and shared.id == outcome["snapshot_id"]
    assert_same_tables(shared, report.snapshot)
    scans = shared.read("bandit_scans")
    assert scans is not None and set(scans.column("status").to_pylist()) == {"scanned"}

    # nothing was shared on disk: each worker kept its own scratch and mirror...
    assert (tmp_path / "worker-1" / "cache" / "advisory-db.git").is_dir()
    assert not (tmp_path / "worker-2" / "cache" / "advisory-db.git").exists()
    assert not (tmp_path / "worker-1" / "snapshots" / "LATEST").exists()
    assert SnapshotStore(Workspace(tmp_path / "worker-2")).latest() is None
    # ...and the staged run and both workers' Bandit cache parts are in the store
    keys = s3_server.keys(bucket, "seckb/")
    assert any(k.startswith("seckb/runs/run-1/bandit/parts/") for k in keys)
    parts = [k for k in keys if k.startswith(f"seckb/{SHARED_PREFIX}/part-")]
    assert len(parts) == 4

    # a third worker with empty scratch finds every analysed file in the shared cache
    fresh = worker("worker-3")
    cache = ResultCache(
        Workspace(fresh.home).bandit_cache,
        bandit_version(),
        config_hash(),
        fresh.bandit_timeout_seconds,
        fresh.bandit_memory_mb,
        shared=open_store(fresh, writing=True).objects,  # type: ignore[attr-defined]
    )
    written = {  # each worker's copy: its own parts, and those of the other it read
        part.name: pq.read_table(part, columns=["file_sha256"]).column(0).to_pylist()
        for home in ("worker-1", "worker-2")
        for part in Workspace(tmp_path / home).bandit_cache.glob("part-*.parquet")
    }
    hashes = {sha for part in written.values() for sha in part}
    assert len(written) == 4 and hashes
    assert set(cache.lookup(hashes)) == hashes
    assert len(list(Workspace(fresh.home).bandit_cache.glob("part-*.parquet"))) == 4  # local copy


def test_workers_merging_cache_parts_in_the_store_lose_no_result(
    stand_ins: tuple[FakeServer, FakeServer],
    advisory_repo: AdvisoryRepo,
    remote_settings: Callable[..., Settings],
    make_settings: Callable[..., Settings],
    s3_server: S3Server,
    bucket: str,
    tmp_path: Path,
) -> None:
    worker = settings_of(remote_settings, advisory_repo, stand_ins)
    first, second = (worker(h, bandit_cache_max_parts=2) for h in ("worker-1", "worker-2"))
    assert run_on_two(first, second) == 4

    # the store holds merged parts, and none of the parts they replace
    keys = s3_server.keys(bucket, f"seckb/{SHARED_PREFIX}/")
    names = {k.rsplit("/", 1)[-1] for k in keys}
    merged = {n for n in names if "-merged-" in n}
    assert merged and len(names) < 4
    objects = open_store(worker("reader"), writing=True).objects  # type: ignore[attr-defined]
    for name in merged:
        objects.download(f"{SHARED_PREFIX}/{name}", tmp_path / name)
        assert names.isdisjoint(replaced_by(tmp_path / name))

    # every file one process analyses on its own disk is found by a fresh worker
    single = settings_of(make_settings, advisory_repo, stand_ins)(str(tmp_path / "single"))
    assert ingest(single).published
    expected = {
        sha
        for part in Workspace(single.home).bandit_cache.glob("part-*.parquet")
        for sha in pq.read_table(part, columns=["file_sha256"]).column(0).to_pylist()
    }
    fresh = worker("worker-3")
    cache = ResultCache(
        Workspace(fresh.home).bandit_cache,
        bandit_version(),
        config_hash(),
        fresh.bandit_timeout_seconds,
        fresh.bandit_memory_mb,
        shared=objects,
    )
    assert expected and set(cache.lookup(expected)) == expected
