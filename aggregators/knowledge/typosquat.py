"""Suspicious names: the one rule that says a name imitates a much more popular project (pure).

A name (PEP 503-normalized) is flagged when it is **not itself popular** (not in
``package_popularity``) and it

* is within a small Damerau–Levenshtein distance of a popular name (1 edit; 2 for long names):
  the restricted form (optimal string alignment: insertions, deletions, substitutions and
  swaps of neighbours, no substring edited twice), computed by ``rapidfuzz`` (``OSA``), whose
  bit-parallel implementation is ten times faster than the unrestricted one;
* equals one with the separators dropped or moved (``python-dateutil`` / ``pythondateutil``);
* equals one with a common prefix or suffix added or removed (``python-``, ``py``, ``-py``,
  ``-lib``, ``-mcp``...);
* has its words reordered (``dateutil-python``);
* or equals one once look-alike characters are made one (``0``/``o``, ``1``/``l``/``i``,
  ``rn``/``m``, ``vv``/``w``).

The imitated project must be much more popular: among the ``target_rank`` most downloaded, and
with at least ``ratio`` times the downloads of the name (a name absent from the table has fewer
than the table's last one). The flag names the project, the rule and both ranks. The exact rules
are dictionary look-ups; the edit distances are computed by rapidfuzz's batch comparison
(``process.cdist``, in C) of a block of names with every imitable name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy
from rapidfuzz import process
from rapidfuzz.distance import OSA

from aggregators.core.names import normalize_name

AFFIXES = (
    "python-", "python3-", "py-", "py", "-py", "-python", "-python3", "-lib", "-mcp", "mcp-",
    "-sdk", "-official",
)  # fmt: skip
"""Prefixes (ending in ``-`` or bare) and suffixes (starting with ``-`` or bare) that make a
name look like a flavour of another."""
_BLOCK = 2048
"""Names compared with the imitable names per ``cdist`` call (a block x targets matrix of
bytes: 2048 x 5,000 is 10 MB)."""
_VALID = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_LOOKALIKE = (("rn", "m"), ("vv", "w"), ("0", "o"), ("1", "l"), ("i", "l"), ("5", "s"))


@dataclass(frozen=True)
class NameRules:
    """Thresholds of the rule (settings)."""

    long_name: int = 10
    """Names at least this long may be 2 edits from a popular one (shorter: 1)."""
    min_length: int = 4
    """Shorter names are compared by the exact rules only (3 letters are 1 edit from hundreds
    of names)."""
    target_rank: int = 5000
    """Only the most downloaded projects, down to this rank, are imitated."""
    ratio: float = 1000.0
    """The imitated project has at least this many times the name's downloads (a name not
    among the popular projects: the least popular one's)."""


@dataclass(frozen=True)
class Suspicion:
    """Why a name looks like another."""

    name: str
    resembles: str
    rule: str
    """``edit_distance``, ``separators``, ``affix``, ``reordered`` or ``lookalike``."""
    detail: str
    resembles_rank: int
    rank: int | None
    """The name's own rank (``None``: not among the popular projects)."""

    def message(self) -> str:
        """``looks like requests (rank 4): 1 edit``."""
        own = f"rank {self.rank}" if self.rank is not None else "not among the popular projects"
        return (
            f"looks like {self.resembles} (rank {self.resembles_rank}; this name: {own}): "
            f"{self.detail}"
        )


def _squash(name: str) -> str:
    return name.replace("-", "")


def _lookalike(name: str) -> str:
    text = _squash(name)
    for old, new in _LOOKALIKE:
        text = text.replace(old, new)
    return text


def _reordered(name: str) -> str | None:
    tokens = name.split("-")
    return "-".join(sorted(tokens)) if len(tokens) > 1 else None


def _stripped(name: str) -> list[tuple[str, str]]:
    """``name`` with one common prefix or suffix removed: (what is left, the affix)."""
    found = []
    for affix in AFFIXES:
        longer = len(name) > len(affix) + 1
        prefix = affix.endswith("-") or not affix.startswith("-")
        suffix = affix.startswith("-") or not affix.endswith("-")
        if prefix and longer and name.startswith(affix):
            found.append((name[len(affix) :].strip("-"), affix))
        if suffix and longer and name.endswith(affix):
            found.append((name[: -len(affix)].strip("-"), affix))
    return [(rest, affix) for rest, affix in found if rest]


class NameIndex:
    """The popular names, indexed for :meth:`check`."""

    def __init__(
        self, popular: Iterable[tuple[str, int, int]], rules: NameRules | None = None
    ) -> None:
        """``popular``: (PEP 503 name, rank, downloads) of every popular project."""
        self.rules = rules or NameRules()
        self.popular: dict[str, tuple[int, int]] = {}
        for name, rank, downloads in popular:
            self.popular.setdefault(name, (rank, downloads))
        self.floor = min((d for _r, d in self.popular.values()), default=0)
        needed = self.rules.ratio * max(self.floor, 1)  # what an imitated project must have
        self._targets: list[str] = []
        self._exact: dict[str, dict[str, list[str]]] = {
            "separators": {}, "reordered": {}, "lookalike": {}, "affix": {},
        }  # fmt: skip
        for name, (rank, downloads) in self.popular.items():
            if rank <= self.rules.target_rank and downloads >= needed:
                self._add(name)

    def _add(self, name: str) -> None:
        self._targets.append(name)
        self._exact["separators"].setdefault(_squash(name), []).append(name)
        self._exact["lookalike"].setdefault(_lookalike(name), []).append(name)
        ordered = _reordered(name)
        if ordered is not None:
            self._exact["reordered"].setdefault(ordered, []).append(name)
        for rest, _affix in _stripped(name):
            self._exact["affix"].setdefault(rest, []).append(name)

    def _edits(self, names: Sequence[str]) -> list[list[tuple[str, int]]]:
        """For each name, the imitable names within its edit distance and the distance:
        rapidfuzz compares the names with every imitable name at once (``cdist``, in C),
        a block of names at a time."""
        found: list[list[tuple[str, int]]] = [[] for _ in names]
        if not self._targets:
            return found
        for start in range(0, len(names), _BLOCK):
            block = names[start : start + _BLOCK]
            matrix = process.cdist(
                block, self._targets, scorer=OSA.distance, score_cutoff=2,
                dtype=numpy.uint8,
            )  # fmt: skip
            rows, columns = numpy.nonzero((matrix > 0) & (matrix <= 2))
            for row, column in zip(rows.tolist(), columns.tolist(), strict=True):
                name, target = block[row], self._targets[column]
                distance = int(matrix[row, column])
                limit = 2 if min(len(name), len(target)) >= self.rules.long_name else 1
                if len(name) >= self.rules.min_length and distance <= limit:
                    found[start + row].append((target, distance))
        return found

    def _matches(
        self, name: str, edits: Sequence[tuple[str, int]]
    ) -> Iterable[tuple[str, str, str]]:
        """(popular name, rule, detail) for every rule ``name`` meets (``edits``: its
        near names, from :meth:`_edits`)."""
        squashed = _squash(name)
        for target in self._exact["separators"].get(squashed, ()):
            yield target, "separators", "the same letters, separated otherwise"
        for rest, affix in _stripped(name):
            if rest in self.popular or _squash(rest) in self._exact["separators"]:
                target = (
                    rest if rest in self.popular else self._exact["separators"][_squash(rest)][0]
                )
                yield target, "affix", f"{affix!r} added"
        for target in self._exact["affix"].get(name, ()):
            yield target, "affix", "a common prefix or suffix removed"
        key = _reordered(name)
        for target in self._exact["reordered"].get(key, ()) if key else ():
            yield target, "reordered", "the same words in another order"
        for target in self._exact["lookalike"].get(_lookalike(name), ()):
            yield target, "lookalike", "look-alike characters swapped"
        for target, distance in edits:
            yield target, "edit_distance", f"{distance} edit{'s' if distance > 1 else ''}"

    def check(self, name: str, own: tuple[int, int] | None = None) -> Suspicion | None:
        """The suspicion on ``name`` (any spelling), or ``None``. A popular name is never
        flagged; ``own`` (rank, downloads) judges a popular name as if it were not (the
        measurement of false positives among popular projects does so). A string that is
        not a project name (PEP 508) imitates nothing: callers refuse it before asking."""
        name = normalize_name(name.strip())
        if not _VALID.match(name) or (own is None and name in self.popular):
            return None
        return self._judge(name, own, self._edits([name])[0])

    def _judge(
        self, name: str, own: tuple[int, int] | None, edits: Sequence[tuple[str, int]]
    ) -> Suspicion | None:
        rank, downloads = own if own is not None else (None, self.floor)
        best: Suspicion | None = None
        for target, rule, detail in self._matches(name, edits):
            if target == name:
                continue
            target_rank, target_downloads = self.popular[target]
            if target_downloads < self.rules.ratio * max(downloads, 1):
                continue
            if best is None or target_rank < best.resembles_rank:
                best = Suspicion(name, target, rule, detail, target_rank, rank)
        return best

    def popular_flagged(self) -> list[Suspicion]:
        """Each popular name the rule would flag if it were not popular (leave-one-out): the
        false positives the thresholds cost, best-ranked imitated project first."""
        names = list(self.popular)
        judged = zip(names, self._edits(names), strict=True)
        found = [s for n, e in judged if (s := self._judge(n, self.popular[n], e)) is not None]
        return sorted(found, key=lambda s: (s.resembles_rank, s.rank or 0))

    def check_many(self, names: Sequence[str]) -> dict[str, Suspicion]:
        """The suspicions among ``names`` (PEP 503 name -> suspicion), compared in blocks."""
        wanted = sorted(
            {
                n
                for n in (normalize_name(name.strip()) for name in names)
                if _VALID.match(n) and n not in self.popular
            }
        )
        found = {}
        for name, edits in zip(wanted, self._edits(wanted), strict=True):
            suspicion = self._judge(name, None, edits)
            if suspicion is not None:
                found[name] = suspicion
        return found
