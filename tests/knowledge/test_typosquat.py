"""The suspicious-name rule: each way a name imitates a popular one, the thresholds, and its
figures on the real top-pypi-packages dataset and real malicious-package names."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from aggregators.knowledge.typosquat import NameIndex, NameRules

ROOT = Path(__file__).resolve().parents[2]
DATASET = ROOT.parent / "shared" / "data" / "top-pypi-packages-2026-04.min.json"

# (name, rank, downloads): a made-up popularity table, most downloaded first.
POPULAR = [
    ("requests", 1, 1_000_000_000),
    ("python-dateutil", 2, 900_000_000),
    ("numpy", 3, 800_000_000),
    ("pyyaml", 4, 700_000_000),
    ("pyaml", 5, 600_000_000),
    ("six", 6, 500_000_000),
    ("beautifulsoup4", 7, 400_000_000),
    ("colorama", 8, 300_000_000),
    ("lodash-tools", 9, 200_000_000),
    ("smallproject", 10, 100_000),
]


@pytest.fixture(scope="module")
def index() -> NameIndex:
    return NameIndex(POPULAR)


@pytest.mark.parametrize(
    ("name", "resembles", "rule"),
    [
        ("reqeusts", "requests", "edit_distance"),  # transposition: 1 Damerau edit
        ("requestss", "requests", "edit_distance"),
        ("rrequests", "requests", "edit_distance"),
        ("beautifulsoup", "beautifulsoup4", "edit_distance"),
        ("beutifulsop4", "beautifulsoup4", "edit_distance"),  # long name: 2 edits
        ("python_dateutil", None, None),  # the same project, spelled otherwise: not flagged
        ("pythondateutil", "python-dateutil", "separators"),
        ("date-util-python", None, None),  # not a known reordering nor a near miss
        ("dateutil-python", "python-dateutil", "reordered"),
        ("python-requests", "requests", "affix"),
        ("requests-py", "requests", "affix"),
        ("requests-mcp", "requests", "affix"),
        ("pynumpy", "numpy", "affix"),
        ("dateutil", "python-dateutil", "affix"),  # a common prefix removed
        ("nurnpy", "numpy", "lookalike"),  # rn / m
        ("c0lorama", "colorama", "lookalike"),  # 0 / o, found before the edit
        ("si×", None, None),  # not a project name at all
    ],
)
def test_each_way_a_name_imitates_a_popular_one(
    index: NameIndex, name: str, resembles: str | None, rule: str | None
) -> None:
    found = index.check(name)
    assert ((found.resembles, found.rule) if found else (None, None)) == (resembles, rule)


def test_the_flag_names_the_project_the_rule_and_both_ranks(index: NameIndex) -> None:
    found = index.check("Reqeusts")
    assert found is not None
    assert (found.name, found.resembles, found.resembles_rank, found.rank) == (
        "reqeusts", "requests", 1, None,
    )  # fmt: skip
    assert found.message() == (
        "looks like requests (rank 1; this name: not among the popular projects): 1 edit"
    )


def test_a_popular_name_is_never_flagged_however_close(index: NameIndex) -> None:
    """pyaml is one letter from pyyaml, and a real, popular project."""
    assert index.check("pyaml") is None
    assert index.check("PyAML") is None
    judged = index.check("pyaml", own=(5, 600_000_000))
    assert judged is None  # not 1000 times less downloaded than pyyaml either


def test_short_names_are_compared_by_the_exact_rules_only(index: NameIndex) -> None:
    assert index.check("sx") is None and index.check("sixx") is not None
    assert index.check("py-six") is not None  # an affix is an exact rule


def test_only_much_more_popular_projects_are_imitated() -> None:
    index = NameIndex(POPULAR, NameRules(target_rank=3))
    assert index.check("colorrama") is None  # colorama is rank 8: beyond the target rank
    assert index.check("requestss") is not None
    # smallproject has too few downloads for 1000 times the table's least popular one
    assert NameIndex(POPULAR).check("smallprojects") is None
    assert NameIndex(POPULAR, NameRules(ratio=0.5)).check("smallprojects") is not None
    # a popular name judged by its own downloads (leave-one-out)
    assert NameIndex(POPULAR).check("lodash-tool", own=(11, 10)) is not None


def test_check_many_keeps_only_the_suspicious(index: NameIndex) -> None:
    found = index.check_many(["requests", "reqeusts", "flask", "Nurnpy"])
    assert sorted(found) == ["nurnpy", "reqeusts"]


def _benchmark() -> ModuleType:
    path = ROOT / "benchmarks" / "names_quality.py"
    spec = importlib.util.spec_from_file_location("names_quality", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def real_index() -> NameIndex:
    if not DATASET.is_file():
        pytest.skip(f"real top-pypi-packages dataset not found at {DATASET}")
    return _benchmark().load_index(DATASET)


def test_false_positives_among_popular_projects_stay_below_half_a_percent(
    real_index: NameIndex,
) -> None:
    """Every popular project judged as if it were not popular: the flagged pairs are the file
    kept for review (rewrite it with benchmarks/names_quality.py --write)."""
    flagged = real_index.popular_flagged()
    assert len(real_index.popular) == 15_000
    assert len(flagged) / len(real_index.popular) < 0.005
    module = _benchmark()
    assert module.pairs_text(flagged) == module.PAIRS.read_text(encoding="utf-8")
    assert not any(s.name == "pyaml" for s in flagged)  # pyaml is 1 edit from pyyaml


def test_real_typosquats_of_malicious_records_are_flagged(real_index: NameIndex) -> None:
    """The misses are explained in the closing note: selenium, fabric and parsimonious have
    fewer than 1000 times the downloads of the table's least popular project, and brand-jacked
    names with an arbitrary word (discord-ban, mlflow-ui, requests-crypt, reqcrypt) are beyond
    the rule's fixed affixes."""
    names = dict(_benchmark().typosquat_names())
    flagged = {name for name in names if real_index.check(name) is not None}
    assert len(names) == 23
    assert flagged >= {"aiohtt", "0requests", "openaii", "transfomers", "urllib33", "aiothtp"}
    assert len(flagged) == 15
    assert real_index.check("aiothtp").resembles == "aiohttp"  # type: ignore[union-attr]
    assert (
        NameIndex(
            ((n, r, d) for n, (r, d) in real_index.popular.items()), NameRules(ratio=500)
        ).check("seleniumm")
        is not None
    )
