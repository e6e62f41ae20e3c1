"""Load a journey YAML document into a :class:`JourneySpec`, with every mistake located.

``load_journey`` never raises on bad input: what cannot be read becomes a finding at
``file:line:column`` and the spec is ``None``. Reading goes on after a mistake so that one run of
lint shows the marketer all of them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import yaml

from campaign.journeys.calendar import is_timezone
from campaign.journeys.findings import Finding, Severity, has_errors
from campaign.journeys.nodes import INT, INVALID, Reader, suggest
from campaign.journeys.rules_reader import (
    read_coupons,
    read_group_buy,
    read_lint_settings,
    read_points,
    read_reply_within,
    read_tag_rules,
)
from campaign.journeys.spec import (
    Caps,
    Course,
    JourneySpec,
    Milestone,
    MilestoneKind,
    Offer,
    QuietHours,
)
from campaign.journeys.steps_reader import StepsReader, StepsResult, slug_problem
from campaign.journeys.times import parse_camp_time, parse_clock

TOP_KEYS = (
    "journey",
    "title",
    "description",
    "timezone",
    "days",
    "quiet_hours",
    "caps",
    "max_peak_to_end",
    "reply_within",
    "milestones",
    "courses",
    "offer",
    "events",
    "lint",
    "tag_rules",
    "points",
    "coupons",
    "steps",
)
OFFER_KEYS = ("opens", "closes", "courses", "deposit", "group_buy", "exploration")
REQUIRED_TOP_KEYS = ("journey", "title", "timezone", "days", "steps")
MAX_DAYS = 60
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass
class LoadResult:
    """The outcome of reading one document."""

    spec: JourneySpec | None
    findings: list[Finding]
    data: dict[str, Any] | None = None  # the plain YAML data, for hashing and storage
    reader: Reader | None = None  # positions of what was read, for the lint rules
    steps: StepsResult = field(default_factory=StepsResult)


def content_hash(data: Any) -> str:
    """Return the sha256 of the document's canonical JSON: comments and layout do not count."""
    canonical = json.dumps(
        data, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _syntax_finding(filename: str, exc: yaml.YAMLError) -> Finding:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    message = f"YAML syntax: {problem}" + (f" ({context})" if context else "")
    if "\t" in problem or "tab" in problem:
        message += "; indent with spaces, not tabs"
    return Finding(filename, line, column, Severity.ERROR, "yaml-syntax", message)


def compose(text: str, filename: str) -> tuple[yaml.Node | None, list[Finding]]:
    """Parse ``text`` to a node tree, or return the syntax finding."""
    try:
        nodes = list(yaml.compose_all(text, Loader=_YAML_LOADER))
    except yaml.YAMLError as exc:
        return None, [_syntax_finding(filename, exc)]
    except (ValueError, RecursionError) as exc:  # e.g. a NUL byte, absurd nesting
        return None, [Finding(filename, 1, 1, Severity.ERROR, "yaml-syntax", f"unreadable: {exc}")]
    nodes = [n for n in nodes if n is not None]
    if not nodes:
        return None, [
            Finding(
                filename,
                1,
                1,
                Severity.ERROR,
                "missing-key",
                "the file is empty; a journey starts with 'journey: <key>'",
            )
        ]
    if len(nodes) > 1:
        second = nodes[1].start_mark
        return None, [
            Finding(
                filename,
                second.line + 1,
                second.column + 1,
                Severity.ERROR,
                "yaml-syntax",
                "one journey per file: remove the second document",
            )
        ]
    return nodes[0], []


def load_journey(text: str, filename: str = "<journey>") -> LoadResult:
    """Read a journey document; return the spec (None on any error) and the findings."""
    root, findings = compose(text, filename)
    if root is None:
        return LoadResult(None, findings)
    reader = Reader(filename)
    reader.remember((), root)
    top = reader.mapping(root, "the journey", allowed=TOP_KEYS, required=REQUIRED_TOP_KEYS)
    if top is INVALID:
        return LoadResult(None, reader.findings, reader=reader)
    assert isinstance(top, dict)
    for key, (key_node, _) in top.items():
        reader.remember((key,), key_node)
    values = _read_top(reader, top)
    # References are checked against every name written, even where that entry has a mistake
    # of its own: one typo must not turn into an error on every step that names it.
    steps = StepsReader(reader, _names(top, "milestones"), _names(top, "courses"))
    result = steps.read_all(top["steps"][1]) if "steps" in top else steps.result
    _check_step_refs(reader, result)
    data = _plain_data(root)
    spec = None
    if not has_errors(reader.findings):
        spec = JourneySpec(steps=tuple(result.steps), **values)
    return LoadResult(spec, reader.findings, data, reader, result)


def _names(top: dict[str, tuple[yaml.Node, yaml.Node]], key: str) -> set[str]:
    node = top[key][1] if key in top else None
    if not isinstance(node, yaml.MappingNode):
        return set()
    return {str(k.value) for k, _ in node.value if isinstance(k, yaml.ScalarNode)}


def _plain_data(root: yaml.Node) -> dict[str, Any] | None:
    """Return the document as JSON-ready data: keys as written, times and dates as text.

    Keys stay text because YAML 1.1 would read the step key ``on:`` as ``True``; scalars that
    YAML would turn into dates or sexagesimal numbers (``21:30``) stay as written when plain.
    """
    constructor = _YAML_LOADER("")

    def convert(node: yaml.Node) -> Any:
        if isinstance(node, yaml.MappingNode):
            return {str(key.value): convert(value) for key, value in node.value}
        if isinstance(node, yaml.SequenceNode):
            return [convert(item) for item in node.value]
        value = constructor.construct_object(node)
        if isinstance(value, bool | int | float | str) or value is None:
            if node.tag == INT and ":" in str(node.value):
                return str(node.value)  # 21:30 is a clock time, not 1290
            return value
        return str(node.value)

    try:
        data = convert(root)
    except (yaml.YAMLError, ValueError, TypeError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def _check_step_refs(reader: Reader, result: StepsResult) -> None:
    keys = {s.key for s in result.steps if s is not INVALID}
    assert result.conditions is not None
    for name, node in result.conditions.step_refs:
        if name not in keys:
            reader.report(
                node, "unknown-step", f"step '{name}' does not exist{suggest(name, keys)}"
            )


def _read_top(r: Reader, top: dict[str, tuple[yaml.Node, yaml.Node]]) -> dict[str, Any]:
    """Read every top-level key but the steps; INVALID values are left out."""
    values: dict[str, Any] = {}

    def node(key: str) -> yaml.Node:
        return top[key][1]

    if "journey" in top:
        key = r.text(node("journey"), "journey")
        if key is not INVALID:
            problem = slug_problem(str(key))
            key = r.report(node("journey"), "bad-value", f"journey {problem}") if problem else key
        values["key"] = key
    if "title" in top:
        values["title"] = r.text(node("title"), "title")
        r.visible_texts.append(node("title"))
    if "description" in top:
        r.text(node("description"), "description", allow_empty=True)
    if "timezone" in top:
        values["timezone"] = read_timezone(r, node("timezone"))
    if "days" in top:
        values["days"] = r.integer(node("days"), "days", low=1, high=MAX_DAYS)
    if "quiet_hours" in top:
        values["quiet_hours"] = _quiet_hours(r, node("quiet_hours"))
    if "caps" in top:
        caps = r.mapping(node("caps"), "caps", allowed=("automated_1v1_per_day",))
        if isinstance(caps, dict) and "automated_1v1_per_day" in caps:
            per_day = r.integer(caps["automated_1v1_per_day"][1], "automated_1v1_per_day", low=0)
            values["caps"] = per_day if per_day is INVALID else Caps(int(per_day))
    if "max_peak_to_end" in top:
        values["max_peak_to_end"] = r.duration(node("max_peak_to_end"), "max_peak_to_end")
    if "reply_within" in top:
        values.update(read_reply_within(r, node("reply_within")))
    if "milestones" in top:
        values["milestones"] = _milestones(r, node("milestones"))
    if "courses" in top:
        values["courses"] = _courses(r, node("courses"))
    if "offer" in top:
        values["offer"] = _offer(r, node("offer"), _names(top, "courses"))
    if "events" in top:
        values["events"] = r.text_list(node("events"), "events")
    if "lint" in top:
        values["lint"] = read_lint_settings(r, node("lint"))
    if "tag_rules" in top:
        values["tag_rules"] = read_tag_rules(r, node("tag_rules"))
    if "points" in top:
        values["points"] = read_points(r, node("points"))
    if "coupons" in top:
        values["coupons"] = read_coupons(r, node("coupons"))
    return {k: v for k, v in values.items() if v is not INVALID}


def read_timezone(r: Reader, node: yaml.Node) -> str | Any:
    """Read an IANA timezone name such as ``Asia/Shanghai``."""
    name = r.text(node, "timezone")
    if name is INVALID:
        return INVALID
    if not is_timezone(str(name)):
        hint = suggest(
            str(name),
            (
                "Asia/Shanghai",
                "Asia/Hong_Kong",
                "Asia/Taipei",
                "Asia/Singapore",
                "Asia/Tokyo",
                "Europe/London",
                "America/New_York",
                "America/Los_Angeles",
                "UTC",
            ),
        )
        return r.report(
            node,
            "unknown-timezone",
            f"unknown timezone '{name}'{hint}; use an IANA name such as Asia/Shanghai",
        )
    return name


def _quiet_hours(r: Reader, node: yaml.Node) -> QuietHours | Any:
    m = r.mapping(node, "quiet_hours", allowed=("start", "end"), required=("start", "end"))
    if not isinstance(m, dict) or "start" not in m or "end" not in m:
        return INVALID
    start = r.parsed(m["start"][1], "quiet_hours start", "bad-time", parse_clock)
    end = r.parsed(m["end"][1], "quiet_hours end", "bad-time", parse_clock)
    if start is INVALID or end is INVALID:
        return INVALID
    return QuietHours(int(start), int(end))


def _milestones(r: Reader, node: yaml.Node) -> dict[str, Milestone] | Any:
    m = r.mapping(node, "milestones")
    if m is INVALID:
        return INVALID
    assert isinstance(m, dict)
    result: dict[str, Milestone] = {}
    ok = True
    for key, (key_node, value) in m.items():
        r.remember(("milestones", key), key_node)
        problem = slug_problem(key)
        if problem:
            r.report(key_node, "bad-value", f"milestone key {problem}")
        fields = r.mapping(
            value, f"milestone '{key}'", allowed=("at", "kind", "title"), required=("at", "kind")
        )
        if not isinstance(fields, dict) or "at" not in fields or "kind" not in fields:
            ok = False
            continue
        r.remember(("milestones", key, "at"), fields["at"][1])
        at = r.parsed(fields["at"][1], "milestone at", "bad-time", parse_camp_time)
        kind = r.choice(fields["kind"][1], "milestone kind", MilestoneKind)
        title = r.text(fields["title"][1], "title") if "title" in fields else None
        if problem or at is INVALID or kind is INVALID or title is INVALID:
            ok = False
            continue
        result[key] = Milestone(key, at, kind, title)
    return result if ok else INVALID


def _courses(r: Reader, node: yaml.Node) -> dict[str, Course] | Any:
    m = r.mapping(node, "courses")
    if m is INVALID:
        return INVALID
    assert isinstance(m, dict)
    result: dict[str, Course] = {}
    ok = True
    for key, (key_node, value) in m.items():
        r.remember(("courses", key), key_node)
        problem = slug_problem(key)
        if problem:
            r.report(key_node, "bad-value", f"course key {problem}")
        fields = r.mapping(
            value,
            f"course '{key}'",
            allowed=("title", "price", "for_tags", "url"),
            required=("title", "price"),
        )
        if not isinstance(fields, dict) or "title" not in fields or "price" not in fields:
            ok = False
            continue
        title = r.text(fields["title"][1], "course title")
        r.visible_texts.append(fields["title"][1])
        price = r.number(fields["price"][1], "price", low=0)
        tags = r.text_list(fields["for_tags"][1], "for_tags") if "for_tags" in fields else ()
        url = r.text(fields["url"][1], "url") if "url" in fields else None
        if problem or title is INVALID or price is INVALID or tags is INVALID or url is INVALID:
            ok = False
            continue
        result[key] = Course(key, str(title), float(price), tuple(tags), url)
    return result if ok else INVALID


def _offer(r: Reader, node: yaml.Node, courses: set[str]) -> Offer | Any:
    m = r.mapping(node, "offer", allowed=OFFER_KEYS, required=("opens", "closes"))
    if not isinstance(m, dict) or "opens" not in m or "closes" not in m:
        return INVALID
    r.remember(("offer", "opens"), m["opens"][1])
    r.remember(("offer", "closes"), m["closes"][1])
    opens = r.parsed(m["opens"][1], "offer opens", "bad-time", parse_camp_time)
    closes = r.parsed(m["closes"][1], "offer closes", "bad-time", parse_camp_time)
    names: Any = ()
    if "courses" in m:
        names = r.text_list(m["courses"][1], "offer courses")
        if names is not INVALID:
            for name in names:
                if name not in courses:
                    names = r.report(
                        m["courses"][1],
                        "unknown-course",
                        f"course '{name}' does not exist{suggest(name, courses)}",
                    )
                    break
    if opens is INVALID or closes is INVALID or names is INVALID:
        return INVALID
    if closes <= opens:
        return r.report(
            m["closes"][1], "bad-time", f"the offer closes ({closes}) before it opens ({opens})"
        )
    deposit = r.number(m["deposit"][1], "deposit", low=0) if "deposit" in m else None
    group_buy = read_group_buy(r, m["group_buy"][1]) if "group_buy" in m else None
    exploration = r.number(m["exploration"][1], "exploration", low=0) if "exploration" in m else 0.1
    if deposit is INVALID or group_buy is INVALID or exploration is INVALID:
        return INVALID
    if exploration > 0.5:
        return r.report(
            m["exploration"][1],
            "out-of-range",
            f"exploration must be 0 to 0.5 (a share of close calls), got {exploration:g}",
        )
    return Offer(opens, closes, tuple(names), deposit, group_buy, float(exploration))
