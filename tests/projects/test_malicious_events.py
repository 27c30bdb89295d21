"""A watched project learns at once that a component is malware: the run that ingests the
malicious-package record sends a ``malicious`` event (first in its document), and a
``suspect`` one for a version of a wholly malicious project that no record lists."""

from __future__ import annotations

from pathlib import Path

import pytest
from projects.receiver import receiving

from aggregators.cli.main import main
from helpers import AdvisoryRepo, advisory_yaml

RECORDS = Path(__file__).resolve().parents[1] / "fixtures" / "malicious-packages"


def test_a_malicious_record_is_an_event_of_its_own_and_comes_first(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    clean_env: None,
) -> None:
    pypa = AdvisoryRepo(tmp_path / "advisory-db")
    pypa.write("vulns/flask/PYSEC-1.yaml", advisory_yaml("PYSEC-1", fixed="1.0"))
    pypa.commit()
    ossf = AdvisoryRepo(tmp_path / "malicious-packages")
    ossf.write("README.md", "records\n")
    ossf.commit()
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("flask==0.12.2\naiohtt==0.1\ntermncolor==3.1.1\n", encoding="utf-8")
    home = str(tmp_path / "home")
    with receiving() as receiver:
        monkeypatch.setenv("SECKB_ADVISORY_DB_URL", pypa.url)
        monkeypatch.setenv("SECKB_OSV_REPOSITORIES", f"ossf={ossf.url}#osv/malicious/pypi")
        monkeypatch.setenv("SECKB_NOTIFY_WEBHOOKS", receiver.url)
        assert main(["project", "add", "shop", "-r", str(requirements), "--home", home]) == 0
        assert main(["ingest", "--sources", "advisories", "--home", home]) == 0
        capsys.readouterr()
        for relpath in (
            "osv/malicious/pypi/aiohtt/MAL-2023-1578.json",
            "osv/malicious/pypi/termncolor/MAL-2025-47454.json",
        ):
            ossf.write(relpath, (RECORDS / relpath).read_bytes())
        ossf.commit("two records")
        assert main(["ingest", "--sources", "advisories", "--home", home]) == 0
        out = capsys.readouterr().out
        assert "1 malicious, 1 suspect" in out, out
        assert len(receiver.received) == 2
        document = receiver.received[-1].document()
    events = [
        (e["event"], e["package"], e["version"], e["advisory_id"]) for e in document["events"]
    ]
    assert events == [
        ("malicious", "aiohtt", "0.1", "MAL-2023-1578"),
        ("suspect", "termncolor", "3.1.1", None),
    ]
    assert document["counts"] == {"malicious": 1, "suspect": 1}
    assert "remove it" in document["events"][0]["reason"]
