"""Real parts for the fix tests: wheels of a few projects on a real pypiserver, an advisory-db
naming some of their releases, and the cases a fix meets.

* ``web`` 1.0 (needs ``core<2``) is blocked; ``web`` 2.0 needs ``core>=2``: fixing web forces
  core up (a transitive pin moved by a direct one);
* ``core`` 1.0, 2.0, 2.1: none blocked;
* ``old`` 1.0, 1.1: every release blocked (no fix at all);
* ``left`` 1.0 (blocked), 1.1 (needs ``right<2``); ``right`` 1.0 and 1.5 (blocked), 2.0:
  the two fixes conflict;
* ``lib`` 1.0 (blocked), 1.1, 1.2, 2.0: the lowest allowed release above the pin is 1.1;
* ``bounded`` 1.0, 1.5 (blocked), 2.2: ``bounded<2`` in a ``.in`` admits no allowed release.
"""

from __future__ import annotations

from pathlib import Path

from aggregators.core.config import load_settings
from aggregators.run.ingest import ingest
from helpers import AdvisoryRepo, advisory_yaml

PROJECTS: dict[str, dict[str, tuple[str, ...]]] = {
    "web": {"1.0": ("core<2",), "2.0": ("core>=2",)},
    "core": {"1.0": (), "2.0": (), "2.1": ()},
    "old": {"1.0": (), "1.1": ()},
    "left": {"1.0": (), "1.1": ("right<2",)},
    "right": {"1.0": (), "1.5": (), "2.0": ()},
    "lib": {"1.0": (), "1.1": (), "1.2": (), "2.0": ()},
    "bounded": {"1.0": (), "1.5": (), "2.2": ()},
}
ADVISORIES = (
    ("FIX-1", "web", "0", "2.0"),
    ("FIX-2", "old", "0", None),
    ("FIX-3", "left", "0", "1.1"),
    ("FIX-4", "right", "0", "2.0"),
    ("FIX-5", "lib", "0", "1.1"),
    ("FIX-6", "bounded", "0", "2.2"),
)


def build_fix_home(root: Path) -> Path:
    """A data root whose snapshot holds the fix advisories; its path."""
    repo = AdvisoryRepo(root / "advisory-db")
    for advisory_id, package, introduced, fixed in ADVISORIES:
        text = advisory_yaml(advisory_id, package, introduced=introduced, fixed=fixed)
        repo.write(f"vulns/{package}/{advisory_id}.yaml", text)
    repo.commit()
    home = root / "home"
    report = ingest(load_settings(env={}, home=home, advisory_db_url=repo.url), "advisories")
    assert report.snapshot is not None, report.failures
    return home
