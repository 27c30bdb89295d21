"""Writing pages and choosing their format (PEP 691 negotiation), and gating them by verdicts."""

from __future__ import annotations

import json

import pytest

from aggregators.clients.simple.gate import YANK_PREFIX, gate
from aggregators.clients.simple.pages import (
    DistFile,
    ProjectList,
    ProjectPage,
    parse_project_html,
    parse_project_json,
    parse_root_html,
    parse_root_json,
)
from aggregators.clients.simple.render import (
    HTML_V1,
    JSON_V1,
    TEXT_HTML,
    negotiate,
    render_project,
    render_root,
)
from aggregators.knowledge.policy import Reason, Verdict

PIP = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, "
    "text/html; q=0.01"
)


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        (None, TEXT_HTML),  # no header: the HTML a legacy client expects
        ("", TEXT_HTML),
        ("*/*", TEXT_HTML),
        (PIP, JSON_V1),
        ("application/vnd.pypi.simple.latest+json", JSON_V1),  # answered with the v1 type
        ("application/vnd.pypi.simple.latest+html", HTML_V1),
        ("text/html", TEXT_HTML),
        ("application/vnd.pypi.simple.v1+html", HTML_V1),
        (f"{JSON_V1};q=0.5, text/html;q=0.9", TEXT_HTML),  # q-values rule
        (f"{JSON_V1};q=0, */*", TEXT_HTML),
        (f"text/html;q=0, {JSON_V1};q=0.2", JSON_V1),
        ("application/json", None),  # PEP 691 deliberately has no application/json alias
        ("image/png", None),
        ("application/vnd.pypi.simple.v2+json", None),
        (f"{JSON_V1};q=banana", None),
    ],
)
def test_negotiation_follows_pep_691(accept: str | None, chosen: str | None) -> None:
    assert negotiate(accept) == chosen


def test_the_format_parameter_wins_over_accept() -> None:
    assert negotiate("text/html", JSON_V1) == JSON_V1
    assert negotiate(PIP, "text/html") == TEXT_HTML
    assert negotiate(PIP, "application/json") is None


def _page() -> ProjectPage:
    files = (
        DistFile(
            "demo-1.0.tar.gz",
            "https://files.example/demo-1.0.tar.gz",
            {"sha256": "aa", "md5": "bb"},
            requires_python=">=3.8,<4",
            size=100,
            upload_time="2024-01-01T00:00:00.000000Z",
            version="1.0",
        ),
        DistFile(
            "demo-1.0-py3-none-any.whl",
            "https://files.example/demo-1.0-py3-none-any.whl",
            {"sha256": "cc"},
            core_metadata={"sha256": "dd"},
            gpg_sig=False,
            size=50,
            version="1.0",
        ),
        DistFile(
            "demo-2.0-py3-none-any.whl",
            "https://files.example/demo-2.0-py3-none-any.whl",
            {"sha256": "ee"},
            core_metadata=True,
            yanked="broken upload",
            size=60,
            version="2.0",
        ),
        DistFile(
            "demo-3.0.tar.gz", "https://files.example/demo-3.0.tar.gz", {}, size=1, version="3.0"
        ),
        DistFile("demo.exe", "https://files.example/demo.exe", {}, size=1, version=None),
    )
    return ProjectPage("demo", files, ("1.0", "2.0", "3.0", "4.0"), 42, "https://up/simple/demo/")


def _verdicts(version: str | None) -> Verdict | None:
    blocked = {
        "1.0": Verdict(
            "demo", "1.0", True, (Reason("advisory", "ADV-1 (High 7.5, fixed in 3.0)", "ADV-1"),)
        ),
        "2.0": Verdict("demo", "2.0", True, (Reason("advisory", "ADV-2 (unscored)", "ADV-2"),)),
        "3.0": Verdict("demo", "3.0", False),
    }
    if version is None:
        return Verdict("demo", "", True, (Reason("file_version", "version unknown"),))
    return blocked.get(version)


def test_yank_mode_marks_blocked_files_and_keeps_everything_else() -> None:
    gated = gate(_page(), _verdicts, "yank")
    files = {f.filename: f for f in gated.page.files}
    assert len(files) == 5
    assert files["demo-1.0.tar.gz"].yanked == YANK_PREFIX + "ADV-1 (High 7.5, fixed in 3.0)"
    assert (
        files["demo-2.0-py3-none-any.whl"].yanked
        == "broken upload; " + YANK_PREFIX + "ADV-2 (unscored)"
    )
    assert files["demo-3.0.tar.gz"].yanked is False
    for original in _page().files:  # URL, hashes and metadata are the upstream's
        served = files[original.filename]
        assert (served.url, served.hashes, served.core_metadata) == (
            original.url,
            original.hashes,
            original.core_metadata,
        )
    assert gated.yanked_files == 4 and gated.hidden_files == 0
    assert gated.page.versions == ("1.0", "2.0", "3.0", "4.0")


def test_hide_mode_leaves_blocked_files_and_their_versions_out() -> None:
    gated = gate(_page(), _verdicts, "hide")
    assert [f.filename for f in gated.page.files] == ["demo-3.0.tar.gz"]
    assert gated.page.versions == ("3.0", "4.0")  # 4.0 has no file: kept as the upstream lists it
    assert gated.hidden_files == 4
    assert {b.version for b in gated.blocked} == {"1.0", "2.0", None}


def test_malicious_releases_are_hidden_in_yank_mode_too() -> None:
    malicious = Verdict(
        "demo", "3.0", True, (Reason("malicious", "MAL-1: malicious package", "MAL-1"),)
    )
    gated = gate(_page(), lambda v: malicious if v == "3.0" else None, "yank")
    assert "demo-3.0.tar.gz" not in {f.filename for f in gated.page.files}
    (blocked,) = gated.blocked
    assert blocked.action == "hidden" and blocked.malicious


def test_json_page_round_trips_and_keeps_every_field() -> None:
    gated = gate(_page(), _verdicts, "yank")
    rendered = render_project(gated, JSON_V1, {"snapshot": "S1"})
    assert rendered.content_type == JSON_V1
    document = json.loads(rendered.body)
    assert document["meta"] == {"api-version": "1.1", "_last-serial": 42}
    assert document["versions"] == ["1.0", "2.0", "3.0", "4.0"]
    wheel = document["files"][1]
    assert wheel["core-metadata"] == {"sha256": "dd"}
    assert "dist-info-metadata" not in wheel  # PEP 714: never the old key in JSON
    assert wheel["gpg-sig"] is False and wheel["size"] == 50
    assert document["files"][0]["upload-time"] == "2024-01-01T00:00:00.000000Z"
    assert document["_seckb"]["snapshot"] == "S1"
    again = parse_project_json(rendered.body, "https://seckb/simple/demo/", "demo")
    assert [(f.filename, f.url, f.hashes, f.yanked) for f in again.files] == [
        (f.filename, f.url, f.hashes, f.yanked) for f in gated.page.files
    ]


def test_html_page_round_trips_and_names_blocked_files_in_text() -> None:
    gated = gate(_page(), _verdicts, "hide")
    rendered = render_project(gated, TEXT_HTML, {"snapshot": "S1"})
    assert rendered.content_type == "text/html; charset=utf-8"
    text = rendered.body.decode()
    assert "data-requires-python" not in text  # the kept file has none
    assert "Left out by seckb (snapshot S1)" in text and "ADV-1" in text
    again = parse_project_html(rendered.body, "https://seckb/strict/simple/demo/", "demo")
    assert [f.filename for f in again.files] == ["demo-3.0.tar.gz"]  # names in text are no links
    yanked = render_project(gate(_page(), _verdicts, "yank"), HTML_V1, {}).body
    files = parse_project_html(yanked, "https://seckb/simple/demo/", "demo").files
    first = files[0]
    assert first.hashes == {"sha256": "aa"}  # one hash in the fragment, the first
    assert first.requires_python == ">=3.8,<4"
    assert first.yanked == YANK_PREFIX + "ADV-1 (High 7.5, fixed in 3.0)"
    assert files[1].core_metadata == {"sha256": "dd"}
    assert b'data-core-metadata="sha256=dd" data-dist-info-metadata="sha256=dd"' in yanked


def test_a_page_without_sizes_claims_api_1_0() -> None:
    item = DistFile("x-1.0.tar.gz", "https://f/x-1.0.tar.gz", {}, version="1.0")
    gated = gate(ProjectPage("x", (item,), ("1.0",)), lambda _v: None, "yank")
    assert json.loads(render_project(gated, JSON_V1, {}).body)["meta"]["api-version"] == "1.0"


def test_hostile_text_is_escaped() -> None:
    item = DistFile(
        'x-1.0.tar.gz"><script>alert(1)</script>',
        'https://f/x"onmouseover="alert(1)',
        {},
        requires_python='"><script>',
        version="1.0",
    )
    evil = Verdict("x", "1.0", True, (Reason("advisory", "<img src=x onerror=alert(1)>"),))
    body = render_project(
        gate(ProjectPage("x", (item,), ("1.0",)), lambda _v: evil, "yank"), TEXT_HTML, {}
    ).body
    assert b"<script>" not in body and b"<img" not in body
    assert b'onmouseover="' not in body


def test_root_pages() -> None:
    projects = ProjectList(("Frob", "Spam_Eggs"))
    html = render_root(projects, TEXT_HTML, "/strict/simple/", {}).body
    assert b'<a href="/strict/simple/spam-eggs/">Spam_Eggs</a>' in html
    assert parse_root_html(html, "http://x/").names == ("Frob", "Spam_Eggs")
    body = render_root(projects, JSON_V1, "/simple/", {"snapshot": "S"}).body
    assert parse_root_json(body, "http://x/").names == ("Frob", "Spam_Eggs")
