"""How well the suspicious-name rule does on real data (the measured figures of issue 19).

* False positives: every project of the top-pypi-packages dataset judged as if it were not
  popular (leave-one-out: :meth:`NameIndex.popular_flagged`). The goal is below 0.5%; the
  flagged pairs are kept in ``tests/fixtures/suspicious-popular-pairs.tsv`` for review
  (``--write`` rewrites it; a test checks the file matches the rule).
* Recall: the typosquat-style names among the real OpenSSF malicious-package records kept in
  ``tests/fixtures/malicious-packages`` (NAMES.tsv, column "why": typosquat, brand-jacking or
  combosquat), each flagged or missed, with the reason of a miss.

Usage: .venv/bin/python benchmarks/names_quality.py [--dataset PATH] [--write]
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aggregators.knowledge.typosquat import NameIndex, Suspicion  # noqa: E402
from aggregators.sources.popularity.parse import parse_popularity  # noqa: E402

DATASET = ROOT.parent / "shared" / "data" / "top-pypi-packages-2026-04.min.json"
PAIRS = ROOT / "tests" / "fixtures" / "suspicious-popular-pairs.tsv"
NAMES = ROOT / "tests" / "fixtures" / "malicious-packages" / "NAMES.tsv"
TYPOSQUAT_STYLE = ("typosquat", "brand-jacking", "combosquat")
HEADER = "name\trank\tresembles\tresembles_rank\trule\tdetail\n"


def load_index(dataset: Path) -> NameIndex:
    """The name index of the dataset's projects, default thresholds."""
    rows = parse_popularity(dataset.read_bytes(), str(dataset))
    return NameIndex((r["package"], r["rank"], r["downloads_30d"]) for r in rows)


def pairs_text(flagged: list[Suspicion]) -> str:
    """The review file's text: one flagged popular name per line."""
    lines = [
        f"{s.name}\t{s.rank}\t{s.resembles}\t{s.resembles_rank}\t{s.rule}\t{s.detail}\n"
        for s in flagged
    ]
    return HEADER + "".join(lines)


def typosquat_names() -> list[tuple[str, str]]:
    """(name, why) of the typosquat-style malicious records of the fixtures."""
    with NAMES.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return [
        (row["name"], row["why it is here"])
        for row in rows
        if row["why it is here"].startswith(TYPOSQUAT_STYLE)
    ]


def main() -> None:
    """Print the false-positive rate and the recall."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=DATASET)
    parser.add_argument("--write", action="store_true", help=f"rewrite {PAIRS.name}")
    args = parser.parse_args()
    index = load_index(args.dataset)
    flagged = index.popular_flagged()
    share = len(flagged) / len(index.popular)
    print(
        f"false positives: {len(flagged)} of {len(index.popular)} popular projects flagged "
        f"({share:.2%}; goal below 0.50%)"
    )
    if args.write:
        PAIRS.write_text(pairs_text(flagged), encoding="utf-8")
        print(f"wrote {PAIRS.relative_to(ROOT)}")
    names = typosquat_names()
    hits = 0
    for name, why in names:
        suspicion = index.check(name)
        hits += suspicion is not None
        shown = suspicion.message() if suspicion else "MISSED"
        print(f"  {name:<16} {shown}   [{why.split(';')[0]}]")
    print(f"recall: {hits} of {len(names)} typosquat-style malicious names flagged")


if __name__ == "__main__":
    main()
