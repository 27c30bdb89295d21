"""Real pip and real uv resolve through seckb's index, in front of a real index server
(pypiserver on loopback, serving wheels built here), over a test advisory-db.

* the greatest unblocked release is chosen, in both modes;
* a blocked pin with ``==`` installs in ``yank`` mode with the installers' yanked warning naming
  the advisory, and fails in ``hide`` mode with a message naming the pin;
* a dependency edge to a blocked release makes the resolver backtrack (``hide``; in ``yank``
  mode uv backtracks, while pip takes a yanked release a dependency pins with ``==``, as PEP 592
  lets it, and warns: the reason ``/strict/simple/`` exists);
* a package no advisory names passes through; a policy file reloads without a restart; a new
  snapshot is followed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
import requests
from index.support import (
    BIN,
    IndexHome,
    client_environment,
    index_settings,
    serving_index,
)

from aggregators.core.config import load_settings
from aggregators.run.ingest import ingest
from helpers import AdvisoryRepo, advisory_yaml

pytestmark = pytest.mark.slow


def pip(index: str, home: Path, *requirements: str) -> subprocess.CompletedProcess[str]:
    """``pip install --dry-run --report -`` through ``index`` (this machine's pip config unread)."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--dry-run",
        "--isolated",
        "--no-cache-dir",
        "--report",
        "-",
        "-q",
        "--index-url",
        index,
        *requirements,
    ]
    return subprocess.run(
        command, capture_output=True, text=True, env=client_environment(home), timeout=300
    )


def uv(index: str, home: Path, *requirements: str) -> subprocess.CompletedProcess[str]:
    """``uv pip compile`` of ``requirements`` through ``index``."""
    command = [
        str(BIN / "uv"),
        "pip",
        "compile",
        "-",
        "--index-url",
        index,
        "--no-cache",
        "--python-version",
        "3.11",
        "--no-header",
        "--no-annotate",
    ]
    return subprocess.run(
        command,
        input="".join(f"{r}\n" for r in requirements),
        capture_output=True,
        text=True,
        env=client_environment(home),
        timeout=300,
    )


def pip_pins(done: subprocess.CompletedProcess[str]) -> dict[str, str]:
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    return {i["metadata"]["name"]: i["metadata"]["version"] for i in report["install"]}


def uv_pins(done: subprocess.CompletedProcess[str]) -> dict[str, str]:
    assert done.returncode == 0, done.stderr
    pins = [line.split("==") for line in done.stdout.splitlines() if "==" in line]
    return {name.strip(): version.strip() for name, version in pins}


def test_pip_and_uv_choose_the_greatest_unblocked_release(
    index_home: IndexHome, upstream: str, client_home: Path
) -> None:
    with serving_index(index_settings(index_home.home, upstream)) as url:
        for index in (f"{url}/simple/", f"{url}/strict/simple/"):
            assert pip_pins(pip(index, client_home, "vulnlib")) == {"vulnlib": "1.2"}
            assert uv_pins(uv(index, client_home, "vulnlib")) == {"vulnlib": "1.2"}
            assert pip_pins(pip(index, client_home, "plainpkg")) == {"plainpkg": "2.0"}
            assert uv_pins(uv(index, client_home, "plainpkg", "vulnlib<2")) == {
                "plainpkg": "2.0",
                "vulnlib": "1.2",
            }
        direct = pip_pins(pip(upstream, client_home, "vulnlib"))
        assert direct == {"vulnlib": "2.0"}  # what the upstream alone gives


def test_a_blocked_pin_installs_yanked_with_the_reason_or_fails_when_hidden(
    index_home: IndexHome, upstream: str, client_home: Path
) -> None:
    with serving_index(index_settings(index_home.home, upstream)) as url:
        yank = pip(f"{url}/simple/", client_home, "vulnlib==1.1")
        assert pip_pins(yank) == {"vulnlib": "1.1"}
        assert "is a yanked version" in yank.stderr
        assert "Reason for being yanked: seckb: blocked: TEST-2024-1 (High 7.5" in yank.stderr
        uv_yank = uv(f"{url}/simple/", client_home, "vulnlib==1.1")
        assert uv_pins(uv_yank) == {"vulnlib": "1.1"}
        assert '`vulnlib==1.1` is yanked (reason: "seckb: blocked: TEST-2024-1' in uv_yank.stderr

        hidden = pip(f"{url}/strict/simple/", client_home, "vulnlib==1.1")
        assert hidden.returncode != 0
        assert "No matching distribution found for vulnlib==1.1" in hidden.stderr
        assert "(from versions: 1.2)" in hidden.stderr
        uv_hidden = uv(f"{url}/strict/simple/", client_home, "vulnlib==1.1")
        assert uv_hidden.returncode != 0
        assert "there is no version of vulnlib==1.1" in uv_hidden.stderr


def test_a_dependency_on_a_blocked_release_makes_the_resolver_backtrack(
    index_home: IndexHome, upstream: str, client_home: Path
) -> None:
    with serving_index(index_settings(index_home.home, upstream)) as url:
        strict = f"{url}/strict/simple/"
        assert pip_pins(pip(strict, client_home, "app")) == {"app": "1.0", "vulnlib": "1.2"}
        assert uv_pins(uv(strict, client_home, "app")) == {"app": "1.0", "vulnlib": "1.2"}
        lenient = f"{url}/simple/"
        assert uv_pins(uv(lenient, client_home, "app")) == {"app": "1.0", "vulnlib": "1.2"}
        soft = pip(lenient, client_home, "app")  # PEP 592: a pin with == may take a yanked file
        assert pip_pins(soft) == {"app": "2.0", "vulnlib": "2.0"}
        assert "Reason for being yanked: seckb: blocked: TEST-2024-2" in soft.stderr
        assert pip_pins(pip(upstream, client_home, "app")) == {"app": "2.0", "vulnlib": "2.0"}


def test_the_severity_threshold_and_accepted_risks_change_what_resolves(
    index_home: IndexHome, upstream: str, client_home: Path, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text("", encoding="utf-8")
    settings = index_settings(
        index_home.home, upstream, policy_severity="medium", policy_file=str(policy)
    )
    with serving_index(settings) as url:
        strict = f"{url}/strict/simple/"
        assert uv_pins(uv(strict, client_home, "lowsev")) == {"lowsev": "1.1"}  # Low < medium
        assert uv_pins(uv(strict, client_home, "vulnlib")) == {"vulnlib": "1.2"}
        expires = date.today() + timedelta(days=30)
        policy.write_text(
            '[[accept]]\npackage = "vulnlib"\nadvisory = "CVE-24-2"\n'  # an alias of TEST-2024-2
            f'reason = "the affected code path is not used"\nexpires = {expires}\n',
            encoding="utf-8",
        )
        deadline = time.monotonic() + 20
        while uv_pins(uv(strict, client_home, "vulnlib")) != {"vulnlib": "2.0"}:
            assert time.monotonic() < deadline, "the policy file was not reloaded"
            time.sleep(0.5)
        explained = requests.get(f"{url}/v1/policy/vulnlib?version=2.0", timeout=10).json()
        (verdict,) = explained["versions"]
        assert verdict["verdict"] == "allowed"
        assert verdict["accepted"][0]["accepted_risk"]["reason"].startswith("the affected code")
        expired = date.today() - timedelta(days=1)
        policy.write_text(policy.read_text().replace(str(expires), str(expired)))
        deadline = time.monotonic() + 20
        while uv_pins(uv(strict, client_home, "vulnlib")) != {"vulnlib": "1.2"}:
            assert time.monotonic() < deadline, "the expired risk still applies"
            time.sleep(0.5)
        explained = requests.get(f"{url}/v1/policy/vulnlib?version=2.0", timeout=10).json()
        assert explained["versions"][0]["expired_accepted_risks"][0]["expires"] == str(expired)


def test_a_new_snapshot_is_followed_without_a_restart(
    upstream: str, client_home: Path, tmp_path: Path
) -> None:
    repo = AdvisoryRepo(tmp_path / "advisory-db")
    repo.write(
        "vulns/vulnlib/TEST-2024-1.yaml",
        advisory_yaml("TEST-2024-1", "vulnlib", introduced="0", fixed="1.2"),
    )
    repo.commit()
    settings = load_settings(env={}, home=tmp_path / "home", advisory_db_url=repo.url)
    assert ingest(settings, "advisories").snapshot is not None
    with serving_index(index_settings(settings.home, upstream)) as url:
        strict = f"{url}/strict/simple/"
        assert uv_pins(uv(strict, client_home, "plainpkg")) == {"plainpkg": "2.0"}
        repo.write(
            "vulns/plainpkg/TEST-2024-9.yaml",
            advisory_yaml("TEST-2024-9", "plainpkg", introduced="2.0", fixed=None),
        )
        repo.commit()
        published = ingest(settings, "advisories").snapshot
        assert published is not None
        deadline = time.monotonic() + 20
        while True:
            answer = requests.get(f"{strict}plainpkg/", timeout=10)
            if answer.headers["X-Seckb-Snapshot"] == published.id:
                break
            assert time.monotonic() < deadline, "the new snapshot was not served"
            time.sleep(0.1)
        assert answer.headers["X-Seckb-Knowledge"] == "advisories"
        assert uv_pins(uv(strict, client_home, "plainpkg")) == {"plainpkg": "1.0"}
