"""The popularity source: the real dataset, and every way a dataset can be wrong — refused whole,
the previous table carried forward."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fakes import Reply, serving

from aggregators.core.config import Settings
from aggregators.core.errors import SourceError
from aggregators.core.progress import NullProgress
from aggregators.core.workspace import Workspace
from aggregators.run.ingest import ingest
from aggregators.sources.base import RunState
from aggregators.sources.popularity.parse import PopularityError, parse_popularity
from aggregators.sources.popularity.source import PopularitySource
from helpers import ROOT, AdvisoryRepo, advisory_yaml

DATASET = ROOT.parent / "shared" / "data" / "top-pypi-packages-2026-04.min.json"


def dataset(rows: list[dict[str, Any]], **extra: Any) -> bytes:
    return json.dumps({"last_update": "2026-04-01 06:34:06", "rows": rows, **extra}).encode()


def test_the_real_dataset() -> None:
    if not DATASET.is_file():
        pytest.skip(f"the top-pypi-packages dataset is not at {DATASET}")
    rows = parse_popularity(DATASET.read_bytes(), str(DATASET))
    assert len(rows) == 15000
    assert (rows[0]["package"], rows[0]["rank"]) == ("boto3", 1)
    assert rows[-1]["rank"] == 15000 and rows[0]["as_of"].isoformat().startswith("2026-04-01")
    assert all(a["downloads_30d"] >= b["downloads_30d"] for a, b in itertools.pairwise(rows))


def test_ranks_follow_downloads_and_names_are_normalized() -> None:
    rows = parse_popularity(
        dataset([{"project": "Zope.Interface", "download_count": 5},
                 {"project": "six", "download_count": 9}]),
        "x",
    )  # fmt: skip
    assert [(r["package"], r["project"], r["rank"]) for r in rows] == [
        ("six", "six", 1),
        ("zope-interface", "Zope.Interface", 2),
    ]


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "not JSON"),
        (b'{"last_update": "2026-04-01", "rows": [{"project": "six", "down', "truncated"),
        (b"<html>not found</html>", "not JSON"),
        (b"[1, 2, 3]", "no rows list"),
        (dataset([]), "lists no project"),
        (dataset([{"project": "six", "download_count": 1}], last_update=None), "last_update"),
        (dataset([{"project": "six", "download_count": 1}], last_update="yesterday"), "not a date"),
        (dataset([{"project": "six", "download_count": -1}]), "not a download count"),
        (dataset([{"project": "six", "download_count": "many"}]), "not a download count"),
        (dataset([{"project": "six", "download_count": True}]), "not a download count"),
        (dataset([{"project": "six", "download_count": 10**15}]), "not a download count"),
        (dataset([{"project": "../../etc/passwd", "download_count": 1}]), "not a project name"),
        (dataset([{"project": None, "download_count": 1}]), "not a project name"),
        (dataset(["six"]), "not an object"),
        (
            dataset(
                [
                    {"project": "Requests", "download_count": 2},
                    {"project": "requests", "download_count": 1},
                ]
            ),
            "listed twice",
        ),
    ],
)
def test_a_bad_dataset_is_refused_whole(data: bytes, words: str) -> None:
    with pytest.raises(PopularityError, match=words):
        parse_popularity(data, "top.json")


@pytest.fixture
def repo(advisory_repo: AdvisoryRepo) -> AdvisoryRepo:
    advisory_repo.write("vulns/flask/PYSEC-1.yaml", advisory_yaml("PYSEC-1"))
    advisory_repo.commit()
    return advisory_repo


def test_a_broken_dataset_keeps_the_previous_table(
    repo: AdvisoryRepo, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    good = tmp_path / "top.json"
    good.write_bytes(dataset([{"project": "six", "download_count": 9}]))
    settings = make_settings(repo.url, popularity_url=str(good))
    first = ingest(settings, "advisories,popularity")
    assert first.snapshot is not None and not first.failures
    assert first.snapshot.source("popularity")["lineage"]["rows"] == 1
    again = ingest(settings, "advisories,popularity")
    assert again.results["popularity"].status == "unchanged"
    assert not again.published  # the same bytes: nothing new, nothing published
    good.write_bytes(b'{"last_update": "2026-05-01", "rows": [{"pro')  # a truncated download
    repo.write("vulns/flask/PYSEC-2.yaml", advisory_yaml("PYSEC-2"))
    repo.commit()
    broken = ingest(settings, "advisories,popularity")
    assert "truncated" in broken.failures["popularity"]
    assert broken.snapshot is not None
    entry = broken.snapshot.source("popularity")
    assert entry["status"] == "failed" and entry["lineage"]["rows"] == 1
    table = broken.snapshot.read("package_popularity")
    assert table is not None and table.column("package").to_pylist() == ["six"]
    missing = make_settings(repo.url, popularity_url=str(tmp_path / "nowhere.json"))
    with pytest.raises(SourceError, match="cannot read the popularity dataset"):
        PopularitySource(missing, Workspace(missing.home)).update(RunState(None), NullProgress())


def test_over_http_with_the_etag(
    repo: AdvisoryRepo, make_settings: Callable[..., Settings]
) -> None:
    body = dataset([{"project": "six", "download_count": 9}])

    def answer(headers: dict[str, str]) -> Reply:
        if headers.get("if-none-match") == '"v1"':
            return Reply(304, b"", {"ETag": '"v1"'})
        return Reply(200, body, {"Content-Type": "application/json", "ETag": '"v1"'})

    with serving() as server:
        server.routes["/top.json"] = answer
        settings = make_settings(repo.url, popularity_url=f"{server.url}/top.json", http_attempts=1)
        assert ingest(settings, "advisories,popularity").published
        assert not ingest(settings, "advisories,popularity").published
        asked = [h.get("if-none-match") for p, h in server.log if p == "/top.json"]
        assert asked == [None, '"v1"']
        server.routes["/top.json"] = Reply(200, b"x" * (65 << 20))
        repo.write("vulns/flask/PYSEC-3.yaml", advisory_yaml("PYSEC-3"))
        repo.commit()
        settings = make_settings(repo.url, popularity_url=f"{server.url}/top.json?again",
                                 http_attempts=1)  # fmt: skip
        report = ingest(settings, "advisories,popularity")
        assert "over" in report.failures["popularity"]
