"""One exception base per layer; errors are translated at the edge (``raise X from e``)."""

from __future__ import annotations


class SeckbError(Exception):
    """Base of every error seckb raises on purpose; the CLI prints it as one line."""


class ConfigError(SeckbError):
    """The configuration (file or ``SECKB_*`` variable) is invalid."""


class LockError(SeckbError):
    """Another run holds the data root's lock."""


class SourceError(SeckbError):
    """A source (advisory-db, PyPI, Scorecard, Bandit) could not be fetched or read."""


class SnapshotError(SeckbError):
    """A snapshot is missing, incomplete or does not match its manifest."""


class SchemaError(SeckbError):
    """A table contract in ``schemas/`` is invalid, or data does not fit it."""


class StaleRunError(SeckbError):
    """A staged run would publish data older than the current snapshot."""


class StoreError(SeckbError):
    """The store (a local path or object storage) cannot be reached or refused a request."""


class PreconditionFailed(StoreError):
    """A conditional write lost: the object exists, or changed since it was read."""


def first_line(exc: BaseException, limit: int = 200) -> str:
    """The first line of an exception's message (at most ``limit`` characters), or its type's
    name when it has no message: how errors from libraries are shown in one line."""
    text = str(exc).strip()
    return text.splitlines()[0][:limit] if text else type(exc).__name__
