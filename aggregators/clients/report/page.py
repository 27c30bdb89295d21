"""The report page: headline figures, five charts and two tables, in one HTML file.

Every text that comes from the data (package names, repository URLs) is escaped; the charts are
inline SVG and the style sheet is inline, so the file opens offline, anywhere, and can be mailed.
"""

from __future__ import annotations

from datetime import datetime
from html import escape
from statistics import median
from typing import Any

from aggregators import __version__
from aggregators.clients.report import charts
from aggregators.clients.report.data import ReportData, load
from aggregators.store.snapshots import Snapshot

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #0f172a;
       background: #f8fafc; }
header { background: #0f172a; color: #f8fafc; padding: 20px 32px; }
header h1 { margin: 0 0 4px 0; font-size: 22px; }
header p { margin: 0; color: #cbd5e1; font-size: 13px; }
main { max-width: 1180px; margin: 0 auto; padding: 16px 32px 40px; }
.tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 12px;
         margin: 16px 0; }
.tile { background: white; border: 1px solid #e2e8f0; border-radius: 8px; padding: 10px 14px; }
.tile b { display: block; font-size: 22px; }
.tile span { color: #475569; font-size: 12px; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(520px, 1fr)); gap: 16px; }
section { background: white; border: 1px solid #e2e8f0; border-radius: 8px; padding: 12px 16px; }
section h2 { font-size: 16px; margin: 4px 0 2px; }
section p { color: #475569; font-size: 13px; margin: 2px 0 8px; }
svg { width: 100%; height: auto; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #e2e8f0; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
.bad { color: #b91c1c; font-weight: 600; }
.sources { font-size: 12px; color: #cbd5e1; margin-top: 6px; }
footer { color: #64748b; font-size: 12px; margin-top: 24px; }
p.empty { color: #64748b; font-style: italic; padding: 24px 0; text-align: center; }
"""

TILES = (
    ("active_advisories", "active advisories"),
    ("advisory_packages", "packages with advisories"),
    ("releases", "PyPI releases tracked"),
    ("affected_releases", "releases affected"),
    ("bandit_scans", "releases given to Bandit"),
    ("bandit_findings", "Bandit findings"),
    ("scored_repositories", "repositories scored"),
)


def _e(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def _section(title: str, note: str, body: str) -> str:
    return f"<section><h2>{_e(title)}</h2><p>{_e(note)}</p>{body}</section>"


def _header(data: ReportData) -> str:
    created = data.created_at[:19].replace("T", " ")
    sources = ", ".join(
        f"{_e(name)}: {_e(entry.get('status'))}" for name, entry in sorted(data.sources.items())
    )
    return (
        f"<header><h1>seckb security report</h1><p>snapshot {_e(data.snapshot_id)}, created "
        f"{_e(created)} UTC</p><p class='sources'>sources — {sources}</p></header>"
    )


def _tiles(data: ReportData) -> str:
    tiles = "".join(
        f"<div class='tile'><b>{int(data.counts.get(key) or 0):,}</b><span>{_e(label)}</span></div>"
        for key, label in TILES
    )
    return f"<div class='tiles'>{tiles}</div>"


def _riskiest_table(data: ReportData) -> str:
    if not data.riskiest:
        return ""
    rows = "".join(
        "<tr>"
        f"<td>{_e(r['package'])}</td>"
        f"<td class='{'bad' if r['newest_affected'] else ''}'>"
        f"{'yes' if r['newest_affected'] else 'no'}</td>"
        f"<td class='n'>{r['affected_releases']:,}</td><td class='n'>{r['releases']:,}</td>"
        f"<td class='n'>{_number(r['worst_cvss'])}</td>"
        f"<td class='n'>{_number(r['scorecard'])}</td>"
        "</tr>"
        for r in data.riskiest
    )
    return (
        "<table><tr><th>package</th><th>newest release affected</th>"
        "<th class='n'>affected releases</th><th class='n'>releases</th>"
        "<th class='n'>worst CVSS</th><th class='n'>Scorecard</th></tr>"
        f"{rows}</table>"
    )


def _lowest_scores(data: ReportData, limit: int = 10) -> str:
    if not data.scores:
        return ""
    rows = "".join(
        f"<tr><td>{_e(repo)}</td><td>{_e(', '.join(packages))}</td>"
        f"<td class='n'>{score:.1f}</td></tr>"
        for repo, score, packages in data.scores[:limit]
    )
    return (
        "<table><tr><th>lowest-scored repositories</th><th>packages</th>"
        f"<th class='n'>score</th></tr>{rows}</table>"
    )


def _fix_note(data: ReportData) -> str:
    if not data.fix_days:
        return "Days from an advisory's publication to the upload of the release that fixes it."
    return (
        f"Days from an advisory's publication to the upload of the release that fixes it: "
        f"{len(data.fix_days):,} fixes, median {median(data.fix_days):.0f} days "
        "(negative: the fix was out before the advisory)."
    )


def render(snapshot: Snapshot, now: datetime | None = None) -> str:
    """The report of ``snapshot`` as one self-contained HTML document."""
    data = load(snapshot)
    sections = [
        _section(
            "Advisories per year and severity",
            "Active advisories by the year they were published, coloured by CVSS rating.",
            charts.advisories_by_year(data),
        ),
        _section("Time to a fixed release", _fix_note(data), charts.time_to_fix(data)),
        _section(
            "Bandit findings by check",
            "Findings of the analysed sdists outside test code, per Bandit check and severity.",
            charts.findings_by_check(data),
        ),
        _section(
            "Scorecard scores of the tracked packages",
            "OpenSSF Scorecard scores of the repositories the tracked packages name.",
            charts.scorecard_scores(data) + _lowest_scores(data),
        ),
    ]
    sections.append(
        _section(
            "Riskiest packages",
            "Packages with affected releases, the newest release affected first.",
            charts.riskiest(data),
        )
    )
    sections.append(
        _section(
            "Riskiest packages: figures",
            "Is the newest release affected, how many releases are, the worst CVSS score.",
            _riskiest_table(data) or "<p class='empty'>No affected release in this snapshot.</p>",
        )
    )
    stamp = f" on {now:%Y-%m-%d %H:%M} UTC" if now is not None else ""
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>seckb report {_e(data.snapshot_id)}</title>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<style>{STYLE}</style>"
        f"</head><body>{_header(data)}<main>{_tiles(data)}<div class='grid'>{''.join(sections)}"
        f"</div><footer>seckb {_e(__version__)}"
        f"{_e(stamp)}: every figure comes from snapshot {_e(data.snapshot_id)}; missing analysis "
        "is never counted as clean.</footer></main></body></html>\n"
    )
