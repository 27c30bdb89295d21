"""The architecture holds: imports point down the layers, modules and functions stay small,
few modules sit directly in ``aggregators/``, and the DAG file stays light to parse."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from helpers import ROOT

PACKAGE = ROOT / "aggregators"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
TOP_LEVEL_MODULES = {"__init__.py", "api.py"}


def test_import_contracts_are_kept() -> None:
    linter = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run(
        [str(linter), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def test_modules_and_functions_stay_small() -> None:
    too_long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        where = path.relative_to(ROOT)
        if len(source.splitlines()) > MAX_MODULE_LINES:
            too_long.append(f"{where}: {len(source.splitlines())} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    too_long.append(f"{where}:{node.lineno} {node.name}() {length} lines")
    assert too_long == []


def test_few_modules_sit_directly_in_the_package() -> None:
    loose = {p.name for p in PACKAGE.glob("*.py")}
    assert loose == TOP_LEVEL_MODULES


def test_dag_file_imports_nothing_heavy() -> None:
    dag = ast.parse((ROOT / "dags" / "seckb_nightly.py").read_text(encoding="utf-8"))
    ours = [
        node.module
        for node in dag.body
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("aggregators")
    ]
    assert ours, "the DAG file reads the settings and the source registry"
    code = (
        "import sys\n"
        + "".join(f"import {module}\n" for module in ours)
        + "heavy = {'pyarrow', 'duckdb', 'git', 'requests', 'bandit'} & set(sys.modules)\n"
        + "print(sorted(heavy))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_every_package_is_installed() -> None:
    """A non-editable install (the Docker image) ships every sub-package of aggregators/."""
    import tomllib

    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = {".".join(path.parent.relative_to(ROOT).parts) for path in PACKAGE.rglob("__init__.py")}
    assert found - listed == set()
