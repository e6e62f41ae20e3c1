"""Read YAML nodes with their positions, reporting every mistake instead of stopping at the first.

The loader validates the composed YAML node tree rather than ``yaml.safe_load``'s output, because
only nodes know where they stand in the file (line and column) and what was written literally
(YAML 1.1 reads an unquoted ``21:30`` as the number 1290; the node still says ``21:30``).
Each reader returns the value, or :data:`INVALID` after recording a finding.
"""

from __future__ import annotations

import difflib
import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Final, Literal, TypeVar

import yaml

from campaign.journeys.findings import Finding, Severity
from campaign.journeys.times import TimeSyntaxError, parse_duration

Path = tuple[str | int, ...]


class _Invalid(enum.Enum):
    """The marker for a value that could not be read (a finding says why)."""

    INVALID = "INVALID"


INVALID: Final = _Invalid.INVALID

STR = "tag:yaml.org,2002:str"
INT = "tag:yaml.org,2002:int"
FLOAT = "tag:yaml.org,2002:float"
BOOL = "tag:yaml.org,2002:bool"
NULL = "tag:yaml.org,2002:null"

_KIND_NAMES = {STR: "text", INT: "a whole number", FLOAT: "a number", BOOL: "true/false"}

E = TypeVar("E", bound=enum.Enum)


def describe(node: yaml.Node) -> str:
    """Name what a node is, for messages such as "expected a list, got a mapping"."""
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if node.tag == NULL:
        return "nothing (null)"
    return f"{_KIND_NAMES.get(node.tag, 'a value')} ({node.value!r})"


def suggest(word: str, choices: Iterable[str]) -> str:
    """Return " (did you mean 'x'?)" for the closest choice, or "" when none is close."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


@dataclass
class Reader:
    """Collects findings and positions while the loader walks one file."""

    filename: str
    findings: list[Finding] = field(default_factory=list)
    positions: dict[Path, tuple[int, int]] = field(default_factory=dict)
    # Text learners will read besides templates (journey and course titles): wording rules
    # check these too.
    visible_texts: list[yaml.Node] = field(default_factory=list)
    # Event names used outside steps (tag rules), checked like those of steps.
    event_refs: list[tuple[str, yaml.Node]] = field(default_factory=list)

    def at(self, node: yaml.Node) -> tuple[int, int]:
        """Return the 1-based line and column where ``node`` starts."""
        mark = node.start_mark
        return mark.line + 1, mark.column + 1

    def report(
        self,
        node: yaml.Node | tuple[int, int],
        code: str,
        message: str,
        severity: Severity = Severity.ERROR,
    ) -> Literal[_Invalid.INVALID]:
        """Record a finding at ``node`` (or at a ``(line, column)``) and return INVALID."""
        line, column = node if isinstance(node, tuple) else self.at(node)
        self.findings.append(Finding(self.filename, line, column, severity, code, message))
        return INVALID

    def remember(self, path: Path, node: yaml.Node) -> None:
        """Keep where the value at ``path`` stands, for rules that run on the built spec."""
        self.positions[path] = self.at(node)

    def where(self, path: Path) -> tuple[int, int]:
        """Return the position of ``path``, or of its nearest recorded ancestor."""
        while path:
            if path in self.positions:
                return self.positions[path]
            path = path[:-1]
        return self.positions.get((), (1, 1))

    # --- structure -------------------------------------------------------------------------

    def mapping(
        self,
        node: yaml.Node,
        what: str,
        allowed: Iterable[str] | None = None,
        required: Iterable[str] = (),
    ) -> dict[str, tuple[yaml.Node, yaml.Node]] | _Invalid:
        """Read a mapping with text keys; report duplicates, unknown and missing keys."""
        if not isinstance(node, yaml.MappingNode):
            return self.report(
                node, "wrong-type", f"{what} must be a mapping, got {describe(node)}"
            )
        allowed_set = set(allowed) if allowed is not None else None
        result: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == NULL:
                self.report(key_node, "wrong-type", f"keys of {what} must be names")
                continue
            key = str(key_node.value)
            if key in result:
                first_line = self.at(result[key][0])[0]
                self.report(
                    key_node,
                    "duplicate-key",
                    f"'{key}' appears twice in {what} (first on line {first_line}); "
                    "YAML keeps only the last one, so remove or rename one",
                )
                continue
            if allowed_set is not None and key not in allowed_set:
                self.report(
                    key_node,
                    "unknown-key",
                    f"unknown key '{key}' in {what}{suggest(key, allowed_set)}",
                )
                continue
            result[key] = (key_node, value_node)
        for key in required:
            if key not in result:
                self.report(node, "missing-key", f"{what} needs '{key}'")
        return result

    def sequence(self, node: yaml.Node, what: str) -> list[yaml.Node] | _Invalid:
        """Read a list."""
        if not isinstance(node, yaml.SequenceNode):
            return self.report(node, "wrong-type", f"{what} must be a list, got {describe(node)}")
        return list(node.value)

    # --- scalars ---------------------------------------------------------------------------

    def _scalar(self, node: yaml.Node, what: str, expected: str) -> yaml.ScalarNode | _Invalid:
        if not isinstance(node, yaml.ScalarNode) or node.tag == NULL:
            return self.report(
                node, "wrong-type", f"{what} must be {expected}, got {describe(node)}"
            )
        return node

    def text(self, node: yaml.Node, what: str, *, allow_empty: bool = False) -> str | _Invalid:
        """Read text; numbers and booleans are not silently turned into text."""
        scalar = self._scalar(node, what, "text")
        if scalar is INVALID:
            return INVALID
        assert isinstance(scalar, yaml.ScalarNode)
        if scalar.tag != STR:
            return self.report(
                node, "wrong-type", f"{what} must be text, got {describe(scalar)}; quote it"
            )
        value = str(scalar.value)
        if not allow_empty and not value.strip():
            return self.report(node, "wrong-type", f"{what} must not be empty")
        return value

    def raw(self, node: yaml.Node, what: str, expected: str) -> str | _Invalid:
        """Read a scalar as literally written (times: ``21:30`` stays ``21:30``)."""
        scalar = self._scalar(node, what, expected)
        if scalar is INVALID:
            return INVALID
        assert isinstance(scalar, yaml.ScalarNode)
        return str(scalar.value)

    def integer(
        self, node: yaml.Node, what: str, low: int | None = None, high: int | None = None
    ) -> int | _Invalid:
        """Read a whole number within ``[low, high]``."""
        scalar = self._scalar(node, what, "a whole number")
        if scalar is INVALID:
            return INVALID
        assert isinstance(scalar, yaml.ScalarNode)
        if scalar.tag != INT:
            return self.report(
                node, "wrong-type", f"{what} must be a whole number, got {describe(scalar)}"
            )
        value = int(str(scalar.value).replace("_", ""), 0)
        if (low is not None and value < low) or (high is not None and value > high):
            span = f"{low if low is not None else '…'} to {high if high is not None else '…'}"
            return self.report(node, "out-of-range", f"{what} must be {span}, got {value}")
        return value

    def number(self, node: yaml.Node, what: str, low: float | None = None) -> float | _Invalid:
        """Read a number (whole or decimal)."""
        scalar = self._scalar(node, what, "a number")
        if scalar is INVALID:
            return INVALID
        assert isinstance(scalar, yaml.ScalarNode)
        if scalar.tag not in (INT, FLOAT):
            return self.report(
                node, "wrong-type", f"{what} must be a number, got {describe(scalar)}"
            )
        value = float(str(scalar.value).replace("_", ""))
        if low is not None and value < low:
            return self.report(
                node, "out-of-range", f"{what} must be at least {low:g}, got {value:g}"
            )
        return value

    def boolean(self, node: yaml.Node, what: str) -> bool | _Invalid:
        """Read ``true`` / ``false``."""
        scalar = self._scalar(node, what, "true or false")
        if scalar is INVALID:
            return INVALID
        assert isinstance(scalar, yaml.ScalarNode)
        if scalar.tag != BOOL:
            return self.report(
                node, "wrong-type", f"{what} must be true or false, got {describe(scalar)}"
            )
        return str(scalar.value).lower() in ("true", "yes", "on", "y")

    def choice(self, node: yaml.Node, what: str, enum_type: type[E]) -> E | _Invalid:
        """Read one of an enum's values, suggesting the closest on a typo."""
        names = [str(member.value) for member in enum_type]
        value = self.raw(node, what, "one of " + ", ".join(names))
        if value is INVALID:
            return INVALID
        assert isinstance(value, str)
        if value not in names:
            return self.report(
                node,
                "bad-value",
                f"{what} '{value}' is not one of {', '.join(names)}{suggest(value, names)}",
            )
        return enum_type(value)

    def duration(self, node: yaml.Node, what: str) -> timedelta | _Invalid:
        """Read a duration such as ``30m`` or ``2h``."""
        value = self.raw(node, what, "a duration")
        if value is INVALID:
            return INVALID
        assert isinstance(value, str)
        try:
            return parse_duration(int(value) if value.isdigit() else value)
        except TimeSyntaxError as exc:
            return self.report(node, "bad-duration", f"{what}: {exc}")

    def parsed(self, node: yaml.Node, what: str, code: str, parse: Callable[[str], Any]) -> Any:
        """Read a scalar literally and hand it to ``parse``; its ValueError becomes a finding."""
        value = self.raw(node, what, "text")
        if value is INVALID:
            return INVALID
        try:
            return parse(str(value))
        except ValueError as exc:
            return self.report(node, code, f"{what}: {exc}")

    def text_list(self, node: yaml.Node, what: str) -> tuple[str, ...] | _Invalid:
        """Read a list of text (a single text is taken as a list of one)."""
        if isinstance(node, yaml.ScalarNode):
            one = self.text(node, what)
            return INVALID if one is INVALID else (str(one),)
        items = self.sequence(node, what)
        if items is INVALID:
            return INVALID
        assert isinstance(items, list)
        values = [self.text(item, f"each entry of {what}") for item in items]
        if any(v is INVALID for v in values):
            return INVALID
        return tuple(str(v) for v in values)
