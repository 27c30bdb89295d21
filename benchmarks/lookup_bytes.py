"""Bytes read for a one-package look-up in ``package_version_security.parquet`` (issue 14).

The table is built like the real one: the packages of the real advisory-db bundle (626), each
with 100 releases (62,600 rows, the size the issue measured), through the real contract. It is
written twice in the same run:

  before  one row group of every row, no sorting metadata, no page index (the old writer)
  after   the writer every snapshot uses now (``store.snapshots.write_parquet``): row groups of
          4,096 rows, ``sorting_columns`` and a page index

and each file is read for ``--lookups`` random packages by two real readers, counting every byte
they read from the file (a counting filesystem under pyarrow; a counting fsspec filesystem under
DuckDB):

  pyarrow.dataset  ``filter=package == X`` (row-group statistics pruning, pre-buffering)
  duckdb           ``SELECT * FROM read_parquet(...) WHERE package = ?``
  minimal          the footer once, then only the row groups whose statistics may hold X

Printed: file size, median bytes per look-up, and the fraction of the file that is.

Usage: .venv/bin/python benchmarks/lookup_bytes.py [--bundle PATH] [--lookups N]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ROOT.parent / "shared" / "data" / "advisory-db-2023.bundle"
VERSIONS = 100


def packages_of(bundle: Path, home: Path) -> list[str]:
    """The package names of the bundle's advisories (or made-up ones without the bundle)."""
    if not bundle.is_file():
        return [f"package-{i:04d}" for i in range(626)]
    from aggregators.core.config import load_settings
    from aggregators.run.ingest import ingest

    report = ingest(load_settings(env={}, home=home, advisory_db_url=str(bundle)), "advisories")
    assert report.snapshot is not None
    table = report.snapshot.read("advisory_packages")
    assert table is not None
    return sorted(set(table.column("package").to_pylist()))


def knowledge_table(packages: list[str]) -> Any:
    from aggregators.core.contracts import contract

    rng = random.Random(14)
    rows = []
    for package in packages:
        for rank in range(VERSIONS):
            affected = rng.random() < 0.2
            rows.append(
                {
                    "package": package,
                    "version": f"{rank // 10}.{rank % 10}.0",
                    "version_canonical": f"{rank // 10}.{rank % 10}",
                    "version_rank": rank,
                    "is_prerelease": False,
                    "yanked": False,
                    "upload_time": None,
                    "advisory_ids": [f"PYSEC-2020-{rng.randrange(9999)}"] if affected else [],
                    "advisory_count": int(affected),
                    "max_cvss_score": 7.5 if affected else None,
                    "max_cvss_rating": "High" if affected else None,
                    "fixed_in": f"{rank // 10 + 1}.0" if affected else None,
                    "bandit_status": "not_analysed",
                    "bandit_high_findings": None,
                    "scorecard_score": round(rng.uniform(0, 10), 1),
                    "scorecard_date": None,
                    "snapshot_id": "20261202T000000Z-000000",
                }
            )
    return contract("package_version_security").table_from_rows(rows)


class Counter:
    """Bytes read through the wrappers below."""

    def __init__(self) -> None:
        self.bytes = 0


def counting_arrow_fs(counter: Counter) -> Any:
    import pyarrow as pa
    import pyarrow.fs as pafs

    class Handler(pafs.FileSystemHandler):  # type: ignore[misc]
        def __init__(self) -> None:
            self.local = pafs.LocalFileSystem()

        def __eq__(self, other: object) -> bool:
            return self is other

        def __ne__(self, other: object) -> bool:
            return self is not other

        def get_type_name(self) -> str:
            return "counting"

        def normalize_path(self, path: str) -> str:
            return path

        def get_file_info(self, paths: list[str]) -> Any:
            return self.local.get_file_info(paths)

        def get_file_info_selector(self, selector: Any) -> Any:
            return self.local.get_file_info(selector)

        def open_input_file(self, path: str) -> Any:
            raw = open(path, "rb")  # noqa: SIM115, PTH123
            read, readinto = raw.read, raw.readinto

            def counted_read(size: int = -1) -> bytes:
                data = read(size)
                counter.bytes += len(data)
                return data

            def counted_readinto(buffer: Any) -> int:
                n = readinto(buffer) or 0
                counter.bytes += n
                return n

            raw.read, raw.readinto = counted_read, counted_readinto  # type: ignore[method-assign]
            return pa.PythonFile(raw, mode="r")

        def open_input_stream(self, path: str) -> Any:
            return self.open_input_file(path)

        # writing is never needed here
        def create_dir(self, *a: Any) -> None: ...
        def delete_dir(self, *a: Any) -> None: ...
        def delete_dir_contents(self, *a: Any) -> None: ...
        def delete_root_dir_contents(self) -> None: ...
        def delete_file(self, *a: Any) -> None: ...
        def move(self, *a: Any) -> None: ...
        def copy_file(self, *a: Any) -> None: ...
        def open_output_stream(self, *a: Any) -> Any: ...
        def open_append_stream(self, *a: Any) -> Any: ...

    return pafs.PyFileSystem(Handler())


def counting_fsspec(counter: Counter) -> Any:
    from fsspec.implementations.local import LocalFileOpener, LocalFileSystem

    class Opener(LocalFileOpener):  # type: ignore[misc]
        def read(self, size: int = -1) -> bytes:
            data = super().read(size)
            counter.bytes += len(data)
            return bytes(data)

        def readinto(self, buffer: Any) -> int:
            n = int(super().readinto(buffer) or 0)
            counter.bytes += n
            return n

    class Counting(LocalFileSystem):  # type: ignore[misc]
        protocol = "counting"

        def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
            return Opener(self._strip_protocol(path), mode, fs=self, **kwargs)

    return Counting(skip_instance_cache=True)


def minimal_read(path: Path, package: str, filesystem: Any) -> int:
    """The fewest bytes any reader needs: the footer once, then only the row groups whose
    statistics may hold ``package`` (pyarrow.parquet.ParquetFile, no pre-buffering)."""
    import pyarrow.parquet as pq

    with filesystem.open_input_file(str(path)) as handle:
        parquet = pq.ParquetFile(handle, pre_buffer=False)
        metadata = parquet.metadata
        column = metadata.schema.names.index("package")
        groups = [
            i
            for i in range(metadata.num_row_groups)
            if (stats := metadata.row_group(i).column(column).statistics) is None
            or stats.min <= package <= stats.max
        ]
        table = parquet.read_row_groups(groups)
    return int(table.num_rows)


def measure(path: Path, packages: list[str]) -> dict[str, float]:
    import duckdb
    import pyarrow.dataset as ds

    arrow, duck, least = Counter(), Counter(), Counter()
    filesystem = counting_arrow_fs(arrow)
    minimal = counting_arrow_fs(least)
    con = duckdb.connect(config={"threads": 1})  # the counting file is not thread-safe
    con.register_filesystem(counting_fsspec(duck))
    per_arrow, per_duck, per_least = [], [], []
    for package in packages:
        before = least.bytes
        minimal_read(path, package, minimal)
        per_least.append(least.bytes - before)
        before = arrow.bytes
        dataset = ds.dataset(str(path), format="parquet", filesystem=filesystem)
        found = dataset.to_table(filter=ds.field("package") == package)
        assert found.num_rows == VERSIONS, (package, found.num_rows)
        per_arrow.append(arrow.bytes - before)
        before = duck.bytes
        rows = con.execute(
            f"SELECT * FROM read_parquet('counting://{path}') WHERE package = ?", [package]
        ).fetchall()
        assert len(rows) == VERSIONS
        per_duck.append(duck.bytes - before)
    return {
        "pyarrow.dataset": statistics.median(per_arrow),
        "duckdb": statistics.median(per_duck),
        "minimal": statistics.median(per_least),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, default=BUNDLE)
    parser.add_argument("--lookups", type=int, default=50)
    args = parser.parse_args()

    import pyarrow.parquet as pq

    from aggregators.store.snapshots import write_parquet

    with tempfile.TemporaryDirectory(prefix="seckb-bench-") as tmp:
        packages = packages_of(args.bundle, Path(tmp) / "home")
        table = knowledge_table(packages)
        before, after = Path(tmp) / "before.parquet", Path(tmp) / "after.parquet"
        pq.write_table(table, before, compression="zstd", row_group_size=65_536)
        write_parquet(table, after)
        chosen = random.Random(7).sample(packages, min(args.lookups, len(packages)))
        print(f"package_version_security: {table.num_rows:,} rows, {len(packages)} packages")
        print(f"look-ups: {len(chosen)} random packages, median bytes read per look-up\n")
        for label, path in (("before", before), ("after", after)):
            size = path.stat().st_size
            groups = pq.ParquetFile(path).metadata.num_row_groups
            print(f"{label:<7} {size:>10,} bytes, {groups:>2} row group(s)")
            for reader, read in measure(path, chosen).items():
                print(f"  {reader:<16} {read:>10,.0f} bytes = {read / size:6.1%} of the file")


if __name__ == "__main__":
    main()
