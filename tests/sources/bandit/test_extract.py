"""Safe extraction of generated, hostile archives (no network, no Bandit)."""

from __future__ import annotations

import stat
import tarfile
import zipfile
from pathlib import Path

import pytest
from sdist_builders import dir_entries, make_tar, make_zip, tar_entry, tree_listing

from aggregators.sources.bandit.extract import Limits, extract_python_files, stored_path
from aggregators.sources.bandit.outcomes import UNSAFE_ARCHIVE, ReleaseProblem

LIMITS = Limits(max_members=100, max_total_bytes=1 << 20, max_file_bytes=128 << 10)


def _extract(tmp_path: Path, data: bytes, name: str = "a.tar.gz", limits: Limits = LIMITS):  # type: ignore[no-untyped-def]
    archive = tmp_path / name
    archive.write_bytes(data)
    return extract_python_files(archive, tmp_path / "out", limits)


def _unsafe(tmp_path: Path, data: bytes, match: str, **kw: object) -> None:
    before = dir_entries(tmp_path.parent)
    with pytest.raises(ReleaseProblem, match=match) as info:
        _extract(tmp_path, data, **kw)  # type: ignore[arg-type]
    assert info.value.status == UNSAFE_ARCHIVE
    assert dir_entries(tmp_path.parent) == before


def test_regular_python_files_are_stored_by_content(tmp_path: Path) -> None:
    data = make_tar(
        [
            ("p-1/p/a.py", b"x = 1\n"),
            ("p-1/p/b.pyw", b"y = 2\n"),
            ("p-1/p/copy.py", b"x = 1\n"),
            ("p-1/README.txt", b"hello"),
            ("p-1/setup.py", b"from setuptools import setup\n"),
        ]
    )
    got = _extract(tmp_path, data)
    assert [f.path for f in got.files] == ["p/a.py", "p/b.pyw", "p/copy.py", "setup.py"]
    assert got.files[0].sha256 == got.files[2].sha256
    stored = {p.name for p in (tmp_path / "out").iterdir()}
    assert stored == {f"{f.sha256}.py" for f in got.files}
    assert stored_path(tmp_path / "out", got.files[0].sha256).read_bytes() == b"x = 1\n"
    assert got.skipped == []


@pytest.mark.parametrize("fmt", ["w:gz", "w:bz2", "w:xz"])
def test_tar_compressions(tmp_path: Path, fmt: str) -> None:
    got = _extract(tmp_path, make_tar([("p-1/a.py", b"x = 1\n")], fmt))
    assert [f.path for f in got.files] == ["a.py"]


def test_zip(tmp_path: Path) -> None:
    got = _extract(tmp_path, make_zip([("p-1/a.py", b"x = 1\n"), ("p-1/d/", b"")]), "a.zip")
    assert [f.path for f in got.files] == ["a.py"]


@pytest.mark.parametrize(
    "name", ["p-1/../../seckb_escape_tar.py", "../seckb_escape_tar.py", "p-1/a/../../../x.py"]
)
def test_tar_path_traversal_is_unsafe(tmp_path: Path, name: str) -> None:
    _unsafe(tmp_path, make_tar([("p-1/ok.py", b"x=1\n"), (name, b"import os\n")]), "climbs out")
    assert not (tmp_path.parent / "seckb_escape_tar.py").exists()
    assert not (tmp_path.parent.parent / "seckb_escape_tar.py").exists()


def test_tar_absolute_path_is_unsafe(tmp_path: Path) -> None:
    target = tmp_path.parent / "seckb_absolute_tar.py"
    _unsafe(tmp_path, make_tar([(str(target), b"import os\n")]), "absolute")
    assert not target.exists()


def test_zip_traversal_and_absolute_are_unsafe(tmp_path: Path) -> None:
    _unsafe(tmp_path, make_zip([("../seckb_escape_zip.py", b"x")]), "climbs out", name="a.zip")
    _unsafe(tmp_path, make_zip([("..\\seckb_escape_zip.py", b"x")]), "climbs out", name="b.zip")
    _unsafe(tmp_path, make_zip([("/tmp/seckb_abs_zip.py", b"x")]), "absolute", name="c.zip")
    assert not (tmp_path.parent / "seckb_escape_zip.py").exists()
    assert not Path("/tmp/seckb_abs_zip.py").exists()


def test_links_devices_and_fifos_are_skipped(tmp_path: Path) -> None:
    outside = tmp_path.parent / "seckb_link_target.py"
    data = make_tar(
        [
            ("p-1/real.py", b"x = 1\n"),
            tar_entry("p-1/inside.py", tarfile.SYMTYPE, "real.py"),
            tar_entry("p-1/outside.py", tarfile.SYMTYPE, "../../../../etc/passwd"),
            tar_entry("p-1/abs.py", tarfile.SYMTYPE, str(outside)),
            tar_entry("p-1/hard.py", tarfile.LNKTYPE, "p-1/real.py"),
            tar_entry("p-1/hard_out.py", tarfile.LNKTYPE, "/etc/passwd"),
            tar_entry("p-1/dev", tarfile.CHRTYPE),
            tar_entry("p-1/blk.py", tarfile.BLKTYPE),
            tar_entry("p-1/fifo", tarfile.FIFOTYPE),
            tar_entry("p-1/dir.py", tarfile.DIRTYPE),
            tar_entry("p-1/docs/link.txt", tarfile.SYMTYPE, "../README"),
        ]
    )
    got = _extract(tmp_path, data)
    assert [f.path for f in got.files] == ["real.py"]
    assert dict(got.skipped) == {
        "abs.py": "not a regular file (symlink); skipped",
        "blk.py": "not a regular file (device); skipped",
        "dev": "not a regular file (device); skipped",
        "fifo": "not a regular file (fifo); skipped",
        "hard.py": "not a regular file (hardlink); skipped",
        "hard_out.py": "not a regular file (hardlink); skipped",
        "inside.py": "not a regular file (symlink); skipped",
        "outside.py": "not a regular file (symlink); skipped",
    }
    assert tree_listing(tmp_path / "out") == {f"{got.files[0].sha256}.py"}
    assert not outside.exists()
    assert all(not p.is_symlink() for p in tmp_path.rglob("*"))


def test_zip_symlink_is_skipped(tmp_path: Path) -> None:
    link = zipfile.ZipInfo("p-1/link.py")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    got = _extract(tmp_path, make_zip([("p-1/a.py", b"x = 1\n"), (link, b"/etc/passwd")]), "a.zip")
    assert [f.path for f in got.files] == ["a.py"]
    assert got.skipped == [("link.py", "not a regular file (symlink); skipped")]


def test_too_many_members(tmp_path: Path) -> None:
    members = [(f"p-1/f{i}.txt", b"") for i in range(LIMITS.max_members + 1)]
    _unsafe(tmp_path, make_tar(members), "archive_max_members")
    _unsafe(tmp_path, make_zip(members), "archive_max_members", name="a.zip")


def test_tar_bomb_counts_real_decompressed_bytes(tmp_path: Path) -> None:
    # Members under the single-file cap, together far over the total: a few KB compressed.
    members = [(f"p-1/m{i}.py", b"#" * (100 << 10)) for i in range(20)]
    data = make_tar(members)
    assert len(data) < 64 << 10
    _unsafe(tmp_path, data, "archive_max_total_bytes")


def test_tar_bomb_in_a_skipped_member_is_still_counted(tmp_path: Path) -> None:
    data = make_tar([("p-1/a.py", b"x = 1\n"), ("p-1/big.bin", b"\0" * (4 << 20))])
    _unsafe(tmp_path, data, "archive_max_total_bytes")


def test_zip_bomb(tmp_path: Path) -> None:
    members = [(f"p-1/m{i}.py", b"#" * (100 << 10)) for i in range(20)]
    data = make_zip(members)
    assert len(data) < 64 << 10
    _unsafe(tmp_path, data, "archive_max_total_bytes", name="a.zip")


def test_zip_member_lying_about_its_size(tmp_path: Path) -> None:
    archive = make_zip([("p-1/a.py", b"#" * (200 << 10))])
    # Rewrite the declared sizes (local header and central directory) to 10 bytes.
    real = (200 << 10).to_bytes(4, "little")
    forged = archive.replace(real, (10).to_bytes(4, "little"))
    assert forged != archive
    _unsafe(tmp_path, forged, "corrupt archive", name="a.zip")


def test_oversized_member_is_skipped_and_reported(tmp_path: Path) -> None:
    big = b"x = 1\n" * ((LIMITS.max_file_bytes // 6) + 1)
    got = _extract(tmp_path, make_tar([("p-1/big.py", big), ("p-1/ok.py", b"y = 2\n")]))
    assert [f.path for f in got.files] == ["ok.py"]
    assert got.skipped == [
        ("big.py", f"file too large: {len(big)} bytes > archive_max_file_bytes 131072")
    ]


def test_oversized_member_is_measured_not_trusted(tmp_path: Path) -> None:
    # A tar header that under-states nothing, but a zip header that does: the stream decides.
    big = b"#" * (LIMITS.max_file_bytes + 10)
    info = zipfile.ZipInfo("p-1/big.py")
    got = _extract(tmp_path, make_zip([(info, big), ("p-1/ok.py", b"y = 2\n")]), "a.zip")
    assert [f.path for f in got.files] == ["ok.py"]
    assert got.skipped[0][0] == "big.py" and "file too large" in got.skipped[0][1]


def test_corrupt_and_unknown_archives(tmp_path: Path) -> None:
    good = make_tar([("p-1/a.py", b"x = 1\n" * 1000)])
    _unsafe(tmp_path, good[: len(good) // 2], "corrupt archive")
    _unsafe(tmp_path, b"just some text, not an archive", "unsupported archive format")


def test_keep_decides_what_is_written_once_per_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aggregators.sources.bandit import extract

    monkeypatch.setattr(extract, "BATCH_FILES", 4)
    members = [(f"p-1/m{i}.py", f"x = {i}\n".encode()) for i in range(10)]
    members.append(("p-1/again.py", b"x = 0\n"))  # same content as m0.py
    asked: list[list[str]] = []

    def keep(hashes: object) -> list[str]:
        batch = sorted(hashes)  # type: ignore[call-overload]
        asked.append(batch)
        return batch[:1]  # only the first content of each batch is "new"

    archive = tmp_path / "a.tar.gz"
    archive.write_bytes(make_tar(members))
    got = extract_python_files(archive, tmp_path / "out", LIMITS, keep)
    assert len(got.files) == 11 and len({f.sha256 for f in got.files}) == 10
    assert [len(batch) for batch in asked] == [4, 4, 3]  # per batch (m0 again in the last)
    stored = {p.name for p in (tmp_path / "out").iterdir()}
    assert stored == {f"{batch[0]}.py" for batch in asked}


def test_keep_errors_propagate_as_they_are(tmp_path: Path) -> None:
    def keep(hashes: object) -> list[str]:
        raise OSError("cache unreadable")

    archive = tmp_path / "a.tar.gz"
    archive.write_bytes(make_tar([("p-1/a.py", b"x = 1\n")]))
    with pytest.raises(OSError, match="cache unreadable") as info:
        extract_python_files(archive, tmp_path / "out", LIMITS, keep)
    assert not isinstance(info.value, ReleaseProblem)


def test_caps_hold_when_nothing_is_written(tmp_path: Path) -> None:
    members = [(f"p-1/m{i}.py", b"#" * (100 << 10)) for i in range(20)]
    archive = tmp_path / "a.tar.gz"
    archive.write_bytes(make_tar(members))
    with pytest.raises(ReleaseProblem, match="archive_max_total_bytes"):
        extract_python_files(archive, tmp_path / "out", LIMITS, lambda hashes: [])
    big = b"#" * (LIMITS.max_file_bytes + 10)
    archive.write_bytes(make_zip([(zipfile.ZipInfo("p-1/big.py"), big)]))
    got = extract_python_files(archive, tmp_path / "out2", LIMITS, lambda hashes: [])
    assert got.files == [] and "file too large" in got.skipped[0][1]
