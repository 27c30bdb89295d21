"""Configuration: defaults, then a TOML file, then SECKB_* variables, then explicit overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from aggregators.core.config import DEFAULT_ADVISORY_DB_URL, load_settings
from aggregators.core.errors import ConfigError


def test_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(env={"HOME": str(tmp_path / "user")})
    assert settings.home == tmp_path / "user" / ".local" / "share" / "seckb"
    assert settings.advisory_db_url == DEFAULT_ADVISORY_DB_URL
    assert settings.advisory_db_branch == ""
    assert settings.keep_snapshots >= 1 and settings.workers >= 1


def test_precedence_file_then_env_then_overrides(tmp_path: Path) -> None:
    config = tmp_path / "seckb.toml"
    config.write_text('home = "/data/a"\nkeep_snapshots = 3\nadvisory_db_branch = "main"\n')
    from_file = load_settings(env={"SECKB_CONFIG": str(config)})
    assert (from_file.home, from_file.keep_snapshots, from_file.advisory_db_branch) == (
        Path("/data/a"),
        3,
        "main",
    )
    env = {"SECKB_CONFIG": str(config), "SECKB_HOME": "/data/b", "SECKB_KEEP_SNAPSHOTS": "4"}
    from_env = load_settings(env=env)
    assert (from_env.home, from_env.keep_snapshots) == (Path("/data/b"), 4)
    overridden = load_settings(env=env, home="/data/c")
    assert overridden.home == Path("/data/c") and overridden.keep_snapshots == 4
    explicit = load_settings(env={}, config_file=config)
    assert explicit.home == Path("/data/a")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SECKB_KEEP_SNAPSHOTS": "many"}, "invalid value for SECKB_KEEP_SNAPSHOTS"),
        ({"SECKB_KEEP_SNAPSHOTS": "0"}, "keep_snapshots must be at least 1"),
        ({"SECKB_HOEM": "/x"}, "unknown environment variable SECKB_HOEM"),
        ({"SECKB_LOCK_WAIT_SECONDS": "-1"}, "must not be negative"),
        ({"SECKB_PYPI_URL": "ftp://pypi"}, "pypi_url must be an http"),
    ],
)
def test_invalid_settings_are_errors(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(env=env)


def test_bad_config_files(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("home = [unclosed\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(env={}, config_file=broken)
    typo = tmp_path / "typo.toml"
    typo.write_text('hoem = "/x"\n')
    with pytest.raises(ConfigError, match="unknown setting 'hoem'"):
        load_settings(env={}, config_file=typo)
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings(env={}, config_file=tmp_path / "missing.toml")
    wrong_type = tmp_path / "type.toml"
    wrong_type.write_text("keep_snapshots = true\n")
    with pytest.raises(ConfigError, match="invalid value for keep_snapshots"):
        load_settings(env={}, config_file=wrong_type)


def test_default_data_root_does_not_move_with_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default data root is $XDG_DATA_HOME/seckb (else ~/.local/share/seckb), never a
    path below the current directory, so `seckb snapshots` finds the same data anywhere."""
    env = {"HOME": str(tmp_path / "user")}
    homes = set()
    for where in (tmp_path, tmp_path / "elsewhere"):
        where.mkdir(exist_ok=True)
        monkeypatch.chdir(where)
        homes.add(load_settings(env=env).home)
    assert homes == {tmp_path / "user" / ".local" / "share" / "seckb"}
    xdg = load_settings(env={**env, "XDG_DATA_HOME": str(tmp_path / "xdg")})
    assert xdg.home == tmp_path / "xdg" / "seckb"
    relative = load_settings(env={**env, "XDG_DATA_HOME": "relative/dir"})  # ignored (XDG spec)
    assert relative.home == tmp_path / "user" / ".local" / "share" / "seckb"
    assert load_settings(env={**env, "SECKB_HOME": str(tmp_path / "x")}).home == tmp_path / "x"


def test_an_empty_variable_counts_as_unset(tmp_path: Path) -> None:
    """docker compose passes every SECKB_* setting as ${SECKB_X:-}: empty means the default."""
    defaults = load_settings(env={})
    empty = load_settings(env={"SECKB_SCAN_LATEST": "", "SECKB_WATCHLIST": "", "SECKB_CONFIG": ""})
    assert empty.scan_latest == defaults.scan_latest
    assert empty.watchlist == ()
    assert load_settings(env={"SECKB_SCAN_LATEST": "5"}).scan_latest == 5
    config = tmp_path / "seckb.toml"  # an empty value in the file is still an error
    config.write_text('advisory_db_url = ""\n')
    with pytest.raises(ConfigError, match="must not be empty"):
        load_settings(env={}, config_file=config)


def test_circuit_breaker_and_heartbeat_settings() -> None:
    settings = load_settings(env={"SECKB_HTTP_HOST_FAILURES": "3", "SECKB_HEARTBEAT_SECONDS": "5"})
    assert (settings.http_host_failures, settings.heartbeat_seconds) == (3, 5.0)
    with pytest.raises(ConfigError, match="must not be negative"):
        load_settings(env={"SECKB_HTTP_HOST_FAILURES": "-1"})
