"""The data root's layout: the one place that knows where everything lives."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Workspace:
    """Paths below the data root (``SECKB_HOME``)."""

    home: Path

    @property
    def cache(self) -> Path:
        """Source caches (git mirrors, downloads) that can be rebuilt from the sources."""
        return self.home / "cache"

    @property
    def advisory_db(self) -> Path:
        """Bare git mirror of the advisory-db."""
        return self.cache / "advisory-db.git"

    @property
    def bandit_cache(self) -> Path:
        """Content-addressed Bandit results (Parquet parts keyed by file sha256)."""
        return self.cache / "bandit"

    @property
    def index_cache(self) -> Path:
        """Upstream index pages the package index and ``seckb fix`` read (one file each)."""
        return self.cache / "index"

    @property
    def scratch(self) -> Path:
        """Temporary downloads and extracted archives; emptied after use."""
        return self.home / "scratch"

    @property
    def staging(self) -> Path:
        """Snapshots being written; anything here when no run holds the lock is garbage."""
        return self.home / "staging"

    @property
    def snapshots(self) -> Path:
        """Published snapshots, one directory each, and the ``LATEST`` pointer."""
        return self.home / "snapshots"

    @property
    def latest_pointer(self) -> Path:
        """File naming the current snapshot; replaced atomically."""
        return self.snapshots / "LATEST"

    @property
    def duckdb(self) -> Path:
        """DuckDB database with views over the latest snapshot."""
        return self.home / "seckb.duckdb"

    @property
    def projects(self) -> Path:
        """Watched projects: their component lists, triage, evaluations and the outbox."""
        return self.home / "projects"

    @property
    def lock(self) -> Path:
        """Lock file held by the run that writes to this data root."""
        return self.home / ".lock"

    def ensure(self) -> None:
        """Create the directories a run writes to."""
        for path in (self.home, self.cache, self.staging, self.snapshots):
            path.mkdir(parents=True, exist_ok=True)


def snapshots_uri(store_url: str, snapshots_dir: Path) -> str:
    """The URI of the place ``LATEST`` moves in (the Airflow asset runs publish to): the object
    store's ``<scheme>://<bucket>/<prefix>/snapshots`` with the path percent-encoded, or the
    ``file://`` URI of the snapshots directory (``store_url`` a path, or empty: the data
    root's). A data root with a space in its path gives a valid URI (``%20``)."""
    from urllib.parse import quote

    store = store_url.rstrip("/")
    if "://" in store:
        scheme, _, rest = store.partition("://")
        bucket, _, prefix = rest.partition("/")
        path = "/".join(quote(part, safe="") for part in [*prefix.split("/"), "snapshots"] if part)
        return f"{scheme}://{bucket}/{path}"
    base = Path(store) / "snapshots" if store else snapshots_dir
    return base.resolve().as_uri()
