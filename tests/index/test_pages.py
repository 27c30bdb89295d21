"""Reading Simple API pages: the PEPs' own examples, real PyPI answers, and broken pages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aggregators.clients.simple.filenames import file_version
from aggregators.clients.simple.pages import (
    PageError,
    parse_project_html,
    parse_project_json,
    parse_root_html,
    parse_root_json,
)

FIXTURES = Path(__file__).parent / "fixtures"
URL = "https://example.com/simple/holygrail/"

PEP_691_PROJECT = """{
  "meta": {
    "api-version": "1.0"
  },
  "name": "holygrail",
  "files": [
    {
      "filename": "holygrail-1.0.tar.gz",
      "url": "https://example.com/files/holygrail-1.0.tar.gz",
      "hashes": {"sha256": "aa11", "blake2b": "bb22"},
      "requires-python": ">=3.7",
      "yanked": "Had a vulnerability"
    },
    {
      "filename": "holygrail-1.0-py3-none-any.whl",
      "url": "https://example.com/files/holygrail-1.0-py3-none-any.whl",
      "hashes": {"sha256": "cc33", "blake2b": "dd44"},
      "requires-python": ">=3.7",
      "dist-info-metadata": true
    }
  ]
}"""
"""PEP 691's example project page (its "..." digests replaced by hexadecimal ones)."""
PEP_691_ROOT = """{
  "meta": {
    "api-version": "1.0"
  },
  "projects": [
    {"name": "Frob"},
    {"name": "spamspamspam"}
  ]
}"""
PEP_503_ROOT = """<!DOCTYPE html>
<html>
  <body>
    <a href="/frob/">frob</a>
    <a href="/spamspamspam/">spamspamspam</a>
  </body>
</html>"""
PEP_792_QUARANTINED_HTML = """<!DOCTYPE html>
<html>
  <head>
    <meta name="pypi:repository-version" content="1.4">
    <meta name="pypi:project-status" content="quarantined">
    <meta name="pypi:project-status-reason" content="the project is haunted">
    <title>Links for sampleproject</title>
  </head>
  <body>
    <h1>Links for sampleproject</h1>
    <a href="https://example.com/sampleproject-1.0.tar.gz">sampleproject-1.0.tar.gz</a>
  </body>
</html>"""


def test_pep_691_project_example() -> None:
    page = parse_project_json(PEP_691_PROJECT.encode(), URL, "holygrail")
    sdist, wheel = page.files
    assert sdist.filename == "holygrail-1.0.tar.gz"
    assert sdist.url == "https://example.com/files/holygrail-1.0.tar.gz"
    assert sdist.hashes == {"sha256": "aa11", "blake2b": "bb22"}
    assert sdist.requires_python == ">=3.7"
    assert sdist.yanked == "Had a vulnerability"
    assert sdist.core_metadata is None and sdist.version == "1.0"
    assert wheel.core_metadata is True and wheel.yanked is False and wheel.version == "1.0"
    assert page.versions == ("1.0",)  # API 1.0 has no versions key: derived from the files


def test_pep_691_and_503_root_examples() -> None:
    assert parse_root_json(PEP_691_ROOT.encode(), URL).names == ("Frob", "spamspamspam")
    assert parse_root_html(PEP_503_ROOT.encode(), URL).names == ("frob", "spamspamspam")


def test_pep_792_quarantined_project_offers_no_file() -> None:
    page = parse_project_html(PEP_792_QUARANTINED_HTML.encode(), URL, "sampleproject")
    assert page.files == ()
    document = {
        "meta": {"api-version": "1.4"},
        "project-status": {"status": "quarantined", "reason": "the project is haunted"},
        "files": [
            {"filename": "sampleproject-1.0.tar.gz", "url": "x.tar.gz", "hashes": {}},
        ],
        "name": "sampleproject",
        "versions": ["1.0"],
    }
    assert parse_project_json(json.dumps(document).encode(), URL, "sampleproject").files == ()


def test_real_pypi_pages_json_and_html_agree() -> None:
    """The six pages PyPI answered (JSON with a string serial; HTML with hash fragments)."""
    url = "https://pypi.org/simple/six/"
    from_json = parse_project_json((FIXTURES / "pypi-six.json").read_bytes(), url, "six")
    from_html = parse_project_html((FIXTURES / "pypi-six.html").read_bytes(), url, "six")
    assert from_json.last_serial == 26356948
    assert len(from_json.files) == len(from_html.files) == 48
    by_name = {f.filename: f for f in from_html.files}
    for item in from_json.files:
        html = by_name[item.filename]
        assert (html.url, html.hashes, html.requires_python) == (
            item.url,
            item.hashes,
            item.requires_python,
        )
        assert item.size is not None and item.upload_time is not None
    assert set(from_json.versions) >= {f.version for f in from_json.files if f.version}


def test_a_yank_reason_of_pypi_is_read_as_written() -> None:
    page = parse_project_json(
        (FIXTURES / "pypi-requests.json").read_bytes(),
        "https://pypi.org/simple/requests/",
        "requests",
    )
    (yanked,) = [f for f in page.files if f.filename == "requests-2.32.0-py3-none-any.whl"]
    assert yanked.yanked == "Yanked due to conflicts with CVE-2024-35195 mitigation"


def test_relative_urls_are_made_absolute_against_the_page() -> None:
    html = (
        '<a href="/packages/a-1.0.tar.gz#sha256=AB12">a-1.0.tar.gz</a>'
        '<a href="../../+f/8ab/a-1.1-py3-none-any.whl#md5=ff">a-1.1-py3-none-any.whl</a>'
        '<a href="a-1.2.zip" data-yanked="">a-1.2.zip</a>'
    )
    page = parse_project_html(html.encode(), "http://127.0.0.1:9/root/dev/+simple/a/", "a")
    first, second, third = page.files
    assert first.url == "http://127.0.0.1:9/packages/a-1.0.tar.gz"
    assert first.hashes == {"sha256": "ab12"}
    assert second.url == "http://127.0.0.1:9/root/dev/+f/8ab/a-1.1-py3-none-any.whl"
    assert third.url == "http://127.0.0.1:9/root/dev/+simple/a/a-1.2.zip"
    assert third.yanked is True  # an empty data-yanked still means yanked (PEP 592)
    assert page.versions == ("1.0", "1.1", "1.2")


def test_a_base_element_moves_relative_urls_as_pip_reads_them() -> None:
    html = '<base href="https://files.example/dist/"><a href="a-1.0.tar.gz">a-1.0.tar.gz</a>'
    (item,) = parse_project_html(html.encode(), "https://index.example/simple/a/", "a").files
    assert item.url == "https://files.example/dist/a-1.0.tar.gz"


def test_html_attributes_of_pep_503_592_658_714() -> None:
    html = (
        '<a href="https://f/a-1.0-py3-none-any.whl" data-requires-python="&gt;=3.8"'
        ' data-core-metadata="sha256=AAAA" data-dist-info-metadata="sha256=AAAA"'
        ' data-gpg-sig="false" data-yanked="broken &amp; unsafe">a-1.0-py3-none-any.whl</a>'
        '<a href="https://f/a-1.1.tar.gz" data-dist-info-metadata="true">a-1.1.tar.gz</a>'
    )
    first, second = parse_project_html(html.encode(), URL, "a").files
    assert first.requires_python == ">=3.8"
    assert first.core_metadata == {"sha256": "aaaa"}
    assert first.gpg_sig is False
    assert first.yanked == "broken & unsafe"
    assert second.core_metadata is True  # the pre-PEP 714 attribute is read too


def test_warehouse_json_metadata_key_is_read() -> None:
    document = {
        "meta": {"api-version": "1.1", "_last-serial": 7},
        "name": "a",
        "versions": ["1.0"],
        "files": [
            {
                "filename": "a-1.0-py3-none-any.whl",
                "url": "https://f/a-1.0-py3-none-any.whl",
                "hashes": {"sha256": "ab"},
                "data-dist-info-metadata": {"sha256": "cd"},
                "size": 10,
                "upload-time": "2024-01-01T00:00:00.000000Z",
            }
        ],
    }
    page = parse_project_json(json.dumps(document).encode(), URL, "a")
    assert page.files[0].core_metadata == {"sha256": "cd"}
    assert page.last_serial == 7


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"not json at all", "not JSON"),
        (b"[1, 2]", "no meta object"),
        (b'{"meta": {"api-version": "2.0"}, "name": "a", "files": []}', "not supported"),
        (b'{"meta": {"api-version": "one"}, "name": "a", "files": []}', "is not a version"),
        (b'{"meta": {"api-version": "1.0"}, "name": "b", "files": []}', "not 'a'"),
        (b'{"meta": {"api-version": "1.0"}, "name": "a", "files": {}}', "files must be a list"),
        (b'{"meta": {"api-version": "1.0"}, "name": "a", "files": [{"url": "x"}]}', "filename"),
        (
            b'{"meta": {"api-version": "1.0"}, "name": "a", "files": '
            b'[{"filename": "a-1.tar.gz", "url": "javascript:alert(1)", "hashes": {}}]}',
            r"not http\(s\)",
        ),
        (
            b'{"meta": {"api-version": "1.0"}, "name": "a", "files": '
            b'[{"filename": "a-1.tar.gz", "url": "x", "hashes": {"sha256": "zz"}}]}',
            "not hexadecimal",
        ),
        (
            b'{"meta": {"api-version": "1.0"}, "name": "a", "files": '
            b'[{"filename": "../../etc/passwd", "url": "x", "hashes": {}}]}',
            "not a file name",
        ),
        (
            b'{"meta": {"api-version": "1.0"}, "name": "a", "files": '
            b'[{"filename": "a-1.tar.gz", "url": "x", "hashes": {}, "yanked": 3}]}',
            "yanked must be",
        ),
    ],
)
def test_broken_json_pages_are_errors_never_empty_pages(body: bytes, problem: str) -> None:
    with pytest.raises(PageError, match=problem):
        parse_project_json(body, URL, "a")


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"\xff\xfe<html>", "not UTF-8"),
        (b"<html>\x00\x01\x02", "binary data"),
        (b'<meta name="pypi:repository-version" content="2.0"><a href="x">x</a>', "not supported"),
    ],
)
def test_broken_html_pages_are_errors(body: bytes, problem: str) -> None:
    with pytest.raises(PageError, match=problem):
        parse_project_html(body, URL, "a")


@pytest.mark.parametrize(
    ("filename", "project", "version"),
    [
        ("Flask_Login-0.6.3.tar.gz", "flask-login", "0.6.3"),
        ("six-1.16.0-py2.py3-none-any.whl", "six", "1.16.0"),
        ("pkg-name-2.0.zip", "pkg-name", "2.0"),
        ("legacy-1.0.tar.bz2", "legacy", "1.0"),
        ("foo-pycrypto-1.0-py2.7-linux_x86_64.egg", "foo-pycrypto", "1.0"),
        ("numpy-1.0.win32-py2.5.exe", "numpy", None),
        ("other-1.0.tar.gz", "pkg", None),
        ("pkg-notaversion!.tar.gz", "pkg", None),
        ("pkg-1.0-py3-none-any.whl", "other", None),
        ("broken.whl", "broken", None),
    ],
)
def test_file_versions_as_installers_read_them(
    filename: str, project: str, version: str | None
) -> None:
    assert file_version(filename, project) == version


def test_an_empty_json_yank_reason_is_not_yanked_and_bad_times_are_dropped() -> None:
    """PEP 691: only a truthy ``yanked`` means yanked (pip reads ``""`` so too); uv refuses a
    whole page over one malformed ``upload-time``, so such a time is left out."""
    document = {
        "meta": {"api-version": "1.1"},
        "name": "a",
        "versions": ["1.0", "1.1"],
        "files": [
            {"filename": "a-1.0.tar.gz", "url": "x", "hashes": {}, "yanked": "", "size": 1,
             "upload-time": "2024-01-01T00:00:00"},
            {"filename": "a-1.1.tar.gz", "url": "y", "hashes": {}, "size": 1,
             "upload-time": "2024-01-01T00:00:00.123456Z"},
        ],
    }  # fmt: skip
    first, second = parse_project_json(json.dumps(document).encode(), URL, "a").files
    assert first.yanked is False and first.upload_time is None
    assert second.upload_time == "2024-01-01T00:00:00.123456Z"
