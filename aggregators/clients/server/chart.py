"""Server-drawn SVG charts for the package page (pure: documents in, SVG text out).

:func:`timeline_svg` puts the releases on a time axis (upload time; version order when a
release's time is unknown): the top lane marks each release affected (red), not affected
(green) or yanked (hollow); one lane per active advisory marks the releases it affects and, with
a green diamond, the release that fixed it; the bottom lane shows the Bandit status of the
analysed releases. :func:`scorecard_svg` draws the Scorecard checks as bars out of 10.
Every text is escaped: advisory texts are untrusted input.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Any

from aggregators.core.versions import canonical_version

AFFECTED, CLEAN, GREY, FIXED = "#cf222e", "#1a7f37", "#8c959f", "#1a7f37"
BANDIT_COLOURS = {"scanned": "#1a7f37", "partial": "#bf8700"}
LEFT, RIGHT, TOP, LANE = 190, 30, 34, 18
MAX_LANES = 40


def _t(value: Any) -> str:
    return escape(str(value), quote=True)


@dataclass(frozen=True)
class Axis:
    """Where each release sits on the x axis, and the tick labels."""

    xs: list[float]
    ticks: list[tuple[float, str]]


def release_axis(releases: Sequence[dict[str, Any]], width: int) -> Axis:
    """x of every release: by upload time when every release has one, else by version order."""
    span = width - LEFT - RIGHT
    times = [r.get("upload_time") for r in releases]
    if releases and all(times):
        stamps = [datetime.fromisoformat(str(t)).timestamp() for t in times]
        low, high = min(stamps), max(stamps)
        scale = span / (high - low) if high > low else 0.0
        xs = [LEFT + (s - low) * scale if scale else LEFT + span / 2 for s in stamps]
        first, last = (datetime.fromtimestamp(v).year for v in (low, high))
        ticks = [
            (LEFT + (datetime(year, 1, 1).timestamp() - low) * scale, str(year))
            for year in range(first + 1, last + 1)
            if scale
        ]
        return Axis(xs, ticks)
    count = max(len(releases) - 1, 1)
    xs = [LEFT + span * i / count for i in range(len(releases))]
    step = max(1, len(releases) // 12)
    return Axis(xs, [(xs[i], str(releases[i]["version"])) for i in range(0, len(releases), step)])


def _lanes(
    releases: Sequence[dict[str, Any]], advisories: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Active advisories affecting a listed release, the most severe first (at most
    ``MAX_LANES``)."""
    hits: dict[str, list[int]] = {}
    for index, release in enumerate(releases):
        for advisory_id in release.get("advisory_ids", ()):
            hits.setdefault(advisory_id, []).append(index)
    lanes = [
        {**a, "hits": hits[a["id"]]}
        for a in advisories
        if a["id"] in hits and not a.get("withdrawn")
    ]
    lanes.sort(key=lambda a: (-((a.get("severity") or {}).get("score") or -1.0), a["id"]))
    return lanes[:MAX_LANES]


def _marker(x: float, y: float, colour: str, title: str, hollow: bool = False) -> str:
    fill = "white" if hollow else colour
    return (
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{fill}" stroke="{colour}" '
        f'stroke-width="1.5"><title>{_t(title)}</title></circle>'
    )


def _fix_marks(
    lane: dict[str, Any], releases: Sequence[dict[str, Any]], xs: list[float], y: float
) -> list[str]:
    index = {canonical_version(str(r["version"])): i for i, r in enumerate(releases)}
    marks = []
    for fixed in lane.get("fixed_versions") or ():
        i = index.get(canonical_version(str(fixed)))
        if i is None:
            continue
        x = xs[i]
        marks.append(
            f'<path d="M{x:.1f},{y - 6:.1f} L{x + 6:.1f},{y:.1f} L{x:.1f},{y + 6:.1f} '
            f'L{x - 6:.1f},{y:.1f} Z" fill="{FIXED}"><title>{_t(lane["id"])} fixed in '
            f"{_t(fixed)}</title></path>"
        )
    return marks


def _release_lane(releases: Sequence[dict[str, Any]], xs: list[float], y: float) -> list[str]:
    parts = [f'<text x="{LEFT - 10}" y="{y + 4}" text-anchor="end" class="lane">releases</text>']
    for release, x in zip(releases, xs, strict=True):
        ids = release.get("advisory_ids") or []
        colour = AFFECTED if ids else CLEAN
        title = f"{release['version']}: " + (", ".join(ids) if ids else "no known advisory")
        if release.get("yanked"):
            title += " (yanked)"
        parts.append(_marker(x, y, colour, title, hollow=bool(release.get("yanked"))))
    return parts


def _advisory_lane(
    lane: dict[str, Any], releases: Sequence[dict[str, Any]], xs: list[float], y: float
) -> list[str]:
    severity = lane.get("severity") or {}
    label = f"{lane['id']}" + (f" ({severity.get('rating')})" if severity.get("rating") else "")
    parts = [
        f'<line x1="{LEFT}" x2="{xs[-1] if xs else LEFT}" y1="{y}" y2="{y}" class="rule"/>',
        f'<text x="{LEFT - 10}" y="{y + 4}" text-anchor="end" class="lane">{_t(label)}'
        f"<title>{_t(lane.get('summary') or lane['id'])}</title></text>",
    ]
    hits = lane["hits"]
    if hits:
        x0, x1 = xs[hits[0]], xs[hits[-1]]
        parts.append(
            f'<line x1="{x0:.1f}" x2="{x1:.1f}" y1="{y}" y2="{y}" stroke="{AFFECTED}" '
            'stroke-width="3" stroke-opacity="0.35"/>'
        )
    for i in hits:
        parts.append(
            f'<rect x="{xs[i] - 2.5:.1f}" y="{y - 5}" width="5" height="10" fill="{AFFECTED}">'
            f"<title>{_t(releases[i]['version'])} affected by {_t(lane['id'])}</title></rect>"
        )
    return parts + _fix_marks(lane, releases, xs, y)


def _bandit_lane(
    scans: Sequence[dict[str, Any]], releases: Sequence[dict[str, Any]], xs: list[float], y: float
) -> list[str]:
    parts = [f'<text x="{LEFT - 10}" y="{y + 4}" text-anchor="end" class="lane">Bandit</text>']
    index = {canonical_version(str(r["version"])): i for i, r in enumerate(releases)}
    for scan in scans:
        i = index.get(canonical_version(str(scan["version"])))
        if i is None:
            continue
        colour = BANDIT_COLOURS.get(str(scan["status"]), GREY)
        high = (scan.get("findings") or {}).get("high", 0)
        parts.append(
            f'<rect x="{xs[i] - 5:.1f}" y="{y - 5}" width="10" height="10" fill="{colour}" rx="2">'
            f"<title>{_t(scan['version'])}: Bandit {_t(scan['status'])}, {high} high-severity "
            "finding(s)</title></rect>"
        )
    return parts


def timeline_svg(
    releases: Sequence[dict[str, Any]],
    advisories: Sequence[dict[str, Any]],
    scans: Sequence[dict[str, Any]],
    width: int = 1180,
) -> str:
    """Releases over time, which advisories affect which, where each was fixed, Bandit status."""
    if not releases:
        return '<p class="empty">The snapshot lists no PyPI release of this package.</p>'
    axis = release_axis(releases, width)
    lanes = _lanes(releases, advisories)
    height = TOP + LANE * (len(lanes) + 3) + 20
    bottom = height - 22
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="releases and advisories">',
    ]
    for x, label in axis.ticks:
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP - 14}" y2="{bottom}" class="tick"/>'
        )
        parts.append(
            f'<text x="{x:.1f}" y="{TOP - 18}" text-anchor="middle" class="axis">{_t(label)}</text>'
        )
    parts += _release_lane(releases, axis.xs, TOP)
    for number, lane in enumerate(lanes, start=1):
        parts += _advisory_lane(lane, releases, axis.xs, TOP + LANE * number)
    parts += _bandit_lane(scans, releases, axis.xs, TOP + LANE * (len(lanes) + 1) + 6)
    parts.append("</svg>")
    return "".join(parts)


def scorecard_svg(checks: Sequence[dict[str, Any]], width: int = 560) -> str:
    """The Scorecard checks as horizontal bars (score out of 10; inconclusive ones grey)."""
    if not checks:
        return '<p class="empty">No Scorecard result for this repository.</p>'
    left, bar = 200, 18
    height = 12 + bar * len(checks)
    scale = (width - left - 50) / 10
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="Scorecard checks">'
    ]
    for row, check in enumerate(checks):
        parts.append(_score_bar(check, left, 6 + row * bar, bar, scale))
    parts.append("</svg>")
    return "".join(parts)


def _score_colour(score: float | None) -> str:
    if score is None:
        return GREY
    return CLEAN if score >= 7 else ("#bf8700" if score >= 4 else AFFECTED)


def _score_bar(check: dict[str, Any], left: int, y: int, bar: int, scale: float) -> str:
    score = check.get("score")
    length = (score or 0) * scale
    text = "?" if score is None else f"{score:g}"
    name = _t(check["check"])
    title = f"{name}: {_t(text)}/10 — {_t(check.get('reason') or '')}"
    return (
        f'<text x="{left - 8}" y="{y + 12}" text-anchor="end" class="lane">{name}</text>'
        f'<rect x="{left}" y="{y + 2}" width="{max(length, 2):.1f}" height="{bar - 6}" '
        f'fill="{_score_colour(score)}"><title>{title}</title></rect>'
        f'<text x="{left + length + 6:.1f}" y="{y + 12}" class="axis">{_t(text)}</text>'
    )
