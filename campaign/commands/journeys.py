"""``campaign journeys ...``: lint journey files (publishing and simulation attach here too)."""

from __future__ import annotations

import json
import sys

import click

from campaign.journeys.findings import Severity
from campaign.journeys.lint import lint_paths


@click.group("journeys")
def journeys() -> None:
    """Write, check, publish and simulate journeys."""


@journeys.command("lint")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text: one 'file:line:column: severity: message' per line; json: a list of findings.",
)
def lint(paths: tuple[str, ...], output_format: str) -> None:
    """Check journey files (or folders of them) and report every problem found.

    Exits 0 when there is no error (warnings allowed), 1 when there is at least one.
    """
    findings = lint_paths(list(paths))
    if output_format == "json":
        click.echo(json.dumps([f.as_dict() for f in findings], ensure_ascii=False, indent=2))
    else:
        for finding in findings:
            click.echo(finding.format())
        errors = sum(f.severity is Severity.ERROR for f in findings)
        warnings = len(findings) - errors
        click.echo(f"{errors} error(s), {warnings} warning(s)", err=True)
    sys.exit(1 if any(f.severity is Severity.ERROR for f in findings) else 0)
