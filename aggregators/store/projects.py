"""Watched projects on disk, under ``SECKB_HOME/projects/``; every file is written atomically.

    projects/
      .lock                                  one writer of project state at a time (flock)
      items/<name>/project.json              the current component list (seckb.project-state/1)
      items/<name>/history/<revision>.json   every list it replaced, by revision
      items/<name>/triage.json               the triage decisions in the order they were made
      evaluations/<id>/                      one evaluation: manifest.json, project_components,
                                             project_findings, project_events (Parquet) and
                                             events.json (the seckb.events/1 document, if any)
      outbox/                                see :mod:`aggregators.store.outbox`

A JSON file is written beside its target, flushed to disk and moved over it with ``os.replace``;
an evaluation is written to a hidden directory and renamed into place. A crash at any point
leaves the previous state. Nothing here judges anything: the clients compute, this stores.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from aggregators.core.contracts import contract
from aggregators.core.errors import SeckbError
from aggregators.core.files import fsync_path, write_atomic
from aggregators.core.lock import DataRootLock
from aggregators.core.workspace import Workspace

STATE_FORMAT = "seckb.project-state/1"
TRIAGE_FORMAT = "seckb.triage/1"
EVALUATION_FORMAT = "seckb.project-evaluation/1"
TABLES = ("project_components", "project_findings", "project_events")
EVENTS_FILE = "events.json"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
"""A project name: letters, digits, ``.``, ``_`` and ``-``, starting with a letter or digit."""
_EVALUATION_ID = re.compile(r"e(\d{8})-\d{8}T\d{6}Z")


class ProjectError(SeckbError):
    """A project operation cannot be done (invalid name, unknown project...)."""


class ProjectNotFoundError(ProjectError):
    """No project has that name."""


def check_name(name: str) -> str:
    """``name`` when it is a valid project name; raise :class:`ProjectError` otherwise."""
    if not isinstance(name, str) or not NAME.fullmatch(name):
        shown = repr(name)[:80]
        raise ProjectError(
            f"invalid project name {shown}: use 1-100 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def write_json(path: Path, document: Any) -> None:
    """Write ``document`` as indented JSON, atomically."""
    write_atomic(path, (json.dumps(document, indent=2, sort_keys=True) + "\n").encode("utf-8"))


def read_json(path: Path) -> Any:
    """The JSON document in ``path``, or ``None`` when there is no such file."""
    try:
        return json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ProjectError(f"cannot read {path}: {exc}") from exc


def digest(document: Any) -> str:
    """sha256 of a JSON value in canonical form (sorted keys, no spaces)."""
    text = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class StoredProject:
    """A project's current component list, as stored."""

    name: str
    revision: int
    version: str | None
    source: dict[str, Any]
    components: list[dict[str, Any]]
    notes: list[str]
    added_at: str
    updated_at: str

    @property
    def digest(self) -> str:
        """Identifies the content (components and version label), not when it was stored."""
        return digest({"version": self.version, "components": self.components})

    def to_json(self) -> dict[str, Any]:
        """The stored document."""
        return {
            "format": STATE_FORMAT,
            "name": self.name,
            "revision": self.revision,
            "version": self.version,
            "source": self.source,
            "components": self.components,
            "notes": self.notes,
            "added_at": self.added_at,
            "updated_at": self.updated_at,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StoredProject:
        """Read a stored document back."""
        return cls(
            name=str(data["name"]),
            revision=int(data["revision"]),
            version=data.get("version"),
            source=dict(data.get("source") or {}),
            components=list(data.get("components") or []),
            notes=list(data.get("notes") or []),
            added_at=str(data["added_at"]),
            updated_at=str(data["updated_at"]),
        )


@dataclass(frozen=True)
class Evaluation:
    """One evaluation directory: its manifest and tables."""

    id: str
    path: Path
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def sequence(self) -> int:
        """The evaluation's sequence number."""
        match = _EVALUATION_ID.fullmatch(self.id)
        return int(match.group(1)) if match else 0

    def table_path(self, name: str) -> Path:
        """Path of one of the evaluation's Parquet files."""
        return self.path / f"{name}.parquet"

    def read(self, name: str) -> pa.Table:
        """One of the evaluation's tables."""
        return pq.read_table(self.table_path(name))

    def events_document(self) -> bytes | None:
        """The ``seckb.events/1`` document of the evaluation, ``None`` when it found nothing."""
        try:
            return (self.path / EVENTS_FILE).read_bytes()
        except FileNotFoundError:
            return None


def evaluation_id(sequence: int, when: str) -> str:
    """``e00000042-20261202T030112Z``: sorts by sequence, reads as a time (``when``:
    ``%Y%m%dT%H%M%SZ``)."""
    return f"e{sequence:08d}-{when}"


class ProjectStore:
    """The projects of one data root."""

    def __init__(self, workspace: Workspace, lock_wait_seconds: float = 30.0) -> None:
        """Use ``workspace``'s ``projects/`` directory; writers wait up to
        ``lock_wait_seconds`` for one another."""
        self.root = workspace.projects
        self.items = self.root / "items"
        self.evaluations = self.root / "evaluations"
        self.outbox = self.root / "outbox"
        self.lock_wait_seconds = lock_wait_seconds

    def lock(self) -> DataRootLock:
        """The lock every writer of project state holds."""
        return DataRootLock(self.root / ".lock", self.lock_wait_seconds, poll=0.05)

    def _dir(self, name: str) -> Path:
        return self.items / check_name(name)

    def names(self) -> list[str]:
        """Every project's name, sorted."""
        if not self.items.is_dir():
            return []
        return sorted(p.name for p in self.items.iterdir() if NAME.fullmatch(p.name) and p.is_dir())

    def get(self, name: str) -> StoredProject | None:
        """The project ``name``, or ``None``."""
        data = read_json(self._dir(name) / "project.json")
        return StoredProject.from_json(data) if data else None

    def require(self, name: str) -> StoredProject:
        """The project ``name``; raise :class:`ProjectNotFoundError` when there is none."""
        found = self.get(name)
        if found is None:
            raise ProjectNotFoundError(f"no project named {name!r}")
        return found

    def all(self) -> list[StoredProject]:
        """Every project, by name."""
        return [p for p in (self.get(n) for n in self.names()) if p is not None]

    def put(
        self,
        name: str,
        version: str | None,
        source: Mapping[str, Any],
        components: Sequence[Mapping[str, Any]],
        notes: Sequence[str],
        now: str,
    ) -> tuple[StoredProject, str]:
        """Store a component list as ``name``'s current one: ``added``, ``replaced`` (the
        previous list goes to the history) or ``unchanged`` (same components and version).
        Call while holding :meth:`lock`."""
        folder = self._dir(name)
        old = self.get(name)
        new = StoredProject(
            name,
            (old.revision + 1) if old else 1,
            version,
            dict(source),
            [dict(c) for c in components],
            list(notes),
            old.added_at if old else now,
            now,
        )
        if old is not None and old.digest == new.digest:
            return old, "unchanged"
        if old is not None:
            write_json(folder / "history" / f"{old.revision:06d}.json", old.to_json())
        write_json(folder / "project.json", new.to_json())
        return new, "replaced" if old else "added"

    def history(self, name: str) -> list[StoredProject]:
        """The lists ``name`` replaced, oldest first."""
        folder = self._dir(name) / "history"
        if not folder.is_dir():
            return []
        found = [read_json(p) for p in sorted(folder.glob("[0-9]*.json"))]
        return [StoredProject.from_json(d) for d in found if d]

    def remove(self, name: str) -> bool:
        """Delete ``name`` with its history and triage (renamed away first, so readers see it
        whole or not at all); ``False`` when there was no such project. Hold :meth:`lock`."""
        folder = self._dir(name)
        if not (folder / "project.json").is_file():
            return False
        doomed = self.items / f".removed-{name}-{secrets.token_hex(4)}"
        os.rename(folder, doomed)
        shutil.rmtree(doomed, ignore_errors=True)
        return True

    def decisions(self, name: str) -> list[dict[str, Any]]:
        """``name``'s triage decisions, in the order they were made."""
        data = read_json(self._dir(name) / "triage.json")
        return list(data.get("decisions", [])) if data else []

    def add_decisions(self, name: str, decisions: Sequence[Mapping[str, Any]]) -> int:
        """Append decisions to ``name``'s audit trail; return how many it holds. Hold
        :meth:`lock`."""
        self.require(name)
        trail = self.decisions(name) + [dict(d) for d in decisions]
        write_json(self._dir(name) / "triage.json", {"format": TRIAGE_FORMAT, "decisions": trail})
        return len(trail)

    def evaluations_kept(self) -> list[Evaluation]:
        """Every complete evaluation, oldest first."""
        if not self.evaluations.is_dir():
            return []
        found = []
        for entry in self.evaluations.iterdir():
            if _EVALUATION_ID.fullmatch(entry.name) and (entry / "manifest.json").is_file():
                found.append(Evaluation(entry.name, entry, read_json(entry / "manifest.json")))
        return sorted(found, key=lambda e: e.sequence)

    def latest_evaluation(self) -> Evaluation | None:
        """The newest complete evaluation, or ``None``."""
        kept = self.evaluations_kept()
        return kept[-1] if kept else None

    def write_evaluation(
        self,
        evaluation_id: str,
        tables: Mapping[str, pa.Table],
        manifest: Mapping[str, Any],
        events: bytes | None,
    ) -> Evaluation:
        """Write an evaluation (hidden directory, then renamed into place). Hold :meth:`lock`."""
        temp = self.evaluations / f".tmp-{evaluation_id}"
        shutil.rmtree(temp, ignore_errors=True)
        temp.mkdir(parents=True)
        entries = {}
        for name in TABLES:
            table = contract(name).conform(tables.get(name, contract(name).empty()))
            pq.write_table(table, temp / f"{name}.parquet", compression="zstd")
            fsync_path(temp / f"{name}.parquet")
            entries[name] = {"file": f"{name}.parquet", "rows": table.num_rows}
        if events is not None:
            write_atomic(temp / EVENTS_FILE, events)
        document = {**manifest, "format": EVALUATION_FORMAT, "id": evaluation_id}
        document["tables"] = entries
        write_json(temp / "manifest.json", document)
        final = self.evaluations / evaluation_id
        os.rename(temp, final)
        fsync_path(self.evaluations)
        return Evaluation(evaluation_id, final, document)

    def clean(self) -> None:
        """Remove what crashed writers left (hidden directories). Hold :meth:`lock`."""
        for folder in (self.evaluations, self.items):
            if folder.is_dir():
                for entry in folder.glob(".*"):
                    if entry.is_dir():
                        shutil.rmtree(entry, ignore_errors=True)

    def prune_evaluations(self, keep: int) -> list[str]:
        """Delete all but the newest ``keep`` evaluations (at least two are kept: the latest and
        the one it was compared with). Hold :meth:`lock`."""
        kept = self.evaluations_kept()
        doomed = kept[: max(0, len(kept) - max(2, keep))]
        for evaluation in doomed:
            shutil.rmtree(evaluation.path, ignore_errors=True)
        return [e.id for e in doomed]

    def view_files(self) -> dict[str, list[Path]]:
        """The Parquet files of the DuckDB views: the latest evaluation's components and
        findings, and the events of every evaluation kept (empty before the first one)."""
        kept = self.evaluations_kept()
        if not kept:
            return {}
        return {
            "project_components": [kept[-1].table_path("project_components")],
            "project_findings": [kept[-1].table_path("project_findings")],
            "project_events": [e.table_path("project_events") for e in kept],
        }
