"""The popular projects of a snapshot (``package_popularity``), for the suspicious-name rule.

Read once per snapshot (15,000 rows); :meth:`Popularity.names` builds the
:class:`~aggregators.knowledge.typosquat.NameIndex` the rule uses, with the settings'
thresholds. A snapshot without the table cannot judge names: :attr:`Popularity.known` is false
and every client says the names were not checked, never that they are fine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from aggregators.core.names import normalize_name
from aggregators.knowledge.typosquat import NameIndex, NameRules, Suspicion

if TYPE_CHECKING:
    from aggregators.store.snapshots import Snapshot

TABLE = "package_popularity"
NOT_CHECKED = (
    "names not checked: the snapshot has no package_popularity table (run the popularity source)"
)


@dataclass
class Popularity:
    """Rank and downloads of each popular project (PEP 503 name)."""

    ranks: dict[str, tuple[int, int]]
    as_of: datetime | None
    known: bool = True
    """Whether the snapshot has the table (else no name can be judged)."""
    _indexes: dict[NameRules, NameIndex] = field(default_factory=dict, repr=False)

    def rank(self, package: str) -> int | None:
        """The download rank of ``package`` (any spelling), ``None`` when it is not popular."""
        found = self.ranks.get(normalize_name(package))
        return found[0] if found else None

    def names(self, rules: NameRules) -> NameIndex:
        """The name index of these projects under ``rules`` (built once per rules)."""
        if rules not in self._indexes:
            self._indexes[rules] = NameIndex(
                ((name, rank, downloads) for name, (rank, downloads) in self.ranks.items()), rules
            )
        return self._indexes[rules]

    def check(self, package: str, rules: NameRules) -> Suspicion | None:
        """The suspicion on ``package``'s name (``None``: none, or names cannot be judged)."""
        return self.names(rules).check(package) if self.known else None


def read_popularity(snapshot: Snapshot) -> Popularity:
    """The popular projects of ``snapshot`` (``known`` false when it has no table)."""
    if TABLE not in snapshot.tables:
        return Popularity({}, None, known=False)
    import pyarrow.parquet as pq

    table = pq.read_table(
        snapshot.table_path(TABLE), columns=["package", "rank", "downloads_30d", "as_of"]
    )
    ranks = {
        package: (rank, downloads)
        for package, rank, downloads in zip(
            table.column("package").to_pylist(),
            table.column("rank").to_pylist(),
            table.column("downloads_30d").to_pylist(),
            strict=True,
        )
    }
    as_of = table.column("as_of")[0].as_py() if table.num_rows else None
    return Popularity(ranks, as_of)
