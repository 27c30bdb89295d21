"""The report's charts, drawn with matplotlib and inlined as SVG (no JavaScript, no network).

matplotlib is an optional dependency (``pip install 'seckb[report]'``): it is imported only
here, when a report is drawn, with the non-interactive Agg backend.
"""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Callable
from html import escape
from typing import Any

from aggregators.clients.report.data import RATINGS, ReportData, fix_buckets
from aggregators.core.errors import SeckbError

RATING_COLOURS = {
    "Critical": "#7f1d1d",
    "High": "#dc2626",
    "Medium": "#f59e0b",
    "Low": "#84cc16",
    "None": "#94a3b8",
    "unscored": "#cbd5e1",
}
SEVERITY_COLOURS = {"HIGH": "#dc2626", "MEDIUM": "#f59e0b", "LOW": "#84cc16"}
ACCENT = "#2563eb"
MAX_CHECKS = 15


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError as exc:  # an optional extra
        raise SeckbError(
            "seckb report draws its charts with matplotlib: pip install 'seckb[report]'"
        ) from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "svg.fonttype": "none",  # text stays text: small files, the page's own font
            "font.family": "sans-serif",
            "font.size": 10,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.titleweight": "bold",
        }
    )
    return plt


def _svg(draw: Callable[[Any, Any], None], width: float = 7.5, height: float = 3.6) -> str:
    """Draw on a new figure and return it as inline SVG (no XML prologue)."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(width, height))
    try:
        draw(figure, axes)
        figure.tight_layout()
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg")
    finally:
        plt.close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _empty(message: str) -> str:
    """What stands in for a chart without data: one line of text, no empty axes."""
    return f"<p class='empty'>{escape(message)}</p>"


def advisories_by_year(data: ReportData) -> str:
    """Stacked bars: active advisories published per year, by CVSS rating."""
    counts: dict[str, dict[int, int]] = defaultdict(dict)
    for year, rating, n in data.by_year:
        counts[rating][year] = n
    years = sorted({year for year, _, _ in data.by_year})

    if not years:
        return _empty("No advisory in this snapshot.")

    def draw(_figure: Any, axes: Any) -> None:
        bottom = [0] * len(years)
        for rating in RATINGS:
            values = [counts.get(rating, {}).get(y, 0) for y in years]
            if any(values):
                axes.bar(years, values, bottom=bottom, label=rating, color=RATING_COLOURS[rating])
                bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        axes.set_xlabel("year published")
        axes.set_ylabel("active advisories")
        step = max(1, -(-len(years) // 8))  # at most 8 labels
        axes.set_xticks(years[::step], [str(y) for y in years[::step]])
        axes.legend(title="CVSS rating", frameon=False, fontsize=8, loc="upper left")

    return _svg(draw)


def time_to_fix(data: ReportData) -> str:
    """Bars: how long after an advisory's publication its fixed release reached PyPI."""
    buckets = fix_buckets(data.fix_days)

    if not data.fix_days:
        return _empty("No fixed release with a known upload time in this snapshot.")

    def draw(_figure: Any, axes: Any) -> None:
        labels = [label for label, _ in buckets]
        axes.bar(labels, [n for _, n in buckets], color=ACCENT)
        axes.set_ylabel("fixes")
        axes.set_xlabel("fixed release uploaded … after publication")
        axes.tick_params(axis="x", labelrotation=20)

    return _svg(draw)


def findings_by_check(data: ReportData) -> str:
    """Horizontal stacked bars: Bandit findings outside tests per check, by severity."""
    totals: dict[str, int] = defaultdict(int)
    by_severity: dict[str, dict[str, int]] = defaultdict(dict)
    names: dict[str, str] = {}
    for test_id, test_name, severity, n in data.findings:
        totals[test_id] += n
        by_severity[severity][test_id] = n
        names[test_id] = test_name
    top = sorted(totals, key=lambda t: (-totals[t], t))[:MAX_CHECKS][::-1]

    if not top:
        return _empty("No Bandit finding outside tests in this snapshot.")

    def draw(_figure: Any, axes: Any) -> None:
        labels = [f"{t} {names[t]}" for t in top]
        left = [0] * len(top)
        for severity in ("HIGH", "MEDIUM", "LOW"):
            values = [by_severity.get(severity, {}).get(t, 0) for t in top]
            if any(values):
                axes.barh(
                    labels, values, left=left, label=severity, color=SEVERITY_COLOURS[severity]
                )
                left = [a + b for a, b in zip(left, values, strict=True)]
        axes.set_xlabel("findings (outside tests)")
        axes.legend(title="severity", frameon=False, fontsize=8, loc="best")

    return _svg(draw, height=max(2.6, 0.32 * len(top) + 1.2))


def scorecard_scores(data: ReportData) -> str:
    """Histogram: OpenSSF Scorecard scores of the tracked packages' repositories."""
    scores = [score for _, score, _ in data.scores]

    if not scores:
        return _empty("No Scorecard result in this snapshot.")

    def draw(_figure: Any, axes: Any) -> None:
        axes.hist(scores, bins=[i / 2 for i in range(21)], color=ACCENT, edgecolor="white")
        axes.set_xlim(0, 10)
        axes.set_xlabel("Scorecard score (0-10)")
        axes.set_ylabel("repositories")

    return _svg(draw)


def riskiest(data: ReportData) -> str:
    """Horizontal bars: the riskiest packages' affected releases, the newest one marked."""
    rows = data.riskiest[::-1]

    if not rows:
        return _empty("No affected release in this snapshot.")

    def draw(_figure: Any, axes: Any) -> None:
        colours = [RATING_COLOURS["High"] if r["newest_affected"] else ACCENT for r in rows]
        axes.barh(
            [r["package"] for r in rows], [r["affected_releases"] for r in rows], color=colours
        )
        axes.set_xlabel("affected releases (red: the newest release is affected too)")

    return _svg(draw, height=max(2.6, 0.3 * len(rows) + 1.2))
