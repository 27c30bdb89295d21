"""Bad input for ``seckb fix``: a clear one-line error, exit 2, and the file untouched —
unreadable files, an unresolvable set, an index that is down, a uv that hangs or fails, a file
changed on disk while fixing."""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path

import pytest
from fakes import Reply, serving
from fix.conftest import Run

from aggregators.clients.fix.inputs import read_requirements_input
from aggregators.clients.fix.plan import Change, Plan
from aggregators.clients.fix.service import FixError
from aggregators.clients.fix.uv import Uv, UvError
from aggregators.clients.fix.write import write_requirements
from aggregators.clients.simple.pages import JSON_V1

pytestmark = pytest.mark.slow


def one_line_error(done: object, words: str) -> None:
    assert done.returncode == 2, done.stdout  # type: ignore[attr-defined]
    lines = done.stderr.strip().splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], lines


def test_unreadable_and_missing_files(seckb_fix: Run, tmp_path: Path) -> None:
    binary = tmp_path / "requirements.txt"
    binary.write_bytes(b"\xff\xfe\x00\x01garbage")
    one_line_error(seckb_fix("-r", str(binary)), "cannot read")
    one_line_error(seckb_fix("-r", str(tmp_path / "missing.txt")), "cannot read")
    lock = tmp_path / "uv.lock"
    lock.write_text("this is [not toml", encoding="utf-8")
    one_line_error(seckb_fix("--lock", str(lock)), "as a uv.lock")


def test_an_unresolvable_set_is_an_error_and_nothing_is_written(
    seckb_fix: Run, tmp_path: Path
) -> None:
    requirements = tmp_path / "requirements.txt"
    text = "web==1.0\nnosuchpkg==1.0\n"
    requirements.write_text(text, encoding="utf-8")
    one_line_error(seckb_fix("-r", str(requirements), "--write"), "does not resolve")
    assert requirements.read_text() == text


def test_an_index_that_is_down(seckb_fix: Run, tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("web==1.0\n", encoding="utf-8")
    done = seckb_fix("-r", str(requirements), "--write", upstream_url="http://127.0.0.1:9/simple/")
    one_line_error(done, "did not answer")
    assert requirements.read_text() == "web==1.0\n"


def test_a_uv_that_hangs_is_stopped(seckb_fix: Run, tmp_path: Path, wheels: Path) -> None:
    """The pages answer at once; the files uv downloads to read metadata never come."""

    def page(name: str, versions: list[str], base: str) -> Reply:
        files = [
            {
                "filename": f"{name}-{v}-py3-none-any.whl",
                "url": f"{base}/files/{name}-{v}-py3-none-any.whl",
                "hashes": {},
                "size": 1,
            }
            for v in versions
        ]
        body = {"meta": {"api-version": "1.1"}, "name": name, "files": files}
        return Reply(200, json.dumps(body).encode(), {"Content-Type": JSON_V1})

    def never(_headers: dict[str, str]) -> Reply:
        time.sleep(30)
        return Reply(404)

    with serving() as upstream:
        upstream.routes["/simple/lib/"] = page("lib", ["1.0", "1.1"], upstream.url)
        for version in ("1.0", "1.1"):
            upstream.routes[f"/files/lib-{version}-py3-none-any.whl"] = never
        requirements = tmp_path / "requirements.txt"
        requirements.write_text("lib==1.0\n", encoding="utf-8")
        started = time.monotonic()
        done = seckb_fix(
            "-r", str(requirements), "--write", "--timeout", "3",
            upstream_url=f"{upstream.url}/simple/",
        )  # fmt: skip
        one_line_error(done, "uv did not finish within 3 s")
        assert time.monotonic() - started < 25
        assert requirements.read_text() == "lib==1.0\n"


def test_a_uv_that_fails(tmp_path: Path) -> None:
    broken = tmp_path / "uv"
    broken.write_text("#!/bin/sh\necho 'error: something broke inside uv' >&2\nexit 3\n")
    broken.chmod(broken.stat().st_mode | stat.S_IEXEC)
    uv = Uv("3.11", 10, binary=broken)
    with pytest.raises(UvError, match="uv pip compile failed: something broke inside uv"):
        uv.compile("http://127.0.0.1:9/simple/", ["web"])
    missing = Uv("3.11", 10, binary=tmp_path / "nowhere" / "uv")
    with pytest.raises(UvError, match="uv not found"):
        missing.compile("http://127.0.0.1:9/simple/", ["web"])


def test_a_file_changed_on_disk_while_fixing_is_not_written(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("web==1.0\n", encoding="utf-8")
    source = read_requirements_input(requirements)
    plan = Plan("in-place", source)
    plan.changes = [Change("web", "1.0", "2.0", f"{requirements}:1", "fix", "blocked", "web")]
    requirements.write_text("web==1.0\nflask==2.0\n", encoding="utf-8")  # someone edited it
    with pytest.raises(FixError, match="changed on disk while fixing; nothing was written"):
        write_requirements(plan)
    assert requirements.read_text() == "web==1.0\nflask==2.0\n"


def test_nothing_to_fix_exits_0(seckb_fix: Run, tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("core==1.0\nlib==1.2\n", encoding="utf-8")
    done = seckb_fix("-r", str(requirements), "--json")
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert found["changes"] == [] and found["before"]["blocked"] == 0
