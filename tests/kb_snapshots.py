"""A data root with two real snapshots (advisories + loopback PyPI) for audit/recommend/diff tests.

Both snapshots hold the synthetic popularity dataset. First snapshot: flask 0.12.2 (PYSEC-1,
unscored), 1.0 (PYSEC-2, Critical), 1.1 (yanked), 1.2, 2.0rc1; requests 2.0 (PYSEC-3, Medium
4.2), 2.1 (PYSEC-4, Low 1.8), 2.2. The second (latest) adds PYSEC-5 (requests >= 2.2, High) and
withdraws PYSEC-4.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fakes import json_reply, pypi_file, pypi_project, serving

from aggregators.core.config import load_settings
from aggregators.run.ingest import ingest
from helpers import AdvisoryRepo, advisory_yaml

CRITICAL = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"  # 9.8
HIGH = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"  # 7.5
MEDIUM = "CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:L/I:L/A:N"  # 4.2
LOW = "CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N"  # 1.8


def _severity(vector: str) -> str:
    return f"severity:\n- type: CVSS_V3\n  score: {vector}\n"


def build_home(root: Path, **overrides: Any) -> tuple[Path, list[str]]:
    """Ingest twice into ``root/home``; return the data root and the two snapshot ids.
    ``overrides`` are more settings (``store_url`` publishes to an object store)."""
    repo = AdvisoryRepo(root / "advisory-db")
    repo.write("vulns/flask/PYSEC-1.yaml", advisory_yaml("PYSEC-1", fixed="1.0"))
    repo.write(
        "vulns/flask/PYSEC-2.yaml",
        advisory_yaml("PYSEC-2", introduced="1.0", fixed="1.1", extra=_severity(CRITICAL)),
    )
    repo.write(
        "vulns/requests/PYSEC-3.yaml",
        advisory_yaml("PYSEC-3", "requests", fixed="2.1", extra=_severity(MEDIUM)),
    )
    repo.write(
        "vulns/requests/PYSEC-4.yaml",
        advisory_yaml("PYSEC-4", "requests", introduced="2.1", fixed="2.2", extra=_severity(LOW)),
    )
    repo.commit()
    flask = {
        v: [pypi_file(f"flask-{v}.tar.gz", yanked=v == "1.1")]
        for v in ("0.12.2", "1.0", "1.1", "1.2", "2.0rc1")
    }
    requests = {v: [pypi_file(f"requests-{v}.tar.gz")] for v in ("2.0", "2.1", "2.2")}
    ids = []
    with serving() as pypi:
        pypi.routes["/pypi/flask/json"] = json_reply(pypi_project("Flask", flask))
        pypi.routes["/pypi/requests/json"] = json_reply(pypi_project("requests", requests))
        settings = load_settings(
            env={},
            home=root / "home",
            advisory_db_url=repo.url,
            pypi_url=pypi.url,
            **overrides,
        )
        report = ingest(settings, "advisories,pypi,popularity")
        assert not report.failures and report.snapshot is not None
        ids.append(report.snapshot.id)
        repo.write(
            "vulns/requests/PYSEC-5.yaml",
            advisory_yaml(
                "PYSEC-5", "requests", introduced="2.2", fixed=None, extra=_severity(HIGH)
            ),
        )
        repo.write(
            "vulns/requests/PYSEC-4.yaml",
            advisory_yaml(
                "PYSEC-4",
                "requests",
                introduced="2.1",
                fixed="2.2",
                withdrawn="2026-11-21T00:00:00Z",
                extra=_severity(LOW),
            ),
        )
        repo.commit()
        report = ingest(settings, "advisories,pypi,popularity")
        assert not report.failures and report.snapshot is not None
        ids.append(report.snapshot.id)
    return root / "home", ids
