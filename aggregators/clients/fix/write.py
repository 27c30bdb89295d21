"""``seckb fix --write``: the plan applied to the files, atomically, or not at all.

Requirements files (and the ``-r``/``-c`` files a pin lives in) are rewritten by
:mod:`.rewrite` — only the changed versions, and their hashes where the lines had some — each
through a temporary file and a rename. A ``uv.lock`` is rewritten by uv itself
(``uv lock --upgrade-package NAME==VERSION``, in its project, with the project's own index
configuration, so its sources stay the project's), then read back and judged; a result that is
not the plan is put back as it was. Before anything is written every file is checked against
what was read: one changed on disk meanwhile stops the write, and no file is touched.
"""

from __future__ import annotations

import os
import subprocess
from collections import defaultdict
from pathlib import Path

from aggregators.clients.fix.inputs import digest_of, read_lock_input
from aggregators.clients.fix.plan import Plan
from aggregators.clients.fix.rewrite import Addition, Edit, RewriteError, apply_edits
from aggregators.clients.fix.service import FixError, IndexKnowledge
from aggregators.clients.fix.uv import error_line
from aggregators.core.files import write_atomic


def check_unchanged(plan: Plan, files: set[str]) -> None:
    """Raise :class:`FixError` when one of ``files`` changed since it was read."""
    read = dict(plan.source.digests)
    for name in sorted(files):
        if name in read and digest_of(Path(name)) != read[name]:
            raise FixError(f"{name} changed on disk while fixing; nothing was written")


def write_requirements(plan: Plan) -> list[str]:
    """Apply ``plan`` to its requirements files; the files written."""
    edits: dict[str, list[Edit]] = defaultdict(list)
    removals: dict[str, dict[int, str]] = defaultdict(dict)
    changed = {c.package: c for c in plan.changes}
    for pin in plan.source.pins:
        change = changed.get(pin.package)
        if change is None or change.old is None:
            continue
        if change.new is None:
            removals[pin.origin][pin.line] = change.because
            continue
        hashes = plan.hashes.get(pin.package, ()) if pin.hashed else None
        edits[pin.origin].append(Edit(pin.line, pin.package, change.new, hashes))
    top = plan.source.path
    additions = [
        Addition(
            c.package,
            c.new,
            c.because,
            plan.hashes.get(c.package, ()) if plan.source.hashed else (),
        )
        for c in plan.changes
        if c.old is None and c.new is not None
    ]
    files = set(edits) | set(removals) | ({top} if additions else set())
    check_unchanged(plan, files)
    texts = {}
    for name in sorted(files):
        text = Path(name).read_text(encoding="utf-8")
        try:
            texts[name] = apply_edits(
                text, edits.get(name, []), additions if name == top else [], removals.get(name)
            )
        except RewriteError as exc:
            raise FixError(f"{name}: {exc}; nothing was written") from exc
    for name, text in texts.items():
        write_atomic(Path(name), text.encode("utf-8"))
    return sorted(texts)


def write_lock(plan: Plan, knowledge: IndexKnowledge, binary: Path, timeout: float) -> list[str]:
    """Apply ``plan`` to its ``uv.lock`` through uv; the files written."""
    lock = Path(plan.source.path)
    changes = [c for c in plan.changes if c.new is not None and c.old is not None]
    if not changes:
        return []
    check_unchanged(plan, {str(lock)})
    before = lock.read_bytes()
    command = [str(binary), "lock", "--quiet"]
    for change in changes:
        command += ["--upgrade-package", f"{change.package}=={change.new}"]
    try:
        done = subprocess.run(
            command,
            cwd=lock.parent,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=dict(os.environ),
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        _restore(lock, before)
        raise FixError(
            f"uv lock did not finish within {timeout:g} s; uv.lock left as it was"
        ) from exc
    if done.returncode != 0:
        _restore(lock, before)
        raise FixError(f"uv lock failed: {error_line(done.stderr)}; uv.lock left as it was")
    locked = {p.package: p.version for p in read_lock_input(lock).pins}
    wrong = [
        f"{c.package} {locked.get(c.package)} (planned {c.new})"
        for c in changes
        if locked.get(c.package) != c.new
    ]
    held = {u.package for u in plan.unfixable}
    blocked = [
        f"{p} {v}" for p, v in locked.items() if p not in held and knowledge.verdict(p, v).blocked
    ]
    if wrong or blocked:
        _restore(lock, before)
        problem = "; ".join(
            [*(f"uv locked {w}" for w in wrong), *(f"{b} is blocked" for b in blocked)]
        )
        raise FixError(f"uv lock did not give the plan ({problem}); uv.lock left as it was")
    return [str(lock)]


def _restore(lock: Path, data: bytes) -> None:
    if lock.read_bytes() != data:
        write_atomic(lock, data)


def apply(plan: Plan, knowledge: IndexKnowledge, binary: Path, timeout: float) -> list[str]:
    """Write ``plan`` to its file(s) (nothing when it changes nothing); the files written."""
    if not plan.changes:
        return []
    if plan.source.kind == "uv.lock":
        return write_lock(plan, knowledge, binary, timeout)
    return write_requirements(plan)
