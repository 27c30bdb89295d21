"""An exclusive lock on the data root, so a second run waits or refuses instead of corrupting."""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from types import TracebackType

from aggregators.core.errors import LockError


class DataRootLock:
    """``flock``-based lock; released by the kernel if the holder dies, so it never goes stale."""

    def __init__(self, path: Path, wait_seconds: float = 0.0, poll: float = 0.2) -> None:
        """Prepare a lock on ``path``; ``wait_seconds`` is how long :meth:`acquire` waits."""
        self.path = path
        self.wait_seconds = wait_seconds
        self.poll = poll
        self._fd: int | None = None

    def _holder(self) -> str:
        try:
            return self.path.read_text(encoding="utf-8").strip() or "unknown"
        except OSError:
            return "unknown"

    def acquire(self) -> None:
        """Take the lock, waiting up to ``wait_seconds``; raise :class:`LockError` otherwise."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + self.wait_seconds
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise LockError(
                        f"another seckb run holds {self.path} (pid {self._holder()}); "
                        "try again later or raise lock_wait_seconds"
                    ) from None
                time.sleep(self.poll)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        """Release the lock (idempotent)."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> DataRootLock:
        """Acquire on entering a ``with`` block."""
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Release on leaving the block, whatever happened."""
        self.release()
