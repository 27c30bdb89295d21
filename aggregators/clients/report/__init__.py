"""``seckb report``: one self-contained HTML page with charts of a snapshot.

:func:`render` reads the snapshot (:mod:`.data`), draws the charts with matplotlib as inline SVG
(:mod:`.charts`) and lays out the page (:mod:`.page`): no script, no external file, no network.
"""

from __future__ import annotations

from aggregators.clients.report.page import render

__all__ = ["render"]
