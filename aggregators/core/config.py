"""Configuration: one typed object built from defaults, an optional TOML file, then ``SECKB_*``.

Only entry points (the CLI, the DAGs) call :func:`load_settings`; everything else receives the
resulting :class:`Settings`.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aggregators.core.errors import ConfigError
from aggregators.core.objects import validate_url

DEFAULT_ADVISORY_DB_URL = "https://github.com/pypa/advisory-db.git"
DEFAULT_POPULARITY_URL = "https://hugovk.dev/top-pypi-packages/top-pypi-packages.min.json"
ENV_PREFIX = "SECKB_"
CONFIG_ENV = "SECKB_CONFIG"


def default_home(env: Mapping[str, str] | None = None) -> Path:
    """The data root when none is configured: ``$XDG_DATA_HOME/seckb``, else
    ``~/.local/share/seckb`` (the XDG default), so it never moves with the current directory."""
    env = os.environ if env is None else env
    base = env.get("XDG_DATA_HOME", "")
    if not base or not Path(base).is_absolute():  # the XDG spec ignores relative values
        base = str(Path(env.get("HOME") or Path.home()) / ".local" / "share")
    return Path(base) / "seckb"


@dataclass(frozen=True)
class Settings:
    """Every tunable of seckb. Field ``x`` is set by key ``x`` in the config file or ``SECKB_X``."""

    home: Path = field(default_factory=default_home)
    """Data root: git cache, staging, snapshots, the DuckDB file and the lock (default
    ``$XDG_DATA_HOME/seckb``, i.e. ``~/.local/share/seckb``)."""
    advisory_db_url: str = DEFAULT_ADVISORY_DB_URL
    """Any git URL, local path or git bundle holding the PyPA advisory-db."""
    advisory_db_branch: str = ""
    """Branch to follow; empty means the remote's default branch."""
    osv_repositories: tuple[str, ...] = ()
    """More OSV git repositories read after the advisory-db, each ``name=url#folder|folder``
    (comma-separated in the environment), for example
    ``ossf=https://github.com/ossf/malicious-packages.git#osv/malicious/pypi|osv/withdrawn/pypi``:
    mirrored as partial clones (only the named folders' files are fetched); records that are
    one issue are merged by id and aliases."""
    keep_snapshots: int = 7
    """How many published snapshots to keep; older ones are deleted after a publish."""
    store_url: str = ""
    """Where snapshots and run state are published: ``s3://bucket/prefix`` (any S3-compatible
    service), ``gs://bucket/prefix`` or a path; empty: the data root. Credentials and endpoint
    come from the store's standard variables (``AWS_ACCESS_KEY_ID``, ``AWS_ENDPOINT_URL``...)."""
    snapshot_url: str = ""
    """Where readers (query, audit, recommend, diff, serve, sql, the API) read the published
    snapshots from (like ``--from``); empty: ``store_url``."""
    prune_grace_hours: float = 6.0
    """On an object store, a snapshot is kept at least this long after it stopped being latest
    (its successor's ``created_at``), so a reader in flight never loses its files."""
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    """Worker processes for CPU-bound stages (advisory parsing); default: the CPU count."""
    parallel_min_files: int = 256
    """Below this many advisory files, parse in-process (a pool costs more than it saves)."""
    max_advisory_bytes: int = 1 << 20
    """Advisory files larger than this are recorded in ``ingest_errors`` and not parsed."""
    lock_wait_seconds: float = 0.0
    """How long a second run waits for the data-root lock before refusing (0: refuse at once)."""
    git_timeout_seconds: float = 600.0
    """Upper bound for one git clone or fetch."""
    pypi_url: str = "https://pypi.org"
    """PyPI (or a mirror) base URL; projects are read from ``{pypi_url}/pypi/<name>/json``."""
    pypi_concurrency: int = 8
    """Requests in flight at once against PyPI."""
    http_timeout_seconds: float = 30.0
    """Read timeout of one HTTP request (the connect timeout is a third of it, at most 10 s)."""
    http_attempts: int = 5
    """Attempts per HTTP request (connection errors, 429 and 5xx are retried with backoff)."""
    http_backoff_max_seconds: float = 30.0
    """Longest wait between two attempts (``Retry-After`` is honoured up to 4x this)."""
    http_host_failures: int = 10
    """After this many connection failures in a row to one host, a source stops asking that
    host for the rest of the run (a circuit breaker; 0 never gives up)."""
    heartbeat_seconds: float = 30.0
    """Interval of the one-line progress heartbeat printed when stderr is not a terminal (cron,
    CI) and logged by Airflow tasks; 0 turns it off."""
    watchlist: tuple[str, ...] = ()
    """Packages tracked besides those named by advisories (comma-separated in the environment)."""
    watchlist_files: tuple[Path, ...] = ()
    """Requirements files: their packages are tracked and their pinned versions scanned."""
    scan_latest: int = 3
    """Bandit scans the latest N releases of every tracked package (plus watchlist pins)."""
    sdist_max_bytes: int = 100 << 20
    """Larger sdists are not downloaded (status ``too_large``)."""
    archive_max_members: int = 50_000
    """Archives with more members than this are refused (``unsafe_archive``)."""
    archive_max_total_bytes: int = 1 << 30
    """Most bytes extracted from one archive (zip-bomb guard)."""
    archive_max_file_bytes: int = 16 << 20
    """Larger single files are skipped and recorded in ``bandit_errors``."""
    bandit_timeout_seconds: float = 300.0
    """Wall-clock limit for one Bandit worker process on one batch of files."""
    bandit_memory_mb: int = 2048
    """Address-space limit of one Bandit worker process."""
    bandit_cache_max_parts: int = 32
    """Past this many Bandit cache parts, a flush merges the small ones into one (crash-safe;
    with a shared store, the merged part replaces them there too)."""
    bandit_cache_compact_mb: int = 64
    """Bandit cache parts smaller than this are merged; larger ones are left as they are."""
    max_age_hours: float = 48.0
    """query, audit and recommend warn when the snapshot or one of its sources is older."""
    schedule: str = "0 3 * * *"
    """Cron schedule of the nightly Airflow DAG (read by the DAG file when Airflow parses it)."""
    task_retries: int = 3
    """Retries of each Airflow task (exponential backoff; read by the DAG file)."""
    popularity_url: str = field(default_factory=lambda: DEFAULT_POPULARITY_URL)
    """The top-pypi-packages dataset (the most downloaded projects): an http(s) URL or a file;
    default: ``https://hugovk.dev/top-pypi-packages/top-pypi-packages.min.json``."""
    names_target_rank: int = 5000
    """Suspicious names: only projects down to this download rank are imitated."""
    names_min_ratio: float = 1000.0
    """Suspicious names: the imitated project has at least this many times the downloads of the
    name (a name not among the popular projects counts the least popular one's)."""
    names_long_length: int = 10
    """Suspicious names: names this long or longer may be 2 edits from a popular one (else 1)."""
    names_min_length: int = 4
    """Suspicious names: shorter names are compared by the exact rules only (separators,
    affixes, word order, look-alike characters), not by edit distance."""
    new_project_days: int = 30
    """Signals: a project whose first release is younger than this is ``new_project``."""
    dormant_days: int = 365
    """Signals: a release uploaded after this long without one is ``after_silence``."""
    scorecard_url: str = "https://api.scorecard.dev"
    """OpenSSF Scorecard API base URL (``{scorecard_url}/projects/github.com/<org>/<repo>``)."""
    scorecard_concurrency: int = 8
    """Requests in flight at once against the Scorecard API."""
    scorecard_refresh_days: float = 7.0
    """A repository asked about less than this many days ago is not asked again."""
    scorecard_stale_days: float = 30.0
    """A result describing a date older than this is flagged ``stale``."""
    notify_webhooks: tuple[str, ...] = ()
    """URLs that receive each run's watched-project events as one ``seckb.events/1`` POST."""
    notify_secret: str = field(default="", repr=False)
    """When set, every webhook POST carries an HMAC-SHA256 of its body in a header."""
    notify_apprise_urls: tuple[str, ...] = ()
    """Apprise URLs (Slack, Teams, e-mail...) sent a short summary (needs ``seckb[notify]``)."""
    api_token: str = field(default="", repr=False)
    """Bearer token of the server's write endpoints; empty: every write is refused."""
    index_upstreams: tuple[str, ...] = ("https://pypi.org/simple/",)
    """Upstream indexes of ``seckb serve``'s ``/simple/`` (any PEP 691 or PEP 503 index: PyPI,
    devpi, Artifactory...), asked in order: the first that has a project serves its page."""
    index_mode: str = "yank"
    """What ``/simple/`` does with a blocked file: ``yank`` (PEP 592, with the reason) or
    ``hide`` (left out); ``/strict/simple/`` always hides."""
    index_fresh_seconds: float = 600.0
    """An upstream page fetched less than this long ago is served without asking again; after
    that it is revalidated (ETag, else the page's serial)."""
    index_timeout_seconds: float = 15.0
    """Read timeout of one upstream request (the connect timeout is a third, at most 5 s)."""
    index_attempts: int = 2
    """Attempts per upstream request (connection errors, 429 and 5xx are retried)."""
    index_max_page_bytes: int = 64 << 20
    """Largest upstream project page read; a larger one is refused (502)."""
    index_cache_mb: int = 512
    """Memory kept for upstream pages and their rendered forms (least recently used dropped)."""
    index_client_max_age: int = 60
    """``Cache-Control: max-age`` of the index's pages: how long pip and uv may reuse a page
    without asking again (they revalidate with its ETag after that)."""
    policy_severity: str = "any"
    """Advisories at or above this CVSS rating block a release in the index (any, low, medium,
    high, critical); an unscored advisory reaches every threshold."""
    policy_bandit_statuses: tuple[str, ...] = ()
    """Bandit statuses that block a release (for example ``partial``); empty: none."""
    policy_bandit_max_high: int = -1
    """A release with more high-severity Bandit findings than this is blocked; -1: off."""
    policy_scorecard_min: float = 0.0
    """A release whose repository's Scorecard score is below this is blocked; 0: off."""
    policy_file: str = ""
    """A TOML file of accepted risks (``[[accept]]``) and rules (``[rules]``, over the settings'),
    re-read by ``seckb serve`` when it changes."""

    @property
    def snapshots_dir(self) -> Path:
        """Directory holding published snapshots and ``LATEST``."""
        return self.home / "snapshots"


def _convert(name: str, raw: Any, target: Any) -> Any:
    """Convert a raw config value (TOML value or env string) to the field's declared type."""
    if target in ("tuple[str, ...]", "tuple[Path, ...]"):
        items = raw.split(",") if isinstance(raw, str) else raw
        if not isinstance(items, list | tuple):
            raise ConfigError(f"invalid value for {name}: {raw!r} (expected a list)")
        inner = "Path" if "Path" in target else "str"
        return tuple(
            _convert(name, str(item).strip(), inner) for item in items if str(item).strip()
        )
    try:
        if target in ("Path", Path):
            return Path(str(raw)).expanduser()
        if target in ("int", int):
            if isinstance(raw, bool):
                raise ValueError("a boolean is not a number")
            return int(raw)
        if target in ("float", float):
            return float(raw)
        if target in ("str", str):
            if not isinstance(raw, str):
                raise ValueError("expected text")
            return raw
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"invalid value for {name}: {raw!r} ({exc})") from exc
    raise ConfigError(f"unsupported setting type for {name}")  # pragma: no cover


def git_location(url: str) -> str:
    """A git remote as given when it is a URL (``scheme://``) or scp-like (``host:path``, no
    slash before the colon, as git reads it); otherwise a local path, resolved against the
    current directory so that it means the same from inside the mirror."""
    head, colon, _ = url.partition(":")
    if "://" in url or (colon and "/" not in head and len(head) > 1):
        return url
    return str(Path(url).expanduser().resolve())


_AT_LEAST_ONE = (
    "keep_snapshots", "workers", "names_target_rank", "names_long_length", "names_min_length",
    "bandit_cache_max_parts",
)  # fmt: skip
_POSITIVE = (
    "max_advisory_bytes",
    "pypi_concurrency",
    "http_attempts",
    "sdist_max_bytes",
    "archive_max_members",
    "archive_max_total_bytes",
    "archive_max_file_bytes",
    "bandit_memory_mb",
    "bandit_cache_compact_mb",
    "http_timeout_seconds",
    "git_timeout_seconds",
    "bandit_timeout_seconds",
    "scorecard_concurrency",
    "index_timeout_seconds",
    "index_attempts",
    "index_max_page_bytes",
    "index_cache_mb",
)
_NOT_NEGATIVE = (
    "prune_grace_hours",
    "lock_wait_seconds",
    "http_backoff_max_seconds",
    "scorecard_refresh_days",
    "scorecard_stale_days",
    "parallel_min_files",
    "task_retries",
    "http_host_failures",
    "heartbeat_seconds",
    "scan_latest",
    "index_fresh_seconds",
    "index_client_max_age",
    "policy_scorecard_min",
    "names_min_ratio",
    "new_project_days",
    "dormant_days",
)
_HTTP_URLS = ("scorecard_url", "pypi_url", "notify_webhooks", "index_upstreams")
"""Settings holding http(s) URLs (one, or a list)."""


def _validate(settings: Settings) -> Settings:
    for name in _AT_LEAST_ONE:
        if getattr(settings, name) < 1:
            raise ConfigError(f"{name} must be at least 1")
    for name in _POSITIVE:
        if getattr(settings, name) <= 0:
            raise ConfigError(f"{name} must be positive")
    for name in _NOT_NEGATIVE:
        if getattr(settings, name) < 0:
            raise ConfigError(f"{name} must not be negative")
    for name in _HTTP_URLS:
        value = getattr(settings, name)
        for url in (value,) if isinstance(value, str) else value:
            if not url.startswith(("http://", "https://")):
                what = "an http(s) URL" if isinstance(value, str) else "http(s) URLs"
                raise ConfigError(f"{name} must be {what}, not {url!r}")
    for name in ("store_url", "snapshot_url"):
        validate_url(getattr(settings, name), name)
    if not settings.advisory_db_url:
        raise ConfigError("advisory_db_url must not be empty")
    if not settings.index_upstreams:
        raise ConfigError("index_upstreams must name at least one index")
    if settings.index_mode not in ("yank", "hide"):
        raise ConfigError(f"index_mode must be yank or hide, not {settings.index_mode!r}")
    if settings.policy_bandit_max_high < -1:
        raise ConfigError("policy_bandit_max_high must be -1 (off) or a number of findings")
    return settings


def load_settings(
    env: Mapping[str, str] | None = None,
    config_file: Path | None = None,
    **overrides: Any,
) -> Settings:
    """Build :class:`Settings`: defaults, TOML file, ``SECKB_*`` variables, then ``overrides``.

    The file is ``config_file`` if given, else ``$SECKB_CONFIG`` if set. Unknown keys in the file
    and unknown ``SECKB_*`` variables are errors, so a typo never silently falls back to a default.
    A variable set to the empty string counts as unset (``docker compose`` passes
    ``${SECKB_X:-}`` that way), and so does ``XDG_DATA_HOME`` for the default data root.
    """
    env = os.environ if env is None else env
    fields = {f.name: f for f in dataclasses.fields(Settings)}
    values: dict[str, Any] = {}

    path = config_file or (Path(env[CONFIG_ENV]) if env.get(CONFIG_ENV) else None)
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
        for key, raw in data.items():
            if key not in fields:
                raise ConfigError(f"unknown setting {key!r} in {path}")
            values[key] = _convert(key, raw, fields[key].type)

    for var, raw in env.items():
        if not var.startswith(ENV_PREFIX) or var == CONFIG_ENV:
            continue
        key = var[len(ENV_PREFIX) :].lower()
        if key not in fields:
            raise ConfigError(f"unknown environment variable {var}")
        if raw != "":
            values[key] = _convert(var, raw, fields[key].type)

    for key, raw in overrides.items():
        if raw is not None:
            values[key] = _convert(key, raw, fields[key].type)

    values.setdefault("home", default_home(env))
    settings = Settings(**values)
    return _validate(
        dataclasses.replace(
            settings,
            home=settings.home.resolve(),
            advisory_db_url=git_location(settings.advisory_db_url)
            if settings.advisory_db_url
            else "",
        )
    )
