"""Requirements files read with pip-requirements-parser: every line accounted for, includes
followed (any spelling, nested, cycles, missing files), markers kept, options reported."""

from __future__ import annotations

import locale
from pathlib import Path

import pytest

from aggregators.core.config import load_settings
from aggregators.core.requirements import STATUSES, RequirementLine, read_requirements
from aggregators.sources.watchlist import watchlist, watchlist_pins

SAMPLE = """\
# a full-line comment: no row
Flask==1.2  # a trailing comment
requests>=2
Django==4.2 ; python_version >= "3.8"
colorama==0.4.6; sys_platform=='win32'

--index-url https://pypi.example.org/simple
--extra-index-url=https://extra.example.org/simple
-i https://mirror.example.org/simple
--hash=sha256:0123456789abcdef
urllib3==1.26.5 \\
    --hash=sha256:0123456789abcdef \\
    --hash=sha256:fedcba9876543210
pkg @ https://example.org/pkg-1.0.tar.gz ; python_version < "3.8"
./local/path
https://example.org/anonymous-2.0.tar.gz
-e .
-e git+https://github.com/org/thing.git#egg=Thing_Lib
wild==1.*
exact===1.0
arbitrary===weird
pkg==
flask==not-a-version
--no-such-option
"""
# logical lines that are not comments or blank: 2-5, 7-11 (11-13 joined), 14-24
SAMPLE_LINES = [2, 3, 4, 5, 7, 8, 9, 10, 11, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def by_line(lines: list[RequirementLine]) -> dict[int, RequirementLine]:
    return {line.line: line for line in lines}


@pytest.fixture
def sample(tmp_path: Path) -> list[RequirementLine]:
    return read_requirements(write(tmp_path / "requirements.txt", SAMPLE))


def test_every_line_is_accounted_for(sample: list[RequirementLine], tmp_path: Path) -> None:
    assert [line.line for line in sample] == SAMPLE_LINES  # one row per line, in file order
    assert len(sample) == 20
    assert {line.origin for line in sample} == {str(tmp_path / "requirements.txt")}
    assert all(line.status in STATUSES for line in sample)
    assert all(line.note for line in sample if line.status != "pinned")
    assert all(line.note is None for line in sample if line.status == "pinned")


def test_pins_and_comments(sample: list[RequirementLine]) -> None:
    rows = by_line(sample)
    flask = rows[2]
    assert (flask.status, flask.package, flask.version) == ("pinned", "flask", "1.2")
    assert flask.text == "Flask==1.2"  # the comment is not part of the line
    assert (rows[3].status, rows[3].package, rows[3].version) == ("unpinned", "requests", None)
    assert rows[3].note == "no single version pinned with =="
    assert (rows[19].status, rows[19].version) == ("unpinned", None)  # wild==1.*
    assert (rows[20].status, rows[20].version) == ("pinned", "1.0")  # exact===1.0
    assert (rows[21].status, rows[21].version) == ("pinned", "weird")  # arbitrary equality


def test_markers_are_kept_as_written(sample: list[RequirementLine]) -> None:
    rows = by_line(sample)
    assert rows[4].marker == 'python_version >= "3.8"'
    assert (rows[4].status, rows[4].version) == ("pinned", "4.2")  # never evaluated
    assert rows[5].marker == "sys_platform=='win32'"
    assert rows[14].marker == 'python_version < "3.8"'
    assert rows[2].marker is None


def test_options_are_reported_not_dropped(sample: list[RequirementLine]) -> None:
    rows = by_line(sample)
    assert rows[7].status == "option" and rows[7].note == "option --index-url ignored"
    assert rows[8].note == "option --extra-index-url ignored"
    assert rows[9].note == "option --index-url ignored"  # -i
    assert rows[10].note == "option --hash ignored"
    assert all(rows[n].package is None for n in (7, 8, 9, 10))


def test_line_continuations(sample: list[RequirementLine]) -> None:
    urllib3 = by_line(sample)[11]
    assert (urllib3.status, urllib3.package, urllib3.version) == ("pinned", "urllib3", "1.26.5")
    assert "--hash=sha256:fedcba9876543210" in urllib3.text
    assert not {12, 13} & {line.line for line in sample}


def test_direct_references_and_editables(sample: list[RequirementLine]) -> None:
    rows = by_line(sample)
    assert (rows[14].status, rows[14].package) == ("direct_reference", "pkg")
    assert rows[14].note == "URL requirement: no version to check"
    assert (rows[15].status, rows[15].package) == ("direct_reference", None)
    assert rows[15].note == "path requirement: no version to check"
    assert (rows[16].status, rows[16].package) == ("direct_reference", None)
    assert rows[17].status == "editable" and rows[17].package is None
    assert rows[17].note == "editable requirement: no version to check"
    assert (rows[18].status, rows[18].package) == ("editable", "thing-lib")


def test_invalid_lines_say_why(sample: list[RequirementLine]) -> None:
    rows = by_line(sample)
    assert (rows[22].status, rows[22].package, rows[22].text) == ("invalid", "pkg", "pkg==")
    assert rows[22].note and rows[22].note.startswith("Invalid requirement")
    assert (rows[23].status, rows[23].package) == ("invalid", "flask")
    assert (rows[24].status, rows[24].package) == ("invalid", None)
    assert rows[24].note == "no such option: --no-such-option"


@pytest.mark.parametrize(
    "include",
    ["-r inner.txt", "-rinner.txt", "--requirement inner.txt", "--requirement=inner.txt"],
)
def test_includes_in_every_spelling(tmp_path: Path, include: str) -> None:
    write(tmp_path / "inner.txt", "Flask==1.2\n")
    lines = read_requirements(write(tmp_path / "req.txt", f"requests==2.0\n{include}\nsix\n"))
    got = [(Path(x.origin).name, x.line, x.status, x.package) for x in lines]
    assert got == [
        ("req.txt", 1, "pinned", "requests"),
        ("req.txt", 2, "include", None),
        ("inner.txt", 1, "pinned", "flask"),  # expanded where the include stands
        ("req.txt", 3, "unpinned", "six"),
    ]
    assert lines[1].note == "includes requirements file inner.txt"
    assert lines[2].origin == str(tmp_path / "inner.txt")


def test_constraints_and_nested_includes(tmp_path: Path) -> None:
    write(tmp_path / "constraints.txt", "urllib3==1.26.5\n")
    write(tmp_path / "sub" / "deep.txt", "six==1.16\n")
    write(tmp_path / "sub" / "inner.txt", "-r deep.txt\nflask==1.2\n")  # relative to sub/
    req = write(tmp_path / "req.txt", "-c constraints.txt\n-r sub/inner.txt\n")
    lines = read_requirements(req)
    got = [(Path(x.origin).name, x.line, x.status, x.package, x.version) for x in lines]
    assert got == [
        ("req.txt", 1, "include", None, None),
        ("constraints.txt", 1, "pinned", "urllib3", "1.26.5"),
        ("req.txt", 2, "include", None, None),
        ("inner.txt", 1, "include", None, None),
        ("deep.txt", 1, "pinned", "six", "1.16"),
        ("inner.txt", 2, "pinned", "flask", "1.2"),
    ]
    assert lines[0].note == "includes constraints file constraints.txt"
    assert lines[4].origin == str(tmp_path / "sub" / "deep.txt")


def test_include_cycle_terminates(tmp_path: Path) -> None:
    write(tmp_path / "b.txt", "-r a.txt\nsix==1.16\n")
    a = write(tmp_path / "a.txt", "flask==1.2\n-rb.txt\n-r a.txt\n")
    lines = read_requirements(a)
    got = [(Path(x.origin).name, x.line, x.status) for x in lines]
    assert got == [
        ("a.txt", 1, "pinned"),
        ("a.txt", 2, "include"),
        ("b.txt", 1, "include"),
        ("b.txt", 2, "pinned"),
        ("a.txt", 3, "include"),
    ]
    assert lines[2].note == "include cycle: a.txt is already being read"
    assert lines[4].note == "include cycle: a.txt is already being read"


def test_a_file_included_twice_is_read_once(tmp_path: Path) -> None:
    write(tmp_path / "common.txt", "six==1.16\n")
    req = write(tmp_path / "req.txt", "-r common.txt\n-c common.txt\n")
    lines = read_requirements(req)
    assert [(Path(x.origin).name, x.status) for x in lines] == [
        ("req.txt", "include"),
        ("common.txt", "pinned"),
        ("req.txt", "include"),
    ]
    assert lines[2].note == "constraints file common.txt already read above: not read again"


def test_unreadable_includes_are_invalid_lines(tmp_path: Path) -> None:
    (tmp_path / "binary.txt").write_bytes(b"\xff\xfe\x00\xd8garbage")
    req = write(
        tmp_path / "req.txt",
        "-r missing.txt\n-r https://example.org/more.txt\n-r binary.txt\nflask==1.2\n",
    )
    lines = read_requirements(req)
    assert [(x.line, x.status, x.package) for x in lines] == [
        (1, "invalid", None),
        (2, "invalid", None),
        (3, "invalid", None),
        (4, "pinned", "flask"),
    ]
    assert lines[0].note == "cannot read missing.txt: No such file or directory"
    assert lines[1].note == "remote requirements file https://example.org/more.txt not read: " + (
        "only local files are"
    )
    assert lines[2].note and lines[2].note.startswith("cannot read binary.txt: not valid text")


def test_odd_include_and_option_lines(tmp_path: Path) -> None:
    write(tmp_path / "a.txt", "six==1.16\n")
    write(tmp_path / "b.txt", "flask==1.2\n")
    req = write(
        tmp_path / "req.txt",
        '-r a.txt -r b.txt\n-r a.txt --pre\n-r\n--index-url "unbalanced\n--pre --no-index\n',
    )
    lines = read_requirements(req)
    got = [(Path(x.origin).name, x.line, x.status, x.note) for x in lines]
    assert got == [
        ("req.txt", 1, "invalid", "several includes on one line: pip reads only the first"),
        ("req.txt", 2, "include", "includes requirements file a.txt; option --pre ignored"),
        ("a.txt", 1, "pinned", None),
        ("req.txt", 3, "invalid", "-r option requires 1 argument"),
        ("req.txt", 4, "invalid", "No closing quotation"),
        ("req.txt", 5, "option", "options --no-index, --pre ignored"),
    ]


def test_the_file_itself_unreadable_raises_oserror(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        read_requirements(tmp_path / "nope.txt")
    with pytest.raises(OSError):
        read_requirements(tmp_path)  # a directory
    if locale.getpreferredencoding(False).lower().replace("-", "") == "utf8":  # pip's fallback
        (tmp_path / "latin.txt").write_bytes(b"caf\xe9==1.0\n")
        with pytest.raises(OSError, match="not valid text"):
            read_requirements(tmp_path / "latin.txt")


def test_empty_file_and_comments_only(tmp_path: Path) -> None:
    assert read_requirements(write(tmp_path / "empty.txt", "")) == []
    assert read_requirements(write(tmp_path / "c.txt", "# nothing\n\n   # at all\n")) == []


def test_watchlist_uses_every_named_line(tmp_path: Path) -> None:
    """The watchlist (sources/watchlist.py), the other reader of this API."""
    write(tmp_path / "inner.txt", "Six==1.16\n")
    req = write(
        tmp_path / "watch.txt",
        "-rinner.txt\nflask==1.2 ; python_version < '3.8'\nrequests>=2\n"
        "pkg @ https://example.org/pkg-1.0.tar.gz\n-e git+https://x.org/r.git#egg=edit\n"
        "-e .\nnot valid ==\n-r missing.txt\n--index-url https://x.org/simple\n",
    )
    settings = load_settings(env={}, home=tmp_path / "home", watchlist_files=str(req))
    names, errors = watchlist(settings)
    assert names == {"six", "flask", "requests", "pkg", "edit"}
    assert [(e["path"], e["level"]) for e in errors] == [
        (f"{req}:7", "warning"),
        (f"{req}:8", "warning"),
    ]
    assert all(str(e["reason"]).startswith("requirement not understood: ") for e in errors)
    assert "cannot read missing.txt" in str(errors[1]["reason"])
    assert watchlist_pins(settings) == {("six", "1.16"), ("flask", "1.2")}
