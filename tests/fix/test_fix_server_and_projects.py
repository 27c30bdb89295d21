"""The fix beyond the command: ``POST /v1/fix`` for CI bots, ``seckb project show NAME --fix``,
and the "newly affected" notification carrying the plan — real uv, real pypiserver."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import requests
from index.support import BIN, client_environment, index_settings, serving_index

from aggregators.clients.projects.documents import summary_text
from aggregators.clients.projects.inputs import REQUIREMENTS, read_components
from aggregators.clients.projects.service import add_project
from aggregators.clients.projects.watch import run_after_publish
from aggregators.clients.server import fixing
from aggregators.core.clock import utcnow
from aggregators.core.config import load_settings
from aggregators.core.workspace import Workspace
from aggregators.run.ingest import ingest
from aggregators.store.projects import ProjectStore
from helpers import AdvisoryRepo, advisory_yaml

pytestmark = pytest.mark.slow
BODY = "# pins\nweb==1.0\ncore==1.0\nlib==1.0\n"


def test_post_v1_fix(fix_home: Path, upstream: str) -> None:
    with serving_index(index_settings(fix_home, upstream)) as url:
        answer = requests.post(
            f"{url}/v1/fix?name=app/requirements.txt",
            data=BODY,
            headers={"Content-Type": "text/plain"},
            timeout=300,
        )
        assert answer.status_code == 200, answer.text
        document = answer.json()
        assert document["schema"] == "seckb.fix/1" and document["exit_code"] == 1
        assert document["fixed"] == "# pins\nweb==2.0\ncore==2.0\nlib==1.1\n"
        assert document["changes"][0]["where"] == "app/requirements.txt:4"  # named as sent
        relax = requests.post(f"{url}/v1/fix?strategy=relax", data=BODY, timeout=300).json()
        assert relax["strategy"] == "relax"
        refused = requests.post(f"{url}/v1/fix", data="-r other.txt\nweb==1.0\n", timeout=60)
        assert refused.status_code == 400 and "includes" in refused.json()["message"]
        assert (
            requests.post(f"{url}/v1/fix?strategy=wild", data=BODY, timeout=60).status_code == 400
        )
        assert requests.post(f"{url}/v1/fix", data=b"\xff\xfe", timeout=60).status_code == 400
        for _ in range(2):  # every slot taken: the next caller is told to come back
            assert fixing.FIX_SLOTS.acquire(blocking=False)
        try:
            busy = requests.post(f"{url}/v1/fix", data=BODY, timeout=60)
        finally:
            fixing.FIX_SLOTS.release()
            fixing.FIX_SLOTS.release()
        assert busy.status_code == 429 and busy.headers["Retry-After"] == "5"


def test_project_show_fix_and_the_notification_that_carries_the_plan(
    upstream: str, tmp_path: Path
) -> None:
    repo = AdvisoryRepo(tmp_path / "advisory-db")
    repo.write("vulns/lib/FIX-5.yaml", advisory_yaml("FIX-5", "lib", introduced="0", fixed="1.1"))
    repo.commit()
    settings = load_settings(
        env={},
        home=tmp_path / "home",
        advisory_db_url=repo.url,
        index_upstreams=[upstream],
        index_timeout_seconds=5,
    )
    assert ingest(settings, "advisories").snapshot is not None
    pins = tmp_path / "app.txt"
    pins.write_text("web==1.0\ncore==1.0\nlib==1.0\n", encoding="utf-8")
    store = ProjectStore(Workspace(settings.home))
    add_project(store, "shop", read_components(pins, REQUIREMENTS), None, utcnow())
    first = run_after_publish(settings, deliver_outbox=False)
    assert first.counts.get("newly_affected") == 1  # lib 1.0

    repo.write("vulns/web/FIX-1.yaml", advisory_yaml("FIX-1", "web", introduced="0", fixed="2.0"))
    repo.commit()
    assert ingest(settings, "advisories").snapshot is not None
    second = run_after_publish(settings, deliver_outbox=False)
    assert second.counts.get("newly_affected") == 1
    evaluation = store.latest_evaluation()
    assert evaluation is not None
    document = json.loads(evaluation.events_document() or b"{}")
    (event,) = [e for e in document["events"] if e["event"] == "newly_affected"]
    assert event["package"] == "web" and event["fix"] == {"to": "2.0"}
    assert (
        "affected by FIX-1, fixed in 2.0 — fix: web 2.0" in summary_text(document)[1]
    )  # chat, e-mail
    plan = document["fixes"]["shop"]
    assert plan["error"] is None and plan["blocked_after"] == 0
    assert {c["package"]: c["to"] for c in plan["changes"]} == {
        "web": "2.0",
        "core": "2.0",
        "lib": "1.1",
    }

    env = {**client_environment(tmp_path / "client"), "SECKB_INDEX_UPSTREAMS": upstream}
    done = subprocess.run(
        [str(BIN / "seckb"), "project", "show", "shop", "--fix", "--home", str(settings.home)],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "web" in done.stdout and "2.0" in done.stdout and "forced" in done.stdout
    shown = subprocess.run(
        [str(BIN / "seckb"), "project", "show", "shop", "--fix", "--json", "--home",
         str(settings.home)],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert json.loads(shown.stdout)["fix"]["after"]["blocked"] == 0
