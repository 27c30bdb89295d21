"""Project state on disk: a crash at any point of a write leaves the previous state."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from projects.support import run, settings_for

from aggregators.core.workspace import Workspace
from aggregators.store import projects as module
from aggregators.store.projects import ProjectError, ProjectStore, check_name
from helpers import AdvisoryRepo, advisory_yaml

COMPONENTS = [{"package": "flask", "version": "0.12.2", "where": "r.txt:1"}]


class Crash(Exception):
    """Stands for the process dying at that point."""


def crash(*_args: Any, **_kwargs: Any) -> None:
    raise Crash


def test_a_crash_while_replacing_a_project_keeps_the_previous_list(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ProjectStore(Workspace(tmp_path))
    with store.lock():
        first, change = store.put("shop", "1", {"kind": "requirements"}, COMPONENTS, [], "t1")
    assert change == "added" and first.revision == 1
    newer = [*COMPONENTS, {"package": "requests", "version": "2.0", "where": "r.txt:2"}]
    monkeypatch.setattr(module.os, "replace", crash)
    with store.lock(), pytest.raises(Crash):
        store.put("shop", "2", {"kind": "requirements"}, newer, [], "t2")
    monkeypatch.undo()
    assert store.require("shop") == first
    leftovers = [p.name for p in (tmp_path / "projects").rglob("*.tmp")]
    assert leftovers == []
    with store.lock():
        second, change = store.put("shop", "2", {"kind": "requirements"}, newer, [], "t2")
    assert change == "replaced" and second.revision == 2 and second.added_at == "t1"
    assert store.history("shop") == [first]
    with store.lock():
        assert store.put("shop", "2", {}, newer, [], "t3")[1] == "unchanged"


def test_a_crash_while_writing_an_evaluation_leaves_the_last_one(
    advisory_repo: AdvisoryRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    advisory_repo.write("vulns/flask/PYSEC-1.yaml", advisory_yaml("PYSEC-1", fixed="1.0"))
    advisory_repo.commit()
    home = tmp_path / "home"
    settings = settings_for(home, advisory_repo.url)
    store = ProjectStore(Workspace(home))
    with store.lock():
        store.put("shop", None, {"kind": "requirements"}, COMPONENTS, [], "t1")
    first = run(settings)
    assert first.evaluation_id is not None
    with store.lock():
        store.put("shop", "2", {"kind": "requirements"}, COMPONENTS[:1], ["changed"], "t2")
    monkeypatch.setattr(module.os, "rename", crash)
    with pytest.raises(Crash):
        run(settings)
    monkeypatch.undo()
    latest = store.latest_evaluation()
    assert latest is not None and latest.id == first.evaluation_id
    assert any(p.name.startswith(".tmp-") for p in store.evaluations.iterdir())
    again = run(settings)  # cleans up, and evaluates what the crashed run did not
    assert again.counts == {"project_changed": 1}
    assert not any(p.name.startswith(".") for p in store.evaluations.iterdir())


def test_a_crash_while_removing_leaves_no_half_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ProjectStore(Workspace(tmp_path))
    with store.lock():
        store.put("shop", None, {}, COMPONENTS, [], "t1")
        store.add_decisions("shop", [{"advisory_id": "PYSEC-1", "state": "in_triage"}])
    monkeypatch.setattr(module.shutil, "rmtree", crash)
    with store.lock(), pytest.raises(Crash):
        store.remove("shop")
    monkeypatch.undo()
    assert store.names() == [] and store.get("shop") is None
    with store.lock():
        store.clean()
    assert list(store.items.iterdir()) == []


@pytest.mark.parametrize(
    "name", ["", "../etc", "a/b", "..", ".hidden", "bad\nname", "tab\t", "x" * 101, "é", "a b"]
)
def test_project_names_are_checked(name: str) -> None:
    with pytest.raises(ProjectError, match="invalid project name"):
        check_name(name)


def test_good_names_pass() -> None:
    for name in ("shop", "Shop-2", "api.v1", "a", "x" * 100, "my_app"):
        assert check_name(name) == name
