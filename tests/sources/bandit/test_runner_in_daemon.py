"""The Bandit runner inside a daemonic process, as Airflow's CeleryExecutor runs every task (in
Celery's prefork pool): ``multiprocessing`` refuses children there unless the runner, which reaps
every worker it starts, lifts the refusal. Found by scripts/verify_celery.sh, where every
``bandit.scan`` task failed with "daemonic processes are not allowed to have children"."""

from __future__ import annotations

import hashlib
import multiprocessing
from pathlib import Path

from aggregators.sources.bandit.runner import BanditRunner, FileJob, Limits


def _analyse_in_a_daemon(path: str, queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    file = Path(path)
    job = FileJob(hashlib.sha256(file.read_bytes()).hexdigest(), file, file.stat().st_size)
    try:
        results = BanditRunner(1, Limits(60, 2048)).run([job])
        queue.put(sorted(r.status for r in results.values()))
    except Exception as exc:  # reported to the test, not lost with the daemon
        queue.put(repr(exc))
    queue.put(multiprocessing.current_process()._config.get("daemon"))  # type: ignore[attr-defined]


def test_the_runner_starts_its_workers_from_a_daemonic_process(tmp_path: Path) -> None:
    source = tmp_path / "app.py"
    source.write_text("def run(x):\n    return eval(x)\n", encoding="utf-8")
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    daemon = context.Process(target=_analyse_in_a_daemon, args=(str(source), queue), daemon=True)
    daemon.start()
    try:
        assert queue.get(timeout=120) == ["ok"]
        assert queue.get(timeout=10) is True  # the daemon flag is restored afterwards
    finally:
        daemon.join(timeout=30)
