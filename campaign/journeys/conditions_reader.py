"""Read a step's ``when`` condition: a small tree of mappings, never a string to ``eval``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import yaml

from campaign.journeys.nodes import INVALID, Path, Reader, suggest
from campaign.journeys.spec import (
    DELIVERY_OUTCOMES,
    ENROLLMENT_STATES,
    AllOf,
    AnyOf,
    Comparison,
    Condition,
    EventWithin,
    HasTag,
    Not,
    PointsCompare,
    StateIn,
    StepOutcome,
    Window,
)
from campaign.journeys.times import TimeSyntaxError, parse_duration

CONDITION_KINDS = ("all", "any", "not", "tag", "event", "points", "state", "outcome")
_EVENT_KEYS = ("event", "within", "min_count")
_TAG_SHAPE = "a tag like 'goal:excel-automation' or a whole group like 'goal:*'"


class ConditionReader:
    """Builds :mod:`spec` condition objects; remembers step references for a later check."""

    def __init__(self, reader: Reader) -> None:
        self.reader = reader
        self.step_refs: list[tuple[str, yaml.Node]] = []
        self.event_refs: list[tuple[str, yaml.Node]] = []

    def read(self, node: yaml.Node, path: Path) -> Condition | Any:
        """Read one condition node (returns INVALID after reporting what is wrong)."""
        r = self.reader
        r.remember(path, node)
        mapping = r.mapping(node, "a condition")
        if mapping is INVALID:
            return INVALID
        assert isinstance(mapping, dict)
        keys = list(mapping)
        if "event" in mapping:
            extra = [k for k in keys if k not in _EVENT_KEYS]
            for key in extra:
                r.report(
                    mapping[key][0],
                    "unknown-key",
                    f"unknown key '{key}' in an event condition{suggest(key, _EVENT_KEYS)}",
                )
            return self._event(mapping, path) if not extra else INVALID
        if len(keys) != 1:
            return r.report(
                node,
                "bad-condition",
                "a condition has exactly one of "
                + ", ".join(CONDITION_KINDS)
                + (f"; this one has {', '.join(keys)}" if keys else "")
                + " (combine several with all: or any:)",
            )
        kind = keys[0]
        key_node, value = mapping[kind]
        if kind not in CONDITION_KINDS:
            return r.report(
                key_node,
                "unknown-key",
                f"unknown condition '{kind}'{suggest(kind, CONDITION_KINDS)}; "
                f"conditions are {', '.join(CONDITION_KINDS)}",
            )
        if kind in ("all", "any"):
            return self._group(kind, value, (*path, kind))
        if kind == "not":
            inner = self.read(value, (*path, "not"))
            return INVALID if inner is INVALID else Not(inner)
        if kind == "tag":
            return self._tag(value)
        if kind == "points":
            return self._points(value)
        if kind == "state":
            return self._state(value)
        return self._outcome(value)

    def _group(self, kind: str, node: yaml.Node, path: Path) -> Condition | Any:
        items = self.reader.sequence(node, f"'{kind}'")
        if items is INVALID:
            return INVALID
        assert isinstance(items, list)
        if not items:
            return self.reader.report(
                node, "bad-condition", f"'{kind}' needs at least one condition"
            )
        parts = [self.read(item, (*path, i)) for i, item in enumerate(items)]
        if any(p is INVALID for p in parts):
            return INVALID
        return AllOf(tuple(parts)) if kind == "all" else AnyOf(tuple(parts))

    def _tag(self, node: yaml.Node) -> Condition | Any:
        tag = self.reader.text(node, "tag")
        if tag is INVALID:
            return INVALID
        assert isinstance(tag, str)
        group, sep, name = tag.partition(":")
        if not sep or not group or not name or " " in tag:
            return self.reader.report(node, "bad-value", f"'{tag}' is not {_TAG_SHAPE}")
        return HasTag(tag)

    def _event(
        self, mapping: dict[str, tuple[yaml.Node, yaml.Node]], path: Path
    ) -> Condition | Any:
        r = self.reader
        name = r.text(mapping["event"][1], "event")
        if name is not INVALID:
            self.event_refs.append((str(name), mapping["event"][1]))
        within: Window | timedelta | Any = Window.CAMP
        if "within" in mapping:
            within = self._window(mapping["within"][1])
        min_count: Any = 1
        if "min_count" in mapping:
            min_count = r.integer(mapping["min_count"][1], "min_count", low=1)
        if name is INVALID or within is INVALID or min_count is INVALID:
            return INVALID
        return EventWithin(str(name), within, int(min_count))

    def _window(self, node: yaml.Node) -> Window | timedelta | Any:
        raw = self.reader.raw(node, "within", "a window")
        if raw is INVALID:
            return INVALID
        text = str(raw)
        if text in {w.value for w in Window}:
            return Window(text)
        try:
            return parse_duration(text)
        except TimeSyntaxError:
            names = [w.value for w in Window]
            return self.reader.report(
                node,
                "bad-value",
                f"within '{text}' is neither {', '.join(names)} nor a duration like '48h'"
                f"{suggest(text, names)}",
            )

    def _points(self, node: yaml.Node) -> Condition | Any:
        mapping = self.reader.mapping(node, "points", allowed=[c.value for c in Comparison])
        if mapping is INVALID:
            return INVALID
        assert isinstance(mapping, dict)
        if len(mapping) != 1:
            return self.reader.report(
                node,
                "bad-condition",
                "points takes one comparison such as {gte: 10}; combine several with all:",
            )
        op, (_, value_node) = next(iter(mapping.items()))
        value = self.reader.integer(value_node, f"points {op}")
        return INVALID if value is INVALID else PointsCompare(Comparison(op), int(value))

    def _state(self, node: yaml.Node) -> Condition | Any:
        states = self.reader.text_list(node, "state")
        if states is INVALID:
            return INVALID
        assert isinstance(states, tuple)
        bad = [s for s in states if s not in ENROLLMENT_STATES]
        for state in bad:
            self.reader.report(
                node,
                "bad-value",
                f"state '{state}' is not one of {', '.join(ENROLLMENT_STATES)}"
                f"{suggest(state, ENROLLMENT_STATES)}",
            )
        return INVALID if bad else StateIn(frozenset(states))

    def _outcome(self, node: yaml.Node) -> Condition | Any:
        r = self.reader
        mapping = r.mapping(node, "outcome", allowed=("step", "is"), required=("step", "is"))
        if mapping is INVALID:
            return INVALID
        assert isinstance(mapping, dict)
        if "step" not in mapping or "is" not in mapping:
            return INVALID
        step = r.text(mapping["step"][1], "outcome step")
        outcomes = r.text_list(mapping["is"][1], "outcome is")
        if step is INVALID or outcomes is INVALID:
            return INVALID
        assert isinstance(outcomes, tuple)
        self.step_refs.append((str(step), mapping["step"][1]))
        bad = [o for o in outcomes if o not in DELIVERY_OUTCOMES]
        for outcome in bad:
            r.report(
                mapping["is"][1],
                "bad-value",
                f"outcome '{outcome}' is not one of {', '.join(DELIVERY_OUTCOMES)}"
                f"{suggest(outcome, DELIVERY_OUTCOMES)}",
            )
        return INVALID if bad else StepOutcome(str(step), frozenset(outcomes))
