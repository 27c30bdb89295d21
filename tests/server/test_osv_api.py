"""The OSV API v1 over the real advisory-db (2023 bundle): the documented shapes, PEP 503 names,
PEP 440 versions, withdrawn advisories, aliases, pagination, the OSV schema, and agreement with
``seckb query`` and ``seckb audit`` on every advisory's versions."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

import pytest
import requests
from jsonschema import Draft202012Validator, FormatChecker
from server.support import BundleHome, latest, records_of, serving_home

from aggregators.clients.lookup import KnowledgeBase
from aggregators.clients.query import query as seckb_query
from aggregators.core.versions import parse_version
from aggregators.core.workspace import Workspace
from aggregators.store.snapshots import SnapshotStore

SCHEMA = Path(__file__).parent / "osv_schema" / "schema.json"


def osv(url: str, path: str, body: Any) -> requests.Response:
    return requests.post(f"{url}{path}", data=json.dumps(body), timeout=30)


def ask(url: str, name: str, version: str) -> dict[str, Any]:
    answer = osv(
        url, "/v1/query", {"package": {"name": name, "ecosystem": "PyPI"}, "version": version}
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/json"
    document: dict[str, Any] = answer.json()
    return document


def ids(document: dict[str, Any]) -> list[str]:
    return [v["id"] for v in document.get("vulns", [])]


def test_query_returns_the_advisory_db_documents(bundle_url: str, bundle_data: BundleHome) -> None:
    records = records_of(latest(bundle_data.home))
    document = ask(bundle_url, "flask", "0.12.2")
    assert set(document) == {"vulns"}
    assert ids(document) == ["PYSEC-2018-66", "PYSEC-2019-179", "PYSEC-2023-62"]
    for vuln in document["vulns"]:
        assert vuln == records[vuln["id"]]  # the advisory-db's own document, field for field
    assert document["vulns"][0]["modified"] == "2021-08-25T04:30:09.712538Z"
    assert list(document["vulns"][0]) == list(records["PYSEC-2018-66"])  # key order kept


def test_names_are_pep503_and_versions_pep440(bundle_url: str) -> None:
    expected = ids(ask(bundle_url, "django", "2.2"))
    assert expected
    for name in ("Django", "DJANGO", "django"):
        for version in ("2.2", "2.2.0", "2.2.0.0"):
            assert ids(ask(bundle_url, name, version)) == expected
    assert ids(ask(bundle_url, "flask_cors", "3.0.8")) == ids(
        ask(bundle_url, "Flask-CORS", "3.0.8")
    )
    # a version no list names is still judged against the ranges (never "unknown = clean")
    assert "PYSEC-2019-11" in ids(ask(bundle_url, "django", "2.2.3.post1"))


def test_no_advisory_is_an_empty_object_as_osv(bundle_url: str) -> None:
    assert ask(bundle_url, "flask", "2.3.3") == {}
    assert ask(bundle_url, "no-such-package-anywhere", "1.0") == {}


def test_purl_queries(bundle_url: str) -> None:
    by_name = ids(ask(bundle_url, "jinja2", "2.4.1"))
    for purl, version in (("pkg:pypi/jinja2@2.4.1", None), ("pkg:pypi/Jinja2", "2.4.1")):
        body: dict[str, Any] = {"package": {"purl": purl}}
        if version:
            body["version"] = version
        answer = osv(bundle_url, "/v1/query", body)
        assert answer.status_code == 200 and ids(answer.json()) == by_name


def test_withdrawn_advisories_are_never_returned(bundle_url: str, bundle_data: BundleHome) -> None:
    snapshot = latest(bundle_data.home)
    affected = snapshot.read("affected_versions")
    assert affected is not None
    withdrawn = [r for r in affected.to_pylist() if r["withdrawn"]]
    assert withdrawn, "the 2023 advisory-db has withdrawn advisories"
    for row in withdrawn[:25]:
        assert row["advisory_id"] not in ids(ask(bundle_url, row["package"], row["version"]))
    record = requests.get(f"{bundle_url}/v1/vulns/{withdrawn[0]['advisory_id']}", timeout=10)
    assert record.status_code == 200 and record.json()["withdrawn"]  # still served by id


def test_querybatch_gives_ids_and_modified(bundle_url: str, bundle_data: BundleHome) -> None:
    records = records_of(latest(bundle_data.home))
    queries = [
        {"package": {"name": "flask", "ecosystem": "PyPI"}, "version": "0.12.2"},
        {"package": {"purl": "pkg:pypi/django@3.2"}},
        {"package": {"name": "flask", "ecosystem": "PyPI"}, "version": "2.3.3"},
    ]
    answer = osv(bundle_url, "/v1/querybatch", {"queries": queries})
    assert answer.status_code == 200
    results = answer.json()["results"]
    assert len(results) == 3 and results[2] == {}
    for result, query in zip(results[:2], queries[:2], strict=True):
        full = osv(bundle_url, "/v1/query", query).json()
        assert [v["id"] for v in result["vulns"]] == ids(full)
        for vuln in result["vulns"]:
            assert set(vuln) == {"id", "modified"}
            assert vuln["modified"] == records[vuln["id"]]["modified"]


def test_vulns_by_id_and_alias(bundle_url: str) -> None:
    record = requests.get(f"{bundle_url}/v1/vulns/PYSEC-2018-66", timeout=10).json()
    assert record["id"] == "PYSEC-2018-66"
    for alias in record["aliases"]:
        by_alias = requests.get(f"{bundle_url}/v1/vulns/{alias}", timeout=10)
        assert by_alias.status_code == 200 and by_alias.json() == record
    missing = requests.get(f"{bundle_url}/v1/vulns/PYSEC-1999-0", timeout=10)
    assert missing.status_code == 404
    assert missing.json() == {"code": 5, "message": "Bug not found."}


def test_pagination_as_osv(bundle_data: BundleHome) -> None:
    with serving_home(bundle_data.home, page_size=4) as url:
        query = {"package": {"name": "django", "ecosystem": "PyPI"}, "version": "3.2"}
        pages, token = [], None
        while True:
            body = {**query, **({"page_token": token} if token else {})}
            page = osv(url, "/v1/query", body).json()
            pages.append(ids(page))
            token = page.get("next_page_token")
            if token is None:
                break
        assert all(len(p) == 4 for p in pages[:-1]) and 1 <= len(pages[-1]) <= 4
        with serving_home(bundle_data.home) as whole:
            assert [i for page in pages for i in page] == ids(osv(whole, "/v1/query", query).json())
        batch = osv(url, "/v1/querybatch", {"queries": [query]}).json()["results"][0]
        assert len(batch["vulns"]) == 4 and batch["next_page_token"]
        stale = osv(url, "/v1/query", {**query, "page_token": _token_of("20000101T000000Z-0", 4)})
        assert stale.status_code == 400 and "repeat the query" in stale.json()["message"]
        bad = osv(url, "/v1/query", {**query, "page_token": "not-a-token"})
        assert bad.status_code == 400 and bad.json()["message"] == "Invalid page token."


def _token_of(snapshot_id: str, offset: int) -> str:
    from aggregators.clients.server.osv import encode_token

    return encode_token(snapshot_id, offset)


FULL_COMMIT = re.compile(r"^(0|[a-f0-9]{40}|[a-f0-9]{64})$")


def _short_git_commits(document: dict[str, Any]) -> set[str]:
    """JSON paths of GIT range events whose commit is not a full hash (the OSV schema's rule
    "GIT ranges must use full-length commit hashes")."""
    found = set()
    for i, affected in enumerate(document.get("affected") or []):
        for j, rng in enumerate(affected.get("ranges") or []):
            if rng.get("type") != "GIT":
                continue
            for k, event in enumerate(rng.get("events") or []):
                if any(not FULL_COMMIT.match(str(v)) for v in event.values()):
                    found.add(f"$.affected[{i}].ranges[{j}].events[{k}]")
    return found


def test_served_documents_validate_against_the_osv_schema(
    bundle_url: str, bundle_data: BundleHome
) -> None:
    """Every document validates, except where the advisory-db's own document breaks the
    schema: seven 2023 documents name GIT commits that are not full hashes (``4e7d0df9093``,
    ``b27f...929.patch``). seckb serves the documents as the advisory-db has them, so those
    stay as they are; nothing else may fail."""
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema, format_checker=FormatChecker())
    session = requests.Session()
    problems, upstream = [], []
    records = records_of(latest(bundle_data.home))
    for advisory_id in sorted(records):
        served = session.get(f"{bundle_url}/v1/vulns/{advisory_id}", timeout=10)
        assert served.status_code == 200
        document = served.json()
        assert document == records[advisory_id]
        short = _short_git_commits(document)
        for error in validator.iter_errors(document):
            if error.json_path in short:
                upstream.append(advisory_id)
            else:
                problems.append(f"{advisory_id}: {error.json_path}: {error.message[:120]}")
    assert len(records) == 2541
    assert problems == []
    assert sorted(set(upstream)) == [
        "PYSEC-2017-27",
        "PYSEC-2019-155",
        "PYSEC-2021-371",
        "PYSEC-2021-424",
        "PYSEC-2021-425",
        "PYSEC-2021-436",
        "PYSEC-2023-80",
    ]


def test_answers_agree_with_seckb_query_and_audit(bundle_url: str, bundle_data: BundleHome) -> None:
    """Every (package, version) the advisories mention, in a random sample, plus versions no
    list names: the OSV answer is the active advisories ``seckb query`` lists and the lookup
    API (``seckb audit``) reports."""
    snapshot = SnapshotStore(Workspace(bundle_data.home)).get(bundle_data.second)
    affected = snapshot.read("affected_versions")
    assert affected is not None
    pairs = sorted({(r["package"], r["version"]) for r in affected.to_pylist()})
    sample = random.Random(11).sample(pairs, 150)
    unlisted = [(p, v + ".post7") for p, v in sample[:40]]
    unlisted += [(p, "0.0.1.dev1") for p, _ in sample[:10]]
    sample += [(p, v) for p, v in unlisted if parse_version(v) is not None]
    kb = KnowledgeBase(snapshot)
    for package, version in sample:
        served = ids(ask(bundle_url, package, version))
        answer = seckb_query(snapshot, package, version)
        listed = sorted(m.id for m in answer.advisories if not m.withdrawn)
        looked_up = kb.lookup(package, version)
        assert served == listed, (package, version)
        assert looked_up is not None, (package, version)
        assert served == sorted(looked_up.advisory_ids), (package, version)


@pytest.mark.parametrize("version", ["0.12.2", "0.12.3"])
def test_fixed_versions_are_not_affected(bundle_url: str, version: str) -> None:
    assert ("PYSEC-2018-66" in ids(ask(bundle_url, "flask", version))) is (version == "0.12.2")
