"""Headless Chromium (Debian's package) for the tests that look at a page: one screenshot."""

from __future__ import annotations

import subprocess
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
MISSING = "headless Chromium is not installed at /usr/bin/chromium (apt-get install chromium)"


def screenshot(url: str, shot: Path, width: int, height: int) -> Path:
    """A ``width`` x ``height`` screenshot of ``url`` in ``shot``, taken by headless Chromium
    with a new profile and no background networking (this machine's network is closed)."""
    command = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={shot.parent / (shot.stem + '-profile')}",
        f"--screenshot={shot}",
        f"--window-size={width},{height}",
        url,
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=120, cwd=shot.parent, check=False
    )
    assert done.returncode == 0 and shot.is_file(), done.stderr[-2000:]
    return shot
