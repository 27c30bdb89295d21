"""Objects in an object store (S3-compatible, GCS) through obstore, errors made plain.

obstore raises ``FileNotFoundError`` for a missing object, but also for a missing bucket, and
one generic error for everything else: :func:`_translate` turns them into what an operator
can act on — the bucket does not exist, the credentials were refused, the store cannot be
reached, another writer won a conditional write.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import obstore
from obstore.exceptions import AlreadyExistsError, PreconditionError
from obstore.store import from_url

from aggregators.core.errors import PreconditionFailed, StoreError
from aggregators.core.objects import ObjectInfo, Objects, StoreOptions, describe

if TYPE_CHECKING:
    from obstore.store import ClientConfig, ObjectStore, RetryConfig

_DENIED = ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403 Forbidden")
_UNREACHABLE = ("error sending request", "Connection refused", "dns error", "timed out")


def _translate(url: str, action: str, exc: Exception) -> StoreError:
    """A :class:`StoreError` saying what went wrong, in words an operator can act on."""
    text = describe(exc)
    if isinstance(exc, PreconditionError | AlreadyExistsError):
        return PreconditionFailed(f"{url}: {action}: another writer changed it first")
    if "NoSuchBucket" in str(exc):
        return StoreError(f"store {url}: the bucket does not exist ({action})")
    if any(marker in str(exc) for marker in _DENIED) or "Unauthenticated" in type(exc).__name__:
        return StoreError(
            f"store {url}: access denied — check the credentials "
            f"(AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the store's own) ({action}: {text})"
        )
    if any(marker in str(exc) for marker in _UNREACHABLE):
        return StoreError(f"store {url} cannot be reached ({action}: {text})")
    return StoreError(f"store {url}: {action} failed: {text}")


def _missing(exc: Exception) -> bool:
    """A missing object (not a missing bucket)."""
    return isinstance(exc, FileNotFoundError) and "NoSuchBucket" not in str(exc)


class RemoteObjects(Objects):
    """Objects below ``s3://bucket/prefix``, ``gs://bucket/prefix`` (or an HTTP base URL,
    read only)."""

    def __init__(self, url: str, options: StoreOptions) -> None:
        """Build the obstore client (no request is sent yet)."""
        self.url = url.rstrip("/")
        seconds = options.timeout_seconds
        client: ClientConfig = {
            "timeout": timedelta(seconds=seconds),
            "connect_timeout": timedelta(seconds=min(10.0, seconds / 3)),
            # allows an http:// endpoint when one is configured (MinIO, a loopback server);
            # https endpoints, AWS's and GCS's included, stay https
            "allow_http": True,
        }
        retry: RetryConfig = {
            "max_retries": max(0, options.attempts - 1),
            "retry_timeout": timedelta(seconds=options.backoff_max_seconds * options.attempts),
            "backoff": {
                "init_backoff": timedelta(milliseconds=100),
                "max_backoff": timedelta(seconds=max(0.1, options.backoff_max_seconds)),
                "base": 2,
            },
        }
        try:
            self.store: ObjectStore = from_url(
                self.url,
                client_options=client,
                retry_config=retry,
            )
        except Exception as exc:  # a malformed URL or configuration
            raise StoreError(f"store {self.url}: {describe(exc)}") from exc

    @property
    def local_root(self) -> Path | None:
        """None: objects are remote."""
        return None

    @contextmanager
    def _asking(self, action: str) -> Iterator[None]:
        try:
            yield
        except StoreError:
            raise
        except Exception as exc:
            raise _translate(self.url, action, exc) from exc

    def get(self, key: str) -> bytes | None:
        """GET the object."""
        found = self.get_tagged(key)
        return None if found is None else found[0]

    def get_tagged(self, key: str) -> tuple[bytes, str] | None:
        """GET the object with its etag."""
        with self._asking(f"reading {key}"):
            try:
                result = obstore.get(self.store, key)
                data = bytes(result.bytes())
            except FileNotFoundError as exc:
                if _missing(exc):
                    return None
                raise
        return data, str(result.meta.get("e_tag") or "")

    def put(self, key: str, data: bytes) -> None:
        """PUT the object (atomic: readers see the old or the new one)."""
        with self._asking(f"writing {key}"):
            obstore.put(self.store, key, data)

    def put_file(self, key: str, path: Path) -> None:
        """PUT a file (multipart above 5 MiB)."""
        with self._asking(f"writing {key}"):
            obstore.put(self.store, key, path)

    def put_if(self, key: str, data: bytes, etag: str | None) -> str:
        """PUT with ``If-None-Match: *`` (absent) or ``If-Match: etag``."""
        mode: Any = "create" if etag is None else {"e_tag": etag}
        with self._asking(f"writing {key}"):
            result = obstore.put(self.store, key, data, mode=mode)
        return str(result.get("e_tag") or "")

    def download(self, key: str, dest: Path) -> bool:
        """Stream the object into a temporary file beside ``dest``, then rename."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        temp = dest.with_name(f".{dest.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        try:
            with self._asking(f"reading {key}"), temp.open("wb") as handle:
                try:
                    for chunk in obstore.get(self.store, key):
                        handle.write(chunk)
                except FileNotFoundError as exc:
                    if _missing(exc):
                        return False
                    raise
            os.replace(temp, dest)
        finally:
            temp.unlink(missing_ok=True)
        return True

    def list_below(self, prefix: str) -> list[ObjectInfo]:
        """LIST below ``prefix`` (every page)."""
        found: list[ObjectInfo] = []
        with self._asking(f"listing {prefix or '/'}"):
            for page in obstore.list(self.store, prefix or None):
                found.extend(
                    ObjectInfo(m["path"], m["size"], m["last_modified"], m.get("e_tag"))
                    for m in page
                )
        return sorted(found, key=lambda info: info.key)

    def children(self, prefix: str) -> list[str]:
        """LIST with a ``/`` delimiter: the common prefixes' last segments."""
        with self._asking(f"listing {prefix or '/'}"):
            result = obstore.list_with_delimiter(self.store, prefix or None)
        return sorted(p.rstrip("/").rsplit("/", 1)[-1] for p in result["common_prefixes"])

    def delete(self, keys: Iterable[str]) -> None:
        """DELETE (in batches where the store has a bulk delete)."""
        wanted = sorted(set(keys))
        if wanted:
            with self._asking(f"deleting {len(wanted)} object(s)"):
                obstore.delete(self.store, wanted)

    def check(self) -> None:
        """One LIST of the root: the store is reachable, the bucket exists, credentials work."""
        with self._asking("checking the store"):
            obstore.list_with_delimiter(self.store, None)
