"""The manual: it builds strictly with MkDocs, its tour runs as written, and the command list it
documents is the one ``seckb --help`` gives."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from aggregators.cli.main import build_parser, command_names
from helpers import ROOT

DOCS = ROOT / "docs"
BIN = Path(sys.executable).parent
SHARED = ROOT.parent / "shared" / "data"


def test_the_manual_builds_strictly(tmp_path: Path) -> None:
    """Any warning (a broken link or anchor, a page missing from the nav) fails the build."""
    built = subprocess.run(
        [str(BIN / "mkdocs"), "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )  # fmt: skip
    assert built.returncode == 0, built.stdout + built.stderr
    pages = {
        p.relative_to(tmp_path / "site").as_posix() for p in (tmp_path / "site").rglob("*.html")
    }
    for page in DOCS.glob("*.md"):
        expected = "index.html" if page.stem == "index" else f"{page.stem}/index.html"
        assert expected in pages, page.name
    tables = (tmp_path / "site" / "tables" / "index.html").read_text(encoding="utf-8")
    assert 'id="table-package_version_security"' in tables


def test_every_page_is_in_the_navigation() -> None:
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    for page in DOCS.glob("*.md"):
        assert f" {page.name}" in nav, f"{page.name} is not in mkdocs.yml's nav"


def _tour() -> str:
    text = (DOCS / "getting-started.md").read_text(encoding="utf-8")
    found = re.search(r"<!-- tour: run by tests/test_docs.py -->\n```sh\n(.*?)```", text, re.S)
    assert found is not None, "the tour block is marked in docs/getting-started.md"
    return found.group(1)


@pytest.mark.skipif(
    not (SHARED / "advisory-db-2023.bundle").is_file(),
    reason=f"the advisory-db bundle and popularity dataset are not in {SHARED}",
)
def test_the_getting_started_tour_runs_as_written() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SECKB_")}
    done = subprocess.run(
        ["bash", "-e", "-c", _tour()], cwd=ROOT, capture_output=True, text=True, timeout=600,
        env={**env, "COLUMNS": "200"},
    )  # fmt: skip
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "published snapshot" in out and "popularity: updated: 15,000 rows" in out
    assert "flask 0.12.2: VULNERABLE" in out and "PYSEC-2023-62" in out
    assert "suspicious name" in out and "exit code 1" in out
    assert re.search(r"tensorflow-cpu\s+297", out)
    home = re.search(r"published snapshot \S+ in (\S+)/snapshots", out)
    assert home is not None
    shutil.rmtree(Path(home.group(1)).parent, ignore_errors=True)


def _help_texts(parser: argparse.ArgumentParser) -> list[str]:
    texts = [parser.description or "", parser.epilog or ""]
    texts += [a.help for a in parser._actions if isinstance(a.help, str)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                texts += [f"{name}: {t}" for t in _help_texts(sub)]
            texts += [c.help for c in action._choices_actions if c.help]
    return texts


def test_help_lists_the_documented_commands_in_plain_text() -> None:
    names = command_names()
    parser = build_parser()
    assert parser.description is not None
    for name in names:
        assert name in parser.description
    cli = (DOCS / "cli.md").read_text(encoding="utf-8")
    usage = re.search(r"```\n(seckb .*?)```", cli, re.S)
    assert usage is not None, "docs/cli.md opens with the usage block"
    documented = {
        line.split()[1] for line in usage.group(1).splitlines() if line.startswith("seckb ")
    }
    assert documented == set(names), f"docs/cli.md lists {sorted(documented)}"
    for text in _help_texts(parser):
        assert "``" not in text and ":class:" not in text and ":func:" not in text, text
