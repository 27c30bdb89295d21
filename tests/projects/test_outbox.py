"""The outbox: a receiver down (connection refused, then 500, then a hang) loses nothing; every
document arrives on the next run, in order, once. A withdrawn advisory is a retraction."""

from __future__ import annotations

from pathlib import Path

from projects.receiver import free_port, receiving
from projects.support import add, run, settings_for

from aggregators.clients.projects.watch import enqueue_new, evaluate_projects, run_after_publish
from aggregators.core.clock import utcnow
from aggregators.core.workspace import Workspace
from aggregators.run.ingest import ingest
from aggregators.store.outbox import Outbox
from aggregators.store.projects import ProjectStore
from aggregators.store.snapshots import SnapshotStore
from helpers import AdvisoryRepo, advisory_yaml


def _project(tmp_path: Path, home: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("flask==0.12.2\nrequests==2.0\n", encoding="utf-8")
    assert add(home, "shop", requirements, "requirements") == "added"


def test_a_receiver_down_for_a_while_loses_nothing_and_gets_nothing_twice(
    advisory_repo: AdvisoryRepo, tmp_path: Path
) -> None:
    advisory_repo.write("vulns/flask/PYSEC-1.yaml", advisory_yaml("PYSEC-1", fixed="1.0"))
    advisory_repo.commit()
    home, port = tmp_path / "home", free_port()
    url = f"http://127.0.0.1:{port}/hook"
    settings = settings_for(home, advisory_repo.url, notify_webhooks=url, http_timeout_seconds=0.5)
    _project(tmp_path, home)
    outbox = Outbox(ProjectStore(Workspace(home)))

    refused = run(settings)  # nothing listens: connection refused
    assert refused.delivery is not None and refused.delivery.pending == 1
    assert "ConnectionError" in next(iter(refused.delivery.failed.values()))

    with receiving(port) as receiver:
        receiver.mode = "error"  # 500 on every attempt
        advisory_repo.write(
            "vulns/requests/PYSEC-2.yaml", advisory_yaml("PYSEC-2", package="requests", fixed="3")
        )
        advisory_repo.commit()
        failed = run(settings)
        assert failed.counts == {"newly_affected": 1}
        assert failed.delivery is not None and failed.delivery.pending == 2
        assert "HTTP 500" in next(iter(failed.delivery.failed.values()))
        assert len(receiver.received) == 2  # two attempts at the first document, none later

        receiver.mode = "hang"  # accepts, never answers: the read times out
        advisory_repo.write(
            "vulns/flask/PYSEC-1.yaml",
            advisory_yaml("PYSEC-1", fixed="1.0", withdrawn="2024-02-01T00:00:00Z"),
        )
        advisory_repo.commit()
        hung = run(settings)
        assert hung.counts == {"retracted": 1}
        assert hung.delivery is not None and hung.delivery.pending == 3
        assert "Timeout" in next(iter(hung.delivery.failed.values()))
        receiver.release.set()
        assert len(outbox.pending()) == 3

        receiver.mode = "ok"
        back = run_after_publish(settings)  # nothing new: only the backlog goes out
        assert back.reason is None
        assert back.delivery is not None and back.delivery.pending == 0
        again = run_after_publish(settings)
        assert again.delivery is not None and again.delivery.delivered == []

    acknowledged = [d.document() for d in receiver.acknowledged()]
    ids = [d["id"] for d in acknowledged]
    assert ids == sorted(ids) and len(set(ids)) == 3  # in order, each once
    assert [d["counts"] for d in acknowledged] == [
        {"project_added": 1, "newly_affected": 1},
        {"newly_affected": 1},
        {"retracted": 1},
    ]
    retraction = acknowledged[2]["events"][0]
    assert (retraction["event"], retraction["package"], retraction["advisory_id"]) == (
        "retracted",
        "flask",
        "PYSEC-1",
    )
    assert retraction["reason"] == "the advisory was withdrawn on 2024-02-01"
    assert outbox.pending() == []


def test_each_receiver_gets_each_document_once_whatever_the_other_does(
    advisory_repo: AdvisoryRepo, tmp_path: Path
) -> None:
    advisory_repo.write("vulns/flask/PYSEC-1.yaml", advisory_yaml("PYSEC-1", fixed="1.0"))
    advisory_repo.commit()
    home, port = tmp_path / "home", free_port()
    _project(tmp_path, home)
    with receiving() as up:
        down = f"http://127.0.0.1:{port}/hook"
        settings = settings_for(home, advisory_repo.url, notify_webhooks=f"{up.url},{down}")
        first = run(settings)
        assert first.delivery is not None and first.delivery.pending == 1  # kept for `down`
        with receiving(port) as late:
            second = run_after_publish(settings)
            assert second.delivery is not None and second.delivery.pending == 0
        assert len(up.received) == 1 and len(late.received) == 1
        assert up.received[0].body == late.received[0].body


def test_a_crash_before_enqueueing_is_repaired_by_the_next_run(
    advisory_repo: AdvisoryRepo, tmp_path: Path
) -> None:
    advisory_repo.write("vulns/flask/PYSEC-1.yaml", advisory_yaml("PYSEC-1", fixed="1.0"))
    advisory_repo.commit()
    home = tmp_path / "home"
    _project(tmp_path, home)
    with receiving() as receiver:
        settings = settings_for(home, advisory_repo.url, notify_webhooks=receiver.url)
        ingest(settings, "advisories")
        store = ProjectStore(Workspace(home))
        snapshot = SnapshotStore(Workspace(home)).latest()
        with store.lock():  # the evaluation is written, then the process dies
            evaluation, _ = evaluate_projects(store, snapshot, settings, utcnow())
        assert evaluation is not None and Outbox(store).pending() == []
        report = run_after_publish(settings)
        assert report.reason is None  # not evaluated again: the evaluation was complete
        assert [d.document()["id"] for d in receiver.received] == [evaluation.id]
        with store.lock():
            enqueue_new(store, settings)  # idempotent
        run_after_publish(settings)
        assert len(receiver.received) == 1


def test_a_run_with_no_new_events_sends_nothing(
    advisory_repo: AdvisoryRepo, tmp_path: Path
) -> None:
    advisory_repo.write("vulns/flask/PYSEC-1.yaml", advisory_yaml("PYSEC-1", fixed="1.0"))
    advisory_repo.commit()
    home = tmp_path / "home"
    _project(tmp_path, home)
    with receiving() as receiver:
        settings = settings_for(home, advisory_repo.url, notify_webhooks=receiver.url)
        run(settings)
        advisory_repo.write(
            "vulns/django/PYSEC-9.yaml", advisory_yaml("PYSEC-9", package="django", fixed="5")
        )
        advisory_repo.commit()
        report = run(settings)  # a new snapshot, but nothing about the project changed
        assert report.reason is not None and report.counts == {}
        assert len(receiver.received) == 1


def test_one_process_delivers_at_a_time(advisory_repo: AdvisoryRepo, tmp_path: Path) -> None:
    advisory_repo.write("vulns/flask/PYSEC-1.yaml", advisory_yaml("PYSEC-1", fixed="1.0"))
    advisory_repo.commit()
    home = tmp_path / "home"
    _project(tmp_path, home)
    with receiving() as receiver:
        settings = settings_for(home, advisory_repo.url, notify_webhooks=receiver.url)
        outbox = Outbox(ProjectStore(Workspace(home)))
        with outbox.lock():  # another process is delivering
            busy = run(settings)
        assert busy.delivery is not None and busy.delivery.skipped
        assert busy.delivery.pending == 1 and receiver.received == []
        later = run_after_publish(settings)
        assert later.delivery is not None and len(later.delivery.delivered) == 1
        assert len(receiver.received) == 1
