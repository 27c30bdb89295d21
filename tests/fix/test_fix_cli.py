"""``seckb fix`` as a real process: real uv resolving through seckb's index in front of a real
pypiserver, over a test advisory-db (tests/fix/support.py names the cases). Each written result
is installed with real uv through the strict index and audited."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fix.conftest import Run
from index.support import BIN, client_environment

pytestmark = pytest.mark.slow


def document(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert done.returncode in (0, 1), done.stderr
    found: dict[str, Any] = json.loads(done.stdout)
    assert found["schema"] == "seckb.fix/1" and found["exit_code"] == done.returncode
    return found


def changes(found: dict[str, Any]) -> list[tuple[str, str | None, str | None, str]]:
    return [(c["package"], c["old"], c["new"], c["kind"]) for c in found["changes"]]


def install(path: Path, upstream_index: str, home: Path, *extra: str) -> str:
    """Install ``path`` into a new venv with real uv through ``upstream_index``; the output."""
    venv = home / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    command = [
        str(BIN / "uv"), "pip", "install", "--python", str(venv / "bin" / "python"),
        "--index-url", upstream_index, "-r", str(path), *extra,
    ]  # fmt: skip
    done = subprocess.run(
        command, capture_output=True, text=True, env=client_environment(home), timeout=300
    )
    assert done.returncode == 0, done.stderr
    return done.stderr


def audited(path: Path, home: Path) -> dict[str, list[str]]:
    done = subprocess.run(
        [str(BIN / "seckb"), "audit", "-r", str(path), "--json", "--home", str(home)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return {p["package"]: p["advisories"] for p in json.loads(done.stdout)["packages"]}


def test_in_place_moves_the_blocked_pins_lowest_first_and_what_they_force(
    seckb_fix: Run, fix_home: Path, upstream: str, tmp_path: Path
) -> None:
    requirements = tmp_path / "requirements.txt"
    original = "# app pins\nweb==1.0\ncore==1.0   # the core\nlib==1.0\n\n"
    requirements.write_text(original, encoding="utf-8")
    found = document(seckb_fix("-r", str(requirements), "--json"))
    assert found["exit_code"] == 1 and found["written"] is False
    assert changes(found) == [
        ("lib", "1.0", "1.1", "fix"),  # 1 advisory removed per changed pin: first
        ("web", "1.0", "2.0", "fix"),
        ("core", "1.0", "2.0", "forced"),  # web 2.0 needs core>=2: the lowest such, not 2.1
    ]
    forced = found["changes"][2]
    assert forced["because"] == "required by web 2.0" and forced["group"] == "web"
    assert found["changes"][1]["advisories_removed_per_changed_pin"] == 0.5
    assert found["changes"][0]["removes"] == [{"id": "FIX-5", "severity": "unscored"}]
    assert (found["before"]["blocked"], found["after"]["blocked"]) == (2, 0)
    assert requirements.read_text(encoding="utf-8") == original  # not asked to write

    done = seckb_fix("-r", str(requirements), "--write")
    assert done.returncode == 1, done.stderr
    assert "written:" in done.stdout
    assert requirements.read_text(encoding="utf-8") == (
        "# app pins\nweb==2.0\ncore==2.0   # the core\nlib==1.1\n\n"
    )
    install(requirements, upstream, tmp_path / "home")  # the written file installs
    assert audited(requirements, fix_home) == {"web": [], "core": [], "lib": []}
    again = seckb_fix("-r", str(requirements))
    assert again.returncode == 0 and "nothing to fix" in again.stdout


def test_what_cannot_be_fixed_is_held_and_explained(seckb_fix: Run, tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("old==1.0\nleft==1.0\nright==1.0\nlib==1.0\n", encoding="utf-8")
    found = document(seckb_fix("-r", str(requirements), "--json"))
    assert ("right", "1.0", "2.0", "fix") in changes(found)
    assert ("lib", "1.0", "1.1", "fix") in changes(found)
    reasons = {u["package"]: (u["reason"], u["message"]) for u in found["unfixable"]}
    assert reasons["old"] == ("no_release", "no release of old without a blocking advisory")
    kind, message = reasons["left"]  # left 1.1 needs right<2, and right's fix is 2.0
    assert kind == "conflict" and "left>=1.1 depends on right<2" in message
    assert found["after"]["blocked"] == 2  # old and left, reported: nothing fixable is left
    done = seckb_fix("-r", str(requirements), "--write")
    assert done.returncode == 1
    assert "cannot be fixed: old 1.0" in done.stdout
    assert requirements.read_text() == "old==1.0\nleft==1.0\nright==2.0\nlib==1.1\n"


def test_relax_reports_the_bound_that_keeps_a_fix_out(
    seckb_fix: Run, fix_home: Path, upstream: str, tmp_path: Path
) -> None:
    (tmp_path / "requirements.in").write_text("web\nbounded<2\nlib<2\n", encoding="utf-8")
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(
        "# This file was autogenerated by uv via the following command:\n"
        "#    uv pip compile requirements.in -o requirements.txt\n"
        "bounded==1.5\n    # via -r requirements.in\ncore==1.0\n    # via web\n"
        "lib==1.0\n    # via -r requirements.in\nweb==1.0\n    # via -r requirements.in\n",
        encoding="utf-8",
    )
    found = document(seckb_fix("-r", str(requirements), "--strategy", "relax", "--json"))
    assert found["source"]["direct"] == str(tmp_path / "requirements.in")
    (bounded,) = found["unfixable"]
    assert bounded["reason"] == "bound"
    assert bounded["message"] == (
        "`bounded<2` admits no release without a blocking advisory: the nearest is 2.2"
    )
    assert {c["package"]: c["new"] for c in found["changes"]} == {
        "web": "2.0",
        "lib": "1.2",  # relax: uv moves the direct requirements as it resolves them
        "core": "2.1",
    }
    assert seckb_fix("-r", str(requirements), "--strategy", "relax", "--write").returncode == 1
    text = requirements.read_text()
    assert "bounded==1.5\n    # via -r requirements.in\n" in text and "web==2.0\n" in text


def sha256(wheels: Path, name: str, version: str) -> str:
    data = (wheels / f"{name}-{version}-py3-none-any.whl").read_bytes()
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_hashes_markers_includes_and_direct_references(
    seckb_fix: Run, fix_home: Path, wheels: Path, upstream: str, tmp_path: Path
) -> None:
    (tmp_path / "common.txt").write_text(
        f'lib==1.0 ; python_version >= "3.8" \\\n    --hash={sha256(wheels, "lib", "1.0")}\n',
        encoding="utf-8",
    )
    (tmp_path / "constraints.txt").write_text(
        f"core==1.0 --hash={sha256(wheels, 'core', '1.0')}\n", encoding="utf-8"
    )
    top = tmp_path / "requirements.txt"
    top.write_text(
        "--index-url https://example.invalid/simple/\n-r common.txt\n-c constraints.txt\n"
        f"web==1.0 \\\n    --hash={sha256(wheels, 'web', '1.0')}\n"
        "-e ./local-project\nthing @ https://example.invalid/thing-1.0.tar.gz\n",
        encoding="utf-8",
    )
    found = document(seckb_fix("-r", str(top), "--json"))
    kept = {k["status"] for k in found["kept"]}
    assert kept == {"editable", "direct_reference"}
    assert any("option --index-url ignored" in n for n in found["notes"])
    assert seckb_fix("-r", str(top), "--write").returncode == 1
    assert (tmp_path / "common.txt").read_text() == (
        f'lib==1.1 ; python_version >= "3.8" \\\n    --hash={sha256(wheels, "lib", "1.1")}\n'
    )
    assert (tmp_path / "constraints.txt").read_text() == (
        f"core==2.0 --hash={sha256(wheels, 'core', '2.0')}\n"
    )
    text = top.read_text()
    assert f"web==2.0 \\\n    --hash={sha256(wheels, 'web', '2.0')}\n" in text
    assert "-e ./local-project\nthing @ https://example.invalid/thing-1.0.tar.gz\n" in text
    hashed = tmp_path / "hashed.txt"  # a whole file in hash mode, fixed, then installed
    hashed.write_text(
        "".join(
            f"{n}=={v} \\\n    --hash={sha256(wheels, n, v)}\n"
            for n, v in (("web", "1.0"), ("core", "1.0"), ("lib", "1.0"))
        )
    )
    assert seckb_fix("-r", str(hashed), "--write").returncode == 1
    assert f"core==2.0 \\\n    --hash={sha256(wheels, 'core', '2.0')}\n" in hashed.read_text()
    install(hashed, upstream, tmp_path / "home", "--require-hashes")
    assert audited(hashed, fix_home) == {"web": [], "core": [], "lib": []}


def test_a_uv_lock_is_fixed_through_uv_with_its_own_sources(
    seckb_fix: Run, fix_home: Path, upstream: str, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    pyproject = project / "pyproject.toml"
    text = (
        '[project]\nname = "demo"\nversion = "0.1"\nrequires-python = ">=3.11"\n'
        'dependencies = ["web==1.0", "lib==1.0"]\n\n'
        f'[[tool.uv.index]]\nurl = "{upstream}"\ndefault = true\n'
    )
    pyproject.write_text(text, encoding="utf-8")
    env = client_environment(tmp_path / "client")
    env.pop("UV_NO_CONFIG")
    lock = [str(BIN / "uv"), "lock", "--quiet"]
    subprocess.run(lock, cwd=project, env=env, check=True, capture_output=True)
    pyproject.write_text(text.replace('"web==1.0", "lib==1.0"', '"web", "lib"'))
    subprocess.run(lock, cwd=project, env=env, check=True, capture_output=True)
    found = document(seckb_fix("--lock", str(project / "uv.lock"), "--json"))
    assert found["source"]["kind"] == "uv.lock"
    assert changes(found) == [
        ("lib", "1.0", "1.1", "fix"),
        ("web", "1.0", "2.0", "fix"),
        ("core", "1.0", "2.0", "forced"),
    ]
    assert seckb_fix("--lock", str(project / "uv.lock"), "--write").returncode == 1
    locked = (project / "uv.lock").read_text()
    assert locked.count(f'registry = "{upstream}"') == 3  # the project's index, not seckb's
    exported = subprocess.run(
        [str(BIN / "uv"), "export", "--frozen", "--no-hashes", "--no-header"],
        cwd=project, env=env, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    assert "core==2.0" in exported and "lib==1.1" in exported and "web==2.0" in exported
