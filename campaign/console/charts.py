"""Charts as inline SVG: drawn on the server, no JavaScript, readable in any browser.

Pure functions: data in, an SVG string out (a :class:`markupsafe.Markup`, so templates insert it
as is). Every piece of text is escaped; labels too long for the label column are shortened with
an ellipsis and kept whole in a tooltip (``<title>``). Bars are proportional to their value:
the largest value of a chart spans the whole plot width.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH = 640
BAR_HEIGHT = 22
GAP = 8
TITLE_HEIGHT = 26
LEGEND_HEIGHT = 22
VALUE_ROOM = 150  # right of the longest bar: its value label (and rate, for funnels)
MIN_LABEL = 60
MAX_LABEL = 240
FONT_SIZE = 12
PALETTE = ("#2563eb", "#16a34a", "#f59e0b", "#dc2626", "#7c3aed", "#0891b2", "#64748b")


@dataclass(frozen=True)
class Bar:
    """One bar: its label, its value, and an optional note shown after the value."""

    label: str
    value: float
    note: str | None = None


@dataclass(frozen=True)
class Series:
    """One part of a stacked bar: its name (in the legend) and its colour."""

    name: str
    color: str


def text_width(text: str) -> int:
    """Estimate how many pixels ``text`` takes at the chart's font size (CJK counts double)."""
    wide = sum(1 for ch in text if unicodedata.east_asian_width(ch) in "WF")
    return int((len(text) - wide) * FONT_SIZE * 0.6 + wide * FONT_SIZE * 1.05) + 1


def shorten(text: str, pixels: int) -> str:
    """Return ``text``, cut with an ellipsis to fit in ``pixels``."""
    if text_width(text) <= pixels:
        return text
    cut = text
    while cut and text_width(cut + "…") > pixels:
        cut = cut[:-1]
    return cut + "…"


def format_value(value: float) -> str:
    """Render a count as ``1,234`` and any other number with one decimal."""
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.1f}"


def percent(part: float, whole: float) -> str:
    """Render ``part / whole`` as a percentage (``–`` when ``whole`` is zero)."""
    if not whole:
        return "–"
    share = 100 * part / whole
    return f"{share:.0f}%" if share >= 10 or share == 0 else f"{share:.1f}%"


def _label_width(labels: Sequence[str]) -> int:
    widest = max((text_width(label) for label in labels), default=0)
    return max(MIN_LABEL, min(MAX_LABEL, widest + 12))


def _open(width: int, height: int, title: str, kind: str) -> list[str]:
    label = escape(title)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart {kind}" role="img" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'aria-label="{label}" font-family="sans-serif" font-size="{FONT_SIZE}">',
        f"<title>{label}</title>",
    ]
    if title:
        parts.append(f'<text class="chart-title" x="0" y="16" font-weight="600">{label}</text>')
    return parts


def _label(text: str, x: int, y: float, room: int) -> str:
    """A bar's label, right-aligned at ``x``, with the whole text as its tooltip."""
    return (
        f'<text class="label" x="{x}" y="{y:.1f}" text-anchor="end">'
        f"<title>{escape(text)}</title>{escape(shorten(text, room))}</text>"
    )


def _empty(parts: list[str], y: int, message: str) -> Markup:
    parts.append(f'<text class="empty" x="0" y="{y + 14}" fill="#6b7785">{escape(message)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def bar_chart(
    bars: Sequence[Bar],
    *,
    title: str = "",
    width: int = WIDTH,
    color: str = PALETTE[0],
    unit: str = "",
    empty: str = "no data",
) -> Markup:
    """Draw horizontal bars, one per item, each with its value (and note) at its end.

    :param bars: in the order to draw them, top to bottom; negative values count as zero.
    :param unit: written right after each value (``%``).
    :param empty: the text shown when there are no bars.
    """
    top = TITLE_HEIGHT if title else 0
    height = top + max(1, len(bars)) * (BAR_HEIGHT + GAP) + GAP
    parts = _open(width, height, title, "bars")
    if not bars:
        return _empty(parts, top, empty)
    label_width = _label_width([bar.label for bar in bars])
    plot = max(10, width - label_width - VALUE_ROOM)
    largest = max(max(bar.value, 0) for bar in bars)
    for index, bar in enumerate(bars):
        y = top + GAP + index * (BAR_HEIGHT + GAP)
        length = plot * max(bar.value, 0) / largest if largest > 0 else 0
        middle = y + BAR_HEIGHT / 2 + FONT_SIZE / 3
        value = format_value(bar.value) + unit + (f" · {bar.note}" if bar.note else "")
        parts.append('<g class="bar">')
        parts.append(_label(bar.label, label_width - 6, middle, label_width - 12))
        parts.append(
            f'<rect x="{label_width}" y="{y}" width="{length:.1f}" height="{BAR_HEIGHT}" '
            f'rx="3" fill="{escape(color)}"><title>{escape(bar.label)}: {escape(value)}</title>'
            "</rect>"
        )
        parts.append(
            f'<text class="value" x="{label_width + length + 6:.1f}" y="{middle:.1f}">'
            f"{escape(value)}</text>"
        )
        parts.append("</g>")
    parts.append("</svg>")
    return Markup("".join(parts))


def funnel_chart(
    stages: Sequence[tuple[str, float]],
    *,
    title: str = "",
    width: int = WIDTH,
    color: str = PALETTE[0],
    empty: str = "no data",
) -> Markup:
    """Draw a funnel: one centred bar per stage, with its count and its rates.

    Each stage after the first shows its share of the first stage and of the stage before
    (``42% · 80% of previous``); bar lengths are proportional to the counts.
    """
    top = TITLE_HEIGHT if title else 0
    height = top + max(1, len(stages)) * (BAR_HEIGHT + GAP) + GAP
    parts = _open(width, height, title, "funnel")
    if not stages:
        return _empty(parts, top, empty)
    label_width = _label_width([label for label, _ in stages])
    plot = max(10, width - label_width - VALUE_ROOM)
    largest = max(max(value, 0) for _, value in stages)
    first = stages[0][1]
    previous: float | None = None
    for index, (label, value) in enumerate(stages):
        y = top + GAP + index * (BAR_HEIGHT + GAP)
        length = plot * max(value, 0) / largest if largest > 0 else 0
        left = label_width + (plot - length) / 2
        middle = y + BAR_HEIGHT / 2 + FONT_SIZE / 3
        rate = "" if previous is None else f"{percent(value, first)} · ↓{percent(value, previous)}"
        shade = 1 - 0.5 * index / max(1, len(stages) - 1)
        parts.append('<g class="stage">')
        parts.append(_label(label, label_width - 6, middle, label_width - 12))
        parts.append(
            f'<rect x="{left:.1f}" y="{y}" width="{length:.1f}" height="{BAR_HEIGHT}" rx="3" '
            f'fill="{escape(color)}" fill-opacity="{shade:.2f}">'
            f"<title>{escape(label)}: {escape(format_value(value))}</title></rect>"
        )
        parts.append(
            f'<text class="value" x="{label_width + plot / 2:.1f}" y="{middle:.1f}" '
            f'text-anchor="middle" fill="#fff" stroke="#1f2933" stroke-width="2" '
            f'paint-order="stroke">{escape(format_value(value))}</text>'
        )
        if rate:
            parts.append(
                f'<text class="rate" x="{label_width + plot + 8:.1f}" y="{middle:.1f}">'
                f"{escape(rate)}</text>"
            )
        parts.append("</g>")
        previous = value
    parts.append("</svg>")
    return Markup("".join(parts))


def stacked_bar_chart(
    rows: Sequence[tuple[str, Sequence[float]]],
    series: Sequence[Series],
    *,
    title: str = "",
    width: int = WIDTH,
    empty: str = "no data",
) -> Markup:
    """Draw one horizontal bar per row, split into the parts of ``series``, with a legend.

    :param rows: a label and one value per series, in the order of ``series``.
    """
    top = (TITLE_HEIGHT if title else 0) + LEGEND_HEIGHT
    height = top + max(1, len(rows)) * (BAR_HEIGHT + GAP) + GAP
    parts = _open(width, height, title, "stacked")
    legend_y = top - LEGEND_HEIGHT + 14
    x = 0
    for item in series:
        parts.append(
            f'<g class="legend"><rect x="{x}" y="{legend_y - 10}" width="10" height="10" '
            f'fill="{escape(item.color)}"/><text x="{x + 14}" y="{legend_y}">'
            f"{escape(item.name)}</text></g>"
        )
        x += 14 + text_width(item.name) + 16
    if not rows:
        return _empty(parts, top, empty)
    label_width = _label_width([label for label, _ in rows])
    plot = max(10, width - label_width - VALUE_ROOM)
    largest = max(sum(max(v, 0) for v in values) for _, values in rows)
    for index, (label, values) in enumerate(rows):
        y = top + GAP + index * (BAR_HEIGHT + GAP)
        middle = y + BAR_HEIGHT / 2 + FONT_SIZE / 3
        parts.append('<g class="bar">')
        parts.append(_label(label, label_width - 6, middle, label_width - 12))
        left = float(label_width)
        for item, value in zip(series, values, strict=True):
            length = plot * max(value, 0) / largest if largest > 0 else 0
            if length > 0:
                parts.append(
                    f'<rect x="{left:.1f}" y="{y}" width="{length:.1f}" height="{BAR_HEIGHT}" '
                    f'fill="{escape(item.color)}"><title>{escape(label)} · {escape(item.name)}: '
                    f"{escape(format_value(value))}</title></rect>"
                )
            left += length
        total = sum(max(v, 0) for v in values)
        parts.append(
            f'<text class="value" x="{left + 6:.1f}" y="{middle:.1f}">'
            f"{escape(format_value(total))}</text>"
        )
        parts.append("</g>")
    parts.append("</svg>")
    return Markup("".join(parts))
