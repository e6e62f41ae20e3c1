"""Funnel charts for the marketer, drawn from :func:`campaign.offers.funnel.funnel`.

By stage, each cohort gets a funnel (enrolled → joined → … → paid) with its stage rates. By
advisor or tag, the groups are compared by conversion (paid of enrolled) and the largest get a
funnel each. By step or variant, each step is compared by how many of the learners it reached
paid afterwards, and by the sales that name it as the last touch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from markupsafe import Markup

from campaign.console.charts import PALETTE, Bar, bar_chart, funnel_chart, percent
from campaign.offers.funnel import STAGES, Funnel, FunnelRow

MAX_GROUP_FUNNELS = 8
"""How many advisors or tags get a funnel of their own (the largest first)."""


@dataclass(frozen=True)
class Chart:
    """One chart of the funnel page: its heading and its SVG."""

    title: str
    svg: Markup


def stage_funnel(row: FunnelRow, names: Mapping[str, str], title: str) -> Markup:
    """Draw one group's funnel: enrolled, then each stage it reached."""
    stages = [(names.get("enrolled", "enrolled"), row.counts["enrolled"])]
    stages += [(names.get(stage, stage), row.counts[stage]) for stage in STAGES]
    return funnel_chart(stages, title=title)


def _rate(part: int, whole: int) -> float:
    return round(100 * part / whole, 1) if whole else 0.0


def funnel_charts(
    result: Funnel, names: Mapping[str, str], titles: Mapping[str, str]
) -> list[Chart]:
    """Return the charts for one funnel result.

    :param names: shown names of the stages and measures (``enrolled``, ``paid``, ``reached``…).
    :param titles: chart headings: ``conversion``, ``paid_after``, ``attributed``.
    """
    rows = result.rows
    if result.by == "stage":
        return [Chart(row.label, stage_funnel(row, names, row.label)) for row in rows]
    if result.by in ("advisor", "tag"):
        bars = [
            Bar(
                row.label,
                _rate(row.counts["paid"], row.counts["enrolled"]),
                f"{row.counts['paid']}/{row.counts['enrolled']}",
            )
            for row in rows
        ]
        conversion = titles["conversion"]
        charts = [Chart(conversion, bar_chart(bars, title=conversion, unit="%"))]
        largest = sorted(rows, key=lambda row: (-row.counts["enrolled"], row.label))
        charts += [
            Chart(row.label, stage_funnel(row, names, row.label))
            for row in largest[:MAX_GROUP_FUNNELS]
        ]
        return charts
    paid_after = [
        Bar(
            row.label,
            _rate(row.counts["paid"], row.counts["reached"]),
            f"{row.counts['paid']}/{row.counts['reached']}",
        )
        for row in rows
    ]
    attributed = [Bar(row.label, row.counts["attributed"]) for row in rows]
    return [
        Chart(titles["paid_after"], bar_chart(paid_after, title=titles["paid_after"], unit="%")),
        Chart(
            titles["attributed"],
            bar_chart(attributed, title=titles["attributed"], color=PALETTE[1]),
        ),
    ]


def table_rates(row: FunnelRow, columns: tuple[str, ...]) -> list[tuple[int, str | None]]:
    """Return each column's count with its rate of the column before (none for the first)."""
    cells: list[tuple[int, str | None]] = []
    previous: int | None = None
    for column in columns:
        count = row.counts.get(column, 0)
        rate = None
        if previous is not None and column not in ("refunded", "attributed"):
            rate = percent(count, previous)
        cells.append((count, rate))
        if column not in ("refunded", "attributed"):
            previous = count
    return cells
