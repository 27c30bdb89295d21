"""CycloneDX SBOMs in ``seckb audit``: the document's subject, component types, purl/version
disagreements and duplicates (issue 10), on small documents and against a real snapshot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from kb_snapshots import build_home

from aggregators.cli.main import main
from aggregators.clients.inputs.sbom import parse_sbom

ORIGIN = "bom.json"


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    return build_home(tmp_path_factory.mktemp("kb"))


@pytest.fixture
def run(
    data: tuple[Path, list[str]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    clean_env: None,
) -> Any:
    """``seckb audit --sbom --json`` of a document on the first snapshot: (code, doc, stderr)."""
    home, ids = data

    def audit(document: dict[str, Any], *options: str) -> tuple[int, dict[str, Any], str]:
        path = tmp_path / ORIGIN
        path.write_text(json.dumps(document), encoding="utf-8")
        where = ["--home", str(home), "--snapshot", ids[0]]
        code = main(["audit", "--sbom", str(path), "--json", *options, *where])
        captured = capsys.readouterr()
        result: dict[str, Any] = json.loads(captured.out)
        return code, result, captured.err

    return audit


def bom(components: list[dict[str, Any]], root: dict[str, Any] | None = None) -> dict[str, Any]:
    document: dict[str, Any] = {"bomFormat": "CycloneDX", "specVersion": "1.6"}
    if root is not None:
        document["metadata"] = {"component": root}
    document["components"] = components
    return document


def entries(document: dict[str, Any]) -> tuple[list[tuple[Any, ...]], list[str]]:
    found, notes = parse_sbom(document, ORIGIN)
    return [(r.package, r.version, r.where, r.problem) for r in found], notes


# -- the document's own subject (metadata.component) ------------------------------------------


def test_a_pypi_subject_is_audited_first(run: Any) -> None:
    root = {
        "type": "library",
        "name": "flask",
        "version": "0.12.2",
        "purl": "pkg:pypi/flask@0.12.2",
    }
    code, doc, err = run(bom([{"type": "library", "name": "flask", "version": "1.2"}], root))
    got = [(r["package"], r["version"], r["status"]) for r in doc["packages"]]
    assert got == [("flask", "0.12.2", "vulnerable"), ("flask", "1.2", "ok")]
    assert doc["packages"][0]["where"].endswith(f"{ORIGIN}#metadata.component")
    assert doc["notes"] == [
        "the SBOM's subject (metadata.component) flask audited as the PyPI package flask 0.12.2"
    ]
    assert "note: the SBOM's subject" in err
    assert code == 0


@pytest.mark.parametrize(
    ("root", "note"),
    [
        (  # syft on a directory
            {"type": "file", "name": "/src/app", "bom-ref": "root"},
            "the SBOM's subject (metadata.component) /src/app not audited: it has no purl and "
            "no version",
        ),
        (  # syft on an image
            {"type": "container", "name": "app", "version": "sha256:abc"},
            "the SBOM's subject (metadata.component) app not audited: its CycloneDX type is "
            "container, not a library, framework or application",
        ),
        (
            {"type": "application", "name": "web", "purl": "pkg:npm/web@1.0.0"},
            "the SBOM's subject (metadata.component) web not audited: its purl is of type npm, "
            "not pypi",
        ),
        (
            {"type": "application", "name": "myapp", "version": "1.0"},
            "the SBOM's subject (metadata.component) myapp audited as the PyPI package myapp 1.0",
        ),
    ],
)
def test_the_subject_is_audited_or_a_note_says_why_not(root: dict[str, Any], note: str) -> None:
    found, notes = entries(bom([], root))
    assert notes == [note]
    assert [e[0] for e in found] == (["myapp"] if "audited as" in note else [])


def test_no_subject_no_note() -> None:
    assert entries(bom([{"name": "flask", "version": "1.2"}])) == (
        [("flask", "1.2", f"{ORIGIN}#flask", None)],
        [],
    )


# -- component types ---------------------------------------------------------------------------

NOT_PACKAGES = [
    "operating-system",
    "file",
    "file",
    "container",
    "device",
    "firmware",
    "data",
    "machine-learning-model",
    "platform",
]


def test_components_that_are_not_packages_are_skipped_with_a_note(run: Any) -> None:
    components = [
        {"type": kind, "name": f"thing-{i}", "version": "1.0"}
        for i, kind in enumerate(NOT_PACKAGES)
    ]
    components += [
        {"type": "framework", "name": "Flask", "version": "1.0"},
        {"name": "requests", "version": "2.2"},  # no type: a library
        {"type": "file", "name": "flask", "purl": "pkg:pypi/flask@1.2"},  # the purl decides
    ]
    code, doc, _ = run(bom(components), "--fail-on", "critical")
    assert [(r["package"], r["version"], r["status"]) for r in doc["packages"]] == [
        ("flask", "1.0", "vulnerable"),
        ("requests", "2.2", "ok"),
        ("flask", "1.2", "ok"),
    ]
    assert doc["notes"] == [
        f"skipped {count} component(s) of CycloneDX type {kind} "
        "(not a library, framework or application)"
        for kind, count in sorted({k: NOT_PACKAGES.count(k) for k in NOT_PACKAGES}.items())
    ]
    assert any(n.startswith("skipped 2 component(s) of CycloneDX type file ") for n in doc["notes"])
    assert code == 1 and doc["summary"]["total"] == 3  # nothing unknown or unpinned from them


# -- a purl's version and the component's version ----------------------------------------------


def test_purl_and_version_disagreeing_is_invalid_naming_both(run: Any) -> None:
    components = [
        {"type": "library", "name": "flask", "version": "0.12.2", "purl": "pkg:pypi/flask@1.2"},
        {
            "type": "library",
            "name": "requests",
            "version": "2.2.0",
            "purl": "pkg:pypi/requests@2.2",
        },
        {"type": "library", "name": "flask", "purl": "pkg:pypi/flask@1.0"},
        {"type": "library", "name": "flask", "version": "1.2", "purl": "pkg:pypi/flask"},
    ]
    code, doc, _ = run(bom(components), "--fail-on", "critical", "--allow-unknown")
    rows = doc["packages"]
    assert [(r["package"], r["version"], r["status"]) for r in rows] == [
        ("flask", None, "invalid"),
        ("requests", "2.2", "ok"),  # 2.2.0 == 2.2 under PEP 440: no disagreement
        ("flask", "1.0", "vulnerable"),
        ("flask", "1.2", "ok"),  # only the component gives a version
    ]
    assert "1.2" in rows[0]["note"] and "0.12.2" in rows[0]["note"]
    assert "disagrees" in rows[0]["note"]
    assert rows[0]["fails"] is False  # --allow-unknown lets invalid entries through
    code, doc, _ = run(bom(components[:1]), "--fail-on", "critical")
    assert code == 1 and doc["packages"][0]["fails"] is True


# -- duplicates --------------------------------------------------------------------------------


def test_duplicates_are_audited_once_with_every_place_in_a_note(run: Any) -> None:
    components = [
        {"type": "library", "bom-ref": "a", "name": "flask", "purl": "pkg:pypi/flask@0.12.2"},
        {
            "type": "library",
            "bom-ref": "b",
            "name": "requests",
            "version": "2.2",
            "components": [
                {"type": "library", "bom-ref": "c", "name": "Flask", "version": "0.12.2.0"}
            ],
        },
        {"type": "library", "bom-ref": "d", "name": "flask", "purl": "pkg:pypi/flask@1.2"},
        {"type": "library", "bom-ref": "e", "name": "requests", "version": "2.2"},
    ]
    code, doc, _ = run(bom(components))
    assert [(r["package"], r["version"], r["status"]) for r in doc["packages"]] == [
        ("flask", "0.12.2", "vulnerable"),
        ("requests", "2.2", "ok"),
        ("flask", "1.2", "ok"),
    ]
    assert doc["packages"][0]["where"].endswith(f"{ORIGIN}#a")
    notes = [
        note.replace(str(Path(doc["source"]["path"]).parent) + "/", "") for note in doc["notes"]
    ]
    assert notes == [
        f"flask 0.12.2 is listed 2 times ({ORIGIN}#a, {ORIGIN}#c): audited once",
        f"requests 2.2 is listed 2 times ({ORIGIN}#b, {ORIGIN}#e): audited once",
    ]
    assert doc["summary"]["total"] == 3 and code == 0


def test_the_subject_listed_again_as_a_component_is_audited_once() -> None:
    root = {"type": "application", "name": "flask", "version": "1.2", "purl": "pkg:pypi/flask@1.2"}
    found, notes = entries(bom([{"type": "library", "name": "flask", "version": "1.2"}], root))
    assert found == [("flask", "1.2", f"{ORIGIN}#metadata.component", None)]
    assert notes[-1] == (
        f"flask 1.2 is listed 2 times ({ORIGIN}#metadata.component, {ORIGIN}#flask): audited once"
    )
