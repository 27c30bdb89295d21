"""Suspicious-name speed (issue 19): flag 10,000 names against the real popularity table.

The names: 3,000 popular projects (never flagged), 4,000 one-edit variants of popular names
(insert, delete, swap, replace: most are flagged) and 3,000 random names of 5-15 letters and
dashes; the table is the real top-pypi-packages dataset (15,000 projects).

Measured in one run:
  build   the name index of the table (NameIndex)
  check   NameIndex.check_many over the 10,000 names (target < 1 s)
  naive   the edit-distance rule alone, the obvious way: each name compared in turn with every
          imitable popular name by the same scorer (rapidfuzz process.extract, OSA distance,
          score cut-off), all 10,000 names

Usage: .venv/bin/python benchmarks/names_speed.py [--dataset PATH] [--repeat N]
"""

from __future__ import annotations

import argparse
import random
import statistics
import string
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rapidfuzz import process  # noqa: E402
from rapidfuzz.distance import OSA  # noqa: E402

from aggregators.knowledge.typosquat import NameIndex  # noqa: E402
from aggregators.sources.popularity.parse import parse_popularity  # noqa: E402

DATASET = ROOT.parent / "shared" / "data" / "top-pypi-packages-2026-04.min.json"
LETTERS = string.ascii_lowercase + string.digits


def variant(name: str, rng: random.Random) -> str:
    """``name`` with one random edit."""
    i = rng.randrange(len(name))
    kind = rng.choice(("insert", "delete", "swap", "replace"))
    if kind == "insert":
        return name[:i] + rng.choice(LETTERS) + name[i:]
    if kind == "delete" and len(name) > 3:
        return name[:i] + name[i + 1 :]
    if kind == "swap" and i + 1 < len(name):
        return name[:i] + name[i + 1] + name[i] + name[i + 2 :]
    return name[:i] + rng.choice(LETTERS) + name[i + 1 :]


def sample_names(popular: list[str], seed: int = 19) -> list[str]:
    """The 10,000 names checked."""
    rng = random.Random(seed)
    names = rng.sample(popular, 3000)
    names += [variant(rng.choice(popular[:5000]), rng) for _ in range(4000)]
    for _ in range(3000):
        length = rng.randint(5, 15)
        names.append("".join(rng.choice(string.ascii_lowercase + "-") for _ in range(length)))
    return [n.strip("-") or "x" for n in names]


def naive(index: NameIndex, names: list[str]) -> int:
    """The edit-distance rule by comparing each name with every imitable popular name."""
    targets = [
        n
        for n, (rank, downloads) in index.popular.items()
        if rank <= index.rules.target_rank and downloads >= index.rules.ratio * index.floor
    ]
    flagged = 0
    for name in names:
        if name in index.popular:
            continue
        cutoff = 2 if len(name) >= index.rules.long_name else 1
        found = process.extract(name, targets, scorer=OSA.distance, score_cutoff=cutoff, limit=None)
        flagged += any(score > 0 for _t, score, _i in found)
    return flagged


def main() -> None:
    """Print the build time, the check time and the ratio to the naive comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=DATASET)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if not args.dataset.is_file():
        raise SystemExit(f"popularity dataset not found: {args.dataset}")
    rows = parse_popularity(args.dataset.read_bytes(), str(args.dataset))
    popular = [r["package"] for r in rows]
    names = sample_names(popular)
    builds, checks = [], []
    for _ in range(args.repeat):
        started = time.perf_counter()
        index = NameIndex((r["package"], r["rank"], r["downloads_30d"]) for r in rows)
        builds.append(time.perf_counter() - started)
        started = time.perf_counter()
        found = index.check_many(names)
        checks.append(time.perf_counter() - started)
    check = statistics.median(checks)
    started = time.perf_counter()
    naive(index, names)
    naive_total = time.perf_counter() - started
    print(
        f"table: {len(rows):,} popular projects; index built in {statistics.median(builds):.3f} s"
    )
    print(
        f"10,000 names checked ({len(found):,} flagged): {check:.3f} s (target < 1 s) vs "
        f"one name at a time against every imitable name (edit distance only) "
        f"{naive_total:.2f} s: {naive_total / check:.1f}x"
    )


if __name__ == "__main__":
    main()
