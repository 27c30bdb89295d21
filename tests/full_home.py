"""A data root where every source succeeded once (loopback PyPI and Scorecard, real Bandit)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fakes import json_reply, make_sdist, serve_project, serving

from aggregators.core.config import load_settings
from aggregators.run.ingest import ingest
from helpers import AdvisoryRepo, advisory_yaml

HIGH = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"  # 7.5
RISKY = "import subprocess\n\ndef run(cmd):\n    subprocess.call(cmd, shell=True)\n"


@contextmanager
def full_sources(root: Path) -> Iterator[dict[str, str]]:
    """Stand-ins for every source, as the ``SECKB_*`` variables that point at them: flask (two
    advisories, one scored; Bandit finds shell=True) and requests (clean), both with a
    Scorecard result."""
    repo = AdvisoryRepo(root / "advisory-db")
    repo.write(
        "vulns/flask/PYSEC-2018-66.yaml",
        advisory_yaml("PYSEC-2018-66", fixed="0.12.3", versions=("0.12.2",)),
    )
    repo.write(
        "vulns/flask/GHSA-aaaa-bbbb-cccc.yaml",
        advisory_yaml(
            "GHSA-aaaa-bbbb-cccc",
            introduced="0.12.3",
            fixed=None,
            extra=f"severity:\n- type: CVSS_V3\n  score: {HIGH}\n",
        ),
    )
    repo.write("vulns/requests/PYSEC-2014-1.yaml", advisory_yaml("PYSEC-2014-1", "requests"))
    repo.commit()
    with serving() as pypi, serving() as scorecard:
        serve_project(
            pypi,
            "flask",
            {v: make_sdist("flask", v, {"app.py": RISKY}) for v in ("0.12.2", "0.12.3")},
            project_urls={"Source": "https://github.com/pallets/flask"},
        )
        serve_project(
            pypi,
            "requests",
            {"2.0": make_sdist("requests", "2.0", {"api.py": "def get():\n    return 1\n"})},
            project_urls={"Source": "https://github.com/psf/requests"},
        )
        for path, score in (("pallets/flask", 3.0), ("psf/requests", 8.5)):
            scorecard.routes[f"/projects/github.com/{path}"] = json_reply(
                {
                    "date": "2026-11-01",
                    "repo": {"name": f"github.com/{path}", "commit": "c"},
                    "score": score,
                    "scorecard": {"version": "v5", "commit": "s"},
                    "checks": [],
                }
            )
        yield {
            "SECKB_ADVISORY_DB_URL": repo.url,
            "SECKB_PYPI_URL": pypi.url,
            "SECKB_SCORECARD_URL": scorecard.url,
        }


def build_full_home(root: Path) -> Path:
    """Ingest every source into ``root/home`` (see :func:`full_sources`)."""
    with full_sources(root) as env:
        report = ingest(load_settings(env=env, home=root / "home"))
    assert not report.failures, report.failures
    return root / "home"
