"""End-to-end runs of the advisory pipeline against local git repositories."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import duckdb
import git
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from aggregators.clients.query import query
from aggregators.core.config import Settings
from aggregators.core.contracts import contract
from aggregators.core.errors import ConfigError, LockError, SourceError
from aggregators.core.lock import DataRootLock
from aggregators.core.workspace import Workspace
from aggregators.run.ingest import ingest
from aggregators.store.snapshots import SnapshotStore
from helpers import AdvisoryRepo, advisory_yaml

MakeSettings = Callable[..., Settings]


def store_of(settings: Settings) -> SnapshotStore:
    return SnapshotStore(Workspace(settings.home))


def table(settings: Settings, name: str) -> list[dict[str, object]]:
    snapshot = store_of(settings).latest()
    assert snapshot is not None
    data = snapshot.read(name)
    assert data is not None
    return data.to_pylist()


def seed(repo: AdvisoryRepo) -> str:
    repo.write(
        "vulns/flask/PYSEC-2020-0001.yaml",
        advisory_yaml("PYSEC-2020-0001", fixed="1.0", versions=("0.12.2", "0.12.3")),
    )
    repo.write(
        "vulns/flask/PYSEC-2020-0002.yaml",
        advisory_yaml("PYSEC-2020-0002", fixed="0.12.3", versions=("0.12.2",)),
    )
    repo.write(
        "vulns/django/PYSEC-2020-0003.yaml",
        advisory_yaml(
            "PYSEC-2020-0003",
            package="Django",
            introduced="2.2",
            fixed="2.2.4",
            versions=("2.2", "2.2.1", "2.2.2", "2.2.3"),
        ),
    )
    return repo.commit("seed")


def test_full_then_incremental(advisory_repo: AdvisoryRepo, make_settings: MakeSettings) -> None:
    seed(advisory_repo)
    settings = make_settings(advisory_repo.url)
    first = ingest(settings, "advisories")
    assert first.published
    stats = first.results["advisories"].stats
    assert (stats["new"], stats["files_parsed"], stats["errors"]) == (3, 3, 0)
    assert first.results["advisories"].lineage["mode"] == "full"

    advisory_repo.write("vulns/flask/PYSEC-2020-0004.yaml", advisory_yaml("PYSEC-2020-0004"))
    advisory_repo.write(
        "vulns/flask/PYSEC-2020-0001.yaml", advisory_yaml("PYSEC-2020-0001", fixed="0.9")
    )
    advisory_repo.write(
        "vulns/flask/PYSEC-2020-0002.yaml",
        advisory_yaml("PYSEC-2020-0002", fixed="0.12.3", withdrawn="2023-02-01T00:00:00Z"),
    )
    advisory_repo.delete("vulns/django/PYSEC-2020-0003.yaml")
    commit = advisory_repo.commit("add, modify, withdraw, delete")

    second = ingest(settings, "advisories")
    result = second.results["advisories"]
    assert result.lineage["mode"] == "incremental"
    assert result.lineage["commit"] == commit
    assert result.stats["files_parsed"] == 3  # only the changed files
    assert {k: result.stats[k] for k in ("new", "changed", "withdrawn", "deleted")} == {
        "new": 1,
        "changed": 2,
        "withdrawn": 1,
        "deleted": 1,
    }
    advisories = {row["id"]: row for row in table(settings, "advisories")}
    assert set(advisories) == {"PYSEC-2020-0001", "PYSEC-2020-0002", "PYSEC-2020-0004"}
    assert advisories["PYSEC-2020-0002"]["withdrawn"] is not None
    assert advisories["PYSEC-2020-0004"]["source_commit"] == commit
    fixed = {
        r["version"]
        for r in table(settings, "advisory_ranges")
        if r["advisory_id"] == "PYSEC-2020-0001" and r["event"] == "fixed"
    }
    assert fixed == {"0.9"}
    affected = table(settings, "affected_versions")
    assert {r["withdrawn"] for r in affected if r["advisory_id"] == "PYSEC-2020-0002"} == {True}
    assert not [r for r in affected if r["package"] == "django"]


def test_incremental_equals_full(
    advisory_repo: AdvisoryRepo, make_settings: MakeSettings, tmp_path: Path
) -> None:
    seed(advisory_repo)
    incremental = make_settings(advisory_repo.url)
    ingest(incremental, "advisories")
    advisory_repo.write(
        "vulns/flask/PYSEC-2020-0005.yaml",
        advisory_yaml("PYSEC-2020-0005", introduced="0.5", fixed="0.12.1"),
    )
    advisory_repo.delete("vulns/flask/PYSEC-2020-0002.yaml")
    advisory_repo.commit()
    ingest(incremental, "advisories")
    full = make_settings(advisory_repo.url, home=tmp_path / "full")
    ingest(full, "advisories")
    for name in (
        "advisories",
        "advisory_packages",
        "advisory_ranges",
        "affected_versions",
        "ingest_errors",
    ):
        a = store_of(incremental).latest().read(name)  # type: ignore[union-attr]
        b = store_of(full).latest().read(name)  # type: ignore[union-attr]
        if name == "advisories":
            a, b = a.drop_columns(["source_commit"]), b.drop_columns(["source_commit"])
        assert a.equals(b), name


def test_unchanged_run_publishes_nothing(
    advisory_repo: AdvisoryRepo, make_settings: MakeSettings
) -> None:
    seed(advisory_repo)
    settings = make_settings(advisory_repo.url)
    first = ingest(settings, "advisories")
    second = ingest(settings, "advisories")
    assert not second.published
    assert second.results["advisories"].status == "unchanged"
    assert second.snapshot is not None and first.snapshot is not None
    assert second.snapshot.id == first.snapshot.id
    assert len(store_of(settings).all()) == 1


def test_bad_files_are_recorded_and_the_run_goes_on(
    advisory_repo: AdvisoryRepo, make_settings: MakeSettings
) -> None:
    seed(advisory_repo)
    advisory_repo.write("vulns/bad/MALFORMED.yaml", "id: X\naffected: [unclosed\n")
    advisory_repo.write("vulns/bad/LIST.yaml", "- just\n- a list\n")
    advisory_repo.write("vulns/bad/NOID.yaml", advisory_yaml("NOID").replace("id: NOID\n", ""))
    advisory_repo.write(
        "vulns/bad/PYSEC-2020-0010.yaml",
        advisory_yaml("PYSEC-2020-0010").replace("- fixed:", "- fixd:"),
    )
    advisory_repo.write(
        "vulns/bad/PYSEC-2020-0011.yaml",
        advisory_yaml("PYSEC-2020-0011", fixed="1.0-final-ish", versions=("0.1-beta-x", "0.2")),
    )
    advisory_repo.write("vulns/bad/HUGE.yaml", advisory_yaml("HUGE") + "#" * 5000 + "\n")
    advisory_repo.write("vulns/other/PYSEC-2020-0001.yaml", advisory_yaml("PYSEC-2020-0001"))
    advisory_repo.commit("bad input")
    settings = make_settings(advisory_repo.url, max_advisory_bytes=4000)

    report = ingest(settings, "advisories")
    assert report.published
    errors = table(settings, "ingest_errors")
    reasons = {(e["path"].split("/")[-1], e["level"]): e["reason"] for e in errors}
    assert "malformed YAML" in reasons[("MALFORMED.yaml", "error")]
    assert "not a mapping" in reasons[("LIST.yaml", "error")]
    assert "no 'id'" in reasons[("NOID.yaml", "error")]
    assert "unknown event type 'fixd'" in reasons[("PYSEC-2020-0010.yaml", "warning")]
    assert "file too large" in reasons[("HUGE.yaml", "error")]
    assert "duplicate id PYSEC-2020-0001" in reasons[("PYSEC-2020-0001.yaml", "error")]
    pep440 = [e["reason"] for e in errors if e["path"].endswith("PYSEC-2020-0011.yaml")]
    assert any("'1.0-final-ish' is not PEP 440" in r for r in pep440)
    assert any("'0.1-beta-x' is not PEP 440" in r for r in pep440)
    assert report.warnings == len(errors)

    ids = {row["id"] for row in table(settings, "advisories")}
    assert {"PYSEC-2020-0010", "PYSEC-2020-0011", "PYSEC-2020-0001"} <= ids
    kept = [r for r in table(settings, "advisories") if r["id"] == "PYSEC-2020-0001"]
    assert [r["source_path"] for r in kept] == ["vulns/flask/PYSEC-2020-0001.yaml"]
    # the unknown 'fixd' event was ignored: the range stays open (conservative), all known versions
    listed = [
        r for r in table(settings, "affected_versions") if r["advisory_id"] == "PYSEC-2020-0011"
    ]
    assert {r["version"] for r in listed if r["in_list"]} == {"0.1-beta-x", "0.2"}

    # fixing a file in a later commit clears its error on the incremental run
    advisory_repo.write("vulns/bad/MALFORMED.yaml", advisory_yaml("PYSEC-2020-0012"))
    advisory_repo.delete("vulns/other/PYSEC-2020-0001.yaml")
    advisory_repo.commit("fix")
    ingest(settings, "advisories")
    paths = {e["path"] for e in table(settings, "ingest_errors") if e["level"] == "error"}
    assert "vulns/bad/MALFORMED.yaml" not in paths
    assert not any("duplicate" in e["reason"] for e in table(settings, "ingest_errors"))


def test_history_rewrite_falls_back_to_full_parse(
    advisory_repo: AdvisoryRepo, make_settings: MakeSettings
) -> None:
    seed(advisory_repo)
    settings = make_settings(advisory_repo.url)
    ingest(settings, "advisories")
    # Rewrite history: a new root commit replaces main; the mirror cache is lost too.
    repo = advisory_repo.repo
    repo.git.checkout("--orphan", "rewritten")
    advisory_repo.delete("vulns/django/PYSEC-2020-0003.yaml")
    advisory_repo.commit("rewritten root")
    repo.git.branch("-M", "rewritten", "main")
    import shutil

    shutil.rmtree(Workspace(settings.home).advisory_db)
    report = ingest(settings, "advisories")
    assert report.results["advisories"].lineage["mode"] == "full"
    assert {r["id"] for r in table(settings, "advisories")} == {
        "PYSEC-2020-0001",
        "PYSEC-2020-0002",
    }


def test_a_changed_url_that_cannot_be_fetched_changes_nothing(
    advisory_repo: AdvisoryRepo, make_settings: MakeSettings, tmp_path: Path
) -> None:
    seed(advisory_repo)
    good = make_settings(advisory_repo.url)
    before = ingest(good, "advisories").snapshot
    assert before is not None
    mirror = Workspace(good.home).advisory_db
    head = (mirror / "packed-refs").read_bytes() if (mirror / "packed-refs").exists() else b""
    bad = make_settings(str(tmp_path / "no-such-repo"))  # a typo in SECKB_ADVISORY_DB_URL
    with pytest.raises(ConfigError) as info:
        ingest(bad, "advisories,pypi")  # nothing else runs either
    message = str(info.value)
    assert "advisory_db_url changed" in message and "cannot be fetched" in message
    assert "\n" not in message
    assert mirror.is_dir() and git.Repo(mirror).remotes.origin.url == advisory_repo.url
    if head:
        assert (mirror / "packed-refs").read_bytes() == head
    assert not mirror.with_name(mirror.name + ".new").exists()
    latest = store_of(good).latest()
    assert latest is not None and latest.id == before.id
    latest.verify()
    assert ingest(good, "advisories").results["advisories"].status == "unchanged"


def test_the_same_url_unreachable_carries_advisories_forward(
    advisory_repo: AdvisoryRepo, make_settings: MakeSettings, tmp_path: Path
) -> None:
    seed(advisory_repo)
    settings = make_settings(advisory_repo.url)
    before = ingest(settings, "advisories").snapshot
    assert before is not None
    advisory_repo.path.rename(tmp_path / "moved-away")  # GitHub down for a night
    with pytest.raises(SourceError, match="cannot fetch advisory-db") as info:
        ingest(settings, "advisories")  # the only source selected failed
    assert "\n" not in str(info.value)
    assert Workspace(settings.home).advisory_db.is_dir()  # the mirror is kept
    latest = store_of(settings).latest()
    assert latest is not None and latest.id == before.id


def test_a_changed_url_is_fetched_before_the_old_mirror_goes(
    advisory_repo: AdvisoryRepo, make_settings: MakeSettings, tmp_path: Path
) -> None:
    seed(advisory_repo)
    ingest(make_settings(advisory_repo.url), "advisories")
    other = AdvisoryRepo(tmp_path / "fork")
    other.write("vulns/flask/PYSEC-2020-0042.yaml", advisory_yaml("PYSEC-2020-0042"))
    other.commit()
    report = ingest(make_settings(other.url), "advisories")
    assert report.published
    mirror = Workspace(report.snapshot.path.parents[1]).advisory_db  # type: ignore[union-attr]
    assert git.Repo(mirror).remotes.origin.url == other.url
    assert {r["id"] for r in table(make_settings(other.url), "advisories")} == {"PYSEC-2020-0042"}


def test_a_relative_advisory_db_path_is_resolved_from_the_callers_directory(
    advisory_repo: AdvisoryRepo, make_settings: MakeSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(advisory_repo)
    monkeypatch.chdir(advisory_repo.path.parent)
    settings = make_settings(f"./{advisory_repo.path.name}")
    assert settings.advisory_db_url == str(advisory_repo.path.resolve())
    assert ingest(settings, "advisories").published


def test_a_failed_first_run_publishes_nothing(make_settings: MakeSettings, tmp_path: Path) -> None:
    settings = make_settings(str(tmp_path / "no-such-repo"))
    report = ingest(settings, "advisories,pypi,bandit")  # the others have nothing to do
    assert "advisories" in report.failures
    assert not report.published and report.snapshot is None
    assert store_of(settings).latest() is None and store_of(settings).all() == []
    assert report.results["bandit"].status == "unchanged"  # nothing carried is not an update


def test_second_run_is_refused_while_locked(
    advisory_repo: AdvisoryRepo, make_settings: MakeSettings
) -> None:
    seed(advisory_repo)
    settings = make_settings(advisory_repo.url)
    Workspace(settings.home).ensure()
    with (
        DataRootLock(Workspace(settings.home).lock),
        pytest.raises(LockError, match="another seckb run"),
    ):
        ingest(settings, "advisories")
    assert ingest(settings, "advisories").published  # and works once the lock is free


def test_lock_waits_for_the_holder(
    advisory_repo: AdvisoryRepo, make_settings: MakeSettings
) -> None:
    seed(advisory_repo)
    settings = make_settings(advisory_repo.url, lock_wait_seconds=30)
    Workspace(settings.home).ensure()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
            import time
            from pathlib import Path
            from aggregators.core.lock import DataRootLock
            with DataRootLock(Path({str(Workspace(settings.home).lock)!r})):
                print("locked", flush=True)
                time.sleep(1.5)
        """),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    report = ingest(settings, "advisories")  # waits for the holder, then runs
    assert holder.wait(timeout=30) == 0
    assert report.published


def test_exception_during_publish_leaves_latest_complete(
    advisory_repo: AdvisoryRepo, make_settings: MakeSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(advisory_repo)
    settings = make_settings(advisory_repo.url)
    before = ingest(settings, "advisories").snapshot
    assert before is not None
    advisory_repo.write("vulns/flask/PYSEC-2020-0009.yaml", advisory_yaml("PYSEC-2020-0009"))
    advisory_repo.commit()

    import aggregators.store.snapshots as snapshots

    real_write = snapshots.pq.write_table
    calls = {"n": 0}

    def failing_write(*args: object, **kwargs: object) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full (simulated)")
        real_write(*args, **kwargs)

    monkeypatch.setattr(snapshots.pq, "write_table", failing_write)
    with pytest.raises(OSError, match="disk full"):
        ingest(settings, "advisories")
    latest = store_of(settings).latest()
    assert latest is not None and latest.id == before.id
    latest.verify()
    assert any(Workspace(settings.home).staging.iterdir())  # the half-written snapshot

    monkeypatch.setattr(snapshots.pq, "write_table", real_write)
    after = ingest(settings, "advisories")
    assert after.published and after.snapshot is not None and after.snapshot.id != before.id
    assert not any(Workspace(settings.home).staging.iterdir())
    assert "PYSEC-2020-0009" in {r["id"] for r in table(settings, "advisories")}


KILL_SCRIPT = """
import os, signal, sys
from pathlib import Path
import aggregators.store.snapshots as snapshots
from aggregators.core.config import load_settings
from aggregators.run.ingest import ingest

real_replace = os.replace
def replace(src, dst):
    if Path(dst).name == {target!r}:
        os.kill(os.getpid(), signal.SIGKILL)
    return real_replace(src, dst)
snapshots.os.replace = replace
ingest(load_settings(env={{}}, home=sys.argv[1], advisory_db_url=sys.argv[2]), "advisories")
"""


@pytest.mark.parametrize("target", ["LATEST", "seckb.duckdb"])
def test_kill_during_publish_leaves_latest_complete(
    advisory_repo: AdvisoryRepo, make_settings: MakeSettings, target: str
) -> None:
    seed(advisory_repo)
    settings = make_settings(advisory_repo.url)
    before = ingest(settings, "advisories").snapshot
    assert before is not None
    advisory_repo.write("vulns/flask/PYSEC-2020-0009.yaml", advisory_yaml("PYSEC-2020-0009"))
    advisory_repo.commit()
    script = KILL_SCRIPT.format(target=target)
    if target == "seckb.duckdb":
        script = script.replace(
            "import aggregators.store.snapshots as snapshots",
            "import aggregators.store.views as snapshots",
        )
    proc = subprocess.run(
        [sys.executable, "-c", script, str(settings.home), advisory_repo.url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    latest = store_of(settings).latest()
    assert latest is not None
    latest.verify()  # whatever LATEST names is complete
    if target == "LATEST":
        assert latest.id == before.id
    report = ingest(settings, "advisories")  # the next run succeeds and the views are current
    final = store_of(settings).latest()
    assert final is not None
    final.verify()
    assert "PYSEC-2020-0009" in {r["id"] for r in table(settings, "advisories")}
    con = duckdb.connect(str(Workspace(settings.home).duckdb), read_only=True)
    try:
        assert con.execute("SELECT snapshot_id FROM seckb_snapshot").fetchone() == (final.id,)
    finally:
        con.close()
    assert report is not None


def test_old_snapshots_are_pruned(advisory_repo: AdvisoryRepo, make_settings: MakeSettings) -> None:
    seed(advisory_repo)
    settings = make_settings(advisory_repo.url, keep_snapshots=2)
    ids = []
    for i in range(3):
        advisory_repo.write(
            f"vulns/flask/PYSEC-2021-{i:04d}.yaml", advisory_yaml(f"PYSEC-2021-{i:04d}")
        )
        advisory_repo.commit()
        report = ingest(settings, "advisories")
        assert report.snapshot is not None
        ids.append(report.snapshot.id)
    remaining = [s.id for s in store_of(settings).all()]
    assert remaining == ids[1:]
    assert store_of(settings).latest().id == ids[-1]  # type: ignore[union-attr]


def test_published_files_match_contracts_and_manifest(
    advisory_repo: AdvisoryRepo, make_settings: MakeSettings
) -> None:
    seed(advisory_repo)
    settings = make_settings(advisory_repo.url)
    snapshot = ingest(settings, "advisories").snapshot
    assert snapshot is not None
    snapshot.verify()
    manifest = json.loads((snapshot.path / "manifest.json").read_text())
    assert manifest["sources"]["advisories"]["lineage"]["url"] == advisory_repo.url
    assert manifest["sources"]["advisories"]["status"] == "updated"
    for name, info in manifest["tables"].items():
        schema = pq.read_schema(snapshot.path / info["file"])
        expected = contract(name).schema
        assert schema.names == expected.names
        for field in expected:
            written = schema.field(field.name)
            assert written.type == field.type, (name, field.name)
            assert written.nullable == field.nullable, (name, field.name)
        assert schema.metadata[b"seckb.schema_version"] == str(contract(name).version).encode()
        assert info["schema_version"] == contract(name).version
        metadata = pq.read_metadata(snapshot.path / info["file"])
        assert metadata.num_rows == info["rows"]
        assert metadata.row_group(0).column(0).compression == "ZSTD" if info["rows"] else True


def test_duckdb_views_answer_without_setup(
    advisory_repo: AdvisoryRepo, make_settings: MakeSettings
) -> None:
    seed(advisory_repo)
    settings = make_settings(advisory_repo.url)
    snapshot = ingest(settings, "advisories").snapshot
    assert snapshot is not None
    con = duckdb.connect(str(Workspace(settings.home).duckdb), read_only=True)
    try:
        rows = con.execute(
            "SELECT advisory_id, version FROM affected_versions WHERE package = 'flask' "
            "AND version_canonical = '0.12.2'"
        ).fetchall()
        assert sorted(rows) == [("PYSEC-2020-0001", "0.12.2"), ("PYSEC-2020-0002", "0.12.2")]
        fixes = con.execute(
            "SELECT fixed_versions FROM advisory_fixes WHERE advisory_id = 'PYSEC-2020-0003'"
        ).fetchone()
        assert fixes == (["2.2.4"],)
        active = con.execute(
            "SELECT count(*) FROM vulnerable_versions WHERE package='django'"
        ).fetchone()
        assert active == (4,)
    finally:
        con.close()


def test_query_uses_pep440_equality_and_ranges(
    advisory_repo: AdvisoryRepo, make_settings: MakeSettings
) -> None:
    seed(advisory_repo)
    settings = make_settings(advisory_repo.url)
    snapshot = ingest(settings, "advisories").snapshot
    assert snapshot is not None
    hit = query(snapshot, "Django", "2.2.0")
    assert [m.id for m in hit.advisories] == ["PYSEC-2020-0003"]
    assert hit.advisories[0].affected_by == "both"
    assert hit.vulnerable is True
    # a version nobody lists, inside the range: judged by the range
    post = query(snapshot, "django", "2.2.3.post1")
    assert [m.affected_by for m in post.advisories] == ["ranges"]
    assert query(snapshot, "django", "2.2.4").vulnerable is False
    assert query(snapshot, "flask", "0.12.3").vulnerable is True  # PYSEC-2020-0001 fixed in 1.0
    assert [m.id for m in query(snapshot, "flask", "1.0").advisories] == []
    unknown = query(snapshot, "not-a-package", "1.0")
    assert unknown.known_package is False and unknown.vulnerable is False


def test_withdrawn_advisories_are_not_active(
    advisory_repo: AdvisoryRepo, make_settings: MakeSettings
) -> None:
    advisory_repo.write(
        "vulns/flask/PYSEC-2020-0002.yaml",
        advisory_yaml("PYSEC-2020-0002", withdrawn="2023-02-01T00:00:00Z", versions=("0.5",)),
    )
    advisory_repo.commit()
    settings = make_settings(advisory_repo.url)
    snapshot = ingest(settings, "advisories").snapshot
    assert snapshot is not None
    assert query(snapshot, "flask", "0.5").vulnerable is False
    listed = query(snapshot, "flask", "0.5", include_withdrawn=True)
    assert [m.id for m in listed.advisories] == ["PYSEC-2020-0002"]
    assert listed.advisories[0].withdrawn is not None
    assert listed.vulnerable is False
    affected = snapshot.read("affected_versions")
    assert affected is not None
    assert affected.num_rows == 1
    assert pc.all(affected.column("withdrawn")).as_py() is True


def test_branch_setting_follows_another_branch(
    advisory_repo: AdvisoryRepo, make_settings: MakeSettings
) -> None:
    seed(advisory_repo)
    advisory_repo.repo.git.checkout("-b", "staging")
    advisory_repo.write("vulns/flask/PYSEC-2022-0001.yaml", advisory_yaml("PYSEC-2022-0001"))
    advisory_repo.commit()
    advisory_repo.repo.git.checkout("main")
    default = make_settings(advisory_repo.url)
    ingest(default, "advisories")
    assert "PYSEC-2022-0001" not in {r["id"] for r in table(default, "advisories")}
    staging = make_settings(advisory_repo.url, advisory_db_branch="staging")
    report = ingest(staging, "advisories")
    assert report.results["advisories"].lineage["branch"] == "staging"
    assert "PYSEC-2022-0001" in {r["id"] for r in table(staging, "advisories")}
    missing = make_settings(advisory_repo.url, advisory_db_branch="nope")
    with pytest.raises(SourceError, match="no branch 'nope'"):
        ingest(missing, "advisories")


def test_a_new_parser_format_reparses_everything(
    advisory_repo: AdvisoryRepo, make_settings: MakeSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(advisory_repo)
    settings = make_settings(advisory_repo.url)
    ingest(settings, "advisories")
    import aggregators.sources.advisories.source as source

    monkeypatch.setattr(source, "parser_format", lambda *_: "seckb 99; other contracts")
    report = ingest(settings, "advisories")  # same commit, but rows from an older parser
    result = report.results["advisories"]
    assert result.status == "updated" and result.lineage["mode"] == "full"
    assert result.stats["files_parsed"] == 3
