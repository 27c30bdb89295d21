"""seckb's own endpoints: packages, versions, audit (the same document as ``seckb audit --json``),
health, metrics and the OpenAPI document; on a small real data root (advisories + PyPI)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from kb_snapshots import build_home
from server.support import serving_home

from aggregators.cli.main import main


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    return build_home(tmp_path_factory.mktemp("kb"))


@pytest.fixture(scope="module")
def url(data: tuple[Path, list[str]]) -> Iterator[str]:
    with serving_home(data[0]) as base:
        yield base


def get(url: str, path: str, status: int = 200) -> Any:
    answer = requests.get(f"{url}{path}", timeout=10)
    assert answer.status_code == status, answer.text
    return answer.json()


def test_package(url: str, data: tuple[Path, list[str]]) -> None:
    document = get(url, "/v1/packages/Flask")
    assert document["schema"] == "seckb.package/1"
    assert document["package"] == "flask" and document["known_package"] is True
    assert document["snapshot"]["id"] == data[1][1]
    releases = {r["version"]: r for r in document["releases"]}
    assert list(releases) == ["0.12.2", "1.0", "1.1", "1.2", "2.0rc1"]
    assert releases["0.12.2"]["advisory_ids"] == ["PYSEC-1"]
    assert releases["0.12.2"]["advisory_count"] == 1 and releases["1.2"]["advisory_count"] == 0
    assert releases["1.1"]["yanked"] is True
    assert releases["1.0"]["bandit_status"] == "not_analysed"
    assert releases["0.12.2"]["upload_time"].startswith("2023-01-01")
    assert {a["id"] for a in document["advisories"]} == {"PYSEC-1", "PYSEC-2"}
    assert document["bandit_scans"] == [] and document["scorecard_checks"] == []


def test_version(url: str) -> None:
    document = get(url, "/v1/packages/flask/versions/1.0")
    assert document["schema"] == "seckb.version/1"
    assert document["vulnerable"] is True
    assert document["release"]["advisory_ids"] == ["PYSEC-2"]
    assert document["release"]["max_cvss_rating"] == "Critical"
    assert [a["id"] for a in document["advisories"]] == ["PYSEC-2"]
    assert document["advisories"][0]["fixed_versions"] == ["1.1"]
    # a version PyPI does not list is judged from the advisories, never "unknown = clean"
    unlisted = get(url, "/v1/packages/flask/versions/0.12.2.post1")
    assert unlisted["vulnerable"] is True and unlisted["release"]["listed"] is False
    assert (
        get(url, "/v1/packages/requests/versions/2.1")["vulnerable"] is False
    )  # PYSEC-4 withdrawn
    get(url, "/v1/packages/unknown-thing/versions/1.0", 404)


def cli_audit(home: Path, capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    capsys.readouterr()
    main(["audit", *args, "--json", "--home", str(home)])
    document: dict[str, Any] = json.loads(capsys.readouterr().out)
    return document


def test_audit_is_the_cli_document(
    url: str,
    data: tuple[Path, list[str]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    clean_env: None,
) -> None:
    text = (
        "flask==0.12.2\nrequests==2.2 ; python_version < '4'\nflask>=1\nunknown-pkg==1.0\n"
        "--index-url https://x.invalid/simple\n"
    )
    path = tmp_path / "requirements.txt"
    path.write_text(text, encoding="utf-8")
    for fail_on in (None, "high"):
        extra = ["--fail-on", fail_on] if fail_on else []
        expected = cli_audit(data[0], capsys, "-r", str(path), *extra)
        params: dict[str, str] = {"name": str(path), **({"fail_on": fail_on} if fail_on else {})}
        answer = requests.post(
            f"{url}/v1/audit",
            data=text.encode(),
            params=params,
            headers={"Content-Type": "text/plain"},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        assert answer.json() == expected
    assert expected["exit_code"] == 1 and expected["summary"]["vulnerable"] == 2


def test_audit_of_a_cyclonedx_sbom(
    url: str,
    data: tuple[Path, list[str]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    clean_env: None,
) -> None:
    sbom = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "components": [
            {"type": "library", "name": "flask", "version": "1.0", "purl": "pkg:pypi/flask@1.0"},
            {"type": "library", "name": "left-pad", "purl": "pkg:npm/left-pad@1.3.0"},
        ],
    }
    path = tmp_path / "bom.json"
    path.write_text(json.dumps(sbom), encoding="utf-8")
    expected = cli_audit(data[0], capsys, "--sbom", str(path))
    answer = requests.post(
        f"{url}/v1/audit",
        data=json.dumps(sbom),
        params={"name": str(path)},
        headers={"Content-Type": "application/vnd.cyclonedx+json"},
        timeout=30,
    )
    assert answer.status_code == 200 and answer.json() == expected
    assert expected["packages"][0]["status"] == "vulnerable"


@pytest.mark.parametrize(
    ("body", "params", "words"),
    [
        (b"-r /etc/passwd\nflask==1.0\n", {}, "includes (-r/-c) are not followed"),
        (b"-c constraints.txt\n", {}, "includes"),
        (b'{"bomFormat": "SPDX"}', {}, "not a CycloneDX"),
        (b"{not json", {"format": "cyclonedx"}, "not valid JSON"),
        (b"flask==1.0\n", {"fail_on": "severe"}, "fail_on"),
        (b"flask==1.0\n", {"format": "xlsx"}, "format"),
        (b"   \n", {}, "empty"),
    ],
)
def test_audit_bad_bodies(url: str, body: bytes, params: dict[str, str], words: str) -> None:
    answer = requests.post(f"{url}/v1/audit", data=body, params=params, timeout=10)
    assert answer.status_code == 400, answer.text
    assert words in answer.json()["message"]


def test_health(url: str, data: tuple[Path, list[str]], tmp_path: Path) -> None:
    health = get(url, "/healthz")
    assert health["status"] == "ok" and health["snapshot"]["id"] == data[1][1]
    assert health["following_latest"] is True and health["latest"] == data[1][1]
    assert set(health["sources"]) >= {"advisories", "pypi"}
    assert health["sources"]["advisories"]["status"] in ("updated", "unchanged")
    assert health["snapshot"]["age_seconds"] >= 0
    with serving_home(data[0], max_age=timedelta(seconds=0)) as stale:
        answer = requests.get(f"{stale}/healthz", timeout=10)
        assert answer.status_code == 503 and answer.json()["status"] == "stale"
        assert "old" in " ".join(answer.json()["warnings"])
    with serving_home(tmp_path / "empty") as nothing:
        answer = requests.get(f"{nothing}/healthz", timeout=10)
        assert answer.status_code == 503 and answer.json()["status"] == "unavailable"
        query = {"package": {"name": "flask", "ecosystem": "PyPI"}, "version": "1.0"}
        answer = requests.post(f"{nothing}/v1/query", data=json.dumps(query), timeout=10)
        assert answer.status_code == 503 and "no snapshot" in answer.json()["message"]


def test_metrics(url: str) -> None:
    query = {"package": {"name": "flask", "ecosystem": "PyPI"}, "version": "1.0"}
    requests.post(f"{url}/v1/query", data=json.dumps(query), timeout=10)
    requests.get(f"{url}/v1/vulns/NOPE-1", timeout=10)
    answer = requests.get(f"{url}/metrics", timeout=10)
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = answer.text
    assert 'seckb_http_requests_total{method="POST",route="/v1/query",status="200"}' in text
    assert (
        'seckb_http_requests_total{method="GET",route="/v1/vulns/{vuln_id}",status="404"}' in text
    )
    assert 'seckb_http_request_duration_seconds_bucket{route="/v1/query",le="+Inf"}' in text
    assert "seckb_snapshot_info{snapshot_id=" in text and "seckb_snapshot_loads_total 1" in text
    for line in text.splitlines():
        assert line.startswith("#") or len(line.rsplit(" ", 1)) == 2, line


def test_openapi_documents_every_endpoint(url: str) -> None:
    schema = get(url, "/openapi.json")
    assert {
        "/v1/query",
        "/v1/querybatch",
        "/v1/vulns/{vuln_id}",
        "/v1/packages/{name}",
        "/v1/packages/{name}/versions/{version}",
        "/v1/audit",
        "/healthz",
        "/metrics",
        "/packages/{name}",
    } <= set(schema["paths"])
    query = schema["paths"]["/v1/query"]["post"]
    body = query["requestBody"]["content"]["application/json"]["schema"]
    assert all("package" in variant["properties"] for variant in body["oneOf"])  # name or purl
    assert {"200", "400"} <= set(query["responses"])
    assert requests.get(f"{url}/docs", timeout=10).status_code == 200
