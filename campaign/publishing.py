"""Publish journeys as immutable, numbered versions; list and compare them.

A version is keyed by the hash of the journey's data (not its text), so publishing the same
journey twice, or with only comments changed, is a no-op. No Flask here: callers hand in a
SQLAlchemy session and commit.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaign.errors import CampaignError, NotFound, did_you_mean
from campaign.journeys.findings import Finding, Severity, has_errors
from campaign.journeys.lint import lint_text
from campaign.journeys.loader import content_hash
from campaign.models import Journey, JourneyVersion

MIN_HASH_PREFIX = 4


class JourneyHasErrors(CampaignError):
    """Lint found errors; nothing was published. ``findings`` holds all of them."""

    def __init__(self, filename: str, findings: list[Finding]) -> None:
        self.filename = filename
        self.findings = findings
        errors = sum(1 for f in findings if f.severity is Severity.ERROR)
        super().__init__(
            f"{filename} has {errors} error(s); fix them (see 'campaign journeys lint "
            f"{filename}') and publish again"
        )


def find_journey(session: Session, key: str) -> Journey:
    """Return the journey named ``key``.

    :raises NotFound: naming the journeys that do exist, closest first.
    """
    journey = session.scalar(select(Journey).where(Journey.key == key))
    if journey is None:
        known = list(session.scalars(select(Journey.key).order_by(Journey.key)))
        hint = did_you_mean(key, known) or (
            f"; published journeys: {', '.join(known)}"
            if known
            else "; none is published yet (campaign journeys publish PATH)"
        )
        raise NotFound(f"journey '{key}' is not published{hint}")
    return journey


def latest_version(session: Session, journey: Journey) -> JourneyVersion:
    """Return the journey's highest-numbered version."""
    version = session.scalar(
        select(JourneyVersion)
        .where(JourneyVersion.journey_id == journey.id)
        .order_by(JourneyVersion.number.desc())
        .limit(1)
    )
    if version is None:
        raise NotFound(f"journey '{journey.key}' has no published version")
    return version


def publish_journey(session: Session, text: str, filename: str) -> tuple[JourneyVersion, bool]:
    """Lint ``text`` and store it as the journey's next version.

    :returns: the version and whether it was created (``False``: this content was already
        published, possibly as an older version; nothing changed).
    :raises JourneyHasErrors: when lint finds an error (warnings do not stop publishing).
    """
    result = lint_text(text, filename)
    if result.spec is None or result.data is None or has_errors(result.findings):
        raise JourneyHasErrors(filename, result.findings)
    spec = result.spec
    data = _json_data(result.data)
    digest = content_hash(data)
    journey = session.scalar(select(Journey).where(Journey.key == spec.key).with_for_update())
    if journey is None:
        journey = Journey(key=spec.key, title=spec.title)
        session.add(journey)
        session.flush()
    existing = session.scalar(
        select(JourneyVersion).where(
            JourneyVersion.journey_id == journey.id, JourneyVersion.content_hash == digest
        )
    )
    if existing is not None:
        return existing, False
    highest = session.scalar(
        select(func.max(JourneyVersion.number)).where(JourneyVersion.journey_id == journey.id)
    )
    version = JourneyVersion(
        journey=journey,
        number=(highest or 0) + 1,
        content_hash=digest,
        source=text,
        spec_json=data,
        filename=filename,
    )
    journey.title = spec.title
    session.add(version)
    session.flush()
    return version, True


def _json_data(data: dict[str, Any]) -> dict[str, Any]:
    """Return the YAML data as JSON gives it back, which is what is stored and hashed.

    YAML holds values JSON does not (dates, non-string keys); hashing the stored form keeps
    ``content_hash(version.spec_json) == version.content_hash`` true for every version.
    """
    plain: dict[str, Any] = json.loads(json.dumps(data, ensure_ascii=False, default=str))
    return plain


def list_versions(session: Session, key: str) -> list[JourneyVersion]:
    """Return the versions of journey ``key``, oldest first."""
    journey = find_journey(session, key)
    return list(
        session.scalars(
            select(JourneyVersion)
            .where(JourneyVersion.journey_id == journey.id)
            .order_by(JourneyVersion.number)
        )
    )


def find_version(session: Session, journey: Journey, ref: str) -> JourneyVersion:
    """Return the version named by ``ref``: its number (``2``, ``v2``) or a hash prefix.

    :raises NotFound: when nothing, or more than one version, matches.
    """
    ref = ref.strip().lower()
    number = ref[1:] if ref.startswith("v") else ref
    if number.isdigit():
        version = session.scalar(
            select(JourneyVersion).where(
                JourneyVersion.journey_id == journey.id, JourneyVersion.number == int(number)
            )
        )
        if version is not None:
            return version
    matches: list[JourneyVersion] = []
    if len(ref) >= MIN_HASH_PREFIX and all(c in "0123456789abcdef" for c in ref):
        matches = list(
            session.scalars(
                select(JourneyVersion).where(
                    JourneyVersion.journey_id == journey.id,
                    JourneyVersion.content_hash.startswith(ref),
                )
            )
        )
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        names = ", ".join(f"v{v.number} ({v.short_hash})" for v in matches)
        raise NotFound(
            f"'{ref}' matches several versions of '{journey.key}': {names}; give more of the hash"
        )
    numbers = session.scalars(
        select(JourneyVersion.number)
        .where(JourneyVersion.journey_id == journey.id)
        .order_by(JourneyVersion.number)
    )
    raise NotFound(
        f"journey '{journey.key}' has no version '{ref}'; name one by number "
        f"({', '.join(str(n) for n in numbers)}) or by at least {MIN_HASH_PREFIX} hex digits "
        "of its hash (see 'campaign journeys versions')"
    )


@dataclass
class VersionDiff:
    """What changed from version ``old`` to version ``new``."""

    old: JourneyVersion
    new: JourneyVersion
    unified: str  # unified diff of the YAML sources
    steps_added: list[str] = field(default_factory=list)
    steps_removed: list[str] = field(default_factory=list)
    steps_changed: list[str] = field(default_factory=list)
    sections_changed: list[str] = field(default_factory=list)  # top-level keys other than steps

    def summary(self) -> str:
        """Return a few lines a marketer reads before the diff itself."""
        if self.old.content_hash == self.new.content_hash:
            return "no change"
        lines = []
        for label, keys in (
            ("steps added", self.steps_added),
            ("steps removed", self.steps_removed),
            ("steps changed", self.steps_changed),
            ("sections changed", self.sections_changed),
        ):
            if keys:
                lines.append(f"{label}: {', '.join(keys)}")
        return "\n".join(lines) or "only formatting or comments changed"


def diff_versions(session: Session, key: str, a: str, b: str) -> VersionDiff:
    """Compare two versions of journey ``key`` named by number or hash prefix."""
    journey = find_journey(session, key)
    old, new = find_version(session, journey, a), find_version(session, journey, b)
    unified = "\n".join(
        difflib.unified_diff(
            old.source.splitlines(),
            new.source.splitlines(),
            fromfile=f"{key} v{old.number} ({old.filename})",
            tofile=f"{key} v{new.number} ({new.filename})",
            lineterm="",
        )
    )
    old_steps, new_steps = _steps_by_key(old.spec_json), _steps_by_key(new.spec_json)
    return VersionDiff(
        old=old,
        new=new,
        unified=unified,
        steps_added=[k for k in new_steps if k not in old_steps],
        steps_removed=[k for k in old_steps if k not in new_steps],
        steps_changed=[k for k in new_steps if k in old_steps and new_steps[k] != old_steps[k]],
        sections_changed=sorted(
            k
            for k in set(old.spec_json) | set(new.spec_json)
            if k != "steps" and old.spec_json.get(k) != new.spec_json.get(k)
        ),
    )


def _steps_by_key(data: dict[str, Any]) -> dict[str, Any]:
    steps = data.get("steps") or []
    return {str(s.get("key")): s for s in steps if isinstance(s, dict)}
