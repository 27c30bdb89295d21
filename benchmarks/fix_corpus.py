"""``seckb fix`` against pip-audit 2.10's ``--fix`` on a corpus of real pinned files (issue 18).

The corpus: 23 requirements files, each the greatest versions of a set of popular packages as of
a past date, resolved by uv on real PyPI (``uv pip compile --exclude-newer DATE``, Python 3.8,
wheels only), kept in ``--cache`` so later runs reuse them. The knowledge: the real advisory-db
bundle (2023-12). For each file, on copies:

* ``seckb fix -r FILE --write`` (in-place; uv through seckb's index in front of pypi.org);
* ``pip-audit -r FILE --fix -s osv --osv-url <seckb serve>/v1/query --no-deps --disable-pip``
  (the same advisories, through seckb's OSV API);

then, for each result: the advisory hits left (``seckb audit``), how many of them were fixable
(the package has a release no blocking advisory affects), whether the result installs (uv
resolves the exact pins on pypi.org for Python 3.8, wheels only), pins changed per advisory hit
removed, and the whole-process time. The two large files are timed again warm (the goal:
under 10 s for 60 pins with 10 vulnerable). Every figure includes uv's own network time: it
revalidates wheel metadata with files.pythonhosted.org on every run, whichever index it uses.

Needs PyPI. Usage: .venv/bin/python benchmarks/fix_corpus.py [--cache DIR] [--files N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ROOT.parent / "shared" / "data" / "advisory-db-2023.bundle"
BIN = Path(sys.executable).parent
PYTHON = "3.8"
SETS = {
    "django": ["django", "djangorestframework", "celery", "redis", "gunicorn", "requests",
               "pillow", "psycopg2-binary"],
    "flask": ["flask", "flask-cors", "flask-sqlalchemy", "sqlalchemy", "pyjwt", "requests",
              "gunicorn", "jinja2"],
    "data": ["numpy", "pandas", "scipy", "matplotlib", "pillow", "requests"],
    "aws": ["boto3", "requests", "cryptography", "paramiko", "urllib3"],
    "crypto": ["cryptography", "pyopenssl", "paramiko", "pycryptodome", "pyjwt", "oauthlib",
               "requests-oauthlib"],
    "api": ["fastapi", "uvicorn", "pydantic", "httpx", "aiohttp", "jinja2", "python-multipart"],
    "html": ["lxml", "beautifulsoup4", "html5lib", "bleach", "markdown", "pygments", "babel"],
}  # fmt: skip
DATES = ("2020-06-01", "2021-06-01", "2022-06-01")
"""pyyaml is left out: before 5.4 (2021-01) it had no wheel for Linux and Python 3.8, and the
corpus is resolved from wheels only (no sdist's code runs)."""
BIG = ("big", [*SETS["django"], *SETS["flask"], *SETS["api"], *SETS["aws"], *SETS["html"]])
"""The large files: these sets together (70-85 pins), as of two dates."""
BIG_DATES = ("2021-06-01", "2022-06-01")


def clean_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_", "SECKB_"))}
    env.update(
        {
            "HOME": str(home),
            "PIP_CONFIG_FILE": os.devnull,
            "UV_NO_CONFIG": "1",
            "XDG_CACHE_HOME": str(home / "cache"),
        }
    )
    return env


def compile_set(packages: list[str], date: str, out: Path, env: dict[str, str]) -> bool:
    """Resolve ``packages`` as of ``date`` on PyPI into ``out``; whether it resolved."""
    source = out.with_suffix(".in")
    source.write_text("".join(f"{p}\n" for p in packages), encoding="utf-8")
    command = [
        str(BIN / "uv"), "pip", "compile", str(source), "-o", str(out),
        "--exclude-newer", date, "--python-version", PYTHON, "--only-binary", ":all:",
        "--no-python-downloads",
        "--index-url", "https://pypi.org/simple/", "--no-header", "--no-annotate", "--quiet",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        print(f"  corpus: {out.name} did not resolve: {done.stderr.strip()[-200:]}")
    return done.returncode == 0


def corpus(cache: Path, env: dict[str, str]) -> list[Path]:
    cache.mkdir(parents=True, exist_ok=True)
    files = []
    wanted = [(f"{n}-{d}", p, d) for n, p in SETS.items() for d in DATES]
    wanted += [(f"{BIG[0]}-{d}", sorted(set(BIG[1])), d) for d in BIG_DATES]
    for name, packages, date in wanted:
        out = cache / f"{name}.txt"
        if out.is_file() or compile_set(packages, date, out, env):
            files.append(out)
    return files


def installs(path: Path, env: dict[str, str]) -> bool:
    """Whether the exact pins of ``path`` resolve on PyPI (Python 3.8, wheels only)."""
    pins = [line.split("#")[0].split(";")[0].strip() for line in path.read_text().splitlines()]
    exact = path.with_suffix(".check.in")
    exact.write_text("".join(f"{p}\n" for p in pins if "==" in p), encoding="utf-8")
    command = [
        str(BIN / "uv"), "pip", "compile", str(exact), "--python-version", PYTHON,
        "--no-python-downloads",
        "--only-binary", ":all:", "--index-url", "https://pypi.org/simple/", "--quiet",
        "--no-deps",
    ]  # fmt: skip
    independent = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    command.remove("--no-deps")  # and together: every dependency satisfied by the set
    together = subprocess.run(
        [*command, "-c", str(exact)], capture_output=True, text=True, env=env, check=False
    )
    return independent.returncode == 0 and together.returncode == 0


def audit(path: Path, home: Path, env: dict[str, str]) -> dict[tuple[str, str], list[str]]:
    done = subprocess.run(
        [str(BIN / "seckb"), "audit", "-r", str(path), "--json", "--home", str(home)],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    document = json.loads(done.stdout)
    return {(p["package"], p["version"]): p["advisories"] for p in document["packages"]}


def fixable(package: str, server: str, known: dict[str, bool]) -> bool:
    """Whether ``package`` has a release no blocking advisory affects (seckb's policy)."""
    if package not in known:
        with urllib.request.urlopen(f"{server}/v1/policy/{package}", timeout=120) as answer:
            known[package] = json.load(answer)["counts"]["allowed"] > 0
    return known[package]


def pins_of(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text().splitlines():
        spec = line.split("#")[0].split(";")[0].strip()
        if "==" in spec:
            name, version = spec.split("==", 1)
            found[name.strip().lower().replace("_", "-")] = version.strip()
    return found


def measure(
    tool: str, original: Path, work: Path, home: Path, server: str, env: dict[str, str],
    known: dict[str, bool],
) -> dict[str, Any]:  # fmt: skip
    copy = work / f"{tool}-{original.name}"
    shutil.copyfile(original, copy)
    if tool == "seckb":
        command = [str(BIN / "seckb"), "fix", "-r", str(copy), "--write", "--home", str(home),
                   "--python-version", PYTHON]  # fmt: skip
    else:
        command = [str(BIN / "pip-audit"), "-r", str(copy), "--fix", "-s", "osv", "--osv-url",
                   f"{server}/v1/query", "--no-deps", "--disable-pip", "--progress-spinner",
                   "off", "--cache-dir", str(work / "pip-audit-cache")]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    took = time.perf_counter() - started
    before, after = audit(original, home, env), audit(copy, home, env)
    hits_before = sum(len(v) for v in before.values())
    hits_after = sum(len(v) for v in after.values())
    left_fixable = sum(len(v) for (p, _), v in after.items() if v and fixable(p, server, known))
    old, new = pins_of(original), pins_of(copy)
    changed = sum(1 for p, v in new.items() if old.get(p) != v)
    removed = max(0, hits_before - hits_after)
    return {
        "tool": tool,
        "file": original.name,
        "pins": len(old),
        "hits_before": hits_before,
        "hits_after": hits_after,
        "fixable_left": left_fixable,
        "installs": installs(copy, env),
        "changed": changed,
        "per_advisory": changed / removed if removed else None,
        "seconds": took,
        "exit": done.returncode,
        "error": done.stderr.strip().splitlines()[-1][:160] if done.returncode > 1 else None,
    }


def serve(home: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [str(BIN / "seckb"), "serve", "--home", str(home), "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            urllib.request.urlopen(f"{url}/healthz", timeout=2)
            return process, url
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("seckb serve did not start")


def report(rows: list[dict[str, Any]]) -> None:
    print(f"{'file':28} {'tool':9} {'pins':>4} {'hits':>5} {'left':>5} {'fixable left':>12} "
          f"{'installs':>8} {'changed':>7} {'per adv.':>8} {'seconds':>7}")  # fmt: skip
    for r in rows:
        per = "-" if r["per_advisory"] is None else f"{r['per_advisory']:.2f}"
        print(
            f"{r['file']:28} {r['tool']:9} {r['pins']:4} {r['hits_before']:5} {r['hits_after']:5}"
            f" {r['fixable_left']:12} {'yes' if r['installs'] else 'NO':>8} {r['changed']:7}"
            f" {per:>8} {r['seconds']:7.1f}" + (f"  error: {r['error']}" if r["error"] else "")
        )
    for tool in ("seckb", "pip-audit"):
        mine = [r for r in rows if r["tool"] == tool]
        ratios = [r["per_advisory"] for r in mine if r["per_advisory"] is not None]
        left = sum(r["fixable_left"] for r in mine)
        print(
            f"{tool}: {len(mine)} files; fixable advisory hits left {left}"
            f" (of {sum(r['hits_before'] for r in mine)} hits before); results that install "
            f"{sum(r['installs'] for r in mine)}/{len(mine)}; pins changed per hit removed "
            f"median {statistics.median(ratios) if ratios else 0:.2f}; seconds per file median "
            f"{statistics.median(r['seconds'] for r in mine):.1f}, max "
            f"{max(r['seconds'] for r in mine):.1f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cache", type=Path, default=Path.home() / ".cache" / "seckb-bench" / "fix"
    )
    parser.add_argument("--files", type=int, default=0, help="only the first N files (0: all)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="seckb-fix-bench-") as temp:
        work = Path(temp)
        env = clean_env(args.cache / "home")
        files = corpus(args.cache / "corpus", env)
        if args.files:
            files = files[: args.files]
        home = work / "data"
        done = subprocess.run(
            [str(BIN / "seckb"), "ingest", "--sources", "advisories", "--home", str(home)],
            env={**env, "SECKB_ADVISORY_DB_URL": str(BUNDLE)}, capture_output=True, text=True,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        process, server = serve(home, env)
        try:
            known: dict[str, bool] = {}
            rows = []
            for path in files:
                for tool in ("seckb", "pip-audit"):
                    rows.append(measure(tool, path, work, home, server, env, known))
            report(rows)
            for big in [p for p in files if p.name.startswith("big")]:
                warm = measure("seckb", big, work, home, server, env, known)
                baseline = next(
                    r["seconds"] for r in rows if r["tool"] == "pip-audit" and r["file"] == big.name
                )
                vulnerable = sum(1 for v in audit(big, home, env).values() if v)
                print(
                    f"warm: seckb fix of {big.name} ({warm['pins']} pins, {vulnerable} vulnerable, "
                    f"{warm['hits_before']} advisory hits): {warm['seconds']:.1f} s whole process "
                    f"(goal under 10 s); pip-audit --fix on it: {baseline:.1f} s"
                )
        finally:
            process.terminate()
            process.wait(timeout=30)


if __name__ == "__main__":
    main()
