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

A failing source does not stop the others: every step after the first runs when its upstream
is done, whatever its state, and `publish` records the failure in the snapshot's manifest.
Tasks stage their results under `$SECKB_HOME/runs/<run_id>/`, so clearing and re-running a task
or a whole run gives the same published result. Configuration: the `SECKB_*` variables
(see the README); `SECKB_SCHEDULE` sets the cron schedule.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import Asset, dag, task, task_group

SECKB_HOME = os.environ.get("SECKB_HOME", "/opt/seckb/data")
SNAPSHOT = Asset(name="seckb_snapshot", uri=f"file://{SECKB_HOME}/snapshots")

DEFAULT_ARGS: dict[str, Any] = {
    "owner": "seckb",
    "retries": int(os.environ.get("SECKB_TASK_RETRIES", "3")),
    "retry_delay": timedelta(minutes=1),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=30),
    "execution_timeout": timedelta(hours=2),
}


@dag(
    dag_id="seckb_nightly",
    schedule=os.environ.get("SECKB_SCHEDULE", "0 3 * * *"),
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["seckb", "security", "etl"],
    doc_md=__doc__,
)
def seckb_nightly() -> None:
    """The nightly ingestion: four sources, then one publish."""

    @task_group(group_id="advisories", tooltip="PyPA advisory-db (git)")
    def advisories() -> None:
        @task(task_id="sync_and_parse")
        def sync_and_parse(run_id: str | None = None) -> dict[str, Any]:
            from aggregators.run.tasks import run_source

            return run_source(str(run_id), "advisories")

        sync_and_parse()

    @task_group(group_id="pypi", tooltip="PyPI JSON API")
    def pypi() -> None:
        @task(task_id="fetch_projects", pool="pypi", trigger_rule="all_done")
        def fetch_projects(run_id: str | None = None) -> dict[str, Any]:
            from aggregators.run.tasks import run_source

            return run_source(str(run_id), "pypi")

        fetch_projects()

    @task_group(group_id="bandit", tooltip="Bandit on sdists, fanned out over batches")
    def bandit() -> None:
        @task(task_id="plan", trigger_rule="all_done")
        def plan(run_id: str | None = None) -> list[list[dict[str, Any]]]:
            from aggregators.run.tasks import plan_bandit

            return plan_bandit(str(run_id))

        @task(task_id="scan", pool="pypi", max_active_tis_per_dagrun=4)
        def scan(
            batch: list[dict[str, Any]], run_id: str | None = None, ti: Any = None
        ) -> dict[str, Any]:
            from aggregators.run.tasks import scan_batch

            return scan_batch(str(run_id), int(ti.map_index), batch)

        scan.expand(batch=plan())

    @task_group(group_id="scorecards", tooltip="OpenSSF Scorecard API")
    def scorecards() -> None:
        @task(task_id="fetch_scorecards", pool="scorecard", trigger_rule="all_done")
        def fetch_scorecards(run_id: str | None = None) -> dict[str, Any]:
            from aggregators.run.tasks import run_source

            return run_source(str(run_id), "scorecards")

        fetch_scorecards()

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

    # groups, not tasks, are chained: each group runs once its upstream group is done
    releases = pypi()
    advisories() >> releases  # type: ignore[operator]
    analysed, health = bandit(), scorecards()
    releases >> [analysed, health]  # type: ignore[operator]
    outcome = publish()
    [analysed, health] >> outcome  # type: ignore[operator]
    report(outcome)


seckb_nightly()
