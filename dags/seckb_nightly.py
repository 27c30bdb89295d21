"""
### seckb nightly ingestion

Builds the security knowledge base of Python packages and publishes a snapshot.

| task | what it does |
| --- | --- |
| `advisories.sync_and_parse` | fetch the PyPA advisory-db (git) and parse the advisories that changed |
| `pypi.fetch_projects` | release lists and metadata of every tracked package (pool `pypi`) |
| `bandit.plan` | choose the releases to analyse; carry finished analyses forward |
| `bandit.scan` | one mapped task per batch of releases: download, verify, extract, Bandit (pool `pypi`) |
| `scorecards.fetch_scorecards` | OpenSSF Scorecard results of the packages' repositories (pool `scorecard`) |
| `publish` | merge what the run staged, carry failed sources forward, publish the snapshot atomically, refresh `seckb.duckdb`, emit the `seckb_snapshot` asset (skipped when nothing changed) |
| `report` | fail the run, after publishing, when a source failed, so the run shows red |
| `projects` | after `publish`, whatever it did (`all_done`): re-evaluate the watched projects against the latest snapshot when it or a project changed, record `project_events`, deliver the notification outbox |

A failing source does not stop the others: every step after the first runs when its upstream
is done, whatever its state, and `publish` records the failure in the snapshot's manifest.
Tasks stage their results under `runs/<run_id>/` in the store (`SECKB_STORE_URL`: an S3 or GCS
prefix that Celery workers share, each with its own `SECKB_HOME` as scratch; by default the data
root itself), so clearing and re-running a task or a whole run gives the same published result. Configuration: the same settings as the CLI
(`SECKB_CONFIG` file, `SECKB_*` variables; see docs/configuration.md), read when the DAG is parsed:
`schedule`, `task_retries` and `home` included. The task groups are built from the source
registry (`aggregators.sources.registry`), which names each source, its task, pool and the
sources it reads.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import Asset, dag, task, task_group

from aggregators.core.config import load_settings  # light: no pyarrow, DuckDB or network
from aggregators.core.workspace import snapshots_uri
from aggregators.sources.registry import SOURCES, SourceSpec

SETTINGS = load_settings()
SNAPSHOT = Asset(  # where LATEST moves: the object store, or the data root's snapshots
    name="seckb_snapshot", uri=snapshots_uri(SETTINGS.store_url, SETTINGS.snapshots_dir)
)

DEFAULT_ARGS: dict[str, Any] = {
    "owner": "seckb",
    "retries": SETTINGS.task_retries,
    "retry_delay": timedelta(minutes=1),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=30),
    "execution_timeout": timedelta(hours=2),
}


def source_group(spec: SourceSpec) -> Any:
    """The task group of one source: one task, or plan + mapped parts when it fans out."""
    # every source but the first runs once its upstream is done, whatever its state
    trigger = "all_done" if spec.after else "all_success"

    @task_group(group_id=spec.name, tooltip=spec.tooltip)
    def group() -> None:
        if not spec.fans_out:

            @task(task_id=spec.task_id, pool=spec.pool, trigger_rule=trigger)
            def update(run_id: str | None = None) -> dict[str, Any]:
                from aggregators.run.tasks import run_source

                return run_source(str(run_id), spec.name)

            update()
            return

        @task(task_id="plan", trigger_rule=trigger)
        def plan(run_id: str | None = None) -> list[list[Any]]:
            from aggregators.run.tasks import plan_source

            return plan_source(str(run_id), spec.name)

        # each mapped task is named by the packages of its batch in the UI, not by its index
        @task(
            task_id=spec.task_id,
            pool=spec.pool,
            max_active_tis_per_dagrun=4,
            map_index_template="{{ batch_label }}",
        )
        def part(batch: list[Any], run_id: str | None = None, ti: Any = None) -> dict[str, Any]:
            from airflow.sdk import get_current_context

            from aggregators.run.tasks import batch_label, run_part

            get_current_context()["batch_label"] = batch_label(batch)
            return run_part(str(run_id), spec.name, int(ti.map_index), batch)

        part.expand(batch=plan())

    return group()


@dag(
    dag_id="seckb_nightly",
    schedule=SETTINGS.schedule,
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["seckb", "security", "etl"],
    doc_md=__doc__,
)
def seckb_nightly() -> None:
    """The nightly ingestion: every registered source, then one publish."""
    groups = {spec.name: source_group(spec) for spec in SOURCES}
    for spec in SOURCES:
        for upstream in spec.after:
            groups[upstream] >> groups[spec.name]
    readers = {name for spec in SOURCES for name in spec.after}

    @task(task_id="publish", trigger_rule="all_done", outlets=[SNAPSHOT])
    def publish(run_id: str | None = None, outlet_events: Any = None) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

        from aggregators.core.errors import StaleRunError
        from aggregators.run.tasks import publish_run

        try:
            outcome = publish_run(str(run_id))
        except StaleRunError as exc:  # retrying cannot help: the run must be recomputed
            raise AirflowFailException(str(exc)) from exc
        if not outcome["published"] and not outcome["failures"]:
            raise AirflowSkipException("nothing changed: no new snapshot, no asset event")
        outlet_events[SNAPSHOT].extra = {
            "snapshot_id": outcome["snapshot_id"],
            "published": outcome["published"],
            "failures": sorted(outcome["failures"]),
        }
        return outcome

    @task(task_id="report")
    def report(outcome: dict[str, Any]) -> None:
        """Fail the run (after publishing) when a source failed, so it shows red."""
        from airflow.sdk.exceptions import AirflowFailException

        if outcome["failures"]:
            raise AirflowFailException(
                "sources failed (their previous tables were carried forward): "
                + "; ".join(f"{k}: {v}" for k, v in sorted(outcome["failures"].items()))
            )

    @task(task_id="projects", trigger_rule="all_done")
    def projects() -> dict[str, Any]:
        """Re-evaluate the watched projects and deliver the outbox, whatever publish did: a
        skipped publish (nothing new) still sends what earlier runs could not deliver, and a
        project added since the last run is evaluated against the current snapshot."""
        from aggregators.clients.projects.watch import run_after_publish

        return run_after_publish(load_settings()).summary()

    outcome = publish()
    [groups[name] for name in groups if name not in readers] >> outcome  # type: ignore[operator]
    report(outcome)
    outcome >> projects()


seckb_nightly()
