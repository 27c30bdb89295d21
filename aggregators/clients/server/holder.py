"""Which snapshot the server serves, and how it follows ``snapshots/LATEST``.

A background thread reads ``LATEST`` every ``poll_seconds``. When it names another snapshot,
that snapshot's manifest is read, every file is checked against the manifest (size, sha256) and
the tables are loaded into a new :class:`~aggregators.clients.server.view.View` — all beside the
view being served. Only a complete view is swapped in, by one reference assignment: a request
works on the view it took when it started, so nothing in flight fails, and a snapshot that is
half-published or damaged is never served (the old view stays, the failure is reported by
``/healthz`` and retried after ``retry_seconds``). With a fixed ``snapshot_id`` the holder
serves that snapshot and never moves.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from aggregators.clients.server.errors import ApiError
from aggregators.clients.server.view import View, build_view
from aggregators.core.clock import utcnow
from aggregators.core.errors import SeckbError
from aggregators.core.workspace import Workspace
from aggregators.store.locations import where
from aggregators.store.snapshots import Snapshot, SnapshotStore

log = logging.getLogger(__name__)

Builder = Callable[[Snapshot, datetime], View]


@dataclass
class HolderStatus:
    """What the holder did: for ``/healthz`` and ``/metrics``."""

    loads: int = 0
    failures: int = 0
    last_error: str | None = None
    failed_id: str | None = None
    last_checked: datetime | None = None
    last_loaded: datetime | None = None


class SnapshotHolder:
    """Holds the :class:`View` being served and swaps in newer snapshots when complete."""

    def __init__(
        self,
        workspace: Workspace,
        snapshot_id: str | None = None,
        poll_seconds: float = 2.0,
        retry_seconds: float = 30.0,
        builder: Builder = build_view,
        store: SnapshotStore | None = None,
    ) -> None:
        """Serve the latest snapshot (or ``snapshot_id``, fixed) of ``store`` (default: the
        data root ``workspace``; an object store's tables are downloaded and verified)."""
        self.workspace = workspace
        self.store = store if store is not None else SnapshotStore(workspace)
        self.pinned = snapshot_id
        self.poll_seconds = poll_seconds
        self.retry_seconds = retry_seconds
        self.builder = builder
        self.status = HolderStatus()
        self._view: View | None = None
        self._failed_at = 0.0
        self._load_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def of_view(cls, workspace: Workspace, view: View) -> SnapshotHolder:
        """A holder serving ``view``, fixed (already loaded and verified): what a second,
        private server over the same snapshot uses."""
        holder = cls(workspace, snapshot_id=view.id)
        holder._swap(view)
        return holder

    @property
    def view(self) -> View | None:
        """The view being served (``None`` before the first snapshot is loaded)."""
        return self._view

    @property
    def following(self) -> bool:
        """Whether the holder follows ``LATEST`` (no fixed snapshot)."""
        return self.pinned is None

    def require(self) -> View:
        """The view being served; raise a ``503`` :class:`ApiError` when there is none yet."""
        view = self._view
        if view is None:
            reason = self.status.last_error or (
                f"no snapshot published in {where(self.store)} yet; run 'seckb ingest'"
            )
            raise ApiError(503, f"no snapshot is being served: {reason}")
        return view

    def open(self) -> None:
        """Load the first snapshot. A fixed one must load (else :class:`SeckbError`); when
        following ``LATEST``, a missing or broken snapshot is reported and retried later."""
        if self.pinned is not None:
            snapshot = self.store.get(self.pinned)
            self._swap(self.builder(snapshot, utcnow()))
            return
        self.refresh()

    def latest_id(self) -> str | None:
        """The id ``LATEST`` names now, or ``None`` before the first publish."""
        return self.store.latest_id()

    def refresh(self) -> bool:
        """Load the snapshot ``LATEST`` names if it is not the one served; ``True`` if swapped."""
        if self.pinned is not None:
            return False
        with self._load_lock:
            self.status.last_checked = utcnow()
            wanted = self.latest_id()
            current = self._view
            if wanted is None or (current is not None and current.id == wanted):
                return False
            retry_later = time.monotonic() - self._failed_at < self.retry_seconds
            if wanted == self.status.failed_id and retry_later:
                return False
            try:
                view = self.builder(self.store.get(wanted), utcnow())
            except (SeckbError, OSError, ValueError, KeyError) as exc:
                self._failed(wanted, exc)
                return False
            self._swap(view)
            return True

    def _swap(self, view: View) -> None:
        previous = self._view
        self._view = view  # one assignment: requests in flight keep the view they took
        self.status.loads += 1
        self.status.last_loaded = view.loaded_at
        self.status.last_error = None
        self.status.failed_id = None
        log.info("serving snapshot %s%s", view.id, f" (was {previous.id})" if previous else "")

    def _failed(self, snapshot_id: str, exc: Exception) -> None:
        self.status.failures += 1
        self.status.failed_id = snapshot_id
        self.status.last_error = f"snapshot {snapshot_id} not loaded: {exc}"
        self._failed_at = time.monotonic()
        log.warning("%s (still serving %s)", self.status.last_error, self._view and self._view.id)

    def start(self) -> None:
        """Follow ``LATEST`` in a daemon thread (nothing to do for a fixed snapshot)."""
        if self.pinned is not None or self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="seckb-snapshot", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop following ``LATEST``."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.refresh()
            except Exception:  # the thread must survive anything: log and poll again
                log.exception("checking for a new snapshot failed")
