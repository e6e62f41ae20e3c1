"""Lint journey files: every mistake found, each with where it is and how to fix it.

``lint_text`` checks one document; ``lint_paths`` checks files and folders and never raises,
whatever is on disk, so the CLI never shows a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from campaign.journeys.findings import Finding, Severity, has_errors
from campaign.journeys.loader import load_journey
from campaign.journeys.rules import (
    RuleInput,
    audience_rules,
    caps_rules,
    event_rules,
    offer_rules,
    peak_end_rules,
    quiet_hours_rules,
    template_rules,
    wording_rules,
)
from campaign.journeys.spec import JourneySpec

JOURNEY_SUFFIXES = (".yaml", ".yml")


@dataclass
class LintResult:
    """A journey's findings, and its spec when it has no errors."""

    spec: JourneySpec | None
    findings: list[Finding]
    data: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        """Tell whether the journey can be published (warnings allowed)."""
        return not has_errors(self.findings)


def lint_text(
    text: str, filename: str = "<journey>", extra_banned: Sequence[str] = ()
) -> LintResult:
    """Check one journey document; ``extra_banned`` adds phrases from the school's settings."""
    loaded = load_journey(text, filename)
    findings = list(loaded.findings)
    if loaded.reader is not None:
        conditions = loaded.steps.conditions
        data = RuleInput(
            spec=loaded.spec,
            source=text,
            reader=loaded.reader,
            templates=loaded.steps.templates,
            events=[*(conditions.event_refs if conditions else ()), *loaded.reader.event_refs],
            extra_banned=extra_banned,
        )
        findings += template_rules(data)
        findings += wording_rules(data)
        findings += event_rules(data, _declared_events(loaded.data))
        if loaded.spec is not None:
            for rule in (
                peak_end_rules,
                offer_rules,
                quiet_hours_rules,
                caps_rules,
                audience_rules,
            ):
                findings += rule(loaded.spec, data)
    findings = sorted(set(findings), key=lambda f: (f.line, f.column, f.code, f.message))
    spec = loaded.spec if not has_errors(findings) else None
    return LintResult(spec, findings, loaded.data)


def _declared_events(data: dict[str, Any] | None) -> list[str]:
    events = (data or {}).get("events")
    return [str(e) for e in events] if isinstance(events, list) else []


def journey_files(paths: Iterable[str]) -> Iterable[Path]:
    """Expand folders to the journey files inside them (sorted, recursive)."""
    for name in paths:
        path = Path(name)
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.suffix in JOURNEY_SUFFIXES)
        else:
            yield path


def lint_file(path: Path, extra_banned: Sequence[str] = ()) -> LintResult:
    """Read and check one file; unreadable files become findings, never exceptions."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        return _failed(path, f"the file is not UTF-8 text (byte {exc.start}); save it as UTF-8")
    except OSError as exc:
        return _failed(path, f"cannot read the file: {exc.strerror or exc}")
    try:
        return lint_text(text, str(path), extra_banned)
    except Exception as exc:  # lint must report, never crash, whatever the input
        return _failed(
            path,
            f"lint could not check this file ({type(exc).__name__}: {exc}); "
            "please report it with the file",
        )


def _failed(path: Path, message: str) -> LintResult:
    return LintResult(None, [Finding(str(path), 1, 1, Severity.ERROR, "unreadable", message)])


def lint_paths(paths: Iterable[str], extra_banned: Sequence[str] = ()) -> list[Finding]:
    """Check every journey file under ``paths`` and return all findings in file order."""
    findings: list[Finding] = []
    for path in journey_files(paths):
        findings += lint_file(path, extra_banned).findings
    return findings


def main(argv: Sequence[str] | None = None) -> int:
    """Print findings for the files given (``python -m campaign.journeys.lint FILE...``)."""
    findings = lint_paths(argv if argv is not None else sys.argv[1:])
    for finding in findings:
        print(finding.format())
    return 1 if has_errors(findings) else 0


if __name__ == "__main__":
    sys.exit(main())
