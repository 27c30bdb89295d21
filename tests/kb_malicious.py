"""A data root whose snapshot knows malicious packages: the advisory-db beside a repository laid
out like ossf/malicious-packages, holding real records (tests/fixtures/malicious-packages),
PyPI's release lists served on loopback, and a popularity dataset.

What the snapshot then says, release by release:

* ``aiohtt`` 0.1 and 0.2 — malicious (MAL-2023-1578: every version); the project is malicious.
* ``termncolor`` 3.1.0 — malicious (MAL-2025-47454 lists it); 3.1.1, uploaded after the record
  was published, is ``suspect``: the record listed every release there was.
* ``litellm`` 1.82.7 and 1.82.8 — malicious (MAL-2026-2144, merged into the advisory-db's
  PYSEC-2026-2); 1.82.6 and 1.82.9 are not suspect: litellm is a popular project, compromised.
* ``fastapi`` 0.136.3 — clean: MAL-2026-4750 was withdrawn (a false positive).
* ``requests`` 2.31.0 — one ordinary, unscored advisory (PYSEC-2023-74).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fakes import json_reply, pypi_file, pypi_project, serving

from aggregators.core.config import Settings, load_settings
from aggregators.run.ingest import ingest
from helpers import AdvisoryRepo, advisory_yaml

FIXTURES = Path(__file__).parent / "fixtures"
RECORDS = FIXTURES / "malicious-packages"
SYNTHETIC = FIXTURES / "top-pypi-packages-synthetic.json"
USED = (
    "osv/malicious/pypi/aiohtt/MAL-2023-1578.json",
    "osv/malicious/pypi/termncolor/MAL-2025-47454.json",
    "osv/malicious/pypi/litellm/MAL-2026-2144.json",
    "osv/withdrawn/pypi/fastapi/MAL-2026-4750.json",
)
RELEASES: dict[str, dict[str, str]] = {  # version -> upload time
    "aiohtt": {"0.1": "2023-02-09T10:00:00Z", "0.2": "2023-02-10T10:00:00Z"},
    "termncolor": {"3.1.0": "2025-09-17T10:00:00Z", "3.1.1": "2025-10-01T10:00:00Z"},
    "litellm": {
        "1.82.6": "2026-03-10T10:00:00Z",
        "1.82.7": "2026-03-24T08:00:00Z",
        "1.82.8": "2026-03-24T09:00:00Z",
        "1.82.9": "2026-03-30T10:00:00Z",
    },
    "fastapi": {"0.136.2": "2026-02-01T10:00:00Z", "0.136.3": "2026-02-20T10:00:00Z"},
    "requests": {"2.30.0": "2023-05-03T10:00:00Z", "2.31.0": "2023-05-22T10:00:00Z"},
}


def popularity_file(root: Path) -> Path:
    """The synthetic dataset with litellm added (a popular project)."""
    document = json.loads(SYNTHETIC.read_text(encoding="utf-8"))
    document["rows"].insert(40, {"project": "litellm", "download_count": 300_000_000})
    path = root / "popularity.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def malicious_repo(root: Path) -> AdvisoryRepo:
    """The malicious-packages-shaped repository of the records :data:`USED`."""
    repo = AdvisoryRepo(root / "malicious-packages")
    for relpath in USED:
        repo.write(relpath, (RECORDS / relpath).read_bytes())
    repo.commit("records")
    repo.repo.git.config("uploadpack.allowFilter", "true")
    return repo


def build_malicious_home(root: Path, **overrides: Any) -> Settings:
    """Ingest advisories, PyPI and popularity into ``root/home``; return its settings."""
    pypa = AdvisoryRepo(root / "advisory-db")
    pypa.write(
        "vulns/litellm/PYSEC-2026-2.yaml",
        advisory_yaml(
            "PYSEC-2026-2",
            "litellm",
            introduced="1.82.7",
            fixed="1.82.9",
            versions=("1.82.7", "1.82.8"),
        ),
    )
    pypa.write(
        "vulns/requests/PYSEC-2023-74.yaml",
        advisory_yaml("PYSEC-2023-74", "requests", fixed="2.32.0"),
    )
    pypa.commit()
    ossf = malicious_repo(root)
    with serving() as pypi:
        for name, versions in RELEASES.items():
            files = {
                v: [pypi_file(f"{name}-{v}.tar.gz", uploaded=at)] for v, at in versions.items()
            }
            pypi.routes[f"/pypi/{name}/json"] = json_reply(pypi_project(name, files))
        settings = load_settings(
            env={},
            home=root / "home",
            advisory_db_url=pypa.url,
            osv_repositories=(f"ossf={ossf.url}#osv/malicious/pypi|osv/withdrawn/pypi",),
            pypi_url=pypi.url,
            popularity_url=str(popularity_file(root)),
            **overrides,
        )
        report = ingest(settings, "advisories,pypi,popularity")
        assert not report.failures and report.snapshot is not None, report.failures
    return settings
