"""Helpers shared by the tests: advisory files and local advisory-db repositories."""

from __future__ import annotations

import textwrap
from pathlib import Path

import git

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ROOT.parent / "shared" / "data" / "advisory-db-2023.bundle"
ACTOR = git.Actor("seckb tests", "tests@seckb.invalid")


def advisory_yaml(
    adv_id: str,
    package: str = "flask",
    introduced: str = "0",
    fixed: str | None = "1.0",
    versions: tuple[str, ...] = (),
    withdrawn: str | None = None,
    extra: str = "",
) -> str:
    """A small, valid OSV advisory in the advisory-db's YAML style."""
    events = f"    - introduced: '{introduced}'\n"
    if fixed is not None:
        events += f"    - fixed: '{fixed}'\n"
    listed = "".join(f"  - '{v}'\n" for v in versions)
    text = textwrap.dedent(
        f"""\
        id: {adv_id}
        details: Something bad in {package}.
        aliases:
        - CVE-{adv_id[-4:]}
        modified: '2023-01-02T00:00:00Z'
        published: '2023-01-01T00:00:00Z'
        """
    )
    if withdrawn:
        text += f"withdrawn: '{withdrawn}'\n"
    text += (
        "affected:\n"
        f"- package:\n    name: {package}\n    ecosystem: PyPI\n    purl: pkg:pypi/{package}\n"
        f"  ranges:\n  - type: ECOSYSTEM\n    events:\n{events}"
    )
    if listed:
        text += "  versions:\n" + listed
    text += "references:\n- type: WEB\n  url: https://example.invalid/advisory\n" + extra
    return text


class AdvisoryRepo:
    """A local git repository laid out like the PyPA advisory-db."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.repo = git.Repo.init(path, initial_branch="main")

    @property
    def url(self) -> str:
        return str(self.path)

    def write(self, relpath: str, text: str | bytes) -> None:
        target = self.path / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            target.write_bytes(text)
        else:
            target.write_text(text, encoding="utf-8")
        self.repo.index.add([relpath])

    def delete(self, relpath: str) -> None:
        self.repo.git.rm("-f", "-q", "--", relpath)

    def commit(self, message: str = "update") -> str:
        return self.repo.index.commit(message, author=ACTOR, committer=ACTOR).hexsha
