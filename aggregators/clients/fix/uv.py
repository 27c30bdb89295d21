"""uv as seckb's resolver (a subprocess; seckb never resolves by itself).

:meth:`Uv.compile` runs ``uv pip compile`` on requirements seckb writes itself (no option line
of the user's file is ever passed: an ``--extra-index-url`` there would reach past the index),
with the current pins as preferences (the ``-o`` file uv keeps versions from) and constraints,
through one index URL, with no configuration of the machine (``UV_NO_CONFIG``, no ``UV_*``
variable), and ``--no-build`` unless asked: no source distribution's code runs to read its
metadata. It answers the pins uv chose, or uv's own explanation when nothing resolves. A uv
that is missing, fails otherwise or runs past its time limit is a :class:`UvError`.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from aggregators.core.errors import SeckbError
from aggregators.core.names import normalize_name

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)")
_HASH = re.compile(r"--hash=(\S+)")


class UvError(SeckbError):
    """uv could not be run, failed, or did not finish in time."""


@dataclass(frozen=True)
class Resolution:
    """What one ``uv pip compile`` gave: the pins, or why there are none."""

    pins: dict[str, str] = field(default_factory=dict)
    """PEP 503 name -> version."""
    hashes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """PEP 503 name -> ``sha256:...`` of its files (with ``hashes=True``)."""
    failure: str | None = None
    """uv's explanation when nothing resolves (its ``cause:`` text)."""
    via: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """PEP 503 name -> the packages uv says require it (its ``# via`` annotations)."""

    @property
    def ok(self) -> bool:
        """Whether the requirements resolved."""
        return self.failure is None


def find_uv() -> Path:
    """The uv binary of the ``uv`` package (a dependency of seckb)."""
    try:
        from uv import find_uv_bin
    except ImportError as exc:  # pragma: no cover - uv is a dependency
        raise UvError("uv is not installed: pip install uv") from exc
    return Path(find_uv_bin())


def parse_compiled(text: str) -> Resolution:
    """The pins, hashes and ``# via`` annotations of ``uv pip compile``'s output (pure)."""
    pins: dict[str, str] = {}
    hashes: dict[str, list[str]] = {}
    via: dict[str, list[str]] = {}
    current: str | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            words = line.lstrip("#").strip().removeprefix("via").strip()
            if current is not None and words and not words.startswith("-"):
                via.setdefault(current, []).append(normalize_name(words.split()[0]))
            continue
        found = _PIN.match(line)
        if found:
            current = normalize_name(found.group(1))
            pins[current] = found.group(2)
            hashes.setdefault(current, [])
        if current is not None:
            hashes[current].extend(_HASH.findall(line))
    return Resolution(
        pins,
        {k: tuple(v) for k, v in hashes.items() if v},
        via={k: tuple(v) for k, v in via.items()},
    )


def cause_of(stderr: str) -> str:
    """uv's explanation of an unsatisfiable set, on one line (``cause: Because ...``)."""
    text = stderr.split("cause:", 1)[1] if "cause:" in stderr else stderr
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith(("hint:", "error:"))]
    return " ".join(lines) or "no solution found"


@dataclass
class Uv:
    """``uv pip compile`` for one target Python, with a time limit per run."""

    python_version: str
    timeout_seconds: float = 120.0
    python_platform: str | None = None
    cache_dir: Path | None = None
    build: bool = False
    """Let uv build source distributions to read their metadata (runs their code: off)."""
    binary: Path = field(default_factory=find_uv)
    runs: int = 0
    seconds: float = 0.0

    def version(self) -> str:
        """``uv --version`` (``uv 0.13.9 (...)``)."""
        done = self._run([str(self.binary), "--version"])
        return done.stdout.strip()

    def compile(
        self,
        index: str,
        requirements: Sequence[str],
        preferences: Mapping[str, str] | None = None,
        constraints: Sequence[str] = (),
        hashes: bool = False,
        lowest: bool = False,
    ) -> Resolution:
        """Resolve ``requirements`` (PEP 508 lines) through ``index``, keeping the versions of
        ``preferences`` where possible and within ``constraints`` (``lowest``: the lowest
        versions that fit, for the requirements themselves)."""
        with tempfile.TemporaryDirectory(prefix="seckb-fix-") as temp:
            folder = Path(temp)
            inputs = folder / "requirements.in"
            inputs.write_text("".join(f"{r}\n" for r in requirements), encoding="utf-8")
            output = folder / "requirements.txt"
            output.write_text(
                "".join(f"{p}=={v}\n" for p, v in sorted((preferences or {}).items())),
                encoding="utf-8",
            )
            command = [
                str(self.binary),
                "pip",
                "compile",
                str(inputs),
                "-o",
                str(output),
                "--index-url",
                index,
                "--python-version",
                self.python_version,
                "--no-header",
                "--no-python-downloads",  # a target Python is a version, never a download
                "--quiet",
            ]
            if constraints:
                limits = folder / "constraints.txt"
                limits.write_text("".join(f"{c}\n" for c in constraints), encoding="utf-8")
                command += ["-c", str(limits)]
            if self.python_platform:
                command += ["--python-platform", self.python_platform]
            if self.cache_dir:
                command += ["--cache-dir", str(self.cache_dir)]
            if not self.build:
                command.append("--no-build")
            if hashes:
                command.append("--generate-hashes")
            if lowest:
                command += ["--resolution", "lowest-direct"]
            done = self._run(command)
            if done.returncode == 1 and "No solution found" in done.stderr:
                return Resolution(failure=cause_of(done.stderr))
            if done.returncode != 0:
                raise UvError(f"uv pip compile failed: {error_line(done.stderr)}")
            return parse_compiled(output.read_text(encoding="utf-8"))

    def _run(self, command: list[str]) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "PIP_"))}
        env["UV_NO_CONFIG"] = "1"
        started = time.monotonic()
        try:
            return subprocess.run(
                command,
                capture_output=True,
                text=True,
                env=env,
                timeout=self.timeout_seconds,
                check=False,
            )
        except FileNotFoundError as exc:
            raise UvError(f"uv not found at {self.binary}") from exc
        except subprocess.TimeoutExpired as exc:
            raise UvError(f"uv did not finish within {self.timeout_seconds:g} s") from exc
        finally:
            self.runs += 1
            self.seconds += time.monotonic() - started


def error_line(stderr: str) -> str:
    """The line of uv's output that says what went wrong (``error: ...``), shortened."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    chosen = next((line for line in lines if line.startswith("error:")), lines[0] if lines else "")
    return chosen.removeprefix("error:").strip()[:400] or "no message"


def default_python() -> str:
    """The running interpreter's ``major.minor``: the default target of a resolution."""
    import sys

    return f"{sys.version_info.major}.{sys.version_info.minor}"
