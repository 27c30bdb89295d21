"""One interface, two kinds of root: a local directory and a real S3-compatible server.

The same expectations hold for both: whole-object writes, listing by directory, and the
conditional write that keeps two publishers from overwriting each other's ``LATEST``
(``If-None-Match: *`` to create, ``If-Match: <etag>`` to replace)."""

from __future__ import annotations

from pathlib import Path

import pytest

from aggregators.core.errors import ConfigError, PreconditionFailed
from aggregators.core.objects import (
    LocalObjects,
    Objects,
    StoreOptions,
    is_remote,
    open_objects,
    validate_url,
)


@pytest.fixture(params=["local", "s3"])
def objects(request: pytest.FixtureRequest, tmp_path: Path) -> Objects:
    if request.param == "local":
        return LocalObjects(tmp_path / "root")
    store_url = request.getfixturevalue("store_url")
    return open_objects(store_url, StoreOptions(10, 2, 0.05))


def test_objects_are_written_whole_read_listed_and_deleted(
    objects: Objects, tmp_path: Path
) -> None:
    assert objects.get("snapshots/LATEST") is None
    objects.put("snapshots/a/t.parquet", b"table")
    objects.put("snapshots/a/manifest.json", b"{}")
    objects.put("snapshots/b/manifest.json", b"{}")
    local = tmp_path / "big.bin"
    local.write_bytes(b"x" * (6 << 20))  # above obstore's multipart threshold
    objects.put_file("runs/r1/big.bin", local)
    assert objects.get("snapshots/a/t.parquet") == b"table"
    assert objects.children("snapshots") == ["a", "b"]
    assert [i.key for i in objects.list_below("snapshots/a")] == [
        "snapshots/a/manifest.json",
        "snapshots/a/t.parquet",
    ]
    assert [(i.key, i.size) for i in objects.list_below("runs")] == [("runs/r1/big.bin", 6 << 20)]
    dest = tmp_path / "copy" / "big.bin"
    assert objects.download("runs/r1/big.bin", dest) and dest.read_bytes() == local.read_bytes()
    assert not objects.download("runs/r1/nothing", tmp_path / "nothing")
    objects.delete_prefix("snapshots/a")
    assert objects.children("snapshots") == ["b"]
    objects.delete(["snapshots/b/manifest.json", "snapshots/b/absent"])
    assert objects.list_below("snapshots") == []
    objects.check()


def test_a_conditional_write_never_overwrites_a_newer_object(objects: Objects) -> None:
    first = objects.put_if("snapshots/LATEST", b"one\n", None)  # created: it was absent
    with pytest.raises(PreconditionFailed):
        objects.put_if("snapshots/LATEST", b"other\n", None)  # someone created it first
    second = objects.put_if("snapshots/LATEST", b"two\n", first)  # replaced: still ours
    with pytest.raises(PreconditionFailed):
        objects.put_if("snapshots/LATEST", b"three\n", first)  # stale: it moved since
    found = objects.get_tagged("snapshots/LATEST")
    assert found is not None and found == (b"two\n", second)


def test_store_urls_are_told_apart_and_checked() -> None:
    assert is_remote("s3://bucket/prefix") and is_remote("gs://bucket")
    assert not is_remote("/srv/seckb") and not is_remote("file:///srv/seckb")
    assert not is_remote("relative/dir")
    validate_url("s3://b/p", "store_url")
    with pytest.raises(ConfigError, match="unsupported scheme 'ftp'"):
        validate_url("ftp://host/dir", "store_url")
