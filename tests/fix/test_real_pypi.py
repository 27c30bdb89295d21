"""``seckb fix`` on the real PyPI (marked ``network``: skipped in CI): the pins uv resolved for
the README's index example straight from PyPI (three of them vulnerable under the 2023
advisory-db), fixed in place and written; the result resolves on PyPI and audits clean."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from index.support import BIN, client_environment
from server.support import seckb

from helpers import BUNDLE

pytestmark = [pytest.mark.network, pytest.mark.slow]
PINS = """\
click==7.1.2
django==3.2.25
flask==1.1.4
itsdangerous==1.1.0
jinja2==2.11.3
markupsafe==2.0.1
pillow==9.5.0
pyyaml==5.4.1
requests==2.31.0
urllib3==1.26.20
werkzeug==1.0.1
"""


def test_fix_in_place_on_real_pypi(tmp_path: Path) -> None:
    if not BUNDLE.is_file():
        pytest.skip(f"real advisory-db bundle not found at {BUNDLE}")
    data = tmp_path / "data"
    done = seckb("ingest", "--sources", "advisories", "--home", str(data), env={
        "SECKB_ADVISORY_DB_URL": str(BUNDLE)
    })  # fmt: skip
    assert done.returncode == 0, done.stderr
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(PINS, encoding="utf-8")
    env = client_environment(tmp_path / "client")
    command = [str(BIN / "seckb"), "fix", "-r", str(requirements), "--home", str(data)]
    planned = subprocess.run([*command, "--json", "--write"], capture_output=True, text=True,
                             env=env, timeout=600)  # fmt: skip
    assert planned.returncode == 1, planned.stderr
    plan = json.loads(planned.stdout)
    moved = {c["package"]: (c["new"], c["kind"]) for c in plan["changes"]}
    assert moved["flask"] == ("2.2.5", "fix")  # its lowest release without an advisory
    assert moved["werkzeug"][1] == "fix" and moved["pillow"] == ("10.0.1", "fix")
    assert plan["unfixable"] == [] and plan["after"]["blocked"] == 0
    assert plan["written"] is True
    audited = seckb("audit", "-r", str(requirements), "--json", "--home", str(data))
    assert all(not p["advisories"] for p in json.loads(audited.stdout)["packages"])
    check = subprocess.run(
        [str(BIN / "uv"), "pip", "compile", str(requirements), "--index-url",
         "https://pypi.org/simple/", "--no-build", "--quiet"],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert check.returncode == 0, check.stderr
