"""The scorecards source: parsing answers, and end to end against loopback PyPI and Scorecard."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fakes import FakeServer, Reply, json_reply, serving, simple_project

from aggregators.clients.query import query, weakest
from aggregators.core.config import Settings
from aggregators.core.errors import SourceError
from aggregators.core.names import github_path
from aggregators.core.workspace import Workspace
from aggregators.run.ingest import ingest
from aggregators.sources.scorecards.parse import ScorecardError, parse_scorecard
from aggregators.store.snapshots import Snapshot, SnapshotStore
from helpers import AdvisoryRepo, advisory_yaml

NOW = datetime(2026, 11, 22, tzinfo=UTC)
MONTH = timedelta(days=30)


def answer(date: str = "2026-11-16", score: float = 6.5, **overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "date": date,
        "repo": {"name": "github.com/pallets/flask", "commit": "abc123"},
        "scorecard": {"version": "v5.1.1", "commit": "def456"},
        "score": score,
        "checks": [
            {
                "name": "Code-Review",
                "score": 10,
                "reason": "all changesets reviewed",
                "details": None,
                "documentation": {"short": "x", "url": "https://doc/cr"},
            },
            {
                "name": "Dangerous-Workflow",
                "score": 2,
                "reason": "dangerous",
                "details": ["Warn: script injection"],
                "documentation": {"short": "y", "url": "u"},
            },
            {
                "name": "Fuzzing",
                "score": 0,
                "reason": "no fuzzing",
                "details": None,
                "documentation": {"short": "z", "url": "u"},
            },
            {
                "name": "Packaging",
                "score": -1,
                "reason": "packaging workflow not detected",
                "details": None,
                "documentation": {"short": "p", "url": "u"},
            },
            {
                "name": "Brand-New-Check",
                "score": 5,
                "reason": "?",
                "details": None,
                "documentation": None,
            },
        ],
    }
    doc.update(overrides)
    return doc


def test_parse_answer() -> None:
    card = parse_scorecard(answer(), "https://github.com/pallets/flask", NOW, MONTH)
    assert card.result["score"] == 6.5 and card.result["stale"] is False
    assert card.result["result_date"] == datetime(2026, 11, 16, tzinfo=UTC)
    assert card.result["repo_commit"] == "abc123" and card.result["scorecard_version"] == "v5.1.1"
    checks = {c["check"]: c for c in card.checks}
    assert checks["Packaging"]["score"] is None and checks["Packaging"]["inconclusive"] is True
    assert checks["Dangerous-Workflow"]["risk"] == "Critical"
    assert checks["Code-Review"]["risk"] == "High" and checks["Fuzzing"]["risk"] == "Medium"
    assert checks["Brand-New-Check"]["risk"] is None
    assert checks["Dangerous-Workflow"]["details"] == ["Warn: script injection"]
    assert [c["check"] for c in weakest(card.checks)] == [
        "Fuzzing",
        "Dangerous-Workflow",
        "Brand-New-Check",
    ]
    rfc = parse_scorecard(answer(date="2026-09-01T10:20:30Z"), "r", NOW, MONTH)
    assert rfc.result["stale"] is True


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "not a JSON object"),
        ({k: v for k, v in answer().items() if k != "score"}, "no score"),
        (answer(score="high"), "score is not a number"),
        (answer(score=11), "out of range"),
        (answer(date="yesterday"), "date is not a date"),
        (answer(checks={"a": 1}), "checks is not a list"),
        (answer(checks=[{"name": "X", "score": 3, "details": "text"}]), "details is not a list"),
        (answer(checks=[{"score": 3}]), "name is not text"),
    ],
)
def test_malformed_answers(document: Any, message: str) -> None:
    with pytest.raises(ScorecardError, match=message):
        parse_scorecard(document, "r", NOW, MONTH)


def test_github_path() -> None:
    assert github_path("https://github.com/Django/Django") == "github.com/Django/Django"
    assert github_path("https://gitlab.com/a/b") is None


@pytest.fixture
def services() -> Iterator[tuple[FakeServer, FakeServer]]:
    with serving() as pypi, serving() as scorecard:
        pypi.routes["/pypi/flask/json"] = json_reply(
            simple_project(
                "Flask",
                ["0.12", "1.0"],
                project_urls={"Source": "https://github.com/pallets/flask"},
            )
        )
        pypi.routes["/pypi/flask-login/json"] = json_reply(
            simple_project(
                "Flask-Login",
                ["0.6"],
                project_urls={"Repository": "https://github.com/pallets/flask"},
            )
        )
        pypi.routes["/pypi/django/json"] = json_reply(
            simple_project(
                "Django", ["4.2"], project_urls={"Source": "https://github.com/Django/Django"}
            )
        )
        pypi.routes["/pypi/requests/json"] = json_reply(
            simple_project("requests", ["2.0"], home_page="https://github.com/psf/requests")
        )
        pypi.routes["/pypi/broken/json"] = json_reply(
            simple_project("broken", ["1.0"], home_page="https://github.com/broken/broken")
        )
        scorecard.routes["/projects/github.com/pallets/flask"] = json_reply(answer())
        scorecard.routes["/projects/github.com/Django/Django"] = Reply(404)
        scorecard.routes["/projects/github.com/django/django"] = json_reply(
            answer(date="2026-08-01", score=8.0)
        )
        scorecard.routes["/projects/github.com/psf/requests"] = Reply(404)
        scorecard.routes["/projects/github.com/broken/broken"] = json_reply({"score": "x"})
        yield pypi, scorecard


@pytest.fixture
def settings(
    advisory_repo: AdvisoryRepo,
    services: tuple[FakeServer, FakeServer],
    make_settings: Callable[..., Settings],
) -> Settings:
    for package in ("flask", "flask-login", "django", "requests", "broken"):
        advisory_repo.write(
            f"vulns/{package}/PYSEC-{package}.yaml",
            advisory_yaml(f"PYSEC-{package}", package=package, versions=("1.0",)),
        )
    advisory_repo.commit()
    pypi, scorecard = services
    return make_settings(
        advisory_repo.url,
        pypi_url=pypi.url,
        scorecard_url=scorecard.url,
        http_attempts=2,
        http_backoff_max_seconds=0.01,
    )


def latest(settings: Settings) -> Snapshot:
    snapshot = SnapshotStore(Workspace(settings.home)).latest()
    assert snapshot is not None
    return snapshot


def cards(settings: Settings) -> dict[str, dict[str, Any]]:
    table = latest(settings).read("scorecards")
    assert table is not None
    return {r["repository"]: r for r in table.to_pylist()}


def test_end_to_end(settings: Settings, services: tuple[FakeServer, FakeServer]) -> None:
    _, scorecard = services
    report = ingest(settings)
    assert not report.failures, report.failures
    found = cards(settings)
    flask = found["https://github.com/pallets/flask"]
    assert flask["packages"] == ["flask", "flask-login"]  # one repository, two packages
    assert scorecard.requests_to("/projects/github.com/pallets/flask") == 1  # asked once
    assert flask["status"] == "ok" and flask["score"] == 6.5 and flask["stale"] is False
    django = found["https://github.com/django/django"]
    assert django["asked_as"] == "github.com/django/django"  # fell back to lower case
    assert django["status"] == "ok" and django["stale"] is True  # the 2026-08-01 result
    assert found["https://github.com/psf/requests"]["status"] == "not_scanned"
    broken = found["https://github.com/broken/broken"]
    assert broken["status"] == "error" and "unexpected answer" in broken["reason"]
    checks = latest(settings).read("scorecard_checks")
    assert checks is not None
    packaging = [c for c in checks.to_pylist() if c["check"] == "Packaging"]
    assert packaging[0]["score"] is None and packaging[0]["inconclusive"] is True

    health = query(latest(settings), "flask-login", "0.6").repository
    assert health is not None and health["score"] == 6.5
    assert [c["check"] for c in health["weakest_checks"]] == [
        "Fuzzing",
        "Dangerous-Workflow",
        "Brand-New-Check",
    ]

    asked = len(scorecard.log)
    second = ingest(settings, "scorecards")
    assert len(scorecard.log) - asked == 1  # only the repository in error is asked again
    assert second.results["scorecards"].stats["skipped_fresh"] == 3


def test_a_second_run_within_the_age_makes_no_request(
    settings: Settings, services: tuple[FakeServer, FakeServer]
) -> None:
    _, scorecard = services
    scorecard.routes["/projects/github.com/broken/broken"] = json_reply(answer())
    ingest(settings)
    asked = len(scorecard.log)
    report = ingest(settings, "scorecards")
    assert len(scorecard.log) == asked
    assert report.results["scorecards"].status == "unchanged" and not report.published


def test_api_down_carries_tables_forward(
    settings: Settings,
    advisory_repo: AdvisoryRepo,
    services: tuple[FakeServer, FakeServer],
    make_settings: Callable[..., Settings],
) -> None:
    _, scorecard = services
    ingest(settings)
    before = latest(settings)
    for path in list(scorecard.routes):
        scorecard.routes[path] = Reply(503)
    later = make_settings(
        settings.advisory_db_url,
        pypi_url=settings.pypi_url,
        scorecard_url=settings.scorecard_url,
        scorecard_refresh_days=0,
        http_attempts=2,
        http_backoff_max_seconds=0.01,
    )
    report = ingest(later, "advisories,pypi,scorecards")
    assert "scorecards" in report.failures and "unavailable" in report.failures["scorecards"]
    assert not report.published  # nothing else changed: no snapshot just to say it failed
    assert latest(later).id == before.id
    advisory_repo.write("vulns/flask/PYSEC-9.yaml", advisory_yaml("PYSEC-9", package="flask"))
    advisory_repo.commit()
    report = ingest(later, "advisories,pypi,scorecards")
    assert "scorecards" in report.failures and report.published
    after = latest(later)
    manifest = json.loads((after.path / "manifest.json").read_text())
    entry = manifest["sources"]["scorecards"]
    assert entry["status"] == "failed" and entry["age_seconds"] is not None
    assert "unavailable" in entry["error"]
    for table in ("scorecards", "scorecard_checks"):
        old, new = before.read(table), after.read(table)
        assert old is not None and new is not None and old.equals(new)


def test_repository_list_is_cut_down_by_packages_option(
    settings: Settings, services: tuple[FakeServer, FakeServer], tmp_path: Path
) -> None:
    _, scorecard = services
    ingest(settings, "advisories,pypi")
    ingest(settings, "scorecards", packages="django")
    assert [p for p, _ in scorecard.log] == [
        "/projects/github.com/Django/Django",
        "/projects/github.com/django/django",
    ]
    assert set(cards(settings)) == {"https://github.com/django/django"}


def test_repeated_errors_keep_the_last_good_result(
    settings: Settings,
    services: tuple[FakeServer, FakeServer],
    make_settings: Callable[..., Settings],
) -> None:
    _, scorecard = services
    ingest(settings)
    later = make_settings(
        settings.advisory_db_url,
        pypi_url=settings.pypi_url,
        scorecard_url=settings.scorecard_url,
        scorecard_refresh_days=0,
        http_attempts=2,
        http_backoff_max_seconds=0.01,
    )
    scorecard.routes["/projects/github.com/pallets/flask"] = json_reply({"score": "broken"})
    for _night in range(2):
        ingest(later, "scorecards")
        flask = cards(later)["https://github.com/pallets/flask"]
        assert flask["status"] == "error" and flask["score"] == 6.5
    checks = latest(later).read("scorecard_checks")
    assert checks is not None
    assert "https://github.com/pallets/flask" in checks.column("repository").to_pylist()


def test_a_scorecard_url_that_404s_everything_is_a_failure(
    settings: Settings,
    services: tuple[FakeServer, FakeServer],
    make_settings: Callable[..., Settings],
) -> None:
    _, scorecard = services
    ingest(settings)
    scorecard.routes.clear()
    later = make_settings(
        settings.advisory_db_url,
        pypi_url=settings.pypi_url,
        scorecard_url=settings.scorecard_url,
        scorecard_refresh_days=0,
        http_attempts=2,
        http_backoff_max_seconds=0.01,
    )
    with pytest.raises(SourceError, match="answered 404 for every repository"):
        ingest(later, "scorecards")


def test_a_dead_scorecard_api_is_given_up_on_early(
    advisory_repo: AdvisoryRepo,
    make_settings: Callable[..., Settings],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Against a dead API, the source stops asking after a few connection failures in a row:
    one clean reason, a bounded number of retry lines, and no minutes of backoff."""
    names = [f"pkg{i}" for i in range(60)]
    for name in names:
        advisory_repo.write(f"vulns/{name}/PYSEC-{name}.yaml", advisory_yaml(f"PYSEC-{name}", name))
    advisory_repo.commit()
    with serving() as pypi, serving() as dead:
        for name in names:
            pypi.routes[f"/pypi/{name}/json"] = json_reply(
                simple_project(
                    name, ["1.0"], project_urls={"Source": f"https://github.com/o/{name}"}
                )
            )
        dead_url = dead.url
    with serving() as pypi_again:
        pypi_again.routes = pypi.routes
        settings = make_settings(
            advisory_repo.url,
            pypi_url=pypi_again.url,
            scorecard_url=dead_url,
            http_attempts=5,
            http_backoff_max_seconds=0.05,
            http_host_failures=10,
        )
        caplog.set_level(logging.INFO, logger="aggregators.core.http")
        started = time.monotonic()
        report = ingest(settings)
        elapsed = time.monotonic() - started
    error = report.failures["scorecards"]
    host = dead_url.split("//")[1]
    assert error.startswith(f"Scorecard API unavailable at {dead_url}: ")
    assert "connection refused" in error and "Pool" not in error and "object at" not in error
    retries = [r for r in caplog.records if "retrying" in r.getMessage()]
    assert 10 <= len(retries) <= 10 + settings.scorecard_concurrency  # not 60 x 5 = 300
    assert sum("looks down" in r.getMessage() for r in caplog.records) == 1
    assert f"{host} looks down" in caplog.text
    assert elapsed < 30


def test_the_manifest_reports_the_age_of_the_scorecard_data(
    settings: Settings, advisory_repo: AdvisoryRepo
) -> None:
    """A run that keeps results still younger than the refresh age reports (per table, in the
    manifest) when they were fetched, not the time of the run."""
    first = ingest(settings)
    assert first.snapshot is not None
    before = first.snapshot.manifest["tables"]["scorecards"]
    assert before["data_as_of"] <= first.snapshot.manifest["created_at"]
    advisory_repo.write("vulns/flask/PYSEC-10.yaml", advisory_yaml("PYSEC-10", package="flask"))
    advisory_repo.commit()
    time.sleep(1.1)
    second = ingest(settings)
    assert second.published and second.snapshot is not None
    assert second.results["scorecards"].stats["skipped_fresh"] == 3  # kept, not asked again
    entry = second.snapshot.manifest["tables"]["scorecards"]
    fetched = [r["fetched_at"] for r in cards(settings).values()]
    assert entry["data_as_of"] == min(fetched).isoformat() == before["data_as_of"]
    assert entry["data_age_seconds"] >= 1  # the data is older than this run
    assert second.snapshot.source("scorecards")["refreshed_at"] > before["data_as_of"]
