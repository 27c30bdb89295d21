"""Run seckb's nightly DAG under Airflow's CeleryExecutor, for real, on this machine; check what
it published in the store.

What runs (every process started here, stopped at the end by its id):
  * PostgreSQL (Debian's package) as Airflow's metadata database and Celery's result backend,
    Redis (Debian's package) as the Celery broker, each on a free loopback port;
  * moto's S3 server on loopback as the store (SECKB_STORE_URL=s3://seckb-verify/kb);
  * loopback stand-ins for PyPI (small sdists) and the Scorecard API, in this process;
  * the advisory-db: the real bundle (../shared/data/advisory-db-2023.bundle) when present,
    else a local git repository with two advisories; a small watchlist on top;
  * Airflow: api-server, scheduler, dag-processor, and two Celery workers, each with its own
    SECKB_HOME (scratch) directory and nothing else in common but the store.

Then it triggers seckb_nightly, waits for the run, shows which worker ran which task, checks
the snapshot in the store (LATEST, manifest, every table's sha256, the query answers), checks
that the workers' scratch directories hold no snapshot, triggers a second run (nothing new:
nothing published, no release analysed again), and stops everything.

Usage: scripts/verify_celery.sh (creates the virtual environment this needs), or
       VENV/bin/python scripts/verify_celery.py [--keep] [--timeout SECONDS]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ROOT.parent / "shared" / "data" / "advisory-db-2023.bundle"
sys.path.insert(0, str(ROOT / "tests"))  # the loopback stand-ins the tests use

from fakes import FakeServer, json_reply, make_sdist, serve_project, serving  # noqa: E402
from s3server import S3Server, free_port  # noqa: E402

from helpers import AdvisoryRepo, advisory_yaml  # noqa: E402

BIN = Path(sys.executable).parent
BUCKET = "seckb-verify"
STORE = f"s3://{BUCKET}/kb"
DAG = "seckb_nightly"
WATCHLIST = "seckb-demo"
CODE = {"app.py": "import subprocess\n\ndef run(c):\n    return subprocess.call(c, shell=True)\n"}


def say(text: str, prefix: str = "[verify] ") -> None:
    sys.stdout.write(f"{prefix}{text}\n")
    sys.stdout.flush()


class Processes:
    """Every long-running process this script started, stopped by id (its process group)."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.started: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.started.append((name, proc))
        say(f"started {name} (pid {proc.pid})")
        return proc

    def check(self) -> None:
        for name, proc in self.started:
            if proc.poll() is not None:
                tail = (self.logs / f"{name}.log").read_text(errors="replace")[-3000:]
                raise SystemExit(f"{name} exited with {proc.returncode}:\n{tail}")

    def stop(self) -> None:
        for _name, proc in reversed(self.started):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)  # the group this script created for it
        for name, proc in reversed(self.started):
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
            say(f"stopped {name}")
        self.started = []


def run(argv: list[str], env: dict[str, str] | None = None, **kw: Any) -> str:
    done = subprocess.run(argv, env=env, capture_output=True, text=True, **kw)
    if done.returncode != 0:
        raise SystemExit(
            f"{' '.join(argv)} failed ({done.returncode}):\n{done.stdout}{done.stderr}"
        )
    return done.stdout


def wait_for(what: str, check: Any, timeout: float, procs: Processes | None = None) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if procs is not None:
            procs.check()
        found = check()
        if found:
            return found
        time.sleep(1)
    raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what}")


@contextmanager
def postgres(work: Path) -> Iterator[int]:
    """A PostgreSQL cluster of Debian's postgresql package, on a free loopback port."""
    pg_bin = sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1]
    data, sockets, port = work / "pg" / "data", work / "pg" / "run", free_port()
    sockets.mkdir(parents=True)
    shutil.chown(work / "pg", "postgres")
    shutil.chown(sockets, "postgres")
    as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    run([*as_pg, str(pg_bin / "initdb"), "-D", str(data), "-U", "seckb", "--auth=trust"])
    options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off"
    log = work / "pg" / "postgres.log"
    run(
        [
            *as_pg,
            str(pg_bin / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            options,
            "-l",
            str(log),
            "-w",
            "start",
        ]
    )
    say(f"PostgreSQL {pg_bin.parent.name} on 127.0.0.1:{port}")
    try:
        run(
            [
                "psql",
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-U",
                "seckb",
                "-d",
                "postgres",
                "-c",
                "CREATE DATABASE airflow",
            ]
        )
        yield port
    finally:
        run([*as_pg, str(pg_bin / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"])
        say("stopped PostgreSQL")


def stand_ins(work: Path) -> tuple[Iterator[tuple[FakeServer, FakeServer]], str, list[str]]:
    """The advisory-db (bundle or local repository), PyPI and Scorecard stand-ins."""
    if BUNDLE.is_file():
        advisory_db, packages = str(BUNDLE), ["flask", "jinja2"]
    else:
        repo = AdvisoryRepo(work / "advisory-db")
        repo.write("vulns/flask/PYSEC-1.yaml", advisory_yaml("PYSEC-1", fixed="0.12.3"))
        repo.write("vulns/jinja2/PYSEC-2.yaml", advisory_yaml("PYSEC-2", "jinja2", fixed="2.0"))
        repo.commit()
        advisory_db, packages = repo.url, ["flask", "jinja2"]

    @contextmanager
    def servers() -> Iterator[tuple[FakeServer, FakeServer]]:
        with serving() as pypi, serving() as scorecard:
            for name in [*packages, WATCHLIST]:
                versions = ("0.12.2", "0.12.3", "1.0") if name == "flask" else ("1.0", "2.0")
                serve_project(
                    pypi,
                    name,
                    {v: make_sdist(name, v, {**CODE, "v.py": f"V = {v!r}\n"}) for v in versions},
                    project_urls={"Source": f"https://github.com/example/{name}"},
                )
                card = {
                    "date": "2026-11-16",
                    "repo": {"name": f"github.com/example/{name}", "commit": "c"},
                    "score": 6.0,
                    "scorecard": {"version": "v5", "commit": "s"},
                    "checks": [],
                }
                scorecard.routes[f"/projects/github.com/example/{name}"] = json_reply(card)
            yield pypi, scorecard

    return servers(), advisory_db, packages


def airflow_env(
    work: Path, pg: int, redis: int, api: int, s3: S3Server, urls: dict[str, str]
) -> dict[str, str]:
    from cryptography.fernet import Fernet

    env = {k: v for k, v in os.environ.items() if not k.startswith(("SECKB_", "AIRFLOW"))}
    database = f"seckb@127.0.0.1:{pg}/airflow"
    (work / "hooks").mkdir()
    (work / "hooks" / "verify_hostname.py").write_text(
        "import os\n\ndef hostname():\n    return os.environ.get('VERIFY_NAME', 'airflow')\n"
    )
    env.update(
        {
            "AIRFLOW_HOME": str(work / "airflow"),
            "PYTHONPATH": str(work / "hooks"),
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "verify_hostname.hostname",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api}/execution/",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://{database}",
            "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:{redis}/0",
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql+psycopg2://{database}",
            "AIRFLOW__CELERY__WORKER_PREFETCH_MULTIPLIER": "1",
            "AIRFLOW__API__PORT": str(api),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api}",
            "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
            "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            **s3.env(),
            "SECKB_STORE_URL": STORE,
            "SECKB_HOME": str(work / "scheduler-home"),
            "SECKB_TASK_RETRIES": "0",
            "SECKB_SCAN_LATEST": "2",
            "SECKB_WATCHLIST": WATCHLIST,
            "SECKB_HTTP_ATTEMPTS": "2",
            "SECKB_HTTP_BACKOFF_MAX_SECONDS": "0.2",
            "SECKB_WORKERS": "1",
            **urls,
        }
    )
    return env


def start_airflow(procs: Processes, env: dict[str, str], work: Path) -> None:
    airflow = str(BIN / "airflow")
    say("airflow db migrate")
    run([airflow, "db", "migrate"], env)
    for pool, slots in (("pypi", "8"), ("scorecard", "4")):
        run([airflow, "pools", "set", pool, slots, f"seckb {pool}"], env)
    procs.start("api-server", [airflow, "api-server", "--port", env["AIRFLOW__API__PORT"]], env)
    procs.start("scheduler", [airflow, "scheduler"], env)
    procs.start("dag-processor", [airflow, "dag-processor"], env)
    for n in (1, 2):
        scratch = work / f"worker-{n}"
        worker_env = {**env, "SECKB_HOME": str(scratch), "VERIFY_NAME": f"worker-{n}"}
        procs.start(
            f"worker-{n}",
            [
                airflow,
                "celery",
                "worker",
                "--celery-hostname",
                f"worker-{n}@%h",
                "--concurrency",
                "2",
                "--skip-serve-logs",
                "--without-mingle",
            ],
            worker_env,
        )


def sql(pg: int, query: str, *params: Any) -> list[tuple[Any, ...]]:
    """Rows of a query on Airflow's metadata database (the CLI mixes log lines into its JSON)."""
    import psycopg2

    with psycopg2.connect(host="127.0.0.1", port=pg, user="seckb", dbname="airflow") as con:
        cur = con.cursor()
        cur.execute(query, params)
        return list(cur.fetchall())


def first_run(procs: Processes, env: dict[str, str], pg: int) -> str:
    """The run the scheduler starts when the DAG is unpaused (the latest interval of its
    schedule: catchup is off); one is triggered when none comes within a minute."""
    runs = "SELECT run_id FROM dag_run WHERE dag_id = %s ORDER BY id"
    try:
        found = wait_for("the scheduled run", lambda: sql(pg, runs, DAG), 60, procs)
        run_id = str(found[0][0])
        say(f"the scheduler started run {run_id}")
    except SystemExit:
        run_id = "verify-1"
        run([str(BIN / "airflow"), "dags", "trigger", DAG, "--run-id", run_id], env)
        say(f"triggered {DAG} run {run_id}")
    return run_id


def trigger(env: dict[str, str], run_id: str) -> str:
    run([str(BIN / "airflow"), "dags", "trigger", DAG, "--run-id", run_id], env)
    say(f"triggered {DAG} run {run_id}")
    return run_id


def wait_run(procs: Processes, pg: int, run_id: str, timeout: float) -> str:
    def finished() -> str | None:
        rows = sql(pg, "SELECT state FROM dag_run WHERE dag_id = %s AND run_id = %s", DAG, run_id)
        state = str(rows[0][0]) if rows else ""
        return state if state in ("success", "failed") else None

    started = time.monotonic()
    state: str = wait_for(f"run {run_id}", finished, timeout, procs)
    say(f"run {run_id}: {state} after {time.monotonic() - started:.0f} s")
    return state


def task_instances(pg: int, run_id: str) -> list[tuple[str, int, str, str]]:
    rows = sql(
        pg,
        "SELECT task_id, map_index, coalesce(hostname, ''), coalesce(state, '') "
        "FROM task_instance WHERE run_id = %s ORDER BY task_id, map_index",
        run_id,
    )
    return [(str(a), int(b), str(c), str(d)) for a, b, c, d in rows]


def show_tasks(rows: list[tuple[str, int, str, str]]) -> dict[str, set[str]]:
    by_worker: dict[str, set[str]] = {}
    for task_id, index, host, state in rows:
        name = task_id + (f"[{index}]" if index >= 0 else "")
        say(f"{name:32} {state:10} {host}", prefix="    ")
        if host:
            by_worker.setdefault(host, set()).add(task_id)
    return by_worker


def show_failures(work: Path, run_id: str) -> None:
    """The error events of the run's failed task logs (Airflow writes them as JSON lines)."""
    for log in sorted((work / "airflow" / "logs").glob(f"dag_id={DAG}/run_id={run_id}/**/*.log")):
        for line in log.read_text(errors="replace").splitlines():
            if '"level":"error"' in line:
                event = json.loads(line)
                detail = event.get("error_detail") or [{}]
                say(f"{log.parent.name}: {event.get('event')}: {detail[0].get('exc_value', '')}")


def check_store(work: Path, s3: S3Server, packages: list[str]) -> dict[str, Any]:
    """Read the snapshot back as a reader elsewhere would: from the store, verified."""
    from aggregators.core.config import load_settings
    from aggregators.store.locations import open_published

    settings = load_settings(env={}, home=work / "reader", snapshot_url=STORE)
    snapshot = open_published(settings)
    snapshot.verify()  # every file downloaded and checked against the manifest's sha256
    tables = {name: snapshot.manifest["tables"][name]["rows"] for name in snapshot.tables}
    say(f"snapshot {snapshot.id} in {STORE}: {len(tables)} tables, verified")
    for name, rows in sorted(tables.items()):
        say(f"{name:28} {rows:7,} rows", prefix="    ")
    statuses = {n: s["status"] for n, s in snapshot.manifest["sources"].items()}
    say(f"sources: {statuses}")
    scans = snapshot.read("bandit_scans")
    assert scans is not None
    scanned = sorted(
        zip(*scans.select(["package", "version", "status"]).to_pydict().values(), strict=True)
    )
    say(f"bandit_scans: {scanned}")
    keys = s3.keys(BUCKET, "kb/")
    prefixes: dict[str, int] = {}
    for key in keys:
        top = "/".join(key.split("/")[1:3])
        prefixes[top] = prefixes.get(top, 0) + 1
    say(f"objects in the store by prefix: {dict(sorted(prefixes.items()))}")
    query = run(
        [
            str(BIN / "seckb"),
            "query",
            "flask",
            "0.12.2",
            "--json",
            "--from",
            STORE,
            "--home",
            str(work / "reader"),
        ],
        None,
    )
    answer = json.loads(query)
    bandit = answer["bandit"]["status"] if answer["bandit"] else None
    say(
        f"seckb query flask 0.12.2 --from {STORE}: vulnerable={answer['vulnerable']}, "
        f"{len(answer['advisories'])} advisories, bandit={bandit}"
    )
    return {"snapshot": snapshot, "statuses": statuses, "scanned": scanned, "keys": keys}


def check_scratch(work: Path) -> None:
    for name in ("worker-1", "worker-2"):
        home = work / name
        latest = home / "snapshots" / "LATEST"
        mirror = (home / "cache" / "advisory-db.git").is_dir()
        parts = len(list((home / "cache" / "bandit").glob("part-*.parquet")))
        say(
            f"{name} scratch {home}: LATEST on disk: {latest.exists()}, "
            f"advisory-db mirror: {mirror}, Bandit cache parts (local copies): {parts}"
        )
        assert not latest.exists(), "a worker published to its own disk"


def verify(work: Path, timeout: float) -> None:
    logs = work / "logs"
    logs.mkdir(parents=True)
    procs = Processes(logs)
    s3 = S3Server(logs / "moto.log")
    servers, advisory_db, packages = stand_ins(work)
    try:
        s3.start()
        s3.make_bucket(BUCKET)
        os.environ.update(s3.env())  # for this process's reads of the store (obstore, seckb)
        say(f"moto S3 server on {s3.endpoint}, bucket {BUCKET}")
        redis_port = free_port()
        redis = ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1"]
        redis += ["--save", "", "--appendonly", "no", "--dir", str(work)]
        procs.start("redis", redis, dict(os.environ))
        ping = ["redis-cli", "-p", str(redis_port), "ping"]
        wait_for("redis", lambda: b"PONG" in subprocess.run(ping, capture_output=True).stdout, 30)
        say(f"Redis {run(['redis-server', '--version']).split()[2]} on 127.0.0.1:{redis_port}")
        with postgres(work) as pg, servers as (pypi, scorecard):
            urls = {
                "SECKB_PYPI_URL": pypi.url,
                "SECKB_SCORECARD_URL": scorecard.url,
                "SECKB_ADVISORY_DB_URL": advisory_db,
            }
            say(f"advisory-db: {advisory_db}; PyPI {pypi.url}; Scorecard {scorecard.url}")
            env = airflow_env(work, pg, redis_port, free_port(), s3, urls)
            start_airflow(procs, env, work)
            parsed = "SELECT dag_id FROM serialized_dag WHERE dag_id = %s"
            wait_for(f"{DAG} parsed", lambda: sql(pg, parsed, DAG), 180, procs)
            run([str(BIN / "airflow"), "dags", "unpause", DAG], env)
            run_id = first_run(procs, env, pg)
            state = wait_run(procs, pg, run_id, timeout)
            rows = task_instances(pg, run_id)
            say(f"task instances of {run_id} (task, state, worker):")
            by_worker = show_tasks(rows)
            if state != "success":
                show_failures(work, run_id)
            assert state == "success", "the first run failed (see the logs above)"
            assert {"worker-1", "worker-2"} <= set(by_worker), "both workers ran tasks"
            scans = {h for t, _i, h, _s in rows if t == "bandit.scan"}
            say(f"bandit.scan tasks ran on: {sorted(scans)}")
            first = check_store(work, s3, packages)
            check_scratch(work)
            state = wait_run(procs, pg, trigger(env, "verify-2"), timeout)
            rows = task_instances(pg, "verify-2")
            say("task instances of verify-2:")
            show_tasks(rows)
            publish = [s for t, _i, _h, s in rows if t == "publish"]
            latest = s3.get(BUCKET, "kb/snapshots/LATEST")
            say(
                f"second run: {state}, publish {publish}, LATEST still "
                f"{(latest or b'').decode().strip()}"
            )
            assert state == "success" and publish == ["skipped"]
            assert latest == f"{first['snapshot'].id}\n".encode()
            procs.stop()
        say("ALL CHECKS PASSED")
    finally:
        procs.stop()
        s3.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per DAG run")
    args = parser.parse_args()
    for tool in ("redis-server", "redis-cli", "psql", "runuser"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} not found: apt-get install -y redis-server postgresql")
    work = Path(tempfile.mkdtemp(prefix="seckb-celery-"))
    work.chmod(0o755)  # PostgreSQL runs as its own user below
    say(f"work directory {work}")
    try:
        verify(work, args.timeout)
    finally:
        if args.keep:
            say(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
