"""The two ways ``seckb fix`` finds a change, both resolved by uv through seckb's index.

* **in-place** changes only the blocked pins, and what uv says they force: every other pin is
  a preference uv keeps unless it cannot. One resolution usually decides it all: every pin at
  its own version or above, each as low as uv can take it (``--resolution lowest-direct``), so
  a blocked pin goes to its lowest allowed release above it and a forced one no higher than it
  must. When that does not resolve (a fix needs a lower release, or two fixes conflict), the
  releases the policy allows are tried per blocked pin, lowest first above it, then below it.
* **relax** re-resolves the direct requirements (the ``.in`` file or ``pyproject.toml`` the
  pins came from, else the pins' names) with the current pins as preferences and the blocked
  releases gone, so uv moves as few pins as it must. A direct requirement whose own bounds
  admit no allowed release is reported (``urllib3<2 admits no release without an advisory:
  the nearest is 2.2.2``) and its pin held.

A blocked pin that cannot be fixed is held at its version (exactly pinned, through the index's
yanking URL, where only an exact pin can take a blocked release), so the rest is still resolved
around it; everything else comes from the strict index, which offers no blocked release. The
result is judged again: a final pin blocked but not reported unfixable is an error, never a
plan.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from packaging.requirements import InvalidRequirement, Requirement

from aggregators.clients.fix.plan import (
    Change,
    Counts,
    FixInput,
    Pin,
    Unfixable,
    advisory_refs,
    ordered,
)
from aggregators.clients.fix.uv import Resolution
from aggregators.core.errors import SeckbError
from aggregators.core.names import normalize_name
from aggregators.core.versions import parse_version, version_sort_key
from aggregators.knowledge.policy import Verdict

MAX_TRIES = 4
"""Releases tried per blocked pin before uv is left to choose within what the policy allows."""


class Knowledge(Protocol):
    """What a strategy asks of seckb."""

    def verdict(self, package: str, version: str) -> Verdict:
        """The policy's verdict on a release."""

    def versions(self, package: str) -> Sequence[str]:
        """The versions the index offers files of (PEP 503 name)."""

    def allowed(self, package: str) -> Sequence[str]:
        """Those of :meth:`versions` the policy allows."""

    def release(self, package: str, version: str) -> tuple[str | None, float | None]:
        """The Bandit status and repository Scorecard score of a release."""


class Resolver(Protocol):
    """uv, through seckb's strict index (or, ``holding`` blocked pins, its yanking one)."""

    def compile(
        self,
        requirements: Sequence[str],
        preferences: Mapping[str, str],
        constraints: Sequence[str],
        holding: bool,
        hashes: bool = False,
        lowest: bool = False,
    ) -> Resolution:
        """Resolve ``requirements`` (``lowest``: the lowest versions that fit them)."""


class PlanError(SeckbError):
    """The fixed set does not resolve, or would still hold a blocked release."""


@dataclass
class Work:
    """A strategy's state: the pins, their verdicts, what was decided."""

    source: FixInput
    knowledge: Knowledge
    resolver: Resolver
    verdicts: dict[str, Verdict] = field(default_factory=dict)
    held: dict[str, Pin] = field(default_factory=dict)
    """Blocked pins that cannot be fixed, held at their version."""
    unfixable: list[Unfixable] = field(default_factory=list)
    chosen: dict[str, str] = field(default_factory=dict)

    @property
    def pins(self) -> dict[str, Pin]:
        """Pins by package (the first line of a package pinned twice)."""
        found: dict[str, Pin] = {}
        for pin in self.source.pins:
            found.setdefault(pin.package, pin)
        return found

    def blocked(self) -> list[Pin]:
        """The blocked pins, most advisories first."""
        found = [p for p in self.pins.values() if self.verdicts[p.package].blocked]
        return sorted(found, key=lambda p: (-len(self.verdicts[p.package].reasons), p.package))

    def hold(self, pin: Pin, reason: str, message: str) -> None:
        """Keep a blocked pin as it is and say why."""
        self.held[pin.package] = pin
        refs = advisory_refs(self.verdicts[pin.package])
        self.unfixable.append(Unfixable(pin.package, pin.version, pin.where, refs, reason, message))

    def preferences(self) -> dict[str, str]:
        """The versions uv keeps where it can: the allowed pins (and those decided)."""
        prefs = {p: pin.version for p, pin in self.pins.items() if not self.verdicts[p].blocked}
        return {**prefs, **self.chosen}

    def constraints(self) -> list[str]:
        """The decided versions, as constraints."""
        return [f"{p}=={v}" for p, v in sorted(self.chosen.items())]


def judge_pins(work: Work) -> None:
    """The verdict on every pin."""
    for package, pin in work.pins.items():
        work.verdicts[package] = work.knowledge.verdict(package, pin.version)


def candidates(knowledge: Knowledge, pin: Pin) -> list[str]:
    """The allowed releases of a blocked pin's package: lowest first above it, then below it,
    nearest first (pre-releases only when the pin is one)."""
    current = parse_version(pin.version)
    allowed = []
    for version in knowledge.allowed(pin.package):
        parsed = parse_version(version)
        if parsed is None or (parsed.is_prerelease and not (current and current.is_prerelease)):
            continue
        allowed.append(version)
    allowed = sorted(set(allowed), key=version_sort_key)
    if current is None:
        return allowed
    above = [v for v in allowed if parse_version(v) > current]  # type: ignore[operator]
    below = [v for v in allowed if parse_version(v) < current]  # type: ignore[operator]
    return above + below[::-1]


def _inputs(work: Work, free: Sequence[str]) -> list[str]:
    """Requirements for uv: held pins exactly, every other pinned package by name."""
    lines = [pin.exact() for pin in work.held.values()]
    lines += [line for line in free if normalize_name(_name(line)) not in work.held]
    return lines


def _name(line: str) -> str:
    try:
        return Requirement(line.split(";")[0]).name
    except InvalidRequirement:
        return line.split(";")[0].strip()


def _resolve(work: Work, free: Sequence[str], extra: Sequence[str] = ()) -> Resolution:
    return work.resolver.compile(
        _inputs(work, free), work.preferences(), [*work.constraints(), *extra], bool(work.held)
    )


def _decide(work: Work, free: Sequence[str], pin: Pin, options: Sequence[str]) -> bool:
    """Choose the first of ``options`` that resolves with the rest (else let uv pick any
    allowed release); ``False`` when none does (the pin is then held, with uv's reason)."""
    failure = None
    for version in options[:MAX_TRIES]:
        tried = _resolve(work, free, [f"{pin.package}=={version}"])
        if tried.ok:
            work.chosen[pin.package] = version
            return True
        failure = tried.failure
    if len(options) > MAX_TRIES:
        anything = _resolve(work, free, [f"{pin.package}!={pin.version}"])
        if anything.ok and anything.pins.get(pin.package):
            work.chosen[pin.package] = anything.pins[pin.package]
            return True
    work.hold(pin, "conflict", failure or "no allowed release resolves with the rest")
    return False


def in_place(work: Work) -> Resolution:
    """Decide a release for each blocked pin (see the module documentation); the final
    resolution of the whole set."""
    free = [pin.requirement() for pin in work.pins.values()]
    options = {}
    for pin in work.blocked():
        found = candidates(work.knowledge, pin)
        if found:
            options[pin.package] = found
        else:
            work.hold(pin, "no_release", f"no release of {pin.package} without a blocking advisory")
    if not options:
        return _resolve(work, free)
    floors = [  # every pin at its own version or above, each as low as it can go: one run
        f"{p}>={pin.version}"
        for p, pin in work.pins.items()
        if p not in work.held and parse_version(pin.version) is not None
    ]
    lowest = work.resolver.compile(
        _inputs(work, free), work.preferences(), floors, bool(work.held), lowest=True
    )
    if lowest.ok:
        work.chosen.update({p: lowest.pins[p] for p in options if p in lowest.pins})
        return lowest
    first = [f"{p}=={found[0]}" for p, found in options.items()]
    attempt = _resolve(work, free, first)
    if attempt.ok:
        work.chosen.update({p: found[0] for p, found in options.items()})
        return _lower_forced(work, free, attempt)
    for pin in [p for p in work.blocked() if p.package in options]:
        _decide(work, free, pin, options[pin.package])
    final = _resolve(work, free)
    again: set[str] = set()
    while not final.ok and work.chosen:  # a later hold may undo an earlier choice: re-decide
        package = list(work.chosen)[-1]
        del work.chosen[package]
        if package in again:
            work.hold(work.pins[package], "conflict", final.failure or "does not resolve")
        else:
            again.add(package)
            _decide(work, free, work.pins[package], options[package])
        final = _resolve(work, free)
    return _lower_forced(work, free, final) if final.ok else final


def _lower_forced(work: Work, free: Sequence[str], result: Resolution) -> Resolution:
    """``result`` with the pins the fixes forced up taken as low as they can go (uv takes the
    highest): one more resolution, the lowest versions at or above every allowed pin's own,
    the fixes held. Kept only when it changes no more pins."""
    allowed = {p: pin for p, pin in work.pins.items() if not work.verdicts[p].blocked}
    forced = [p for p, pin in allowed.items() if result.pins.get(p, pin.version) != pin.version]
    if not forced:
        return result
    floors = [f"{p}>={pin.version}" for p, pin in sorted(allowed.items())]
    lower = work.resolver.compile(
        _inputs(work, free),
        work.preferences(),
        [*work.constraints(), *floors],
        bool(work.held),
        lowest=True,
    )
    if not lower.ok:
        return result

    def moved(found: Resolution) -> int:
        return sum(1 for p, v in found.pins.items() if p in work.pins and work.pins[p].version != v)

    return lower if moved(lower) <= moved(result) else result


def _bound_problem(knowledge: Knowledge, requirement: Requirement) -> str | None:
    """Why ``requirement``'s own bounds keep every allowed release out, if they do."""
    package = normalize_name(requirement.name)
    allowed = sorted(
        (
            v
            for v in knowledge.allowed(package)
            if parse_version(v) is not None and not parse_version(v).is_prerelease  # type: ignore[union-attr]
        ),
        key=version_sort_key,
    )
    if any(requirement.specifier.contains(v) for v in allowed):
        return None
    if not allowed:
        return f"no release of {package} without a blocking advisory"
    inside = [v for v in knowledge.versions(package) if requirement.specifier.contains(v)]
    top = max(inside, key=version_sort_key) if inside else None
    above = [v for v in allowed if top is None or version_sort_key(v) > version_sort_key(top)]
    nearest = above[0] if above else allowed[-1]
    return (
        f"`{requirement}` admits no release without a blocking advisory: the nearest is {nearest}"
    )


def relax(work: Work) -> Resolution:
    """Re-resolve the direct requirements around the blocked releases (see the module
    documentation); the final resolution."""
    direct = list(work.source.direct) or [p.requirement() for p in work.pins.values()]
    kept = []
    for line in direct:
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            kept.append(line)
            continue
        problem = _bound_problem(work.knowledge, requirement)
        pin = work.pins.get(normalize_name(requirement.name))
        if problem and pin is not None and work.verdicts[pin.package].blocked:
            work.hold(pin, "bound", problem)
        kept.append(line)
    for pin in work.blocked():  # blocked transitive pins with nothing allowed at all
        if pin.package not in work.held and not candidates(work.knowledge, pin):
            work.hold(pin, "no_release", f"no release of {pin.package} without a blocking advisory")
    return _resolve(work, kept)


def counts(knowledge: Knowledge, pins: Mapping[str, str]) -> Counts:
    """Pins, blocked pins and distinct blocking advisories of ``pins``."""
    verdicts = [knowledge.verdict(p, v) for p, v in pins.items()]
    blocked = [v for v in verdicts if v.blocked]
    advisories = {a for v in blocked for a in v.advisories}
    return Counts(len(verdicts), len(blocked), len(advisories))


def _group(work: Work, package: str, via: Mapping[str, tuple[str, ...]]) -> str:
    """The fix a forced or added pin belongs to: the fixed pin uv's ``# via`` chain leads to
    (a fixed pin: itself)."""
    fixed = {p.package for p in work.blocked() if p.package not in work.held}
    seen: set[str] = set()
    todo = [package]
    while todo:
        current = todo.pop(0)
        if current in fixed:
            return current
        if current not in seen:
            seen.add(current)
            todo.extend(via.get(current, ()))
    return sorted(fixed)[0] if fixed else ""


def _needed_by(package: str, group: str, result: Resolution) -> str:
    """``kombu 5.2.2, for celery 5.2.2``: what requires a pin, and the fix it serves."""
    final = result.pins
    fix = f"{group} {final[group]}" if group in final else "the fixed pins"
    parents = [p for p in result.via.get(package, ()) if p in final]
    if not parents or parents[0] == group:
        return fix
    return f"{parents[0]} {final[parents[0]]}, for {fix}"


def changes_of(work: Work, result: Resolution, relaxed: bool) -> list[Change]:
    """The changes from the input's pins to ``result`` (removals only when relaxed)."""
    pins = work.pins
    final = result.pins
    found: list[Change] = []
    for package, version in sorted(final.items()):
        pin = pins.get(package)
        if pin is not None and pin.version == version:
            continue
        bandit, score = work.knowledge.release(package, version)
        group = _group(work, package, result.via)
        needed = _needed_by(package, group, result)
        if pin is None:
            found.append(
                Change(package, None, version, None, "added", f"a new dependency of {needed}",
                       group, (), bandit, score)
            )  # fmt: skip
            continue
        verdict = work.verdicts[package]
        kind = "fix" if verdict.blocked else "forced"
        if kind == "fix":
            group = package
            because = f"{pin.version} is blocked: {verdict.message(200)}"
        else:
            because = f"required by {needed}"
        removes = advisory_refs(verdict) if kind == "fix" else ()
        found.append(
            Change(package, pin.version, version, pin.where, kind, because, group, removes,
                   bandit, score)
        )  # fmt: skip
    if relaxed:
        for package, pin in pins.items():
            if package not in final and package not in work.held and pin.marker is None:
                found.append(
                    Change(package, pin.version, None, pin.where, "removed",
                           "no longer required", _group(work, package, result.via))
                )  # fmt: skip
    return ordered(found)


def finish(work: Work, result: Resolution) -> Resolution:
    """The final resolution, checked: it succeeded and holds no blocked release the plan does
    not report."""
    if not result.ok:
        raise PlanError(f"the fixed set does not resolve: {result.failure}")
    for package, version in result.pins.items():
        if package in work.held and work.held[package].version == version:
            continue
        if work.knowledge.verdict(package, version).blocked:
            raise PlanError(f"the resolution chose {package} {version}, a blocked release")
    return result
