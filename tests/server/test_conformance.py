"""Real OSV clients against a real ``seckb serve`` process over the real advisory-db (2023 bundle).

* pip-audit 2.10 (``-s osv --osv-url``: one ``POST /v1/query`` per pin) on a requirements file of
  pinned vulnerable versions chosen from the bundle;
* uv 0.13 (``uv audit --frozen --service-url``: ``POST /v1/querybatch``, then
  ``GET /v1/vulns/{id}`` per hit) on the uv project kept in ``fixtures/uv-project``;

each reports exactly the advisory ids ``seckb audit --json`` reports for the same pins, and exits
with its "vulnerable" code. Offline: every request goes to the loopback server.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from server.support import (
    BIN,
    UV_PROJECT,
    BundleHome,
    clean_environment,
    seckb,
    serve_process,
    uv_lock_pins,
    write_requirements,
)

from aggregators.core.names import normalize_name

pytestmark = pytest.mark.slow

Found = dict[tuple[str, str], set[str]]


@pytest.fixture(scope="module")
def served(bundle_data: BundleHome) -> Iterator[str]:
    """``seckb serve`` as a real process over the bundle data root."""
    with serve_process(bundle_data.home) as url:
        yield url


def seckb_audit(home: Path, requirements: Path) -> Found:
    """Per pin, the advisory ids ``seckb audit --json`` reports."""
    done = seckb("audit", "-r", str(requirements), "--json", "--home", str(home))
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    return {
        (normalize_name(p["package"]), p["version"]): set(p["advisories"])
        for p in document["packages"]
    }


def test_pip_audit_reports_what_seckb_audit_reports(
    bundle_data: BundleHome, served: str, tmp_path: Path
) -> None:
    requirements = write_requirements(tmp_path / "requirements.txt", bundle_data.pins)
    command = [
        str(BIN / "pip-audit"),
        "-r",
        str(requirements),
        "-s",
        "osv",
        "--osv-url",
        f"{served}/v1/query",
        "--no-deps",
        "--disable-pip",
        "-f",
        "json",
        "--progress-spinner",
        "off",
        "--cache-dir",
        str(tmp_path / "pip-audit-cache"),
    ]
    env = {**clean_environment(), "HOME": str(tmp_path)}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 1, done.stderr  # pip-audit's "vulnerabilities found"
    report = json.loads(done.stdout)
    reported: Found = {
        (normalize_name(d["name"]), d["version"]): {v["id"] for v in d["vulns"]}
        for d in report["dependencies"]
    }
    expected = seckb_audit(bundle_data.home, requirements)
    assert len(reported) == len(bundle_data.pins) >= 30
    assert reported == expected
    assert all(reported.values()), "every pin was chosen vulnerable"
    total = sum(len(ids) for ids in reported.values())
    assert f"Found {total} known vulnerabilities in {len(reported)} packages" in done.stderr


def test_uv_audit_reports_what_seckb_audit_reports(
    bundle_data: BundleHome, served: str, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    shutil.copytree(UV_PROJECT, project)
    lock_before = (project / "uv.lock").read_bytes()
    env = {
        **clean_environment(),
        "HOME": str(tmp_path),
        "UV_CACHE_DIR": str(tmp_path / "uv-cache"),
        "UV_PYTHON_DOWNLOADS": "never",
        "UV_NO_CONFIG": "1",
    }
    command = [
        str(BIN / "uv"),
        "audit",
        "--frozen",
        "--service-url",
        served,
        "--output-format",
        "json",
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, env=env, cwd=project, timeout=300
    )
    assert done.returncode == 1, done.stderr  # uv's "vulnerabilities found"
    report = json.loads(done.stdout)
    reported: Found = {}
    for vuln in report["vulnerabilities"]:
        dependency = vuln["dependency"]
        key = (normalize_name(dependency["name"]), dependency["version"])
        reported.setdefault(key, set()).add(vuln["id"])
    pins = uv_lock_pins()
    expected = seckb_audit(bundle_data.home, write_requirements(tmp_path / "lock.txt", pins))
    assert reported == {key: ids for key, ids in expected.items() if ids}
    assert report["summary"]["audited_packages"] == len(pins)
    assert report["summary"]["vulnerabilities"] == sum(len(ids) for ids in expected.values()) > 0
    assert (project / "uv.lock").read_bytes() == lock_before  # --frozen: nothing resolved


def test_uv_text_output_names_the_advisories(served: str, tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(UV_PROJECT, project)
    env = {**clean_environment(), "HOME": str(tmp_path), "UV_CACHE_DIR": str(tmp_path / "c")}
    done = subprocess.run(
        [str(BIN / "uv"), "audit", "--frozen", "--service-url", served],
        capture_output=True,
        text=True,
        env=env,
        cwd=project,
        timeout=300,
    )
    assert done.returncode == 1, done.stderr
    assert "flask 0.12.2 has 3 known vulnerabilities" in done.stdout
    assert "PYSEC-2018-66" in done.stdout and "Fixed in: 0.12.3" in done.stdout


def test_pip_audit_table_output_with_the_environment_variable(served: str, tmp_path: Path) -> None:
    requirements = write_requirements(
        tmp_path / "requirements.txt",
        [("flask", "0.12.2"), ("jinja2", "2.10"), ("flask-cors", "3.0.10")],
    )
    env = {**clean_environment(), "HOME": str(tmp_path), "PIP_AUDIT_OSV_URL": f"{served}/v1/query"}
    command = [
        str(BIN / "pip-audit"),
        "-r",
        str(requirements),
        "-s",
        "osv",
        "--no-deps",
        "--disable-pip",
        "--progress-spinner",
        "off",
        "--cache-dir",
        str(tmp_path / "cache"),
    ]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 1, done.stderr
    lines = [line.split() for line in done.stdout.splitlines()]
    assert lines[0][:2] == ["Name", "Version"] and "ID" in lines[0]
    assert ["flask", "0.12.2", "PYSEC-2018-66", "0.12.3"] in lines
    assert ["jinja2", "2.10", "PYSEC-2019-217", "2.10.1"] in lines
    assert not [line for line in lines if line[:1] == ["flask-cors"]]  # 3.0.10: no advisory
    assert "Found 5 known vulnerabilities in 2 packages" in done.stderr
