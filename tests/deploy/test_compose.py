"""Static checks of the Docker deployment: compose files, .env.example and the Dockerfile.

No Docker engine runs where these tests run, so ``docker compose config`` is not available. The
files are parsed with PyYAML (``yaml.safe_load`` resolves the ``<<: *airflow-common`` merge keys),
and the few parts of Compose that matter here are simulated: variable interpolation
(``${VAR}``, ``${VAR:-default}``, ``${VAR:?message}``, ``$$``), merging an override file into the
base file, and ``extends``. These are simplified models of Compose's documented rules, good enough
for these files; they are not a Compose implementation.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from aggregators.core.config import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "docker-compose.yml"
CELERY = ROOT / "docker-compose.celery.yml"
ENV_EXAMPLE = ROOT / ".env.example"
README = ROOT / "README.md"
DEPLOYMENT = ROOT / "docs" / "deployment.md"
MANUAL = [README, *sorted((ROOT / "docs").glob("*.md"))]
AIRFLOW_SUBCOMMANDS = {  # `airflow --help` of 3.3.2, plus the providers' groups the image has
    *("assets", "backfill", "config", "connections", "dags", "db", "db-manager", "jobs"),
    *("partitions", "pools", "providers", "state-store", "tasks", "teams", "variables"),
    *("api-server", "cheat-sheet", "dag-processor", "info", "kerberos", "plugins"),
    *("rotate-fernet-key", "scheduler", "standalone", "triggerer", "version"),
    *("celery", "users", "roles"),  # celery and fab providers
}
DOCKERFILE = ROOT / "Dockerfile"

IMAGE = "seckb-airflow:latest"
DATA_ROOT = "/opt/seckb/data"
DAGS_DIR = "/opt/airflow/dags"
LOGS_DIR = "/opt/airflow/logs"

# Airflow 3 command of each long-running Airflow service.
COMMANDS = {
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-triggerer": "triggerer",
}
CELERY_COMMANDS = {**COMMANDS, "airflow-worker": "celery worker", "flower": "celery flower"}
BASE_AIRFLOW = {*COMMANDS, "airflow-init", "airflow-cli"}
CELERY_AIRFLOW = BASE_AIRFLOW | {"airflow-worker", "flower"}
INFRASTRUCTURE = {"postgres", "redis", "minio"}
STORE_INIT = {"minio-init"}
"""One-shot service of the Celery variant: creates the store's bucket and its read-only user."""
ONE_SHOT = {"airflow-init", "airflow-cli", *STORE_INIT}
SECKB_SERVICES = {"seckb-api"}
"""Services of the same image that run seckb itself, not Airflow (checked further down)."""

# Variables a service may add to the common environment, and nothing else.
EXTRA_ENV = {
    "airflow-init": {
        "_AIRFLOW_WWW_USER_USERNAME",
        "_AIRFLOW_WWW_USER_PASSWORD",
        "_AIRFLOW_WWW_USER_FIRSTNAME",
        "_AIRFLOW_WWW_USER_LASTNAME",
        "_AIRFLOW_WWW_USER_EMAIL",
    },
    "airflow-cli": {"CONNECTION_CHECK_MAX_COUNT"},
    "airflow-worker": {"DUMB_INIT_SETSID"},
}
CELERY_ENV = {
    "AIRFLOW__CORE__EXECUTOR",
    "AIRFLOW__CELERY__BROKER_URL",
    "AIRFLOW__CELERY__RESULT_BACKEND",
}
SECRET_NAME = re.compile(r"PASSWORD|SECRET|FERNET|KEY")
URL_CREDENTIALS = re.compile(r"://(?P<user>[^:/@\s]*):(?P<password>\$\{[^}]*\}|[^@\s]*)@")


# --------------------------------------------------------------------------------------------
# A small model of Compose: interpolation, override merging, extends
# --------------------------------------------------------------------------------------------


class InterpolationError(Exception):
    """A required variable (``${VAR:?message}`` / ``${VAR?message}``) has no value."""

    def __init__(self, variable: str, message: str) -> None:
        super().__init__(f"required variable {variable} is missing a value: {message}")
        self.variable = variable


_TOKEN = re.compile(r"\$\$|\$\{(?P<braced>[^}]*)\}|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)")
_BRACED = re.compile(
    r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:-|-|:\?|\?|:\+|\+)(?P<arg>.*))?$", re.S
)


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Expand one string the way Compose does (``$$`` is a literal ``$``)."""

    def expand(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        if match.group("bare") is not None:
            return env.get(match.group("bare"), "")
        braced = _BRACED.match(match.group("braced"))
        if braced is None:
            raise ValueError(f"invalid interpolation: {match.group(0)!r}")
        name, op, arg = braced.group("name"), braced.group("op"), braced.group("arg") or ""
        value = env.get(name)
        if op is None:
            return value or ""
        if op == ":-":
            return value if value else interpolate(arg, env)
        if op == "-":
            return value if value is not None else interpolate(arg, env)
        if op == ":?":
            if not value:
                raise InterpolationError(name, arg)
            return value
        if op == "?":
            if value is None:
                raise InterpolationError(name, arg)
            return value
        if op == ":+":
            return interpolate(arg, env) if value else ""
        return interpolate(arg, env) if value is not None else ""  # "+"

    return _TOKEN.sub(expand, text)


def interpolate_tree(node: Any, env: Mapping[str, str]) -> Any:
    """Interpolate every string value of a parsed compose file."""
    if isinstance(node, dict):
        return {key: interpolate_tree(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [interpolate_tree(value, env) for value in node]
    if isinstance(node, str):
        return interpolate(node, env)
    return node


def variable_references(node: Any) -> Iterator[tuple[str, str | None, str]]:
    """Every ``(name, operator, argument)`` referenced by a string of the tree (``$$`` skipped)."""
    if isinstance(node, dict):
        for value in node.values():
            yield from variable_references(value)
    elif isinstance(node, list):
        for value in node:
            yield from variable_references(value)
    elif isinstance(node, str):
        for match in _TOKEN.finditer(node):
            if match.group("bare") is not None:
                yield match.group("bare"), None, ""
            elif match.group("braced") is not None:
                braced = _BRACED.match(match.group("braced"))
                assert braced is not None, match.group(0)
                yield braced.group("name"), braced.group("op"), braced.group("arg") or ""


def _volume_target(entry: Any) -> str:
    return str(entry["target"]) if isinstance(entry, dict) else str(entry).split(":")[1]


class Override(list):  # type: ignore[type-arg]
    """A sequence tagged ``!override``: it replaces the base's instead of merging with it."""


class _ComposeLoader(yaml.SafeLoader):
    """PyYAML's safe loader plus Compose's ``!override`` tag (on sequences)."""


_ComposeLoader.add_constructor(
    "!override", lambda loader, node: Override(loader.construct_sequence(node, deep=True))
)


def merge(base: Any, override: Any, key: str = "") -> Any:
    """Merge an override into a base the way Compose merges files and ``extends``.

    Mappings merge key by key; ``command``, ``entrypoint`` and ``healthcheck.test`` are replaced;
    ``volumes`` merge by container path; other sequences are appended without duplicates; a
    sequence tagged ``!override`` replaces the base's.
    """
    if isinstance(override, Override):
        return copy.deepcopy(override)
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for name, value in override.items():
            merged[name] = merge(base[name], value, name) if name in base else copy.deepcopy(value)
        return merged
    if isinstance(base, list) and isinstance(override, list):
        if key in ("command", "entrypoint", "test"):
            return copy.deepcopy(override)
        if key == "volumes":
            by_target = {_volume_target(entry): entry for entry in base}
            by_target.update({_volume_target(entry): entry for entry in override})
            return list(by_target.values())
        return base + [entry for entry in override if entry not in base]
    return copy.deepcopy(override)


def load(path: Path) -> dict[str, Any]:
    """Parse one compose file (YAML anchors and ``<<`` merge keys resolved)."""
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=_ComposeLoader)
    assert isinstance(data, dict), f"{path.name} is not a mapping"
    return data


def resolve_extends(model: dict[str, Any]) -> dict[str, Any]:
    """Replace every ``extends: {file, service}`` by the merged service.

    Compose documents that ``depends_on`` is never inherited through ``extends``, so it is dropped
    from the extended service; the extending service declares its own.
    """
    services = model["services"]
    for name, service in list(services.items()):
        ref = service.get("extends")
        if ref is None:
            continue
        source = load(ROOT / ref["file"]) if "file" in ref else model
        parent = copy.deepcopy(source["services"][ref["service"]])
        parent.pop("depends_on", None)
        own = {key: value for key, value in service.items() if key != "extends"}
        services[name] = merge(parent, own)
    return model


def compose(*paths: Path) -> dict[str, Any]:
    """The model ``docker compose -f A -f B`` builds: files merged in order, extends resolved."""
    model: dict[str, Any] = {}
    for path in paths:
        model = merge(model, load(path))
    return resolve_extends(model)


def env_example() -> dict[str, str]:
    """Uncommented ``NAME=value`` lines of .env.example."""
    values = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, sep, value = line.partition("=")
            assert sep, f".env.example: not NAME=value: {line!r}"
            values[name.strip()] = value
    return values


def required_variables(*paths: Path) -> dict[str, str]:
    """Variables referenced as ``${VAR:?message}`` in the given files, with their messages."""
    found: dict[str, str] = {}
    for path in paths:
        for name, op, arg in variable_references(load(path)):
            if op in (":?", "?"):
                found[name] = arg
    return found


def filled_env() -> dict[str, str]:
    """A plausible .env: every required secret set to a dummy value."""
    env = {name: f"dummy-{name.lower()}" for name in required_variables(BASE, CELERY)}
    env["AIRFLOW_UID"] = "1000"
    return env


@pytest.fixture(scope="module")
def base() -> dict[str, Any]:
    return compose(BASE)


@pytest.fixture(scope="module")
def celery() -> dict[str, Any]:
    return compose(BASE, CELERY)


def airflow_services(model: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: service
        for name, service in model["services"].items()
        if service.get("image") == IMAGE and name not in SECKB_SERVICES
    }


def common_env(model: dict[str, Any]) -> dict[str, Any]:
    return dict(model["services"]["airflow-scheduler"]["environment"])


# --------------------------------------------------------------------------------------------
# The interpolation helper itself
# --------------------------------------------------------------------------------------------


def test_interpolation_helper_follows_compose_rules() -> None:
    env = {"SET": "value", "EMPTY": ""}
    assert interpolate("${SET}/${UNSET}", env) == "value/"
    assert interpolate("${UNSET:-d} ${EMPTY:-d} ${EMPTY-d} ${SET:-d}", env) == "d d  value"
    assert interpolate("$$HOSTNAME $${HOSTNAME} $SET", env) == "$HOSTNAME ${HOSTNAME} value"
    assert interpolate("${SET:+alt}${UNSET:+alt}", env) == "alt"
    assert interpolate("${SET:?must be set}", env) == "value"
    for text in ("${UNSET:?must be set}", "${EMPTY:?must be set}", "${UNSET?must be set}"):
        with pytest.raises(InterpolationError, match="must be set"):
            interpolate(text, env)
    assert interpolate("${EMPTY?must be set}", env) == ""


# --------------------------------------------------------------------------------------------
# Files parse; services, images, environment
# --------------------------------------------------------------------------------------------


def test_files_parse() -> None:
    for path in (BASE, CELERY):
        data = load(path)
        assert isinstance(data.get("services"), dict) and data["services"], path.name
    assert "version" not in load(BASE), "the top-level version key is obsolete in Compose v2"
    assert env_example()
    assert DOCKERFILE.is_file()


@pytest.mark.parametrize(
    ("model_name", "expected"), [("base", BASE_AIRFLOW), ("celery", CELERY_AIRFLOW)]
)
def test_every_airflow_service_uses_the_one_image_and_the_same_environment(
    model_name: str, expected: set[str], request: pytest.FixtureRequest
) -> None:
    model = request.getfixturevalue(model_name)
    services = airflow_services(model)
    assert set(services) == expected
    assert set(model["services"]) - set(services) <= INFRASTRUCTURE | STORE_INIT | SECKB_SERVICES
    common = common_env(model)
    for name, service in services.items():
        assert service.get("build") == ".", name
        assert service.get("user") in ("${AIRFLOW_UID:-50000}:0", "0:0"), name
        env = service["environment"]
        for key, value in common.items():
            assert env.get(key) == value, f"{name}: {key} differs from the common environment"
        assert set(env) - set(common) <= EXTRA_ENV.get(name, set()), name


def test_base_file_uses_local_executor(base: dict[str, Any]) -> None:
    for name, service in airflow_services(base).items():
        assert service["environment"]["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor", name
        assert not CELERY_ENV - {"AIRFLOW__CORE__EXECUTOR"} & set(service["environment"]), name
    assert "redis" not in base["services"]


def test_celery_override_switches_every_airflow_service(celery: dict[str, Any]) -> None:
    for name, service in airflow_services(celery).items():
        env = service["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://"), name
        assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql://"), name
    assert celery["services"]["flower"]["profiles"] == ["flower"]
    assert celery["services"]["airflow-worker"]["environment"]["DUMB_INIT_SETSID"] == "0"


def test_commands_are_the_airflow3_ones(base: dict[str, Any], celery: dict[str, Any]) -> None:
    for model, expected in ((base, COMMANDS), (celery, CELERY_COMMANDS)):
        for name, command in expected.items():
            assert model["services"][name]["command"] == command, name
    for path in (BASE, CELERY):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"command:\s*webserver\b", text), "webserver is api-server in 3.x"


# --------------------------------------------------------------------------------------------
# Health checks and start-up order
# --------------------------------------------------------------------------------------------


def _test_of(service: dict[str, Any]) -> str:
    test = service["healthcheck"]["test"]
    return " ".join(test) if isinstance(test, list) else str(test)


@pytest.mark.parametrize("model_name", ["base", "celery"])
def test_every_long_running_service_has_a_health_check(
    model_name: str, request: pytest.FixtureRequest
) -> None:
    model = request.getfixturevalue(model_name)
    long_running = {
        name for name, service in model["services"].items() if service.get("restart") == "always"
    }
    assert long_running == set(model["services"]) - ONE_SHOT
    for name in long_running:
        healthcheck = model["services"][name].get("healthcheck", {})
        assert healthcheck.get("test"), f"{name} has no health check"
        assert healthcheck["test"][0] in ("CMD", "CMD-SHELL"), name


def test_health_checks_are_the_documented_ones(celery: dict[str, Any]) -> None:
    services = celery["services"]
    expected = {
        "postgres": "pg_isready -U airflow",
        "redis": "redis-cli ping",
        "airflow-apiserver": "curl --fail http://localhost:8080/api/v2/monitor/health",
        "airflow-scheduler": "curl --fail http://localhost:8974/health",
        "airflow-dag-processor": "airflow jobs check --job-type DagProcessorJob",
        "airflow-triggerer": "airflow jobs check --job-type TriggererJob",
        "airflow-worker": "celery --app airflow.providers.celery.executors.celery_executor.app",
        "flower": "curl --fail http://localhost:5555/",
    }
    for name, fragment in expected.items():
        assert fragment in _test_of(services[name]), name
    assert 'inspect ping -d "celery@$${HOSTNAME}"' in _test_of(services["airflow-worker"])
    assert '--hostname "$${HOSTNAME}"' in _test_of(services["airflow-triggerer"])
    # The scheduler's health endpoint only exists when the health-check server is enabled.
    env = services["airflow-scheduler"]["environment"]
    assert env["AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"] == "true"


@pytest.mark.parametrize("model_name", ["base", "celery"])
def test_start_up_order(model_name: str, request: pytest.FixtureRequest) -> None:
    model = request.getfixturevalue(model_name)
    services = model["services"]
    infrastructure = {name: "service_healthy" for name in INFRASTRUCTURE if name in services}
    for name, service in airflow_services(model).items():
        depends = {dep: spec["condition"] for dep, spec in service["depends_on"].items()}
        for dep, condition in infrastructure.items():
            assert depends.get(dep) == condition, f"{name} must wait for {dep}"
        if name not in ("airflow-init", "airflow-cli"):
            assert depends.get("airflow-init") == "service_completed_successfully", name
        for init in STORE_INIT & set(services):  # the bucket exists before any task runs
            assert depends.get(init) == "service_completed_successfully", f"{name}: {init}"
    assert "airflow-init" not in services["airflow-init"]["depends_on"]
    if "airflow-worker" in services:
        worker = services["airflow-worker"]["depends_on"]
        assert worker["airflow-apiserver"]["condition"] == "service_healthy"


# --------------------------------------------------------------------------------------------
# Volumes and ports
# --------------------------------------------------------------------------------------------


def _mounts(service: dict[str, Any]) -> dict[str, str]:
    """Container path -> source of every volume of a service."""
    mounts = {}
    for entry in service.get("volumes", []):
        source, target = str(entry).split(":")[:2]
        mounts[target] = source
    return mounts


@pytest.mark.parametrize(("model_name", "data"), [("base", "seckb-data"), ("celery", "minio-data")])
def test_every_named_volume_is_declared(
    model_name: str, data: str, request: pytest.FixtureRequest
) -> None:
    model = request.getfixturevalue(model_name)
    declared = set(model.get("volumes") or {})
    used = {
        source
        for service in model["services"].values()
        for source in _mounts(service).values()
        if not source.startswith((".", "/", "~", "$"))
    }
    assert used <= declared, f"undeclared volumes: {used - declared}"
    assert {data, "airflow-logs", "postgres-db-volume"} <= used


def test_dags_logs_and_data_root_on_every_airflow_service(base: dict[str, Any]) -> None:
    model = base
    for name, service in airflow_services(model).items():
        mounts = _mounts(service)
        assert mounts.get(DAGS_DIR) == "./dags", name
        assert mounts.get(DATA_ROOT) == "seckb-data", name
        assert mounts.get(LOGS_DIR) == "airflow-logs", name
        assert service["environment"]["SECKB_HOME"] == DATA_ROOT, name
    assert _mounts(model["services"]["postgres"]) == {
        "/var/lib/postgresql/data": "postgres-db-volume"
    }


def test_celery_workers_share_the_store_and_no_data_volume(celery: dict[str, Any]) -> None:
    services = celery["services"]
    for name, service in services.items():
        assert "seckb-data" not in _mounts(service).values(), f"{name} mounts the data volume"
    for name, service in airflow_services(celery).items():
        mounts = _mounts(service)
        assert mounts == {DAGS_DIR: "./dags", LOGS_DIR: "airflow-logs"}, name
        env = service["environment"]
        assert env["SECKB_HOME"] == DATA_ROOT, name  # inside the container: its own scratch
        assert env["SECKB_STORE_URL"] == "s3://${MINIO_BUCKET:-seckb}/kb", name
        assert env["AWS_ENDPOINT_URL"] == "http://minio:9000", name
        assert "MINIO_ROOT_USER" in env["AWS_ACCESS_KEY_ID"], name
        assert "MINIO_ROOT_PASSWORD" in env["AWS_SECRET_ACCESS_KEY"], name
    # what seckb makes of those variables: a valid store URL, and the S3 variables are not its own
    seckb = {k: interpolate(str(v), {}) for k, v in common_env(celery).items() if k[:6] == "SECKB_"}
    assert load_settings(env=seckb).store_url == "s3://seckb/kb"
    assert _mounts(services["minio"]) == {"/data": "minio-data"}
    assert "ports" not in services["minio"] and services["minio"]["expose"] == [9000]


def test_minio_init_creates_the_bucket_and_a_read_only_user(celery: dict[str, Any]) -> None:
    service = celery["services"]["minio-init"]
    assert service["depends_on"] == {"minio": {"condition": "service_healthy"}}
    assert "restart" not in service  # one-shot
    script = interpolate(service["command"][1], filled_env())
    assert script.lstrip().startswith("set -eu")
    assert 'mc mb --ignore-existing "store/${MINIO_BUCKET}"' in script
    assert 'mc admin policy attach store seckb-reader --user "${MINIO_READER_USER}"' in script
    # the reader's policy: read and list the bucket (seckb snapshots lists), nothing else
    policy = json.loads(
        script.split("<<POLICY\n", 1)[1].split("POLICY\n", 1)[0].replace("${MINIO_BUCKET}", "kb")
    )
    granted = {(a, r) for st in policy["Statement"] for a in st["Action"] for r in st["Resource"]}
    assert granted == {
        ("s3:GetBucketLocation", "arn:aws:s3:::kb"),
        ("s3:ListBucket", "arn:aws:s3:::kb"),
        ("s3:GetObject", "arn:aws:s3:::kb/*"),
    }
    assert "mc admin policy create store seckb-reader /tmp/seckb-reader.json" in script
    env = interpolate_tree(service["environment"], filled_env())
    assert env["MINIO_BUCKET"] == "seckb"
    result = subprocess.run(["sh", "-n"], input=script, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_only_the_api_server_publishes_a_port(base: dict[str, Any], celery: dict[str, Any]) -> None:
    published = {name: s["ports"] for name, s in base["services"].items() if s.get("ports")}
    # seckb-api is published on the loopback interface only.
    seckb_api = {"seckb-api": ["127.0.0.1:8081:8080"]}
    assert published == {"airflow-apiserver": ["8080:8080"], **seckb_api}
    published = {name: s["ports"] for name, s in celery["services"].items() if s.get("ports")}
    # Flower, behind its profile, is published on the loopback interface only.
    assert published == {
        "airflow-apiserver": ["8080:8080"],
        "flower": ["127.0.0.1:5555:5555"],
        **seckb_api,
    }
    assert "ports" not in celery["services"]["redis"]


# --------------------------------------------------------------------------------------------
# Secrets
# --------------------------------------------------------------------------------------------


def _environments(data: dict[str, Any]) -> Iterator[tuple[str, str, str]]:
    """``(where, name, raw value)`` of every environment entry of a raw (uninterpolated) file."""
    for where, block in data.items():
        if where.startswith("x-") and isinstance(block, dict):
            for name, value in block.items():
                yield where, name, str(value)
    for service_name, service in data["services"].items():
        for name, value in (service.get("environment") or {}).items():
            yield service_name, name, str(value)


_REQUIRED_REF = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*:\?[^}]+\}$")


@pytest.mark.parametrize("path", [BASE, CELERY], ids=lambda p: p.name)
def test_no_secret_has_a_literal_value(path: Path) -> None:
    checked = 0
    for where, name, value in _environments(load(path)):
        if SECRET_NAME.search(name):
            optional = name.startswith("SECKB_") and value == f"${{{name}:-}}"  # unset: none
            assert optional or _REQUIRED_REF.match(value), (
                f"{where}: {name} must be ${{VAR:?message}}"
            )
            checked += 1
        credentials = URL_CREDENTIALS.search(value)
        if credentials and credentials.group("password"):
            password = credentials.group("password")
            assert _REQUIRED_REF.match(password), f"{where}: {name} has a literal password"
            checked += 1
    assert checked >= 2


def test_url_credential_pattern_sees_interpolated_passwords() -> None:
    url = "postgresql://airflow:${PW:?set PW in .env}@postgres/airflow"
    match = URL_CREDENTIALS.search(url)
    assert match is not None and match.group("password") == "${PW:?set PW in .env}"
    match = URL_CREDENTIALS.search("postgresql://airflow:hunter2@postgres/airflow")
    assert match is not None and match.group("password") == "hunter2"
    match = URL_CREDENTIALS.search("redis://:@redis:6379/0")
    assert match is not None and match.group("password") == ""


def test_required_variables_have_clear_messages() -> None:
    required = required_variables(BASE, CELERY)
    assert {
        "POSTGRES_PASSWORD",
        "AIRFLOW_FERNET_KEY",
        "AIRFLOW_JWT_SECRET",
        "AIRFLOW_API_SECRET_KEY",
        "AIRFLOW_ADMIN_PASSWORD",
    } <= set(required)
    for name, message in required.items():
        assert name in message and ".env" in message, f"unclear message for {name}: {message!r}"


@pytest.mark.parametrize("missing", sorted(required_variables(BASE, CELERY)))
@pytest.mark.parametrize("value", [None, ""], ids=["unset", "empty"])
def test_a_missing_secret_stops_start_up_naming_it(missing: str, value: str | None) -> None:
    env = filled_env()
    if value is None:
        del env[missing]
    else:
        env[missing] = value
    base_refs = {name for name, _, _ in variable_references(load(BASE))}
    paths = (BASE,) if missing in base_refs else (BASE, CELERY)
    with pytest.raises(InterpolationError) as caught:
        for path in paths:
            interpolate_tree(load(path), env)
    assert caught.value.variable == missing
    assert missing in str(caught.value)


def test_with_every_secret_set_the_files_interpolate() -> None:
    env = filled_env()
    model = interpolate_tree(compose(BASE, CELERY), env)
    scheduler = model["services"]["airflow-scheduler"]["environment"]
    assert scheduler["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == (
        f"postgresql+psycopg2://airflow:{env['POSTGRES_PASSWORD']}@postgres/airflow"
    )
    assert scheduler["AIRFLOW__CORE__FERNET_KEY"] == env["AIRFLOW_FERNET_KEY"]
    assert scheduler["SECKB_SCHEDULE"] == "0 3 * * *"
    assert model["services"]["airflow-apiserver"]["user"] == "1000:0"
    assert "${" not in str(model["services"]["airflow-apiserver"])


@pytest.mark.parametrize("path", [BASE, CELERY], ids=lambda p: p.name)
def test_no_bare_dollar_variables(path: Path) -> None:
    """``$NAME`` is interpolated by Compose from the host: shell variables must be ``$$NAME``."""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.lstrip().startswith("#"):
            continue
        stripped = line.replace("$$", "")
        assert not re.search(r"\$[A-Za-z_]", stripped), f"{path.name}:{number}: {line.strip()}"


# --------------------------------------------------------------------------------------------
# .env.example, .gitignore, .dockerignore
# --------------------------------------------------------------------------------------------


def test_env_example_lists_every_required_variable_empty_with_a_comment() -> None:
    values = env_example()
    text = ENV_EXAMPLE.read_text(encoding="utf-8")
    for name in required_variables(BASE, CELERY):
        assert name in values, f".env.example does not list {name}"
        assert values[name] == "", f".env.example must not ship a value for {name}"
        before = text.split(f"\n{name}=")[0].rstrip().splitlines()
        assert before and before[-1].startswith("#"), f"{name} has no explanatory comment"
    assert "Fernet.generate_key()" in text
    assert "openssl rand -hex 32" in text
    assert values.get("AIRFLOW_UID") == "50000"


def test_env_example_mentions_every_variable_the_compose_files_read() -> None:
    text = ENV_EXAMPLE.read_text(encoding="utf-8")
    referenced = {name for path in (BASE, CELERY) for name, _, _ in variable_references(load(path))}
    missing = {name for name in referenced if not re.search(rf"^#? ?{name}=", text, re.M)}
    assert not missing, f".env.example does not mention {sorted(missing)}"
    for name in (
        "SECKB_ADVISORY_DB_URL",
        "SECKB_PYPI_URL",
        "SECKB_SCORECARD_URL",
        "SECKB_KEEP_SNAPSHOTS",
        "SECKB_SCHEDULE",
    ):
        assert re.search(rf"^# {name}=", text, re.M), f"{name} should be optional (commented)"


def test_secrets_stay_out_of_git_and_of_the_image() -> None:
    gitignore = (ROOT / ".gitignore").read_text(encoding="utf-8").split()
    assert ".env" in gitignore
    dockerignore = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert {".env", "warehouse/data", ".venv", ".git"} <= set(dockerignore)


# --------------------------------------------------------------------------------------------
# airflow-init
# --------------------------------------------------------------------------------------------


def init_script(env: Mapping[str, str] | None = None) -> str:
    service = compose(BASE)["services"]["airflow-init"]
    assert service["entrypoint"] == "/bin/bash"
    assert service["command"][0] == "-c"
    script = service["command"][1]
    return interpolate(script, filled_env() if env is None else env)


def test_init_migrates_creates_the_admin_and_fails_loudly() -> None:
    script = init_script()
    assert script.lstrip().startswith("set -euo pipefail")
    assert "/entrypoint airflow db migrate" in script
    assert "/entrypoint airflow users create" in script
    assert "--role Admin" in script
    for variable in (
        "AIRFLOW_FERNET_KEY",
        "AIRFLOW_JWT_SECRET",
        "POSTGRES_PASSWORD",
        "AIRFLOW_API_SECRET_KEY",
        "AIRFLOW_ADMIN_PASSWORD",
    ):
        assert variable in script, f"the init check does not name {variable}"
    assert "chown -R" in script and DATA_ROOT in script
    assert compose(BASE)["services"]["airflow-init"]["user"] == "0:0"


def test_init_creates_the_pools() -> None:
    pools = {}
    for line in init_script().splitlines():
        if "airflow pools set" in line:
            words = shlex.split(line)
            at = words.index("pools")
            name, slots, description = words[at + 2 : at + 5]
            pools[name] = (int(slots), description)
    assert pools == {
        "pypi": (8, "PyPI JSON API: requests in flight across the deployment"),
        "scorecard": (4, "OpenSSF Scorecard API"),
    }


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_init_script_is_valid_bash() -> None:
    result = subprocess.run(
        ["bash", "-n"], input=init_script(), capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


# --------------------------------------------------------------------------------------------
# seckb configuration passed through
# --------------------------------------------------------------------------------------------


def test_seckb_variables_are_settings_with_matching_defaults(
    base: dict[str, Any], production_defaults: None
) -> None:
    seckb = {k: v for k, v in common_env(base).items() if k.startswith("SECKB_")}
    assert set(seckb) >= {
        "SECKB_HOME", "SECKB_ADVISORY_DB_URL", "SECKB_PYPI_URL", "SECKB_SCORECARD_URL",
        "SECKB_KEEP_SNAPSHOTS", "SECKB_SCHEDULE",
    }  # fmt: skip
    # Settings rejects unknown SECKB_* variables, so every one passed must be a setting ...
    fields = {f.name for f in dataclasses.fields(Settings)}
    for name in set(seckb) - {"SECKB_CONFIG"}:  # the config file's path: not a setting itself
        assert name[len("SECKB_") :].lower() in fields, f"{name} is not a seckb setting"
    # ... and with nothing set in .env, the compose defaults are seckb's own defaults.
    settings = load_settings(env={k: interpolate(str(v), {}) for k, v in seckb.items()})
    defaults = Settings()
    for name in set(seckb) - {"SECKB_CONFIG"}:
        field = name[len("SECKB_") :].lower()
        if field not in ("home", "workers"):  # workers: the CPU count of where it runs
            assert getattr(settings, field) == getattr(defaults, field), name
    assert str(settings.home) == DATA_ROOT


def test_every_pool_the_dags_use_is_created_by_init() -> None:
    from aggregators.sources.registry import SOURCES

    used = {spec.pool for spec in SOURCES if spec.pool}  # the DAG takes its pools from here
    assert used == {"pypi", "scorecard"}
    created = set(re.findall(r"airflow pools set (\S+) ", init_script()))
    assert used <= created, f"pools used by the DAGs but not created: {used - created}"


# --------------------------------------------------------------------------------------------
# Dockerfile
# --------------------------------------------------------------------------------------------


def _instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            keyword, _, rest = line.strip().partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def test_dockerfile_extends_the_official_airflow3_image() -> None:
    instructions = _instructions()
    froms = [rest for keyword, rest in instructions if keyword == "FROM"]
    assert len(froms) == 1
    assert re.fullmatch(r"apache/airflow:3\.\d+\.\d+-python3\.\d+", froms[0]), froms[0]
    assert froms[0] == "apache/airflow:3.3.2-python3.11"


def test_dockerfile_installs_the_project_as_the_airflow_user() -> None:
    instructions = _instructions()
    user = "airflow"
    pip_runs = []
    for keyword, rest in instructions:
        if keyword == "USER":
            user = rest
        elif keyword == "RUN" and "pip install" in rest:
            pip_runs.append((user, rest))
    assert pip_runs, "the Dockerfile does not pip install the project"
    for user, command in pip_runs:
        assert user == "airflow", "pip must run as the airflow user"
        assert "/opt/seckb" in command
        assert '"apache-airflow==${AIRFLOW_VERSION}"' in command
        assert "--no-cache-dir" in command
    assert instructions[-1] != ("USER", "root")
    assert [rest for keyword, rest in instructions if keyword == "USER"][-1] == "airflow"
    # git is needed by the advisory-db source.
    assert any(keyword == "RUN" and "git" in rest for keyword, rest in instructions)


def test_dockerfile_copies_what_the_package_build_needs() -> None:
    copied = " ".join(rest for keyword, rest in _instructions() if keyword == "COPY")
    for source in (
        "pyproject.toml",
        "README.md",
        "aggregators/",
        "schemas/",
        "warehouse/__init__.py",
        "warehouse/*.sql",
        "dags/",
    ):
        assert source in copied, f"the Dockerfile does not copy {source}"
    assert "warehouse/data" not in copied
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    for directory in re.findall(r'^"aggregators\.[a-z]+" = "([a-z]+)"$', pyproject, re.M):
        assert f"{directory}/" in copied, f"package-dir {directory} is not copied"


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
@pytest.mark.parametrize(
    ("container_variable", "named"),
    [
        ("AIRFLOW__CORE__FERNET_KEY", "AIRFLOW_FERNET_KEY"),
        ("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW_JWT_SECRET"),
        ("_AIRFLOW_WWW_USER_PASSWORD", "AIRFLOW_ADMIN_PASSWORD"),
    ],
)
def test_init_refuses_to_start_without_a_secret(container_variable: str, named: str) -> None:
    """Second line of defence: the container's own check, if Compose's ``:?`` were bypassed."""
    script = init_script()
    check = script.split('echo "airflow-init: preparing')[0] + "\necho secrets-ok\n"
    service = interpolate_tree(compose(BASE)["services"]["airflow-init"], filled_env())
    env = {"PATH": "/usr/bin:/bin", **service["environment"]}
    ok = subprocess.run(["bash", "-c", check], env=env, capture_output=True, text=True)
    assert ok.returncode == 0 and "secrets-ok" in ok.stdout, ok.stderr
    env[container_variable] = ""
    failed = subprocess.run(["bash", "-c", check], env=env, capture_output=True, text=True)
    assert failed.returncode == 1
    assert named in failed.stderr and ".env" in failed.stderr, failed.stderr
    assert "secrets-ok" not in failed.stdout


# --------------------------------------------------------------------------------------------
# seckb-api: `seckb serve` over the shared data volume
# --------------------------------------------------------------------------------------------


def _entrypoint_dispatch(command: list[str]) -> list[str]:
    """What Airflow's image entrypoint (/entrypoint, scripts/docker/entrypoint_prod.sh of
    apache/airflow) runs for a command: ``bash ...`` and ``python ...`` as given, anything else
    as an Airflow subcommand (``airflow <command>``)."""
    if command and command[0] in ("bash", "python"):
        return command
    if command and command[0] == "airflow":
        return command
    return ["airflow", *command]


@pytest.mark.parametrize("model_name", ["base", "celery"])
def test_seckb_api_runs_seckb_serve_from_the_same_image(
    model_name: str, request: pytest.FixtureRequest
) -> None:
    from aggregators.cli.main import build_parser

    service = request.getfixturevalue(model_name)["services"]["seckb-api"]
    assert service["image"] == IMAGE and service["build"] == "."
    assert "entrypoint" not in service, "keep the image's entrypoint (it sets up the user)"
    assert not [k for k, r in _instructions() if k == "ENTRYPOINT"], "Airflow's entrypoint"
    command = _entrypoint_dispatch(service["command"])
    assert command[:3] == ["python", "-m", "aggregators.cli.main"]
    args = build_parser().parse_args(command[3:])
    assert args.command == "serve" and args.host == "0.0.0.0" and args.port == 8080
    assert args.snapshot is None  # follows LATEST as the DAG publishes
    env = service["environment"]
    assert env["SECKB_HOME"] == DATA_ROOT
    assert env["CONNECTION_CHECK_MAX_COUNT"] == "0"  # the entrypoint waits for no Airflow DB
    store = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}  # celery: the store's reader
    assert not [
        name
        for name in env
        if (SECRET_NAME.search(name) and name not in store) or name.startswith("AIRFLOW__")
    ]
    assert service["user"] == "${AIRFLOW_UID:-50000}:0"
    assert service["restart"] == "always"
    depends = {"airflow-init": {"condition": "service_completed_successfully"}}
    if model_name == "celery":
        depends["minio-init"] = {"condition": "service_completed_successfully"}
        assert "MINIO_READER_USER" in env["AWS_ACCESS_KEY_ID"]  # read-only, never the root
        assert "MINIO_READER_PASSWORD" in env["AWS_SECRET_ACCESS_KEY"]
        assert env["SECKB_SNAPSHOT_URL"] == "s3://${MINIO_BUCKET:-seckb}/kb"
        assert service["volumes"] == [f"seckb-api-cache:{DATA_ROOT}"]  # its own copies
    assert service["depends_on"] == depends


def test_seckb_api_reads_the_data_volume_read_only(base: dict[str, Any]) -> None:
    volumes = base["services"]["seckb-api"]["volumes"]
    assert volumes == [f"seckb-data:{DATA_ROOT}:ro"]


def test_seckb_api_health_check_and_loopback_port(base: dict[str, Any]) -> None:
    service = base["services"]["seckb-api"]
    test = service["healthcheck"]["test"]
    assert test[0] == "CMD" and test[1] == "curl" and "--fail" in test
    assert test[-1] == "http://127.0.0.1:8080/healthz"
    host, published, container = service["ports"][0].split(":")
    assert host == "127.0.0.1" and container == "8080" and published != "8080"
    from aggregators.clients.server.app import create_app
    from aggregators.clients.server.holder import SnapshotHolder
    from aggregators.core.workspace import Workspace

    app = create_app(SnapshotHolder(Workspace(Path("/nonexistent"))))
    assert "/healthz" in {getattr(route, "path", None) for route in app.routes}


def test_serve_needs_no_airflow_extra() -> None:
    """fastapi and uvicorn are core dependencies: ``seckb serve`` runs without Airflow."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    names = {
        re.split(r"[<>=!~ ;\[]", dep, maxsplit=1)[0].lower() for dep in project["dependencies"]
    }
    assert {"fastapi", "uvicorn"} <= names


def test_every_seckb_setting_reaches_the_airflow_containers(
    base: dict[str, Any], production_defaults: None
) -> None:
    """Each Settings field (and SECKB_CONFIG) is passed from .env to every Airflow container,
    so nothing set in .env is silently ignored; .env.example lists them all."""
    fields = {f"SECKB_{f.name.upper()}" for f in dataclasses.fields(Settings)} | {"SECKB_CONFIG"}
    text = ENV_EXAMPLE.read_text(encoding="utf-8")
    for name, service in airflow_services(base).items():
        passed = {k for k in service["environment"] if k.startswith("SECKB_")}
        assert passed == fields, f"{name}: missing {sorted(fields - passed)}"
        for key in passed - {"SECKB_HOME"}:
            assert f"${{{key}:-" in str(service["environment"][key]), (name, key)
    assert [
        n for n in sorted(fields - {"SECKB_HOME"}) if not re.search(rf"^# {n}=", text, re.M)
    ] == []
    # passed through empty, every setting keeps seckb's own default
    empty = {k: interpolate(str(v), {}) for k, v in common_env(base).items() if k[:6] == "SECKB_"}
    settings = load_settings(env=empty)
    for field in dataclasses.fields(Settings):
        if field.name not in ("home", "workers"):
            assert getattr(settings, field.name) == getattr(Settings(), field.name), field.name


def test_the_dag_starts_paused_and_the_readme_says_what_the_first_start_does(
    base: dict[str, Any],
) -> None:
    assert common_env(base)["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] == "true"
    section = DEPLOYMENT.read_text(encoding="utf-8")
    assert "airflow dags unpause seckb_nightly" in section and "paused" in section


def _compose_commands() -> list[list[str]]:
    """Every ``docker compose ...`` command line of the manual, split like a shell would."""
    found = []
    lines = [line for page in MANUAL for line in page.read_text(encoding="utf-8").splitlines()]
    for line in lines:
        for match in re.finditer(r"docker compose [^`\n]*", line):
            words = shlex.split(match.group(0).split(" # ")[0].strip().rstrip(".,;:)"))
            if words[-1] not in ("run", "up"):  # not a mention of the command in prose
                found.append(words)
    return found


def _run_parts(words: list[str]) -> tuple[list[Path], str | None, str, list[str]]:
    """``docker compose [-f F]... run [OPTIONS] SERVICE [ARGS]``: files, --entrypoint, service,
    args (other run options are skipped, with their value when they take one)."""
    files, at = [], 2
    while words[at] in ("-f", "--file"):
        files.append(ROOT / words[at + 1])
        at += 2
    assert words[at] == "run", words
    at += 1
    entrypoint, valued = None, {"-e", "--env", "-u", "--user", "-w", "--workdir", "--name"}
    while words[at].startswith("-"):
        if words[at] == "--entrypoint":
            entrypoint, at = words[at + 1], at + 2
        else:
            at += 2 if words[at] in valued else 1
    return files or [BASE], entrypoint, words[at], words[at + 1 :]


def _check_seckb(args: list[str]) -> None:
    from aggregators.cli.main import build_parser

    try:
        build_parser().parse_args(args)
    except SystemExit as exc:  # argparse's way of refusing
        raise AssertionError(f"not a valid seckb command: seckb {' '.join(args)}") from exc


def _check_in_image(command: list[str]) -> None:
    """A command as the image's entrypoint dispatches it: an Airflow command, a bash script
    of seckb commands, or python -m aggregators.cli.main."""
    command = _entrypoint_dispatch(command)
    if command[0] == "airflow":
        assert len(command) > 1 and command[1] in AIRFLOW_SUBCOMMANDS, command
    elif command[0] == "bash":
        assert command[1] == "-c", command
        for part in re.split(r"&&|;|\|\|", command[2]):
            words = shlex.split(part)
            assert words and words[0] in ("seckb", "airflow"), command
            if words[0] == "seckb":
                _check_seckb(words[1:])
            else:
                _check_in_image(words)
    else:
        assert command[:3] == ["python", "-m", "aggregators.cli.main"], command
        _check_seckb(command[3:])


def test_every_compose_command_in_the_readme_fits_the_image() -> None:
    """`docker compose run --rm airflow-cli seckb snapshots` would run `airflow seckb ...`:
    every run command the README shows is checked against the image's entrypoint."""
    runs = [words for words in _compose_commands() if "run" in words]
    assert len(runs) >= 3, runs
    for words in runs:
        files, entrypoint, service, args = _run_parts(words)
        model = compose(*files)
        assert service in model["services"], (service, words)
        override = entrypoint or model["services"][service].get("entrypoint")
        if override is None:  # the image's: /entrypoint (apache/airflow)
            _check_in_image(args)
        else:
            assert override == "seckb", words  # nothing else is documented
            _check_seckb(args)
    with pytest.raises(AssertionError, match="seckb snapshots"):
        _check_in_image(["bash", "-c", "seckb snapshots --nope"])
    with pytest.raises(AssertionError):
        _check_in_image(["seckb", "snapshots"])  # the entrypoint would run `airflow seckb`


def test_seckb_api_gets_the_index_and_policy_settings(base: dict[str, Any]) -> None:
    """The package index runs in seckb-api: its settings (and only settings without secrets)
    reach it from .env, and default to seckb's own when unset."""
    wanted = {
        f"SECKB_{f.name.upper()}"
        for f in dataclasses.fields(Settings)
        if f.name.startswith(("index_", "policy_"))
    }
    env = base["services"]["seckb-api"]["environment"]
    assert wanted and wanted <= set(env)
    settings = load_settings(env={k: interpolate(str(env[k]), {}) for k in wanted})
    for name in wanted:
        field = name[len("SECKB_") :].lower()
        assert getattr(settings, field) == getattr(Settings(), field), name
