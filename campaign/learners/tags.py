"""Tags on learners: who set them and when, exclusive groups, and the journey's auto-tag rules.

A tag is ``group:value`` (``goal:excel-automation``); the groups follow the playbook's taxonomy.
Most groups hold any number of values (a learner may want Excel automation *and* web
scraping), but some describe one state of the learner and hold one value at a time:

- ``activity`` (every day, missed one, silent…): recomputed from behaviour, the newest wins;
- ``tier`` (value tier: core, normal, low): recomputed, the newest wins;
- ``level`` (beginner, some, programmer): the D1 quiz corrects the survey, the newest wins;
- ``intent`` (intent strength ``A`` > ``B`` > ``C``) and ``stage`` (funnel stage, in funnel
  order): *ranked*. An automatic source (rule, event, survey, import) only moves a learner up,
  since a poll vote (B) says nothing against an earlier "how do I enroll?" (A), and attending a
  live class after handing in homework is no step back in the funnel. An advisor may set any
  value: it is a human's judgment.

Setting a tag that is already there keeps the first source and time: the tag says since when
and why the learner has it, and a repeated event does not rewrite that history.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaign.errors import CampaignError, NotFound
from campaign.journeys.spec import JourneySpec, TagRule
from campaign.learners.common import event_enrollments
from campaign.messages.planning import spec_of
from campaign.models import Learner, LearnerEvent, Tag, TagSource, tag_group

MAX_TAG_LENGTH = 100  # the column's size

EXCLUSIVE_GROUPS = frozenset({"activity", "tier", "level", "intent", "stage"})
RANKED_GROUPS: Mapping[str, tuple[str, ...]] = {
    "intent": ("C", "B", "A"),
    "stage": (
        "not-in-group",
        "in-group",
        "attended",
        "homework",
        "consulted",
        "deposit",
        "group-buy",
        "paid",
    ),
}
AUTOMATIC_SOURCES = frozenset({TagSource.RULE, TagSource.EVENT, TagSource.SURVEY, TagSource.IMPORT})


class InvalidTag(CampaignError):
    """A tag name that is not ``group:value``."""


def check_tag_name(name: str) -> str:
    """Return the group of ``name``, or raise :class:`InvalidTag` saying what the form is."""
    if len(name) > MAX_TAG_LENGTH:
        raise InvalidTag(f"tag {name[:20]!r}… is longer than {MAX_TAG_LENGTH} characters")
    try:
        return tag_group(name)
    except ValueError as exc:
        raise InvalidTag(str(exc)) from exc


def _rank(name: str) -> int | None:
    group, _, value = name.partition(":")
    order = RANKED_GROUPS.get(group)
    if order is None or value not in order:
        return None
    return order.index(value)


def _outranks(held: str, new: str) -> bool:
    """Tell whether a held tag of a ranked group is above the new one (both ranked values)."""
    held_rank, new_rank = _rank(held), _rank(new)
    return held_rank is not None and new_rank is not None and held_rank > new_rank


def _learner(session: Session, learner_id: int) -> Learner:
    learner = session.get(Learner, learner_id)
    if learner is None:
        raise NotFound(f"learner {learner_id} does not exist")
    return learner


def add_tag(
    session: Session, learner_id: int, name: str, *, source: TagSource, now: datetime
) -> Tag:
    """Give the learner a tag and return the tag the learner holds for it afterwards.

    Idempotent: an existing tag is returned unchanged (first source and time kept). In an
    exclusive group the new tag replaces the other value, unless the group is ranked, the
    source is automatic and the held value is higher: then the held tag is returned.

    :raises InvalidTag: when ``name`` is not ``group:value``.
    :raises NotFound: when the learner does not exist.
    """
    tag = tag_learner(_learner(session, learner_id), name, source=source, now=now)
    session.flush()
    return tag


def tag_learner(learner: Learner, name: str, *, source: TagSource, now: datetime) -> Tag:
    """Do what :func:`add_tag` does on a loaded learner, without flushing: bulk callers (the
    import) flush once for many learners."""
    name = name.strip()
    group = check_tag_name(name)
    held = list(learner.tags)
    for tag in held:
        if tag.name == name:
            return tag
    if group in EXCLUSIVE_GROUPS:
        rivals = [tag for tag in held if tag.group == group]
        if source in AUTOMATIC_SOURCES:
            for rival in rivals:
                if _outranks(rival.name, name):
                    return rival
        for rival in rivals:
            learner.tags.remove(rival)  # delete-orphan: the row goes
    tag = Tag(name=name, source=source, created_at=now)
    learner.tags.append(tag)
    return tag


def remove_tag(session: Session, learner_id: int, name: str) -> bool:
    """Take a tag off the learner; tell whether it was there.

    :raises NotFound: when the learner does not exist.
    """
    learner = _learner(session, learner_id)
    for tag in list(learner.tags):
        if tag.name == name.strip():
            learner.tags.remove(tag)
            session.flush()
            return True
    return False


def list_tags(session: Session, learner_id: int) -> list[Tag]:
    """Return the learner's tags by name."""
    return list(session.scalars(select(Tag).where(Tag.learner_id == learner_id).order_by(Tag.name)))


# --- auto-tag rules -------------------------------------------------------------------------


def _answer_matches(given: Any, wanted: str) -> bool:
    """Compare a survey answer with a rule's, ignoring case and spaces; lists: any element."""
    if isinstance(given, list | tuple):
        return any(_answer_matches(one, wanted) for one in given)
    if given is None or isinstance(given, dict):
        return False
    return str(given).strip().casefold() == wanted.strip().casefold()


def rule_source(rule: TagRule, payload: Mapping[str, Any]) -> TagSource | None:
    """Return the source a matching event rule sets its tag with, or None if it does not match.

    A rule with ``question``/``answer`` matches a survey payload ``{question, answer}`` and
    the tag comes from the survey; a rule with ``keywords`` matches when the payload ``text``
    contains one of them (any case); a rule with neither matches every event it is ``on``.
    """
    if rule.question is not None or rule.answer is not None:
        if rule.question is not None and str(payload.get("question", "")).strip() != rule.question:
            return None
        if rule.answer is not None and not _answer_matches(payload.get("answer"), rule.answer):
            return None
        return TagSource.SURVEY
    if rule.keywords:
        text = payload.get("text")
        if not isinstance(text, str):
            return None
        folded = text.casefold()
        return TagSource.RULE if any(k.casefold() in folded for k in rule.keywords) else None
    return TagSource.RULE


def silence_tag_names(spec: JourneySpec) -> frozenset[str]:
    """Return the tags the journey's ``silent_for`` rules set."""
    return frozenset(rule.tag for rule in spec.tag_rules if rule.silent_for is not None)


def clear_silence_tags(session: Session, learner_id: int, names: frozenset[str]) -> list[str]:
    """Remove rule-set silence tags from a learner who is active again; return those removed.

    An advisor's own ``activity:silent`` stays: only the rule that set a tag takes it back.
    """
    if not names:
        return []
    learner = _learner(session, learner_id)
    gone = [t for t in learner.tags if t.name in names and t.source is TagSource.RULE]
    for tag in gone:
        learner.tags.remove(tag)
    if gone:
        session.flush()
    return [tag.name for tag in gone]


def apply_tag_rules(session: Session, event: LearnerEvent, now: datetime) -> None:
    """Event effect: set the tags of the journey's rules ``on`` this event.

    Every journey the event counts for is read (a learner in two cohorts gets both journeys'
    tags). A check-in also ends rule-set silence: the learner is back. The tag's time is when
    the event happened (never later than ``now``).
    """
    payload: Mapping[str, Any] = event.payload if isinstance(event.payload, dict) else {}
    at = min(event.occurred_at, now)
    seen: set[int] = set()
    for enrollment in event_enrollments(session, event):
        if enrollment.journey_version_id in seen:
            continue
        seen.add(enrollment.journey_version_id)
        spec = spec_of(enrollment.version)
        for rule in spec.tag_rules:
            if rule.on != event.name:
                continue
            source = rule_source(rule, payload)
            if source is not None:
                add_tag(session, event.learner_id, rule.tag, source=source, now=at)
        if event.name == "checked_in":
            clear_silence_tags(session, event.learner_id, silence_tag_names(spec))
