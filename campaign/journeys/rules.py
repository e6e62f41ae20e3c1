"""Lint rules that read the whole journey: peak-end, offer timing, quiet hours, caps, wording.

Each rule takes a :class:`RuleInput` and yields findings; rules never raise on a valid spec.
Template and wording rules also run on a journey with structural errors, so one run of lint shows
everything that is wrong.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import yaml

from campaign.journeys.calendar import shift_camp_time
from campaign.journeys.findings import Finding, Severity
from campaign.journeys.nodes import Path, Reader, suggest
from campaign.journeys.spec import (
    BUILTIN_EVENTS,
    Audience,
    CampTime,
    JourneySpec,
    MilestoneKind,
    QuietHoursPolicy,
    Step,
    TimeBase,
)
from campaign.journeys.steps_reader import TemplateSource
from campaign.journeys.times import format_duration
from campaign.messages.templates import CONTEXT_SCHEMA, parse, unknown_variables

# Phrases Chinese education-advertising rules forbid (promising outcomes); see the playbook.
BANNED_PHRASES: tuple[str, ...] = (
    "保过",
    "包过",
    "包就业",
    "保就业",
    "提分保证",
    "保证提分",
    "100% 通过",
    "百分百通过",
    "稳过",
    "包拿证",
    "guaranteed pass",
    "pass guaranteed",
    "guaranteed to pass",
    "job guaranteed",
    "guaranteed job",
    "100% pass",
    "score improvement guaranteed",
)
SELLING_QUIET_ZONE_MINUTES = 60
OFFER_WINDOW = (0.5, 0.8)


@dataclass
class RuleInput:
    """What the rules read: the spec (when valid), the source text and where things stand."""

    spec: JourneySpec | None
    source: str
    reader: Reader
    templates: Sequence[TemplateSource]
    events: Sequence[tuple[str, yaml.Node]] = ()  # event names used by 'on' and conditions
    extra_banned: Sequence[str] = ()

    def finding(
        self, where: Path | tuple[int, int], code: str, message: str, severity: Severity
    ) -> Finding:
        """Build a finding at a spec path (or a literal ``(line, column)``)."""
        if where and isinstance(where[0], int):  # paths start with a key, positions with a line
            line, column = int(where[0]), int(where[1])
        else:
            line, column = self.reader.where(where)
        return Finding(self.reader.filename, line, column, severity, code, message)


def locate(source: str, node: yaml.Node, needle: str) -> tuple[int, int]:
    """Return the line and column of ``needle`` inside ``node``'s source text (else the node's)."""
    lines = source.splitlines(keepends=True)
    start_line, start_col = node.start_mark.line, node.start_mark.column
    end_line = min(node.end_mark.line, len(lines) - 1)
    for number in range(start_line, end_line + 1):
        text = lines[number] if number < len(lines) else ""
        offset = start_col if number == start_line else 0
        found = text.find(needle, offset)
        if found >= 0:
            return number + 1, found + 1
    return start_line + 1, start_col + 1


def template_rules(data: RuleInput) -> Iterator[Finding]:
    """Report template syntax errors and variables the render context will not have.

    The context depends on the journey and the step: no ``offer`` without courses, and no
    ``learner`` in a message for a whole cohort or an advisor.
    """
    has_offer = data.spec is None or bool(data.spec.courses)
    for source in data.templates:
        tree, problem = parse(str(source.node.value))
        if problem is not None:
            yield data.finding(
                _line_in(source, problem.line),
                "template-syntax",
                f"template: {problem.message}",
                Severity.ERROR,
            )
        if tree is None:
            continue
        audience = _audience(data, source.step_index)
        schema = {
            name: value
            for name, value in CONTEXT_SCHEMA.items()
            if (name != "offer" or has_offer)
            and (name != "learner" or audience is Audience.LEARNER)
        }
        for unknown in unknown_variables(tree, schema):
            root = (unknown.name or "").split(".")[0]
            message = unknown.message
            if root == "offer" and not has_offer:
                message = "the template uses 'offer' but the journey lists no courses to offer"
            elif root == "learner" and audience is not Audience.LEARNER:
                message = (
                    f"the template uses 'learner' but the step's audience is {audience}: "
                    "it goes to a whole group, not to one learner"
                )
            where = locate(data.source, source.node, unknown.name or "")
            yield data.finding(where, "template-variable", message, Severity.ERROR)


def _audience(data: RuleInput, step_index: int) -> Audience:
    if data.spec is not None:
        return data.spec.steps[step_index].audience
    return Audience.LEARNER


def audience_rules(spec: JourneySpec, data: RuleInput) -> Iterator[Finding]:
    """Warn about conditions on group steps: ``when`` is about one learner and is ignored there."""
    for index, step in enumerate(spec.steps):
        if step.when is not None and step.audience is not Audience.LEARNER:
            yield data.finding(
                ("steps", index, "when"),
                "group-condition",
                f"step '{step.key}' goes to the {step.audience}, but 'when' tests one learner "
                "and is ignored for group steps; remove it or set 'audience: learner'",
                Severity.WARNING,
            )


def _line_in(source: TemplateSource, template_line: int) -> tuple[int, int]:
    start = source.node.start_mark
    if source.node.style in ("|", ">"):
        return start.line + 1 + template_line, 1
    return start.line + template_line, start.column + 1


def _phrase_pattern(phrase: str) -> re.Pattern[str]:
    parts = [re.escape(p) for p in phrase.split()]
    return re.compile(r"\s*".join(parts), re.IGNORECASE)


def wording_rules(data: RuleInput) -> Iterator[Finding]:
    """Report education-advertising phrases the law forbids, wherever learners will read them."""
    settings = data.spec.lint if data.spec else None
    allowed = {p.lower() for p in (settings.allowed_phrases if settings else ())}
    phrases = [*BANNED_PHRASES, *data.extra_banned, *(settings.banned_phrases if settings else ())]
    patterns = [(p, _phrase_pattern(p)) for p in dict.fromkeys(phrases) if p.lower() not in allowed]
    nodes = [source.node for source in data.templates] + list(data.reader.visible_texts)
    for node in nodes:
        text = str(node.value)
        for phrase, pattern in patterns:
            match = pattern.search(text)
            if match:
                where = locate(data.source, node, match.group(0))
                yield data.finding(
                    where,
                    "banned-phrase",
                    f"'{match.group(0)}' promises an outcome ('{phrase}'), which education "
                    "advertising may not do; describe what the course teaches instead",
                    Severity.ERROR,
                )


def peak_end_rules(spec: JourneySpec, data: RuleInput) -> Iterator[Finding]:
    """Enforce the peak-end rule: a peak, then one calm end soon after it."""
    peaks = [m for m in spec.milestones.values() if m.kind is MilestoneKind.PEAK]
    ends = [m for m in spec.milestones.values() if m.kind is MilestoneKind.END]
    where_milestones: Path = ("milestones",)
    if not peaks:
        yield data.finding(
            where_milestones,
            "peak-end",
            "the journey has no milestone of kind 'peak' (a contest or award ceremony); "
            "add one so the camp has a high point",
            Severity.ERROR,
        )
    if len(ends) != 1:
        extra: Path = ("milestones", ends[1].key) if len(ends) > 1 else where_milestones
        yield data.finding(
            extra,
            "peak-end",
            f"the journey needs exactly one milestone of kind 'end' (graduation), has {len(ends)}",
            Severity.ERROR,
        )
    for milestone in (*peaks, *ends):
        if not 1 <= milestone.at.day <= spec.days:
            yield data.finding(
                ("milestones", milestone.key, "at"),
                "peak-end",
                f"the {milestone.kind} '{milestone.key}' ({milestone.at}) is outside the camp "
                f"days D1..D{spec.days}; the peak and the end belong inside the camp",
                Severity.WARNING,
            )
    if not peaks or len(ends) != 1:
        return
    end = ends[0]
    last_peak = max(peaks, key=lambda m: m.at)
    gap = end.at.absolute_minutes - last_peak.at.absolute_minutes
    if gap <= 0:
        yield data.finding(
            ("milestones", end.key, "at"),
            "peak-end",
            f"the end '{end.key}' ({end.at}) must come after the last peak "
            f"'{last_peak.key}' ({last_peak.at})",
            Severity.ERROR,
        )
    elif gap > spec.max_peak_to_end.total_seconds() // 60:
        yield data.finding(
            ("milestones", end.key, "at"),
            "peak-end",
            f"the end '{end.key}' ({end.at}) comes {_minutes(gap)} after the peak "
            f"'{last_peak.key}' ({last_peak.at}); keep it within max_peak_to_end "
            f"({format_duration(spec.max_peak_to_end)}) so the peak is remembered",
            Severity.ERROR,
        )
    for index, step, occurrence, time in occurrences(spec):
        if step.selling and abs(time.absolute_minutes - end.at.absolute_minutes) < (
            SELLING_QUIET_ZONE_MINUTES
        ):
            yield data.finding(
                ("steps", index, "at_time", occurrence),
                "peak-end",
                f"selling step '{step.key}' at {time} is within an hour of the end "
                f"'{end.key}' ({end.at}); the end stays calm: move it or drop 'selling'",
                Severity.ERROR,
            )


def offer_rules(spec: JourneySpec, data: RuleInput) -> Iterator[Finding]:
    """Warn when the offer opens too early or late, and when selling steps miss its window."""
    offer = spec.offer
    if offer is None:
        return
    share = offer.opens.absolute_minutes / (spec.days * 1440)
    low, high = OFFER_WINDOW
    if not low <= share <= high:
        yield data.finding(
            ("offer", "opens"),
            "offer-window",
            f"the offer opens at {offer.opens}, {share:.0%} into the {spec.days}-day camp; "
            f"conversion works best when it opens at {low:.0%}–{high:.0%} "
            f"({CampTime.from_absolute_minutes(int(low * spec.days * 1440))} to "
            f"{CampTime.from_absolute_minutes(int(high * spec.days * 1440))})",
            Severity.WARNING,
        )
    for index, step, occurrence, time in occurrences(spec):
        if step.selling and not offer.opens <= time <= offer.closes:
            yield data.finding(
                ("steps", index, "at_time", occurrence),
                "selling-outside-offer",
                f"selling step '{step.key}' at {time} falls outside the offer window "
                f"({offer.opens} to {offer.closes}); it would sell what cannot be bought",
                Severity.WARNING,
            )


def quiet_hours_rules(spec: JourneySpec, data: RuleInput) -> Iterator[Finding]:
    """Warn about steps due in quiet hours, saying when they will really go out."""
    quiet = spec.quiet_hours
    span = f"{_clock(quiet.start)}–{_clock(quiet.end)}"
    for index, step, occurrence, time in occurrences(spec):
        if step.quiet_hours is QuietHoursPolicy.EXEMPT or not quiet.contains(time.minute):
            continue
        clock = "the learner's clock" if step.tz is TimeBase.LEARNER else "the cohort's clock"
        if step.quiet_hours is QuietHoursPolicy.DROP:
            outcome = "it will be dropped (quiet_hours: drop)"
        else:
            outcome = f"it will go out at {shift_camp_time(time, quiet)} instead"
        yield data.finding(
            ("steps", index, "at_time", occurrence),
            "quiet-hours",
            f"step '{step.key}' at {time} falls in quiet hours ({span} on {clock}); {outcome}. "
            "Move it, or mark class reminders 'quiet_hours: exempt'",
            Severity.WARNING,
        )


def caps_rules(spec: JourneySpec, data: RuleInput) -> Iterator[Finding]:
    """Warn about camp days whose automated 1v1 steps exceed ``caps.automated_1v1_per_day``."""
    per_day: dict[int, list[tuple[int, Step, int, CampTime]]] = defaultdict(list)
    for index, step, occurrence, time in occurrences(spec):
        effective = _effective(spec, step, time)
        if step.is_automated_1v1 and effective is not None:
            per_day[effective.day].append((index, step, occurrence, time))
    cap = spec.caps.automated_1v1_per_day
    for day, items in sorted(per_day.items()):
        if len(items) <= cap:
            continue
        ranked = sorted(items, key=lambda item: -item[1].priority)
        held = ", ".join(f"'{s.key}' ({t})" for _, s, _, t in ranked[cap:])
        listed = ", ".join(f"'{s.key}' ({t})" for _, s, _, t in items)
        index, _, occurrence, _ = items[cap] if len(items) > cap else items[-1]
        yield data.finding(
            ("steps", index, "at_time", occurrence),
            "over-cap",
            f"D{day} has {len(items)} automated 1v1 messages ({listed}) but caps allow "
            f"{cap} a day; by priority these will be held back: {held}",
            Severity.WARNING,
        )


def event_rules(data: RuleInput, declared: Sequence[str]) -> Iterator[Finding]:
    """Warn about event names that are neither built in nor declared under ``events:``."""
    known = set(BUILTIN_EVENTS) | set(declared)
    seen: set[tuple[int, int]] = set()
    for name, node in data.events:
        where = data.reader.at(node)
        if name in known or where in seen:
            continue
        seen.add(where)
        yield data.finding(
            where,
            "unknown-event",
            f"event '{name}' is not a built-in event{suggest(name, known)}; if your platform "
            "sends it, declare it under 'events:'",
            Severity.WARNING,
        )


def occurrences(spec: JourneySpec) -> Iterator[tuple[int, Step, int, CampTime]]:
    """Yield every calendar occurrence: step index, step, occurrence index, camp time."""
    for index, step in enumerate(spec.steps):
        for occurrence, at in enumerate(step.at):
            yield index, step, occurrence, spec.resolve(at)


def _effective(spec: JourneySpec, step: Step, time: CampTime) -> CampTime | None:
    """Return when a step really goes out after quiet hours (cohort clock); None if dropped."""
    if step.quiet_hours is QuietHoursPolicy.EXEMPT or not spec.quiet_hours.contains(time.minute):
        return time
    if step.quiet_hours is QuietHoursPolicy.DROP:
        return None
    return shift_camp_time(time, spec.quiet_hours)


def _clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _minutes(total: int) -> str:
    hours, minutes = divmod(total, 60)
    return f"{hours}h{minutes:02d}m" if minutes else f"{hours}h"
