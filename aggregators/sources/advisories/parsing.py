"""Reading and parsing advisory files, in worker processes when there are many (the CPU part).

Each worker reads its own blobs from the git mirror and hands back Arrow tables, so neither file
content nor parsing funnels through one process.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from aggregators.core.contracts import contract
from aggregators.core.versions import canonical_version
from aggregators.sources.advisories.gitsync import AdvisoryRepo, TreeFile
from aggregators.sources.advisories.osv import SOURCE, ParsedFile, parse_batch
from aggregators.sources.registry import SOURCE_TABLES

TABLES = SOURCE_TABLES[SOURCE]


def _chunks(files: Sequence[TreeFile], count: int) -> list[list[TreeFile]]:
    """Split work into ``count`` chunks of similar byte size (largest first, greedy)."""
    buckets: list[list[TreeFile]] = [[] for _ in range(count)]
    sizes = [0] * count
    for item in sorted(files, key=lambda f: f.size, reverse=True):
        i = sizes.index(min(sizes))
        buckets[i].append(item)
        sizes[i] += item.size
    return [b for b in buckets if b]


@dataclass
class Batch:
    """Parsed files as Arrow tables (unsorted) plus their ``ingest_errors`` rows."""

    files: int
    tables: dict[str, pa.Table]
    errors: list[dict[str, Any]]


def to_batch(parsed: Sequence[ParsedFile]) -> Batch:
    """Turn parsed files into a :class:`Batch` (in the worker, so the parent gets Arrow data)."""
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in TABLES}
    errors: list[dict[str, Any]] = []
    for item in parsed:
        if item.advisory is not None:
            rows["advisories"].append(item.advisory)
            rows["advisory_packages"].extend(item.packages)
            rows["advisory_ranges"].extend(item.events)
            if item.record is not None:
                rows["osv_records"].append(item.record)
        errors.extend(item.errors)
    tables = {name: contract(name).table_from_rows(rows[name], sort=False) for name in TABLES}
    return Batch(len(parsed), tables, errors)


def read_and_parse(repo_path: Path, files: Sequence[TreeFile], commit: str, origin: str) -> Batch:
    """Read blobs from the mirror and parse them: the unit of work of one worker process."""
    repo = AdvisoryRepo(repo_path, url="")
    try:
        blobs = repo.read_blobs([f.blob for f in files])
        items = [(f.path, data, f.blob) for f, data in zip(files, blobs, strict=True)]
        return to_batch(parse_batch(items, commit, origin))
    finally:
        repo.close()


def parse_files(
    repo_path: Path,
    files: Sequence[TreeFile],
    commit: str,
    origin: str,
    workers: int,
    min_parallel: int,
    on_batch: Callable[[Batch], None],
) -> None:
    """Read and parse advisory files, handing each parsed batch to ``on_batch``.

    Large batches go to worker processes; each reads its own blobs from git, so neither file
    content nor parsing funnels through one process, and ``on_batch`` runs in this process
    while the workers go on with the next chunks.
    """
    if workers <= 1 or len(files) < min_parallel:
        on_batch(read_and_parse(repo_path, files, commit, origin))
        return
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = [
            pool.submit(read_and_parse, repo_path, chunk, commit, origin)
            for chunk in _chunks(files, workers * 4)
        ]
        for future in as_completed(futures):
            on_batch(future.result())


class Fresh:
    """Freshly parsed batches, collected as the workers finish them."""

    def __init__(self) -> None:
        """Start empty."""
        self.tables: dict[str, list[pa.Table]] = {name: [] for name in TABLES}
        self.errors: list[dict[str, Any]] = []

    def add(self, batch: Batch) -> None:
        """Absorb one batch; also parse its versions now, while the workers are busy."""
        for name in TABLES:
            self.tables[name].append(batch.tables[name])
        self.errors.extend(batch.errors)
        versions = pc.list_flatten(batch.tables["advisory_packages"].column("versions"))
        for text in (
            versions.to_pylist() + batch.tables["advisory_ranges"].column("version").to_pylist()
        ):
            canonical_version(text)
