"""``/v1/projects`` over real HTTP (uvicorn on loopback, as ``seckb serve`` runs it): writes need
the configured bearer token; a refused request — no token configured, no or a wrong token, a
malformed or oversized SBOM, a name with ``../`` or control characters — gets a clear 4xx and
writes nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from projects.support import cyclonedx, settings_for
from server.support import running

from aggregators.clients.server.app import create_app
from aggregators.clients.server.holder import SnapshotHolder
from aggregators.core.workspace import Workspace
from aggregators.run.ingest import ingest
from aggregators.store.projects import ProjectStore
from helpers import AdvisoryRepo, advisory_yaml

TOKEN = "correct-horse-battery-staple"
SBOM = json.dumps(cyclonedx([("Flask", "0.12.2"), ("requests", "2.0")])).encode()
CDX = {"Content-Type": "application/vnd.cyclonedx+json"}


@pytest.fixture
def home(advisory_repo: AdvisoryRepo, tmp_path: Path) -> Path:
    advisory_repo.write("vulns/flask/PYSEC-1.yaml", advisory_yaml("PYSEC-1", fixed="1.0"))
    advisory_repo.commit()
    home = tmp_path / "home"
    ingest(settings_for(home, advisory_repo.url), "advisories")
    return home


def serve(home: Path, token: str) -> Iterator[str]:
    holder = SnapshotHolder(Workspace(home))
    holder.open()
    with running(create_app(holder, api_token=token)) as url:
        yield url


@pytest.fixture
def url(home: Path) -> Iterator[str]:
    yield from serve(home, TOKEN)


def bearer(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **CDX}


def nothing_written(home: Path) -> bool:
    """Not a file, not even a lock file, under ``projects/``."""
    return not Workspace(home).projects.exists()


def refused(response: requests.Response, status: int, words: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert words in response.json()["message"], response.json()


def test_writes_are_refused_without_a_configured_token(home: Path) -> None:
    for url in serve(home, ""):
        response = requests.put(f"{url}/v1/projects/shop", data=SBOM, headers=bearer())
        refused(response, 403, "no api_token configured")
        refused(requests.delete(f"{url}/v1/projects/shop", headers=bearer()), 403, "api_token")
        assert requests.get(f"{url}/v1/projects").json()["projects"] == []  # reads work
    assert nothing_written(home)


def test_refused_requests_write_nothing(url: str, home: Path) -> None:
    put = f"{url}/v1/projects/shop"
    refused(requests.put(put, data=SBOM, headers=CDX), 401, "Authorization: Bearer")
    refused(requests.put(put, data=SBOM, headers=bearer("wrong")), 401, "not the server's")
    basic = {"Authorization": f"Basic {TOKEN}", **CDX}
    refused(requests.put(put, data=SBOM, headers=basic), 401, "Bearer")
    refused(requests.put(put, data=b'{"bomFormat": ', headers=bearer()), 400, "not valid JSON")
    refused(requests.put(put, data=b'{"components": []}', headers=bearer()), 400, "CycloneDX")
    empty = json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.5", "components": []}).encode()
    refused(requests.put(put, data=empty, headers=bearer()), 400, "no PyPI package")
    huge = SBOM[:-1] + b', "padding": "' + b"x" * (9 << 20) + b'"}'  # over the 8 MiB SBOM cap
    refused(requests.put(put, data=huge, headers=bearer()), 413, "larger than")
    for name in ("bad%0Aname", "tab%09", "nul%00x", "%1b[31mred"):
        response = requests.put(f"{url}/v1/projects/{name}", data=SBOM, headers=bearer())
        assert response.status_code == 400, name
    refused(
        requests.put(f"{url}/v1/projects/bad%0Aname", data=SBOM, headers=bearer()),
        400,
        "invalid project name",
    )
    for path in ("..%2F..%2Fetc", "..", "%2e%2e", "a%2F..%2F..%2Fb"):
        response = requests.put(f"{url}/v1/projects/{path}", data=SBOM, headers=bearer())
        assert 400 <= response.status_code < 500, path
        assert "message" in response.json()
    refused(
        requests.put(put, data=SBOM, headers={**bearer(), "Content-Type": "image/png"}), 415, ""
    )
    assert nothing_written(home)


def test_put_get_delete(url: str, home: Path) -> None:
    put = f"{url}/v1/projects/shop"
    created = requests.put(f"{put}?version=1.0", data=SBOM, headers=bearer())
    assert created.status_code == 201, created.text
    assert created.json()["project"]["components"] == 3  # the SBOM's subject is audited too
    again = requests.put(f"{put}?version=1.0", data=SBOM, headers=bearer())
    assert again.status_code == 200 and again.json()["change"] == "unchanged"
    text = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "text/plain"}
    replaced = requests.put(f"{put}?version=1.1", data=b"flask==0.12.2\n", headers=text)
    assert replaced.status_code == 200 and replaced.json()["change"] == "replaced"
    assert replaced.json()["project"]["revision"] == 2
    assert len(ProjectStore(Workspace(home)).history("shop")) == 1

    listed = requests.get(f"{url}/v1/projects").json()
    assert [p["name"] for p in listed["projects"]] == ["shop"]
    shown = requests.get(f"{put}?fail_on=high").json()
    assert shown["schema"] == "seckb.project/1" and shown["project"]["version"] == "1.1"
    [flask] = shown["components"]
    assert flask["status"] == "vulnerable" and flask["advisories"] == ["PYSEC-1"]
    assert flask["where"] == "requirements.txt:1"
    assert shown["exit_code"] == 1  # unscored: fails every threshold, as in audit
    refused(requests.get(f"{url}/v1/projects/nope"), 404, "no project named")

    refused(requests.delete(put), 401, "Authorization")
    assert requests.delete(put, headers=bearer()).json() == {"deleted": "shop"}
    refused(requests.delete(put, headers=bearer()), 404, "no project named")
    assert ProjectStore(Workspace(home)).names() == []
