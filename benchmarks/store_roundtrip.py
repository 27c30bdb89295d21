"""Publish-and-read round trip of the real advisory-db snapshot: loopback S3 against local disk.

The snapshot is what `seckb ingest --sources advisories` makes of the real advisory-db bundle
(../shared/data/advisory-db-2023.bundle). Its tables are then published again, and read back by
a fresh reader, on each kind of store, in the same run:

  local     SnapshotStore on a local data root: staging directory, rename, LATEST via os.replace;
            the reader opens LATEST and reads every table, checking each sha256 (as `verify()`)
  s3        ObjectSnapshotStore (obstore) on moto's S3 server on loopback: every file and the
            manifest uploaded, then LATEST written conditionally (If-None-Match / If-Match); the
            reader downloads every file into an empty cache, checks each sha256, reads it
  s3 warm   a second reader process on the same machine: every table already in its cache by
            sha256 (downloads nothing but LATEST and the manifest)
  copies    the same files copied up and down, one at a time, through obstore and through
            pyarrow.fs.S3FileSystem (the alternative library: no conditional write, so no safe
            LATEST without a lock server): the transport cost of each

Printed: the median of --repeat runs of each step, the ratio s3 / local, and the bytes moved.

Usage: .venv/bin/python benchmarks/store_roundtrip.py [--repeat 5] [--bundle PATH]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ROOT.parent / "shared" / "data" / "advisory-db-2023.bundle"
sys.path.insert(0, str(ROOT / "tests"))  # the loopback S3 server the tests use

from s3server import S3Server  # noqa: E402

from aggregators.core.config import load_settings  # noqa: E402
from aggregators.core.objects import StoreOptions, open_objects  # noqa: E402
from aggregators.core.workspace import Workspace  # noqa: E402
from aggregators.run.ingest import ingest  # noqa: E402
from aggregators.store.remote import ObjectSnapshotStore, entries  # noqa: E402
from aggregators.store.snapshots import Snapshot, SnapshotStore  # noqa: E402

T0 = datetime(2026, 11, 16, 3, 0, tzinfo=UTC)


def timed(step: Callable[[], object]) -> float:
    started = time.perf_counter()
    step()
    return time.perf_counter() - started


def read_all(snapshot: Snapshot) -> int:
    """Verify every file against the manifest, then read every table; return the rows."""
    snapshot.verify()
    rows = 0
    for name in snapshot.tables:
        table = snapshot.read(name)
        rows += table.num_rows if table is not None else 0
    return rows


def source_snapshot(work: Path, bundle: Path) -> Snapshot:
    settings = load_settings(env={}, home=work / "ingest", advisory_db_url=str(bundle))
    report = ingest(settings, "advisories")
    assert report.snapshot is not None
    return report.snapshot


def local_round(work: Path, tables: dict, sources: dict, i: int) -> tuple[float, float]:
    store = SnapshotStore(Workspace(work / f"local-{i}"))
    store.ws.ensure()
    publish = timed(lambda: store.publish(tables, sources, T0, None))
    reader = SnapshotStore(Workspace(work / f"local-{i}"))
    latest = reader.latest()
    assert latest is not None
    return publish, timed(lambda: read_all(reader.latest()))  # type: ignore[arg-type]


def s3_round(
    work: Path, url: str, tables: dict, sources: dict, i: int
) -> tuple[float, float, float, int]:
    options = StoreOptions(30, 3, 1)
    grace = timedelta(hours=6)
    publisher = ObjectSnapshotStore(
        Workspace(work / f"publisher-{i}"), open_objects(url, options), grace
    )
    publisher.ws.ensure()
    publish = timed(lambda: publisher.publish(tables, sources, T0, publisher.latest()))

    def cold_or_warm() -> tuple[float, int]:
        reader = ObjectSnapshotStore(Workspace(work / f"reader-{i}"), open_objects(url, options))
        seconds = timed(lambda: read_all(reader.latest()))  # type: ignore[arg-type]
        return seconds, reader.cache.downloaded_bytes

    cold, moved = cold_or_warm()
    warm, again = cold_or_warm()
    assert again == 0, "a warm reader downloaded a table again"
    return publish, cold, warm, moved


def pyarrow_round(server: S3Server, bucket: str, files: list[Path], i: int) -> float:
    from pyarrow import fs

    s3 = fs.S3FileSystem(
        access_key="k",
        secret_key="s",
        endpoint_override=server.endpoint,
        scheme="http",
        region="us-east-1",
    )
    prefix = f"{bucket}/pyarrow-{i}"
    started = time.perf_counter()
    for path in files:
        fs.copy_files(str(path), f"{prefix}/{path.name}", destination_filesystem=s3)
    target = Path(tempfile.mkdtemp(prefix="seckb-pyarrow-"))
    for path in files:
        fs.copy_files(f"{prefix}/{path.name}", str(target / path.name), source_filesystem=s3)
    return time.perf_counter() - started


def obstore_round(url: str, files: list[Path]) -> float:
    """The same copy as :func:`pyarrow_round` through seckb's obstore objects."""
    objects = open_objects(url, StoreOptions(30, 3, 1))
    target = Path(tempfile.mkdtemp(prefix="seckb-obstore-"))
    started = time.perf_counter()
    for path in files:
        objects.put_file(path.name, path)
    for path in files:
        objects.download(path.name, target / path.name)
    return time.perf_counter() - started


def main() -> None:
    """Measure and print the figures."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--bundle", type=Path, default=BUNDLE)
    args = parser.parse_args()
    if not args.bundle.is_file():
        raise SystemExit(f"bundle not found: {args.bundle}")
    with tempfile.TemporaryDirectory(prefix="seckb-roundtrip-") as tmp:
        work = Path(tmp)
        server = S3Server(work / "moto.log")
        server.start()
        try:
            for name, value in server.env().items():
                os.environ[name] = value
            snapshot = source_snapshot(work, args.bundle)
            tables = {name: snapshot.read(name) for name in snapshot.tables}
            sources = snapshot.manifest["sources"]
            files = [snapshot.path / str(e["file"]) for e in entries(snapshot.manifest).values()]
            size = sum(int(e["bytes"]) for e in entries(snapshot.manifest).values())
            local = [local_round(work, tables, sources, i) for i in range(args.repeat)]
            remote = []
            for i in range(args.repeat):
                bucket = server.make_bucket(f"seckb-round-{i}")
                remote.append(s3_round(work, f"s3://{bucket}/kb", tables, sources, i))
            bucket = server.make_bucket("seckb-pyarrow")
            pyarrow = [pyarrow_round(server, bucket, files, i) for i in range(args.repeat)]
            raw = [obstore_round(f"s3://{bucket}/obstore-{i}", files) for i in range(args.repeat)]
        finally:
            server.stop()
    report(snapshot, size, len(files), local, remote, (pyarrow, raw), args.repeat)


def report(
    snapshot: Snapshot,
    size: int,
    count: int,
    local: list[tuple[float, float]],
    remote: list[tuple[float, float, float, int]],
    copies: tuple[list[float], list[float]],
    repeat: int,
) -> None:
    med = statistics.median
    local_publish, local_read = med(p for p, _ in local), med(r for _, r in local)
    s3_publish, s3_cold = med(r[0] for r in remote), med(r[1] for r in remote)
    s3_warm, moved = med(r[2] for r in remote), remote[0][3]
    local_total, s3_total = local_publish + local_read, s3_publish + s3_cold
    rows = snapshot.manifest["tables"]["advisories"]["rows"]
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    print(f"snapshot: {snapshot.id}, {rows} advisories, {count} files, {size / 1e6:.2f} MB")
    print(f"medians of {repeat} runs             local disk    loopback S3   ratio S3/local")
    print(f"publish (files, manifest, LATEST)  {local_publish:9.3f} s  {s3_publish:9.3f} s")
    print(f"read, empty cache (verify + read)  {local_read:9.3f} s  {s3_cold:9.3f} s")
    print(
        f"round trip                         {local_total:9.3f} s  {s3_total:9.3f} s"
        f"   {s3_total / local_total:6.2f}x"
    )
    print(f"read again, warm cache             {local_read:9.3f} s  {s3_warm:9.3f} s")
    print(f"downloaded by a cold reader: {moved / 1e6:.2f} MB; by a warm reader: 0 bytes")
    pyarrow, raw = copies
    print("the same files copied up then down, one at a time (transport only):")
    print(f"  obstore (seckb's objects)                   {med(raw):9.3f} s")
    print(f"  pyarrow.fs.S3FileSystem (no conditional put) {med(pyarrow):9.3f} s")


if __name__ == "__main__":
    main()
