"""Pure path handling: member-name sanitising, top-level directory, path classes."""

from __future__ import annotations

import pytest

from aggregators.sources.bandit.classify import (
    UnsafePath,
    common_top_dir,
    path_class,
    report_path,
    sanitise_member_name,
)
from aggregators.sources.bandit.rows import COUNT_COLUMNS, count_column


@pytest.mark.parametrize(
    "name",
    [
        "../x.py",
        "a/../../x.py",
        "/etc/passwd",
        "\\\\server\\x.py",
        "..\\..\\x.py",
        "C:/x.py",
        "a\x00.py",
    ],
)
def test_unsafe_member_names_are_refused(name: str) -> None:
    with pytest.raises(UnsafePath):
        sanitise_member_name(name)


def test_safe_member_names_are_normalised() -> None:
    assert sanitise_member_name("./pkg-1.0//src/./a.py") == ("pkg-1.0", "src", "a.py")
    assert sanitise_member_name("pkg-1.0\\win\\b.py") == ("pkg-1.0", "win", "b.py")
    assert sanitise_member_name("a..b/c..py") == ("a..b", "c..py")


def test_top_level_directory_is_stripped_only_when_shared() -> None:
    paths = [("p-1", "a.py"), ("p-1", "sub", "b.py")]
    top = common_top_dir(paths)
    assert top == "p-1"
    assert report_path(("p-1", "sub", "b.py"), top) == "sub/b.py"
    assert common_top_dir([("p-1", "a.py"), ("setup.py",)]) is None
    assert common_top_dir([("p-1", "a.py"), ("q-1", "b.py")]) is None
    assert report_path(("setup.py",), None) == "setup.py"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("tests/test_a.py", "tests"),
        ("src/pkg/testing/util.py", "tests"),
        ("pkg/test/helpers.py", "tests"),
        ("conftest.py", "tests"),
        ("pkg/test_thing.py", "tests"),
        ("examples/run.py", "examples"),
        ("demo/app.py", "examples"),
        ("samples/x.py", "examples"),
        ("docs/conf.py", "docs"),
        ("doc/source/ext.py", "docs"),
        ("sphinx/ext.py", "docs"),
        ("pkg/_vendor/six.py", "vendored"),
        ("pkg/vendored/x.py", "vendored"),
        ("third_party/lib.py", "vendored"),
        ("pkg/extern/lib.py", "vendored"),
        ("pkg/external/lib.py", "vendored"),
        ("pkg/core.py", "code"),
        ("pkg/latest.py", "code"),
        ("pkg/contest.py", "code"),
        ("pkg/documents.py", "code"),
    ],
)
def test_path_classes(path: str, expected: str) -> None:
    assert path_class(path) == expected


def test_count_columns_are_severity_first() -> None:
    assert count_column("HIGH", "LOW") == "high_low"
    assert count_column("LOW", "HIGH") == "low_high"
    assert count_column("UNDEFINED", "HIGH") is None
    assert COUNT_COLUMNS[:3] == ("high_high", "high_medium", "high_low")
    assert len(set(COUNT_COLUMNS)) == 9
