"""Git mirrors of the OSV repositories: bare repositories under the data root, kept with GitPython.

Files are read straight from git objects (``git cat-file --batch`` through GitPython), so no
working tree is checked out, and a file's blob id tells whether its content changed. A partial
mirror (``--filter=blob:none``, the remote a promisor) holds every commit and tree but only the
blobs of the folders asked for, fetched in one request after each sync.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import git

from aggregators.core.config import Settings
from aggregators.core.errors import ConfigError, SourceError
from aggregators.core.workspace import Workspace
from aggregators.sources.advisories.repositories import (
    DEFAULT_ORIGIN,
    OsvRepository,
    configured_repositories,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TreeFile:
    """A file in a commit's tree: path, blob id and size in bytes."""

    path: str
    blob: str
    size: int


@dataclass(frozen=True)
class Change:
    """One line of ``git diff --name-status``: ``A``, ``M``, ``D`` or ``T`` and the path."""

    status: str
    path: str


@dataclass(frozen=True)
class SyncResult:
    """Where the followed branch stands after a clone or fetch."""

    branch: str
    commit: str
    committed_at: datetime


def _one_line(exc: git.GitCommandError) -> str:
    text = (exc.stderr or exc.stdout or str(exc)).strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    meaningful = [ln for ln in lines if ln.lower().startswith(("fatal", "error"))]
    line = (meaningful or lines[-1:] or [str(exc.status)])[0]
    return line.removeprefix("stderr: ").strip("'\" ")


class AdvisoryRepo:
    """A bare mirror at ``path`` following ``url`` (the advisory-db unless ``label`` says)."""

    def __init__(
        self,
        path: Path,
        url: str,
        timeout: float = 600.0,
        partial: bool = False,
        label: str = "advisory-db",
        setting: str = "advisory_db_url",
    ) -> None:
        """Remember where the mirror lives and what it mirrors; nothing touches disk yet."""
        self.path = path
        self.url = url
        self.timeout = timeout
        self.partial = partial
        self.label = label
        self.setting = setting
        self._repo: git.Repo | None = None

    @property
    def repo(self) -> git.Repo:
        """The GitPython repository (after :meth:`sync`)."""
        if self._repo is None:
            self._repo = git.Repo(self.path)
        return self._repo

    def _existing(self) -> git.Repo | None:
        """The mirror at ``path`` when it is a bare repository with an origin, else ``None``."""
        try:
            repo = git.Repo(self.path)
            if repo.bare and repo.remotes:
                return repo
            repo.close()
        except (git.InvalidGitRepositoryError, git.NoSuchPathError, AttributeError):
            pass
        return None

    def _fetch(self, repo: git.Repo, url: str) -> None:
        options = ["--filter=blob:none"] if self.partial else []
        try:
            repo.git.fetch(
                "--prune",
                "--no-tags",
                *options,
                "origin",
                "+refs/heads/*:refs/remotes/origin/*",
                kill_after_timeout=self.timeout,
            )
        except git.GitCommandError as exc:
            raise SourceError(f"cannot fetch {self.label} from {url}: {_one_line(exc)}") from exc

    def _replace(self, previous_url: str | None) -> git.Repo:
        """Clone into a sibling directory and swap it in only once the fetch succeeded: a bad
        URL never costs the mirror. A changed URL that cannot be fetched is a configuration
        error (the mirror, and everything else, stays as it was)."""
        fresh = self.path.with_name(self.path.name + ".new")
        shutil.rmtree(fresh, ignore_errors=True)
        repo = git.Repo.init(fresh, bare=True)
        repo.create_remote("origin", self.url)
        if self.partial:
            with repo.config_writer() as config:
                config.set_value('remote "origin"', "promisor", "true")
                config.set_value('remote "origin"', "partialclonefilter", "blob:none")
        try:
            self._fetch(repo, self.url)
        except SourceError as exc:
            repo.close()
            shutil.rmtree(fresh, ignore_errors=True)
            if previous_url is not None and previous_url != self.url:
                raise ConfigError(
                    f"{self.setting} changed from {previous_url} to {self.url}, which cannot be "
                    f"fetched ({exc}); nothing was changed: fix the URL or restore the old one"
                ) from exc
            raise
        repo.close()
        if self.path.exists():
            log.warning("%s mirror at %s replaced (was %s)", self.label, self.path, previous_url)
            old = self.path.with_name(self.path.name + ".old")
            shutil.rmtree(old, ignore_errors=True)
            self.path.rename(old)
            fresh.rename(self.path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fresh.rename(self.path)
        return git.Repo(self.path)

    def _default_branch(self, repo: git.Repo) -> str:
        """The remote's default branch: its HEAD symref, else the branch HEAD points at."""
        try:
            out = str(
                repo.git.ls_remote("--symref", "origin", "HEAD", kill_after_timeout=self.timeout)
            )
        except git.GitCommandError as exc:
            raise SourceError(f"cannot reach {self.label} at {self.url}: {_one_line(exc)}") from exc
        head_sha = ""
        for line in out.splitlines():
            if line.startswith("ref: ") and line.endswith("\tHEAD"):
                return line[5:].split("\t")[0].removeprefix("refs/heads/")
            if line.endswith("\tHEAD"):
                head_sha = line.split("\t")[0]
        branches = {ref.remote_head: ref.commit.hexsha for ref in repo.remotes.origin.refs}
        matching = sorted(name for name, sha in branches.items() if sha == head_sha)
        for preferred in ("main", "master"):
            if preferred in matching or (not matching and preferred in branches):
                return preferred
        if matching:
            return matching[0]
        raise SourceError(f"cannot tell the default branch of {self.url}; name a branch")

    def sync(self, branch: str = "") -> SyncResult:
        """Clone on first use, fetch afterwards; return the followed branch's head commit.

        A mirror of another URL (or a broken one) is replaced only after the new URL was
        fetched completely; the same URL unreachable is a :class:`SourceError` (the caller
        carries the advisories forward).
        """
        repo = self._existing()
        previous_url = repo.remotes.origin.url if repo is not None else None
        if repo is not None and previous_url == self.url:
            self._fetch(repo, self.url)
        else:
            if repo is not None:
                repo.close()
            repo = self._replace(previous_url)
        self._repo = repo
        branch = branch or self._default_branch(repo)
        try:
            commit = repo.commit(f"refs/remotes/origin/{branch}")
        except (git.BadName, ValueError) as exc:
            raise SourceError(f"{self.label} at {self.url} has no branch {branch!r}") from exc
        return SyncResult(branch, commit.hexsha, commit.committed_datetime.astimezone(UTC))

    def has_commit(self, sha: str) -> bool:
        """Whether ``sha`` names a commit present in the mirror."""
        try:
            return self.repo.commit(sha).type == "commit"
        except (git.BadName, ValueError, git.GitCommandError):
            return False

    def list_files(self, commit: str, *prefixes: str) -> list[TreeFile]:
        """Every blob below ``prefixes`` in ``commit`` with its size (one ``git ls-tree``)."""
        out: str = self.repo.git.ls_tree("-r", "-l", "-z", commit, "--", *prefixes)
        files = []
        for record in out.split("\0"):
            if not record:
                continue
            meta, _, path = record.partition("\t")
            _mode, kind, blob, size = meta.split()
            if kind == "blob":
                files.append(TreeFile(path, blob, int(size) if size.isdigit() else 0))
        return files

    def changes(self, old: str, new: str, *prefixes: str) -> list[Change]:
        """Files below ``prefixes`` that differ between two commits (renames as delete + add)."""
        out: str = self.repo.git.diff(
            "--name-status", "--no-renames", "-z", old, new, "--", *prefixes
        )
        fields = [f for f in out.split("\0") if f]
        return [Change(fields[i][0], fields[i + 1]) for i in range(0, len(fields) - 1, 2)]

    def close(self) -> None:
        """Stop the git helper processes GitPython keeps (``cat-file --batch``)."""
        if self._repo is not None:
            self._repo.close()
            self._repo = None

    def read_blobs(self, blobs: Sequence[str]) -> Iterator[bytes]:
        """Yield the content of each blob id, in order, through one ``git cat-file --batch``."""
        for blob in blobs:
            _sha, _kind, _size, stream = self.repo.git.stream_object_data(blob)
            yield stream.read()

    def fetch_blobs(self, commit: str, folders: Sequence[str]) -> int:
        """Fetch, in one request, the blobs below ``folders`` at ``commit`` that a partial
        mirror lacks; return how many were fetched (0 for a full mirror)."""
        if not self.partial:
            return 0
        listed: str = self.repo.git.ls_tree("-r", "-z", commit, "--", *folders)
        wanted = set()
        for record in listed.split("\0"):
            meta, _, _path = record.partition("\t")
            fields = meta.split()
            if len(fields) == 3 and fields[1] == "blob":
                wanted.add(fields[2])
        present: str = self.repo.git.rev_list("--objects", "--no-walk", "--missing=print", commit)
        missing = sorted(
            wanted & {line[1:].strip() for line in present.splitlines() if line.startswith("?")}
        )
        if not missing:
            return 0
        with tempfile.TemporaryFile() as wants:  # one object id per line: git fetch --stdin
            wants.write("".join(f"{oid}\n" for oid in missing).encode("ascii"))
            wants.seek(0)
            try:
                self.repo.git.fetch(
                    "--no-tags",
                    "--no-write-fetch-head",
                    "--stdin",
                    "origin",
                    istream=wants,
                    kill_after_timeout=self.timeout,
                )
            except git.GitCommandError as exc:
                raise SourceError(
                    f"cannot fetch {len(missing)} files of {self.label}: {_one_line(exc)}"
                ) from exc
        return len(missing)


def open_repository(
    repository: OsvRepository, settings: Settings, workspace: Workspace
) -> AdvisoryRepo:
    """The mirror of ``repository`` (nothing touches disk yet)."""
    if repository.name == DEFAULT_ORIGIN:
        return AdvisoryRepo(
            repository.mirror(workspace), repository.url, settings.git_timeout_seconds
        )
    return AdvisoryRepo(
        repository.mirror(workspace),
        repository.url,
        settings.git_timeout_seconds,
        partial=repository.partial,
        label=f"OSV repository {repository.name}",
        setting=f"osv_repositories ({repository.name})",
    )


@dataclass(frozen=True)
class Synced:
    """What the fetch step found: each repository's head, or why it could not be synced."""

    heads: dict[str, SyncResult]
    errors: dict[str, str]


def fetch_osv_repositories(settings: Settings, workspace: Workspace) -> Synced:
    """Sync every configured repository (the source's I/O step). The advisory-db failing fails
    the source; another repository failing is recorded and its advisories carry forward."""
    heads: dict[str, SyncResult] = {}
    errors: dict[str, str] = {}
    for repository in configured_repositories(settings):
        mirror = open_repository(repository, settings, workspace)
        try:
            head = mirror.sync(repository.branch)
            fetched = mirror.fetch_blobs(head.commit, repository.folders)
            if fetched:
                log.info("%s: fetched %d files", repository.name, fetched)
            heads[repository.name] = head
        except SourceError as exc:
            if repository.name == DEFAULT_ORIGIN:
                raise
            log.warning("advisories: %s", exc)
            errors[repository.name] = str(exc)
        finally:
            mirror.close()
    return Synced(heads, errors)
