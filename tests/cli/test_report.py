"""``seckb report --html``: one self-contained page with charts, checked in headless Chromium."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from browser import CHROMIUM, MISSING, screenshot

from aggregators.cli.main import main
from aggregators.clients.report.data import ReportData
from aggregators.clients.report.page import _riskiest_table


def write_report(home: Path, target: Path, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["report", "--html", str(target), "--home", str(home)]) == 0
    assert f"wrote {target}" in capsys.readouterr().out
    return target.read_text(encoding="utf-8")


def test_the_report_is_one_self_contained_page_with_five_charts(
    full_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = write_report(full_home, tmp_path / "report.html", capsys)
    assert page.startswith("<!DOCTYPE html>")
    # nothing to fetch: no script, no style sheet, no image or font from anywhere
    assert "<script" not in page and "<link" not in page and "<img" not in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "@import" not in page and not re.search(r"url\((?!#)", page)  # only #clip-paths
    titles = re.findall(r"<h2>(.*?)</h2>", page)
    assert titles[:5] == [
        "Advisories per year and severity",
        "Time to a fixed release",
        "Bandit findings by check",
        "Scorecard scores of the tracked packages",
        "Riskiest packages",
    ]
    assert page.count("<svg") == 5  # every chart has data in this data root
    assert "B602" in page  # subprocess with shell=True, found by Bandit in flask
    assert "https://github.com/pallets/flask" in page  # lowest Scorecard score
    riskiest = page[page.index("Riskiest packages: figures") :]
    assert "<td>flask</td>" in riskiest and "<td>requests</td>" not in riskiest  # 2.0 is fixed


def test_a_report_of_a_snapshot_with_only_advisories_says_what_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from helpers import AdvisoryRepo, advisory_yaml

    repo = AdvisoryRepo(tmp_path / "db")
    repo.write("vulns/flask/PYSEC-1.yaml", advisory_yaml("PYSEC-1"))
    repo.commit()
    monkeypatch.setenv("SECKB_ADVISORY_DB_URL", repo.url)
    home = tmp_path / "home"
    assert main(["ingest", "--home", str(home), "--sources", "advisories"]) == 0
    page = write_report(home, tmp_path / "r.html", capsys)
    assert page.count("<svg") == 1  # advisories per year only
    assert "No Bandit finding outside tests in this snapshot." in page
    assert "No Scorecard result in this snapshot." in page


def test_report_text_from_the_data_is_escaped() -> None:
    data = ReportData("S", "2026-01-01", {}, {})
    data.riskiest = [
        {
            "package": "<script>alert(1)</script>",
            "newest_affected": True,
            "affected_releases": 1,
            "releases": 1,
            "worst_cvss": None,
            "scorecard": None,
        }
    ]
    html = _riskiest_table(data)
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_report_without_a_snapshot_says_where_it_looked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", "--html", str(tmp_path / "r.html"), "--home", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"no snapshots yet in {tmp_path / 'snapshots'}" in err


@pytest.mark.skipif(not CHROMIUM.exists(), reason=MISSING)
def test_the_report_renders_in_headless_chromium(
    full_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from PIL import Image  # matplotlib's own dependency

    target = tmp_path / "report.html"
    write_report(full_home, target, capsys)
    shot = screenshot(target.as_uri(), tmp_path / "report.png", 1280, 1800)
    with Image.open(shot) as image:
        assert image.size == (1280, 1800)
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50  # drawn charts, not a blank page
    red = sum(n for n, (r, g, b) in colours if r > 180 and g < 80 and b < 80)
    assert red > 500  # the red bars (HIGH findings, a newest release affected) are painted
