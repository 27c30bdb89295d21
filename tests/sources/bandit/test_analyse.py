"""The Bandit stage end to end over a loopback server: statuses, findings, cache, limits."""

from __future__ import annotations

import dataclasses
import os
import tarfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from sdist_builders import (
    KNOWN_CODE,
    KNOWN_COUNTS,
    FakeFiles,
    dir_entries,
    make_tar,
    make_zip,
    tar_entry,
    tree_listing,
)

from aggregators.core.config import Settings
from aggregators.core.contracts import contract
from aggregators.core.http import HttpClient
from aggregators.core.workspace import Workspace
from aggregators.sources.bandit import engine
from aggregators.sources.bandit.analyse import BanditResult, ScanTarget, analyse_releases
from aggregators.sources.bandit.rows import COUNT_COLUMNS

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
HANG = b"# SECKB-TEST-HANG\n"
DIE = b"# SECKB-TEST-DIE\n"
HOG = b"# SECKB-TEST-HOG\n"


def _run(
    settings: Settings, workspace: Workspace, client: HttpClient, targets: Sequence[ScanTarget]
) -> BanditResult:
    return analyse_releases(settings, workspace, client, targets, now=NOW)


def _scans(result: BanditResult) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["package"], r["version"]): r for r in result.tables["bandit_scans"].to_pylist()}


def _rows(result: BanditResult, table: str, version: str | None = None) -> list[dict[str, Any]]:
    return [
        r for r in result.tables[table].to_pylist() if version is None or r["version"] == version
    ]


def _assert_scratch_clean(workspace: Workspace) -> None:
    assert not workspace.scratch.exists() or not any(workspace.scratch.iterdir())


def test_known_file_counts_findings_and_path_classes(
    settings: Settings, workspace: Workspace, client: HttpClient, files: FakeFiles
) -> None:
    data = make_tar(
        [
            ("acme-1.0/acme/core.py", KNOWN_CODE),
            ("acme-1.0/tests/test_core.py", b"assert True\n"),
            ("acme-1.0/docs/conf.py", b"eval(x)\n"),
            ("acme-1.0/examples/run.py", b"import pickle\n"),
            ("acme-1.0/acme/_vendor/lib.py", b"exec(x)\n"),
        ]
    )
    result = _run(settings, workspace, client, [files.add("acme", "1.0", data)])
    scan = _scans(result)["acme", "1.0"]
    assert scan["status"] == "scanned" and scan["reason"] is None
    assert scan["files"] == 5 and scan["files_from_cache"] == 0
    assert scan["loc"] == 7 + 4
    assert scan["bandit_version"] == engine.bandit_version()
    assert scan["config_hash"] == engine.config_hash()
    assert scan["scanned_at"] == NOW
    core = [f for f in _rows(result, "bandit_findings") if f["path"] == "acme/core.py"]
    by_class: dict[str, int] = {}
    for f in core:
        key = f"{f['severity'].lower()}_{f['confidence'].lower()}"
        by_class[key] = by_class.get(key, 0) + 1
    assert {k: by_class.get(k, 0) for k in COUNT_COLUMNS} == KNOWN_COUNTS
    other = {"high_high": 0, "medium_high": 2, "low_high": 2}  # eval, exec; assert, pickle
    expected = {k: KNOWN_COUNTS[k] + other.get(k, 0) for k in COUNT_COLUMNS}
    assert {k: scan[k] for k in COUNT_COLUMNS} == expected
    b608 = next(f for f in core if f["test_id"] == "B608")
    assert (b608["severity"], b608["confidence"], b608["cwe"], b608["line"]) == (
        "MEDIUM",
        "LOW",
        89,
        6,
    )
    assert b608["line_range"] == [6] and len(b608["code_sha256"]) == 64
    classes = {f["path"]: f["path_class"] for f in _rows(result, "bandit_findings")}
    assert classes == {
        "acme/core.py": "code",
        "tests/test_core.py": "tests",
        "docs/conf.py": "docs",
        "examples/run.py": "examples",
        "acme/_vendor/lib.py": "vendored",
    }
    assert result.stats["bandit_processes"] >= 1 and result.stats["files_analysed"] == 5
    for name, table in result.tables.items():
        assert table.schema.equals(contract(name).schema)
    _assert_scratch_clean(workspace)


def test_hostile_and_broken_releases_each_get_a_status(
    settings: Settings,
    workspace: Workspace,
    client: HttpClient,
    files: FakeFiles,
    tmp_path: Path,
) -> None:
    outside = tmp_path.parent / "seckb_escape_analyse.py"
    bomb = [(f"bomb-1/m{i}.py", b"#" * (200 << 10)) for i in range(12)]
    good = make_tar([("good-1/good/a.py", KNOWN_CODE)])
    links = make_tar(
        [
            ("links-1/real.py", b"x = 1\n"),
            tar_entry("links-1/in.py", tarfile.SYMTYPE, "real.py"),
            tar_entry("links-1/out.py", tarfile.SYMTYPE, "../../../../etc/passwd"),
            tar_entry("links-1/hard.py", tarfile.LNKTYPE, "/etc/passwd"),
            tar_entry("links-1/dev", tarfile.CHRTYPE),
        ]
    )
    big = b"x = 1\n" * ((settings.archive_max_file_bytes // 6) + 1)
    targets = [
        files.add(
            "traversal",
            "1",
            make_tar([("t-1/ok.py", b""), ("t-1/../../../seckb_escape_analyse.py", b"x")]),
        ),
        files.add("absolute", "1", make_tar([(str(outside), b"x")])),
        files.add("links", "1", links),
        files.add("bomb", "1", make_zip(bomb), filename="bomb-1.zip"),
        files.add("oversized", "1", make_tar([("o-1/big.py", big), ("o-1/ok.py", b"y = 2\n")])),
        files.add(
            "encodings",
            "1",
            make_tar(
                [
                    ("e-1/latin.py", b'x = "\xe9t\xe9"\n'),
                    ("e-1/py2.py", b'print "hello"\n'),
                    ("e-1/declared.py", b'# -*- coding: latin-1 -*-\nx = "\xe9"\n'),
                ]
            ),
        ),
        files.add("mismatch", "1", good, sha256="f" * 64),
        files.add("truncated", "1", good, mode="truncate"),
        files.add("reset", "1", good, mode="reset"),
        files.add("retried", "1", good, statuses=[429]),
        files.add("failing", "1", good, statuses=[500], mode="stuck"),
        files.add("huge", "1", good, size=settings.sdist_max_bytes + 1),
        files.add(
            "growing", "1", b"\0" * (settings.sdist_max_bytes + 10), size=100, mode="nolength"
        ),
        ScanTarget("nosdist", "1", None, None, None, None),
        files.add("good", "1", good),
    ]
    home_before = dir_entries(tmp_path)
    parent_before = dir_entries(tmp_path.parent)
    result = _run(settings, workspace, client, targets)
    scans = _scans(result)
    status = {k[0]: (v["status"], v["reason"]) for k, v in scans.items()}
    assert len(scans) == len(targets)
    expected = {
        "traversal": ("unsafe_archive", "climbs out"),
        "absolute": ("unsafe_archive", "absolute member path"),
        "links": ("partial", "not analysed"),  # a .py symlink was skipped: not clean
        "bomb": ("unsafe_archive", "archive_max_total_bytes"),
        "oversized": ("partial", "not analysed"),  # one file over the cap was skipped
        "encodings": ("partial", "not analysed"),  # files Bandit cannot parse
        "mismatch": ("download_error", "sha256 mismatch"),
        "truncated": ("download_error", "broke off"),
        "reset": ("download_error", "broke off"),
        "retried": ("scanned", None),
        "failing": ("download_error", "HTTP 500"),
        "huge": ("too_large", "sdist_max_bytes"),
        "growing": ("too_large", "cut off"),
        "nosdist": ("no_sdist", "no sdist"),
        "good": ("scanned", None),
    }
    for package, (want, why) in expected.items():
        got, reason = status[package]
        assert got == want, (package, got, reason)
        if why is None:
            assert reason is None
        else:
            assert reason and why in reason, (package, reason)
    # Releases never analysed have no findings and zero counts: never mistaken for clean.
    findings = result.tables["bandit_findings"].to_pylist()
    analysed = {"links", "oversized", "encodings", "retried", "good"}
    assert {f["package"] for f in findings} <= analysed
    for package in set(expected) - analysed:
        row = scans[package, "1"]
        assert row["files"] == 0 and all(row[c] == 0 for c in COUNT_COLUMNS)
    errors = {(e["package"], e["path"]): e["reason"] for e in _rows(result, "bandit_errors")}
    assert errors["links", "in.py"] == "not a regular file (symlink); skipped"
    assert errors["links", "out.py"] == "not a regular file (symlink); skipped"
    assert errors["links", "hard.py"] == "not a regular file (hardlink); skipped"
    assert errors["links", "dev"] == "not a regular file (device); skipped"
    assert errors["oversized", "big.py"].startswith("file too large")
    assert (
        "unicode error" in errors["encodings", "latin.py"]
        or "utf-8" in errors["encodings", "latin.py"]
    )
    assert "Missing parentheses in call to 'print'" in errors["encodings", "py2.py"]
    assert ("encodings", "declared.py") not in errors
    assert scans["encodings", "1"]["files"] == 3 and scans["encodings", "1"]["loc"] == 1
    assert scans["good", "1"]["high_high"] == 1
    assert scans["retried", "1"]["high_high"] == 1
    # Nothing escaped, scratch is gone.
    assert not outside.exists()
    assert dir_entries(tmp_path.parent) == parent_before
    assert dir_entries(tmp_path) == home_before | {"home"}
    assert dir_entries(settings.home) <= {"cache", "scratch"}
    assert not list(tmp_path.parent.parent.glob("seckb_escape*"))
    _assert_scratch_clean(workspace)
    assert all(p.suffix == ".parquet" for p in workspace.bandit_cache.iterdir())
    assert not any(p.is_symlink() for p in settings.home.rglob("*"))


def test_second_release_reuses_shared_files_from_the_cache(
    settings: Settings, workspace: Workspace, client: HttpClient, files: FakeFiles
) -> None:
    shared = [
        (f"lib-{{v}}/lib/m{i}.py", f"import os\nos.system(x{i})\n".encode()) for i in range(6)
    ]

    def sdist(version: str, extra: bytes) -> bytes:
        members = [(name.format(v=version), data) for name, data in shared]
        return make_tar([*members, (f"lib-{version}/lib/new.py", extra)])

    old = sdist("1.0", b"eval(a)\n")
    first = _run(settings, workspace, client, [files.add("lib", "1.0", old)])
    assert _scans(first)["lib", "1.0"]["files_from_cache"] == 0
    second = _run(
        settings, workspace, client, [files.add("lib", "1.1", sdist("1.1", b"exec(b)\n"))]
    )
    scan = _scans(second)["lib", "1.1"]
    assert scan["status"] == "scanned"
    assert (scan["files"], scan["files_from_cache"]) == (7, 6)
    assert second.stats["files_analysed"] == 1 and second.stats["files_from_cache"] == 6

    # Cached findings are identical to a fresh analysis, with this release's paths.
    def key(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return sorted(
            (
                r["path"],
                r["test_id"],
                r["line"],
                tuple(r["line_range"]),
                r["code_sha256"],
                r["severity"],
                r["confidence"],
                r["cwe"],
            )
            for r in rows
            if r["path"] != "lib/new.py"
        )

    assert key(_rows(first, "bandit_findings")) == key(_rows(second, "bandit_findings"))
    assert len(list(workspace.bandit_cache.glob("part-*.parquet"))) == 2

    # Nothing new: no Bandit process at all, same tables.
    again = _run(settings, workspace, client, [files.add("lib", "1.0", old)])
    assert again.stats["bandit_processes"] == 0 and again.stats["files_analysed"] == 0
    assert _scans(again)["lib", "1.0"]["files_from_cache"] == 7
    for name in ("bandit_findings", "bandit_errors"):
        assert again.tables[name].equals(first.tables[name])
    drop = ["files_from_cache", "duration_ms"]
    assert again.tables["bandit_scans"].drop(drop).equals(first.tables["bandit_scans"].drop(drop))
    assert len(list(workspace.bandit_cache.glob("part-*.parquet"))) == 2  # nothing written


def test_releases_in_one_run_share_work(
    settings: Settings, workspace: Workspace, client: HttpClient, files: FakeFiles
) -> None:
    data = {
        v: make_tar([(f"x-{v}/x/a.py", KNOWN_CODE), (f"x-{v}/x/v.py", f"V = '{v}'\n".encode())])
        for v in ("1", "2")
    }
    result = _run(settings, workspace, client, [files.add("x", v, d) for v, d in data.items()])
    scans = _scans(result)
    assert scans["x", "1"]["files_from_cache"] == 0 and scans["x", "2"]["files_from_cache"] == 1
    assert result.stats["files_analysed"] == 3
    assert scans["x", "1"]["high_high"] == scans["x", "2"]["high_high"] == 1


@pytest.mark.parametrize("change", ["version", "config"])
def test_cache_is_keyed_by_bandit_version_and_config(
    settings: Settings,
    workspace: Workspace,
    client: HttpClient,
    files: FakeFiles,
    monkeypatch: pytest.MonkeyPatch,
    change: str,
) -> None:
    target = files.add("k", "1", make_tar([("k-1/a.py", KNOWN_CODE)]))
    assert _run(settings, workspace, client, [target]).stats["files_analysed"] == 1
    assert _run(settings, workspace, client, [target]).stats["bandit_processes"] == 0
    if change == "version":
        monkeypatch.setattr(engine, "bandit_version", lambda: "0.0.0-other")
    else:
        monkeypatch.setattr(engine, "config_hash", lambda: "other-config")
    result = _run(settings, workspace, client, [target])
    assert result.stats["files_analysed"] == 1 and result.stats["bandit_processes"] >= 1
    scan = _scans(result)["k", "1"]
    assert scan["files_from_cache"] == 0
    assert (scan["bandit_version"], scan["config_hash"]) == (
        engine.bandit_version(),
        engine.config_hash(),
    )


def _patch_visitor(monkeypatch: pytest.MonkeyPatch, memory_mb: int = 0) -> None:
    """Make Bandit hang, die or hog memory on marked files (inherited by forked workers)."""
    engine.load_bandit()
    from bandit.core import node_visitor

    real = node_visitor.BanditNodeVisitor.process

    def process(self: Any, data: bytes) -> Any:
        if HANG in data:
            time.sleep(600)
        if DIE in data:
            os._exit(7)
        if HOG in data:
            hog = bytearray(memory_mb << 21)  # twice the limit: MemoryError under RLIMIT_AS
            del hog
        return real(self, data)

    monkeypatch.setattr(node_visitor.BanditNodeVisitor, "process", process)


def test_timeout_isolates_the_culprit(
    settings: Settings,
    workspace: Workspace,
    client: HttpClient,
    files: FakeFiles,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _patch_visitor(monkeypatch)
    settings = dataclasses.replace(settings, bandit_timeout_seconds=1.5, workers=1)
    members = [(f"slow-1/m{i}.py", f"eval(a{i})\n".encode()) for i in range(5)]
    slow = files.add("slow", "1", make_tar([*members, ("slow-1/hang.py", HANG + b"x = 1\n")]))
    other = files.add("fine", "1", make_tar([("fine-1/a.py", b"eval(b)\n")]))
    started = time.monotonic()
    result = _run(settings, workspace, client, [slow, other])
    assert time.monotonic() - started < 30
    scans = _scans(result)
    assert scans["slow", "1"]["status"] == "timeout"
    assert "time limit" in scans["slow", "1"]["reason"]
    assert scans["slow", "1"]["medium_high"] == 5  # the other files of the batch were kept
    assert scans["fine", "1"]["status"] == "scanned"
    errors = _rows(result, "bandit_errors")
    assert [(e["path"], e["reason"].split(":")[0]) for e in errors] == [("hang.py", "timeout")]
    assert result.stats["bandit_processes"] >= 3  # the batch, then the files one by one
    _assert_scratch_clean(workspace)
    # The timeout is remembered under the same limits: no new process on a re-run.
    assert _run(settings, workspace, client, [slow]).stats["bandit_processes"] == 0
    # A more generous limit tries the file again.
    longer = dataclasses.replace(settings, bandit_timeout_seconds=2.0)
    assert _run(longer, workspace, client, [slow]).stats["files_analysed"] == 1


def test_worker_crash_is_bandit_error(
    settings: Settings,
    workspace: Workspace,
    client: HttpClient,
    files: FakeFiles,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _patch_visitor(monkeypatch)
    crash = files.add("crash", "1", make_tar([("c-1/a.py", b"eval(a)\n"), ("c-1/die.py", DIE)]))
    fine = files.add("fine", "1", make_tar([("f-1/a.py", b"exec(a)\n")]))
    result = _run(settings, workspace, client, [crash, fine])
    scans = _scans(result)
    assert scans["crash", "1"]["status"] == "bandit_error"
    assert scans["crash", "1"]["medium_high"] == 1
    assert scans["fine", "1"]["status"] == "scanned"
    errors = _rows(result, "bandit_errors")
    assert [(e["path"], e["reason"]) for e in errors] == [
        ("die.py", "bandit worker died: exit code 7")
    ]


def test_memory_limit_applies_in_workers(
    settings: Settings,
    workspace: Workspace,
    client: HttpClient,
    files: FakeFiles,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = dataclasses.replace(settings, bandit_memory_mb=512)
    _patch_visitor(monkeypatch, memory_mb=settings.bandit_memory_mb)
    hog = files.add("hog", "1", make_tar([("h-1/a.py", b"eval(a)\n"), ("h-1/hog.py", HOG)]))
    result = _run(settings, workspace, client, [hog])
    scan = _scans(result)["hog", "1"]
    assert scan["status"] == "bandit_error" and scan["medium_high"] == 1
    errors = _rows(result, "bandit_errors")
    assert [(e["path"], e["reason"]) for e in errors] == [
        ("hog.py", "bandit: exception while scanning file")
    ]
    # Without the limit the 1 GiB allocation would succeed (and the release be "scanned").


def test_scratch_is_removed_when_an_error_propagates(
    settings: Settings,
    workspace: Workspace,
    client: HttpClient,
    files: FakeFiles,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from aggregators.sources.bandit import analyse

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(analyse.BanditRunner, "run", boom)
    target = files.add("p", "1", make_tar([("p-1/a.py", b"x = 1\n")]))
    with pytest.raises(RuntimeError, match="disk on fire"):
        _run(settings, workspace, client, [target])
    _assert_scratch_clean(workspace)


def test_empty_and_duplicate_targets(
    settings: Settings, workspace: Workspace, client: HttpClient, files: FakeFiles
) -> None:
    empty = _run(settings, workspace, client, [])
    assert all(t.num_rows == 0 for t in empty.tables.values())
    assert empty.stats["releases"] == 0 and empty.stats["bandit_processes"] == 0
    target = files.add("d", "1", make_tar([("d-1/a.py", b"x = 1\n")]))
    twice = _run(settings, workspace, client, [target, target])
    assert twice.tables["bandit_scans"].num_rows == 1
    assert isinstance(twice.tables["bandit_scans"], pa.Table)
    assert tree_listing(workspace.bandit_cache)


def test_warm_run_writes_only_new_contents_with_identical_rows(
    settings: Settings,
    workspace: Workspace,
    client: HttpClient,
    files: FakeFiles,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    from aggregators.sources.bandit import extract

    written: list[str] = []
    real_write = extract._write

    def counting_write(dest: Path, sha: str, content: bytes) -> None:
        assert dest.is_relative_to(workspace.scratch)
        written.append(sha)
        real_write(dest, sha, content)

    monkeypatch.setattr(extract, "_write", counting_write)

    def sdist(version: str) -> bytes:
        members = [(f"w-{version}/w/core.py", KNOWN_CODE)]
        members += [(f"w-{version}/w/m{i}.py", f"eval(x{i})\n".encode()) for i in range(5)]
        members += [(f"w-{version}/w/copy.py", b"eval(x0)\n")]  # same content as m0.py
        return make_tar([*members, (f"w-{version}/w/version.py", f"V = {version!r}\n".encode())])

    _run(settings, workspace, client, [files.add("w", "1", sdist("1"))])
    assert len(written) == 7  # the duplicate content once
    written.clear()
    target = files.add("w", "2", sdist("2"))
    warm = _run(settings, workspace, client, [target])
    assert len(written) == 1  # only version.py is new
    assert warm.stats["files_analysed"] == 1 and _scans(warm)["w", "2"]["files_from_cache"] == 7
    written.clear()
    again = _run(settings, workspace, client, [target])
    assert written == [] and again.stats["bandit_processes"] == 0
    _assert_scratch_clean(workspace)

    monkeypatch.undo()  # the cold run writes into another data root
    cold_settings = dataclasses.replace(settings, home=tmp_path / "cold")
    cold = _run(cold_settings, Workspace(cold_settings.home), client, [target])
    assert cold.stats["files_analysed"] == 7 and cold.stats["files_from_cache"] == 0
    for result in (warm, again):
        for name in ("bandit_findings", "bandit_errors"):
            assert result.tables[name].equals(cold.tables[name])
        drop = ["files_from_cache", "duration_ms"]
        assert (
            result.tables["bandit_scans"].drop(drop).equals(cold.tables["bandit_scans"].drop(drop))
        )
    assert warm.tables["bandit_findings"].num_rows > 0


def test_stevedore_stays_quiet() -> None:
    import subprocess
    import sys

    code = (
        "import logging, warnings; logging.basicConfig(level=logging.DEBUG);"
        "warnings.simplefilter('always');"
        "from aggregators.sources.bandit import engine; engine.config_hash()"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert "stevedore" not in out.stderr and "verify_requirements" not in out.stderr


class RecordingProgress:
    """Remembers every call, in order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    def stage(self, description: str, total: int | None = None) -> None:
        self.events.append(("stage", total))

    def advance(self, steps: int = 1) -> None:
        self.events.append(("advance", steps))

    def detail(self, text: str) -> None:
        self.events.append(("detail", text))


def test_releases_count_as_they_finish_not_when_their_window_ends(
    settings: Settings, workspace: Workspace, client: HttpClient, files: FakeFiles
) -> None:
    """Six releases share one analysis window; each is counted as soon as its last file has a
    result, while the files are counted one by one."""
    targets = []
    for i in range(6):
        members = [(f"p{i}-1.0/p{i}/m{j}.py", f"x = {i * 100 + j}\n".encode()) for j in range(12)]
        targets.append(files.add(f"p{i}", "1.0", make_tar(members)))
    progress = RecordingProgress()
    result = analyse_releases(settings, workspace, client, targets, progress, now=NOW)
    assert {s["status"] for s in result.tables["bandit_scans"].to_pylist()} == {"scanned"}
    assert progress.events[0] == ("stage", 6)
    kinds = [kind for kind, _ in progress.events]
    assert kinds.count("advance") == 6
    analysed = [
        i for i, (kind, text) in enumerate(progress.events) if "files analysed" in str(text)
    ]
    first_release_done = kinds.index("advance")
    assert first_release_done < analysed[-1]  # a release was counted before the last file
    assert progress.events[analysed[-1]] == ("detail", "72/72 new files analysed")
    assert any("downloading p3 1.0" in str(text) for _, text in progress.events)
