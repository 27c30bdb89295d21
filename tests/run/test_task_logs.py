"""What an Airflow task's log shows: the stages as they start, a heartbeat, the publish summary."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from aggregators.core.config import Settings
from aggregators.run.tasks import publish_run, run_source
from helpers import AdvisoryRepo, advisory_yaml


def test_a_task_logs_its_stages_and_the_publish_summary(
    advisory_repo: AdvisoryRepo,
    make_settings: Callable[..., Settings],
    caplog: pytest.LogCaptureFixture,
) -> None:
    advisory_repo.write("vulns/flask/PYSEC-1.yaml", advisory_yaml("PYSEC-1", versions=("0.1-x",)))
    advisory_repo.commit()
    settings = make_settings(advisory_repo.url, heartbeat_seconds=0.01)
    caplog.set_level(logging.INFO, logger="aggregators.run.tasks")
    run_source("run-1", "advisories", settings)
    messages = [r.getMessage() for r in caplog.records if r.name == "aggregators.run.tasks"]
    assert "progress: parsing advisories (1)" in messages
    caplog.clear()
    publish_run("run-1", settings)
    messages = [r.getMessage() for r in caplog.records if r.name == "aggregators.run.tasks"]
    assert any(m.startswith("tables changed: advisories 1 (new)") for m in messages), messages
    assert "data problems: 1 recorded upstream, 1 new (seckb errors lists them)" in messages
