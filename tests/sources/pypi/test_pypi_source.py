"""The pypi source end to end, against a loopback PyPI and a local advisory-db."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fakes import FakeServer, Reply, json_reply, serving, simple_project

from aggregators.clients.query import query
from aggregators.core.config import Settings
from aggregators.core.errors import ConfigError
from aggregators.core.workspace import Workspace
from aggregators.run.ingest import ingest
from aggregators.store.snapshots import Snapshot, SnapshotStore
from helpers import AdvisoryRepo, advisory_yaml

FLASK = simple_project(
    "Flask",
    ["0.11", "0.12.2", "1.0", "2.0"],
    project_urls={"Source": "https://github.com/pallets/flask"},
)
DJANGO = simple_project("Django", ["2.2", "2.2.4", "3.0"])
URLLIB3 = simple_project("urllib3", ["1.26.5", "2.0.0"])


@pytest.fixture
def pypi() -> Iterator[FakeServer]:
    with serving() as server:
        server.routes["/pypi/flask/json"] = lambda h: (
            Reply(304)
            if h.get("if-none-match") == '"flask-1"'
            else json_reply(FLASK, ETag='"flask-1"')
        )
        server.routes["/pypi/django/json"] = json_reply(DJANGO)
        server.routes["/pypi/urllib3/json"] = [
            Reply(429, headers={"Retry-After": "0"}),
            json_reply(URLLIB3),
        ]
        yield server


@pytest.fixture
def settings(
    advisory_repo: AdvisoryRepo,
    pypi: FakeServer,
    make_settings: Callable[..., Settings],
    tmp_path: Path,
) -> Settings:
    advisory_repo.write("vulns/flask/PYSEC-1.yaml", advisory_yaml("PYSEC-1", fixed="1.0"))
    advisory_repo.write("vulns/requests/PYSEC-2.yaml", advisory_yaml("PYSEC-2", package="requests"))
    advisory_repo.commit()
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("urllib3==1.26.5\nnot valid ==\n")
    return make_settings(
        advisory_repo.url,
        pypi_url=pypi.url,
        http_attempts=3,
        http_backoff_max_seconds=0.01,
        watchlist="Django",
        watchlist_files=str(requirements),
    )


def latest(settings: Settings) -> Snapshot:
    snapshot = SnapshotStore(Workspace(settings.home)).latest()
    assert snapshot is not None
    return snapshot


def rows(settings: Settings, table: str) -> list[dict[str, object]]:
    data = latest(settings).read(table)
    assert data is not None
    return data.to_pylist()


def test_releases_feed_affected_versions(settings: Settings, pypi: FakeServer) -> None:
    report = ingest(settings, "advisories,pypi")
    assert report.published and not report.failures
    stats = report.results["pypi"].stats
    assert (stats["ok"], stats["not_found"], stats["error"]) == (3, 1, 0)
    packages = {r["package"]: r for r in rows(settings, "packages")}
    assert set(packages) == {"flask", "requests", "django", "urllib3"}
    assert packages["requests"]["status"] == "not_found"
    assert packages["flask"]["repository_url"] == "https://github.com/pallets/flask"
    assert packages["flask"]["repository_found_in"] == "project_urls.Source"
    releases = {(r["package"], r["version"]) for r in rows(settings, "releases")}
    assert ("django", "3.0") in releases and ("urllib3", "1.26.5") in releases
    assert releases >= {("flask", v) for v in ("0.11", "0.12.2", "1.0", "2.0")}
    # introduced 0, fixed 1.0, no explicit list: PyPI's releases below 1.0 are affected
    flask = sorted(
        r["version"] for r in rows(settings, "affected_versions") if r["advisory_id"] == "PYSEC-1"
    )
    assert flask == ["0.11", "0.12.2"]
    assert query(latest(settings), "flask", "0.11").vulnerable is True
    errors = [e for e in rows(settings, "ingest_errors") if e["source"] == "pypi"]
    assert any("requirement not understood" in str(e["reason"]) for e in errors)
    assert any(str(e["path"]).endswith("/pypi/requests/json") for e in errors)
    assert pypi.requests_to("/pypi/urllib3/json") == 2  # 429, then the answer
    manifest = latest(settings).manifest["sources"]["pypi"]
    assert manifest["status"] == "updated" and manifest["lineage"]["max_serial"] == 1000


def test_unchanged_projects_cost_a_304(settings: Settings, pypi: FakeServer) -> None:
    ingest(settings, "advisories,pypi")
    first = latest(settings)
    report = ingest(settings, "pypi")
    stats = report.results["pypi"].stats
    assert stats["unchanged"] == 1  # flask answered 304
    flask_requests = [h for p, h in pypi.log if p == "/pypi/flask/json"]
    assert flask_requests[-1]["if-none-match"] == '"flask-1"'
    # flask's releases survive the 304
    assert ("flask", "2.0") in {(r["package"], r["version"]) for r in rows(settings, "releases")}
    # django and urllib3 send no ETag and answer 200, but nothing in them changed: "changed" is
    # decided on content, so nothing is published
    assert report.results["pypi"].status == "unchanged" and not report.published
    assert report.snapshot is not None and report.snapshot.id == first.id
    pypi.routes["/pypi/django/json"] = json_reply(
        simple_project("Django", ["2.2", "2.2.4", "3.0", "3.0.1"])
    )
    report = ingest(settings, "pypi")
    assert report.published and report.snapshot is not None and report.snapshot.id != first.id
    assert ("django", "3.0.1") in {(r["package"], r["version"]) for r in rows(settings, "releases")}


def test_packages_option_refuses_untracked_packages(settings: Settings, pypi: FakeServer) -> None:
    ingest(settings, "advisories,pypi")
    first = latest(settings)
    with pytest.raises(ConfigError, match=r"does not track: left-pad.*watchlist"):
        ingest(settings, "pypi", packages="flask,left-pad")
    assert latest(settings).id == first.id
    assert pypi.requests_to("/pypi/left-pad/json") == 0


def test_failures_per_project_keep_what_was_known(settings: Settings, pypi: FakeServer) -> None:
    ingest(settings, "advisories,pypi")
    pypi.routes["/pypi/flask/json"] = Reply(500)
    pypi.routes["/pypi/django/json"] = Reply(200, b"{not json")
    pypi.routes["/pypi/urllib3/json"] = [Reply(action="reset"), json_reply(URLLIB3)]
    report = ingest(settings, "pypi")
    assert report.results["pypi"].stats["error"] == 2
    packages = {r["package"]: r for r in rows(settings, "packages")}
    assert packages["flask"]["status"] == "error"
    assert "HTTP 500" in str(packages["flask"]["reason"])
    assert "malformed JSON" in str(packages["django"]["reason"])
    assert packages["urllib3"]["status"] == "ok"  # the reset was retried
    # the last good release list of flask is kept, however many nights it keeps failing
    assert ("flask", "2.0") in {(r["package"], r["version"]) for r in rows(settings, "releases")}
    ingest(settings, "pypi")
    assert ("flask", "2.0") in {(r["package"], r["version"]) for r in rows(settings, "releases")}
    packages = {r["package"]: r for r in rows(settings, "packages")}
    assert packages["flask"]["status"] == "error" and packages["flask"]["last_serial"] == 1000


def test_a_pypi_url_that_404s_everything_is_a_failure(settings: Settings, pypi: FakeServer) -> None:
    ingest(settings, "advisories,pypi")
    before = latest(settings).read("releases")
    pypi.routes.clear()  # every project now 404s: a wrong URL, not a purge
    report = ingest(settings, "advisories,pypi")
    assert "answered 404 for every project" in report.failures["pypi"]
    after = latest(settings).read("releases")
    assert before is not None and after is not None and before.equals(after)


def test_pypi_down_carries_tables_forward(
    settings: Settings, pypi: FakeServer, advisory_repo: AdvisoryRepo
) -> None:
    ingest(settings, "advisories,pypi")
    before = latest(settings)
    for path in list(pypi.routes):
        pypi.routes[path] = Reply(503)
    advisory_repo.write("vulns/flask/PYSEC-3.yaml", advisory_yaml("PYSEC-3", fixed="0.12"))
    advisory_repo.commit()
    report = ingest(settings, "advisories,pypi")
    assert report.published and "pypi" in report.failures
    assert "PyPI unavailable" in report.failures["pypi"]
    after = latest(settings)
    manifest = json.loads((after.path / "manifest.json").read_text())
    assert manifest["sources"]["pypi"]["status"] == "failed"
    assert manifest["sources"]["pypi"]["age_seconds"] is not None
    assert manifest["sources"]["advisories"]["status"] == "updated"
    for table in ("packages", "releases"):
        old, new = before.read(table), after.read(table)
        assert old is not None and new is not None and old.equals(new)
    # the new advisory is evaluated over the carried-forward release list
    assert sorted(
        r["version"] for r in rows(settings, "affected_versions") if r["advisory_id"] == "PYSEC-3"
    ) == ["0.11"]


def test_packages_option_narrows_the_run(settings: Settings, pypi: FakeServer) -> None:
    ingest(settings, "advisories,pypi")
    asked_before = len(pypi.log)
    report = ingest(settings, "pypi", packages="Django")
    assert [p for p, _ in pypi.log[asked_before:]] == ["/pypi/django/json"]
    assert report.results["pypi"].stats["ok"] == 1
    assert {r["package"] for r in rows(settings, "packages")} == {
        "flask",
        "requests",
        "django",
        "urllib3",
    }
