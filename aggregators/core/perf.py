"""Small performance helpers for batch stages."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector during an allocation-heavy batch stage.

    Building hundreds of thousands of small rows triggers many full collections that find no
    cycles (rows are freed by reference counting); pausing them cuts a full ingest by ~20%.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
