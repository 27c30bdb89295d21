"""Normalizing PyPI JSON documents (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fakes import pypi_file, pypi_project

from aggregators.sources.pypi.project import (
    ProjectError,
    find_repository,
    forge_repository,
    normalize_label,
    parse_project,
)

NOW = datetime(2026, 11, 22, tzinfo=UTC)
ASKED = "https://mirror.example/pypi/flask/json"


def test_labels_are_normalized_as_pep_753() -> None:
    assert normalize_label("Source Code") == "sourcecode"
    assert normalize_label("source-code") == "sourcecode"
    assert normalize_label("  REPOSITORY! ") == "repository"


@pytest.mark.parametrize(
    ("url", "repo"),
    [
        ("https://github.com/pallets/flask", "https://github.com/pallets/flask"),
        ("https://github.com/pallets/flask.git", "https://github.com/pallets/flask"),
        ("https://www.github.com/pallets/flask/tree/main/src", "https://github.com/pallets/flask"),
        ("https://github.com/pallets/flask/issues/", "https://github.com/pallets/flask"),
        ("https://gitlab.com/group/proj", "https://gitlab.com/group/proj"),
        ("https://github.com/sponsors/someone", None),
        ("https://github.com/pallets", None),
        ("https://flask.palletsprojects.com/", None),
        ("not a url", None),
    ],
)
def test_forge_repository(url: str, repo: str | None) -> None:
    assert forge_repository(url) == repo


def test_source_labels_beat_homepage() -> None:
    info = {
        "project_urls": {
            "Homepage": "https://github.com/wrong/homepage",
            "Issue Tracker": "https://github.com/wrong/issues/issues",
            "Source-Code": "https://github.com/pallets/flask/",
        },
        "home_page": "https://github.com/wrong/home",
    }
    assert find_repository(info) == ("https://github.com/pallets/flask", "project_urls.Source-Code")
    info["project_urls"].pop("Source-Code")
    assert find_repository(info) == ("https://github.com/wrong/homepage", "project_urls.Homepage")
    info["project_urls"].pop("Homepage")
    assert find_repository(info) == ("https://github.com/wrong/home", "home_page")
    info["home_page"] = "https://example.org"
    assert find_repository(info)[1] == "project_urls.Issue Tracker"
    assert find_repository({"project_urls": None}) == (None, None)


def test_releases_sdists_yanks_and_relative_urls() -> None:
    doc = pypi_project(
        "Flask",
        {
            "0.12.2": [pypi_file("Flask-0.12.2.tar.gz", sha256="a" * 64, size=5)],
            "1.0rc1": [pypi_file("Flask-1.0rc1-py3-none-any.whl", packagetype="bdist_wheel")],
            "1.0": [
                pypi_file(
                    "Flask-1.0.tar.gz",
                    yanked=True,
                    yanked_reason="broken",
                    uploaded="2023-02-02T00:00:00Z",
                ),
                pypi_file(
                    "Flask-1.0-py3-none-any.whl",
                    packagetype="bdist_wheel",
                    yanked=True,
                    uploaded="2023-02-01T00:00:00Z",
                ),
            ],
            "2.0": [pypi_file("Flask-2.0.tar.gz", url="https://files.example/Flask-2.0.tar.gz")],
            "nightly-build": [],
        },
        project_urls={"Source": "https://github.com/pallets/flask"},
        serial=77,
    )
    project = parse_project(doc, ASKED, "flask", '"etag"', NOW)
    assert project.package["package"] == "flask" and project.package["display_name"] == "Flask"
    assert project.package["repository_url"] == "https://github.com/pallets/flask"
    assert project.package["last_serial"] == 77 and project.package["etag"] == '"etag"'
    rows = {r["version"]: r for r in project.releases}
    assert rows["0.12.2"]["sdist_url"] == "https://mirror.example/packages/Flask-0.12.2.tar.gz"
    assert rows["0.12.2"]["sdist_sha256"] == "a" * 64 and rows["0.12.2"]["sdist_size"] == 5
    assert rows["2.0"]["sdist_url"] == "https://files.example/Flask-2.0.tar.gz"
    assert rows["1.0rc1"]["is_prerelease"] is True and rows["1.0rc1"]["sdist_filename"] is None
    assert rows["1.0rc1"]["has_wheel"] is True
    assert rows["1.0"]["yanked"] is True and rows["1.0"]["yanked_reason"] == "broken"
    assert rows["1.0"]["upload_time"] == datetime(2023, 2, 1, tzinfo=UTC)
    assert rows["nightly-build"]["is_pep440"] is False and rows["nightly-build"]["files"] == 0
    assert rows["nightly-build"]["is_prerelease"] is None


def test_a_partly_yanked_release_is_not_yanked() -> None:
    doc = pypi_project(
        "x", {"1.0": [pypi_file("x-1.0.tar.gz", yanked=True), pypi_file("x-1.0.zip")]}
    )
    (row,) = parse_project(doc, ASKED, "x", None, NOW).releases
    assert row["yanked"] is False and row["sdist_filename"] == "x-1.0.zip"


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "not a PyPI project document"),
        ({"info": {}}, "no name"),
        ({"info": {"name": "other"}, "releases": {}}, "asked for 'flask'"),
        ({"info": {"name": "flask"}, "releases": []}, "'releases' is not a mapping"),
        ({"info": {"name": "flask"}, "releases": {"1.0": "x"}}, "has no list of files"),
    ],
)
def test_unexpected_documents(document: object, message: str) -> None:
    with pytest.raises(ProjectError, match=message):
        parse_project(document, ASKED, "flask", None, NOW)
