"""Read the ``steps:`` list: when each step happens, what it says, to whom, on which channel."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import yaml

from campaign.journeys.conditions_reader import ConditionReader
from campaign.journeys.nodes import INVALID, Path, Reader, suggest
from campaign.journeys.spec import (
    At,
    Audience,
    Channel,
    MilestoneOffset,
    OverCapPolicy,
    QuietHoursPolicy,
    Step,
    TimeBase,
    Trigger,
    Variant,
)
from campaign.journeys.times import parse_camp_times

STEP_KEYS = (
    "key",
    "title",
    "at",
    "on",
    "delay",
    "channel",
    "template",
    "variants",
    "when",
    "expires_after",
    "selling",
    "quiet_hours",
    "over_cap",
    "priority",
    "catch_up",
    "tz",
    "audience",
    "deadline",
    "voice",
    "course",
)
_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_ADVISOR_ONLY = ("deadline", "voice")


@dataclass
class TemplateSource:
    """Where a template was written, so rules can point inside it."""

    path: Path
    node: yaml.ScalarNode
    step_index: int


@dataclass
class StepsResult:
    steps: list[Step | Any] = field(default_factory=list)
    templates: list[TemplateSource] = field(default_factory=list)
    conditions: ConditionReader | None = None


def slug_problem(value: str) -> str | None:
    """Say why ``value`` is not a usable key (lowercase letters, digits, '-' and '_')."""
    if _SLUG.match(value):
        return None
    return f"'{value}' must be lowercase letters, digits, '-' or '_' (e.g. 'homework-reminder')"


class StepsReader:
    """Reads steps against the journey's milestones and courses (read before the steps)."""

    def __init__(self, reader: Reader, milestones: set[str], courses: set[str]) -> None:
        self.r = reader
        self.milestones = milestones
        self.courses = courses
        self.conditions = ConditionReader(reader)
        self.result = StepsResult(conditions=self.conditions)
        self._seen: dict[str, int] = {}

    def read_all(self, node: yaml.Node) -> StepsResult:
        """Read every step; duplicate keys and broken references are all reported."""
        items = self.r.sequence(node, "steps")
        if items is INVALID:
            return self.result
        assert isinstance(items, list)
        if not items:
            self.r.report(node, "missing-key", "steps is empty; a journey needs at least one step")
        for index, item in enumerate(items):
            self.result.steps.append(self.read(item, index))
        return self.result

    def read(self, node: yaml.Node, index: int) -> Step | Any:
        """Read one step (INVALID when anything in it is wrong)."""
        r = self.r
        path: Path = ("steps", index)
        r.remember(path, node)
        m = r.mapping(node, f"step {index + 1}", allowed=STEP_KEYS, required=("key", "channel"))
        if m is INVALID:
            return INVALID
        assert isinstance(m, dict)
        for key, (key_node, _) in m.items():
            r.remember((*path, key), key_node)
        fields: dict[str, Any] = {}
        key = self._key(m)
        channel = r.choice(m["channel"][1], "channel", Channel) if "channel" in m else INVALID
        fields["at"], fields["on"] = self._timing(m, path)
        fields["variants"] = self._texts(m, path, index)
        if "when" in m:
            fields["when"] = self.conditions.read(m["when"][1], (*path, "when"))
        for name in ("expires_after", "deadline"):
            if name in m:
                fields[name] = r.duration(m[name][1], name)
        for name in ("selling", "catch_up", "voice"):
            if name in m:
                fields[name] = r.boolean(m[name][1], name)
        for name, enum_type in (
            ("quiet_hours", QuietHoursPolicy),
            ("over_cap", OverCapPolicy),
            ("tz", TimeBase),
            ("audience", Audience),
        ):
            if name in m:
                fields[name] = r.choice(m[name][1], name, enum_type)
        if "priority" in m:
            fields["priority"] = r.integer(m["priority"][1], "priority", low=0, high=100)
        if "title" in m:
            fields["title"] = r.text(m["title"][1], "title")
        if "course" in m:
            fields["course"] = self._course(m["course"][1])
        if channel is not INVALID and channel is not Channel.ADVISOR_TASK:
            for name in _ADVISOR_ONLY:
                if name in m:
                    r.report(
                        m[name][0],
                        "advisor-only",
                        f"'{name}' applies only to advisor_task steps; this step's channel "
                        f"is {channel}: remove it or change the channel",
                    )
        if key is INVALID or channel is INVALID or any(v is INVALID for v in fields.values()):
            return INVALID
        return Step(key=str(key), channel=channel, **fields)

    def _key(self, m: dict[str, tuple[yaml.Node, yaml.Node]]) -> str | Any:
        if "key" not in m:
            return INVALID
        node = m["key"][1]
        key = self.r.text(node, "step key")
        if key is INVALID:
            return INVALID
        assert isinstance(key, str)
        problem = slug_problem(key)
        if problem:
            return self.r.report(node, "bad-value", f"step key {problem}")
        if key in self._seen:
            return self.r.report(
                node,
                "duplicate-step",
                f"step key '{key}' is already used by step {self._seen[key] + 1}; "
                "step keys must be unique",
            )
        self._seen[key] = len(self.result.steps)
        return key

    def _timing(self, m: dict[str, tuple[yaml.Node, yaml.Node]], path: Path) -> tuple[Any, Any]:
        r = self.r
        if ("at" in m) == ("on" in m):
            where = m["at"][0] if "at" in m else (r.at(m["key"][0]) if "key" in m else (1, 1))
            r.report(
                where,
                "step-timing",
                "a step needs either 'at' (camp times) or 'on' (an event), "
                + ("not both" if "at" in m else "and has neither"),
            )
            return INVALID, INVALID
        if "delay" in m and "on" not in m:
            r.report(
                m["delay"][0], "step-timing", "'delay' goes with 'on'; with 'at' write the time"
            )
            return INVALID, INVALID
        if "on" in m:
            event = r.text(m["on"][1], "on")
            delay = r.duration(m["delay"][1], "delay") if "delay" in m else None
            if event is INVALID or delay is INVALID:
                return INVALID, INVALID
            self.conditions.event_refs.append((str(event), m["on"][1]))
            trigger = Trigger(str(event), delay) if delay is not None else Trigger(str(event))
            return (), trigger
        node = m["at"][1]
        entries = node.value if isinstance(node, yaml.SequenceNode) else [node]
        if not entries:
            return r.report(node, "step-timing", "'at' is an empty list"), INVALID
        times: list[At] = []
        ok = True
        for i, entry in enumerate(entries):
            entry_path = (*path, "at", i)
            r.remember(entry_path, entry)
            read = self._at_entry(entry)
            if read is INVALID:
                ok = False
            else:
                for offset, _item in enumerate(read):
                    r.remember((*path, "at_time", len(times) + offset), entry)
                times.extend(read)
        return (tuple(times) if ok else INVALID), None

    def _at_entry(self, node: yaml.Node) -> list[At] | Any:
        r = self.r
        if isinstance(node, yaml.MappingNode):
            m = r.mapping(node, "a milestone offset", allowed=("after", "before", "offset"))
            if m is INVALID:
                return INVALID
            assert isinstance(m, dict)
            sides = [k for k in ("after", "before") if k in m]
            if len(sides) != 1:
                return r.report(
                    node,
                    "step-timing",
                    "a milestone offset needs one of 'after' or 'before', e.g. "
                    "{after: graduation, offset: 30m}",
                )
            side = sides[0]
            name = r.text(m[side][1], side)
            offset = r.duration(m["offset"][1], "offset") if "offset" in m else None
            if name is INVALID or offset is INVALID:
                return INVALID
            if name not in self.milestones:
                known = ", ".join(sorted(self.milestones)) or "none"
                return r.report(
                    m[side][1],
                    "unknown-milestone",
                    f"milestone '{name}' does not exist{suggest(str(name), self.milestones)}"
                    f" (milestones: {known})",
                )
            delta = offset if offset is not None else timedelta(0)
            assert isinstance(delta, timedelta)
            return [MilestoneOffset(str(name), delta if side == "after" else -delta)]
        parsed = r.parsed(node, "at", "bad-time", parse_camp_times)
        return INVALID if parsed is INVALID else list(parsed)

    def _texts(self, m: dict[str, tuple[yaml.Node, yaml.Node]], path: Path, index: int) -> Any:
        r = self.r
        if ("template" in m) == ("variants" in m):
            where = (
                m["template"][0]
                if "template" in m
                else (r.at(m["key"][0]) if "key" in m else (1, 1))
            )
            return r.report(
                where,
                "step-text",
                "a step needs either 'template' or 'variants', "
                + ("not both" if "template" in m else "and has neither"),
            )
        if "template" in m:
            text = self._template(m["template"][1], (*path, "template"), index)
            return INVALID if text is INVALID else (Variant("a", str(text)),)
        items = r.sequence(m["variants"][1], "variants")
        if items is INVALID:
            return INVALID
        assert isinstance(items, list)
        variants: list[Variant] = []
        ok = True
        if not items:
            r.report(m["variants"][1], "step-text", "variants is empty")
            ok = False
        for i, item in enumerate(items):
            vm = r.mapping(
                item,
                f"variant {i + 1}",
                allowed=("key", "weight", "template"),
                required=("template",),
            )
            if vm is INVALID or "template" not in vm:
                ok = False
                continue
            assert isinstance(vm, dict)
            key = r.text(vm["key"][1], "variant key") if "key" in vm else chr(ord("a") + i)
            weight = r.integer(vm["weight"][1], "weight", low=1) if "weight" in vm else 1
            text = self._template(vm["template"][1], (*path, "variants", i, "template"), index)
            if key in {v.key for v in variants}:
                r.report(vm["key"][1], "duplicate-key", f"variant key '{key}' is used twice")
                ok = False
            if key is INVALID or weight is INVALID or text is INVALID:
                ok = False
                continue
            variants.append(Variant(str(key), str(text), int(weight)))
        return tuple(variants) if ok else INVALID

    def _template(self, node: yaml.Node, path: Path, index: int) -> str | Any:
        text = self.r.text(node, "template")
        if text is not INVALID:
            assert isinstance(node, yaml.ScalarNode)
            self.r.remember(path, node)
            self.result.templates.append(TemplateSource(path, node, index))
        return text

    def _course(self, node: yaml.Node) -> str | Any:
        name = self.r.text(node, "course")
        if name is INVALID:
            return INVALID
        if name not in self.courses:
            known = ", ".join(sorted(self.courses)) or "none"
            return self.r.report(
                node,
                "unknown-course",
                f"course '{name}' does not exist{suggest(str(name), self.courses)}"
                f" (courses: {known})",
            )
        return name
