"""``campaign report``: the conversion funnel and the offers, for marketing staff.

``funnel`` prints the stage rates (joined → attended → homework → consulted → deposit → paid)
per cohort, advisor, tag, step or variant, as a table, JSON or CSV (for a spreadsheet).
``offers`` shows each cohort's offers and the real group-buy counters; ``--sweep`` first opens
the offers whose window has opened and closes the expired ones (what the dispatcher does).
"""

from __future__ import annotations

import csv
import io
import json
import unicodedata
from collections.abc import Sequence

import click
from flask import current_app
from flask.cli import with_appcontext

from campaign.clock import clock_from_config
from campaign.commands.errors import reports_user_errors
from campaign.db import session_scope
from campaign.offers.funnel import DIMENSIONS, STAGES, Funnel, FunnelRow, funnel
from campaign.offers.groupbuy import list_group_buys
from campaign.offers.listing import list_offers, offer_counts
from campaign.offers.service import sweep_offers


@click.group("report")
def report() -> None:
    """Read the numbers: the conversion funnel, offers and group-buys."""


@report.command("funnel")
@click.option("--cohort", "cohort_id", type=int, help="One cohort (an id); default: all.")
@click.option(
    "--by",
    type=click.Choice(DIMENSIONS),
    default="stage",
    show_default=True,
    help="Group by cohort stages, advisor, tag, step or step variant.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(("table", "json", "csv")),
    default="table",
    show_default=True,
)
@with_appcontext
@reports_user_errors
def funnel_command(cohort_id: int | None, by: str, fmt: str) -> None:
    """Show the conversion funnel (deleted learners count through anonymous tallies)."""
    with session_scope() as session:
        result = funnel(session, cohort_id=cohort_id, by=by)
    if fmt == "json":
        click.echo(json.dumps(result.as_dict(), ensure_ascii=False, indent=2))
    elif fmt == "csv":
        click.echo(funnel_csv(result), nl=False)
    else:
        click.echo(funnel_table(result))


def _percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.1f}%"


def _width(text: str) -> int:
    """Return the terminal width of ``text`` (CJK characters take two columns)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(_width(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = [
            cell + " " * (widths[i] - _width(cell))
            if i == 0
            else " " * (widths[i] - _width(cell)) + cell
            for i, cell in enumerate(row)
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def _stage_cells(row: FunnelRow) -> list[str]:
    rates = row.rates
    cells = [str(row.counts["enrolled"])]
    cells += [f"{row.counts[stage]} ({_percent(rates[stage])})" for stage in STAGES]
    cells += [_percent(rates["conversion"]), str(row.counts["refunded"])]
    return cells


def funnel_table(result: Funnel) -> str:
    """Render the funnel for a terminal: each stage as count (rate of the stage before)."""
    if not result.rows:
        return "no enrollments yet"
    by = {"stage": "cohort"}.get(result.by, result.by)
    if result.by in ("step", "variant"):
        header = [by, "reached", "paid after", "rate", "last touch"]
        rows = [
            [
                row.label,
                str(row.counts["reached"]),
                str(row.counts["paid"]),
                _percent(row.rates["paid"]),
                str(row.counts["attributed"]),
            ]
            for row in result.rows
        ]
    else:
        header = [by, "enrolled", *STAGES, "conversion", "refunded"]
        rows = [[row.label, *_stage_cells(row)] for row in result.rows]
    text = _table(header, rows)
    anonymous = sum(row.anonymous for row in result.rows if row.key != "all")
    if anonymous:
        text += f"\nincludes {anonymous} deleted learner(s), as anonymous counts"
    return text


def funnel_csv(result: Funnel) -> str:
    """Render the funnel as CSV: counts, then rates (0..1), then the anonymous share."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    step_view = result.by in ("step", "variant")
    counts = list(result.columns)
    rates = ["paid"] if step_view else [*STAGES, "conversion"]
    writer.writerow(["key", "label", *counts, *(f"rate_{r}" for r in rates), "anonymous"])
    for row in result.rows:
        row_rates = row.rates
        writer.writerow(
            [
                row.key,
                row.label,
                *(row.counts[c] for c in counts),
                *("" if row_rates[r] is None else row_rates[r] for r in rates),
                row.anonymous,
            ]
        )
    return out.getvalue()


@report.command("offers")
@click.option("--cohort", "cohort_id", type=int, help="One cohort (an id); default: all.")
@click.option("--sweep", is_flag=True, help="First open due offers and close expired ones.")
@click.option(
    "--format", "fmt", type=click.Choice(("table", "json")), default="table", show_default=True
)
@with_appcontext
@reports_user_errors
def offers_command(cohort_id: int | None, sweep: bool, fmt: str) -> None:
    """Show offers, deposits and group-buys with their real counters."""
    now = clock_from_config(current_app.config).now()
    with session_scope() as session:
        if sweep:
            opened, closed = sweep_offers(session, now)
            click.echo(f"opened {opened} offer(s), closed {closed}", err=True)
        counts = offer_counts(session, cohort_id=cohort_id)
        groups = list_group_buys(session, cohort_id=cohort_id)
        offers = list_offers(session, cohort_id=cohort_id)
    if fmt == "json":
        data = {
            "counts": counts,
            "group_buys": [g.as_dict() for g in groups],
            "offers": [o.as_dict() for o in offers],
        }
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    click.echo(", ".join(f"{name} {value}" for name, value in counts.items()))
    for group in groups:
        state = f"formed {group.formed_at:%Y-%m-%d %H:%M}" if group.formed_at else "forming"
        click.echo(
            f"group-buy #{group.id} {group.course_key}: {group.members}/{group.size} "
            f"({group.seats_left} seat(s) left), {state}"
        )
    rows = [
        [
            f"#{o.id}",
            f"e{o.enrollment_id}",
            o.course_key,
            f"{o.price:g}",
            o.status,
            "yes" if o.deposit_paid_at else "",
            f"#{o.group_buy_id}" if o.group_buy_id else "",
            o.reason,
        ]
        for o in offers
    ]
    header = ["offer", "enrollment", "course", "price", "status", "deposit", "group", "reason"]
    click.echo(_table(header, rows) if rows else "no offers yet")
