"""The notification outbox: documents kept until every receiver acknowledged them.

    projects/outbox/
      .lock              held by the one process delivering (flock)
      <id>.json          a document to send, named by its evaluation id (ids sort in run order)
      cursors.json       {receiver key: last acknowledged id}: written by the delivering process
      enqueued.json      {"last": id}: written by the evaluating process (two files, so neither
                         can overwrite what the other just recorded)

A receiver is sent the documents newer than its cursor, oldest first; its cursor moves past a
document only once the receiver acknowledged it, so a document is sent in order and never again
once acknowledged. A document is deleted when every configured receiver's cursor passed it.
Enqueueing is idempotent (by evaluation id), so a crash between writing an evaluation and
enqueueing its document is repaired by the next run. Every file is written atomically.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aggregators.core.files import write_atomic
from aggregators.core.lock import DataRootLock
from aggregators.store.projects import ProjectStore, read_json, write_json

CURSORS = "cursors.json"
ENQUEUED = "enqueued.json"


@dataclass(frozen=True)
class Pending:
    """A document in the outbox."""

    id: str
    path: Path

    def body(self) -> bytes:
        """The document, byte for byte as it is sent (and signed)."""
        return self.path.read_bytes()


class Outbox:
    """The outbox of one data root's projects."""

    def __init__(self, store: ProjectStore) -> None:
        """Use ``store``'s ``outbox/`` directory."""
        self.store = store
        self.root = store.outbox

    def lock(self, wait_seconds: float = 0.0) -> DataRootLock:
        """The lock of the delivering process (by default, a second one gives up at once)."""
        return DataRootLock(self.root / ".lock", wait_seconds, poll=0.05)

    def state(self) -> dict[str, Any]:
        """The cursors and the last enqueued id."""
        cursors = read_json(self.root / CURSORS) or {}
        enqueued = read_json(self.root / ENQUEUED) or {}
        return {"cursors": dict(cursors), "last_enqueued": enqueued.get("last")}

    def pending(self) -> list[Pending]:
        """Every document in the outbox, oldest first."""
        if not self.root.is_dir():
            return []
        return [
            Pending(p.stem, p)
            for p in sorted(self.root.glob("e[0-9]*-*.json"), key=lambda p: p.stem)
            if not p.name.startswith(".")
        ]

    def enqueue(self, document_id: str, body: bytes, deliver: bool) -> bool:
        """Put a document in the outbox once (``deliver`` false: there is no receiver, so it is
        only marked as enqueued); return whether it was new. Hold the project store's lock
        (the delivering process never writes what this writes)."""
        state = self.state()
        last = state["last_enqueued"]
        if last is not None and document_id <= last:
            return False
        if deliver:
            write_atomic(self.root / f"{document_id}.json", body)
        write_json(self.root / ENQUEUED, {"last": document_id})
        return True

    def due(self, key: str) -> list[Pending]:
        """The documents receiver ``key`` has not acknowledged, oldest first."""
        cursor = self.state()["cursors"].get(key)
        return [p for p in self.pending() if cursor is None or p.id > cursor]

    def acknowledge(self, key: str, document_id: str) -> None:
        """Record that receiver ``key`` acknowledged ``document_id`` (and all before it)."""
        cursors = self.state()["cursors"]
        if cursors.get(key) is None or cursors[key] < document_id:
            cursors[key] = document_id
            write_json(self.root / CURSORS, cursors)

    def drop_delivered(self, keys: Iterable[str]) -> list[str]:
        """Delete the documents every receiver of ``keys`` acknowledged (all of them when
        there is no receiver); forget the cursors of receivers no longer configured."""
        keys = list(keys)
        known = self.state()["cursors"]
        cursors = {k: v for k, v in known.items() if k in keys}
        dropped = []
        for item in self.pending():
            if all(cursors.get(k) is not None and cursors[k] >= item.id for k in keys):
                item.path.unlink(missing_ok=True)
                dropped.append(item.id)
        if cursors != known:
            write_json(self.root / CURSORS, cursors)
        return dropped
