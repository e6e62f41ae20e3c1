"""SVG charts: bars proportional to their values, text escaped, well-formed XML."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from markupsafe import Markup

from campaign.console.charts import (
    Bar,
    Series,
    bar_chart,
    format_value,
    funnel_chart,
    percent,
    shorten,
    stacked_bar_chart,
    text_width,
)

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    """Parse the chart as XML (it must be well-formed to be inlined in any page)."""
    return ET.fromstring(svg)


def bar_widths(svg: str, group: str = "bar") -> list[float]:
    root = parse(svg)
    widths = []
    for g in root.iter(f"{SVG}g"):
        if g.get("class") == group:
            rect = g.find(f"{SVG}rect")
            assert rect is not None
            widths.append(float(rect.get("width", "0")))
    return widths


def test_bars_are_proportional_to_their_values() -> None:
    svg = bar_chart([Bar("a", 10), Bar("b", 5), Bar("c", 0), Bar("d", 2.5)], title="t")
    widths = bar_widths(svg)
    assert widths[0] > 0
    assert widths[1] == widths[0] / 2
    assert widths[2] == 0
    assert abs(widths[3] - widths[0] / 4) < 0.1


def test_values_and_notes_are_labelled() -> None:
    svg = bar_chart([Bar("paid", 1234, "12%"), Bar("rate", 12.5)], unit="%")
    texts = ["".join(t.itertext()) for t in parse(svg).iter(f"{SVG}text")]
    assert "1,234% · 12%" in texts
    assert "12.5%" in texts


def test_text_is_escaped() -> None:
    evil = '<script>alert("x")</script> & "quotes"'
    svg = bar_chart([Bar(evil, 3, note="<b>")], title=evil)
    assert "<script>" not in svg and "<b>" not in svg
    assert "&lt;script&gt;" in svg
    root = parse(svg)  # still well-formed
    assert root.get("aria-label") == evil
    assert any(evil in "".join(t.itertext()) for t in root.iter(f"{SVG}title"))
    funnel = funnel_chart([(evil, 10), ("<i>", 5)], title="<f>")
    assert "<i>" not in funnel and "<f>" not in funnel
    parse(funnel)
    stacked = stacked_bar_chart([(evil, [1, 2])], [Series("<s>", "#000"), Series("b", "#111")])
    assert "<s>" not in stacked
    parse(stacked)


def test_color_attributes_cannot_break_out() -> None:
    svg = bar_chart([Bar("a", 1)], color='red" onload="x')
    assert 'onload="x"' not in svg
    parse(svg)


def test_funnel_bars_shrink_with_the_counts_and_show_rates() -> None:
    svg = funnel_chart([("enrolled", 200), ("joined", 100), ("paid", 20)], title="Funnel")
    widths = bar_widths(svg, "stage")
    assert widths[1] == widths[0] / 2 and abs(widths[2] - widths[0] / 10) < 0.1
    root = parse(svg)
    rates = ["".join(t.itertext()) for t in root.iter(f"{SVG}text") if t.get("class") == "rate"]
    # share of the first stage, then of the stage before
    assert rates == ["50% · ↓50%", "10% · ↓20%"]
    # The funnel is centred: each bar is as far from the left as it is short of the longest.
    rects = [g.find(f"{SVG}rect") for g in root.iter(f"{SVG}g") if g.get("class") == "stage"]
    xs = [float(r.get("x", "0")) for r in rects if r is not None]
    assert abs((xs[1] - xs[0]) - (widths[0] - widths[1]) / 2) < 0.1


def test_stacked_bars_split_by_series() -> None:
    svg = stacked_bar_chart(
        [("D1", [6, 2]), ("D2", [2, 2])],
        [Series("sent", "#0a0"), Series("held", "#a00")],
        title="Per day",
    )
    root = parse(svg)
    bars = [g for g in root.iter(f"{SVG}g") if g.get("class") == "bar"]
    first = [float(r.get("width", "0")) for r in bars[0].iter(f"{SVG}rect")]
    second = [float(r.get("width", "0")) for r in bars[1].iter(f"{SVG}rect")]
    assert first[0] == 3 * first[1]
    assert abs(sum(second) - sum(first) / 2) < 0.1
    legend = ["".join(t.itertext()) for g in root.iter(f"{SVG}g") if g.get("class") == "legend"
              for t in g.iter(f"{SVG}text")]
    assert legend == ["sent", "held"]


def test_empty_charts_say_so() -> None:
    for svg in (
        bar_chart([], empty="nothing yet"),
        funnel_chart([], empty="nothing yet"),
        stacked_bar_chart([], [Series("a", "#000")], empty="nothing yet"),
    ):
        assert "nothing yet" in svg
        parse(svg)


def test_all_zero_values_draw_no_bars() -> None:
    assert bar_widths(bar_chart([Bar("a", 0), Bar("b", 0)])) == [0, 0]


def test_charts_are_markup_for_templates() -> None:
    assert isinstance(bar_chart([Bar("a", 1)]), Markup)
    assert re.match(r"<svg [^>]*role=\"img\"", str(funnel_chart([("a", 1)])))


def test_long_labels_are_shortened_with_the_whole_text_in_a_tooltip() -> None:
    label = "一个非常非常长的步骤名称-homework-reminder-for-the-evening-of-day-three"
    svg = bar_chart([Bar(label, 1)])
    root = parse(svg)
    text = next(t for t in root.iter(f"{SVG}text") if t.get("class") == "label")
    assert "".join(text.itertext()).endswith("…")
    title = text.find(f"{SVG}title")
    assert title is not None and title.text == label


def test_helpers() -> None:
    assert format_value(1234) == "1,234" and format_value(2.25) == "2.2"
    assert percent(1, 3) == "33%" and percent(1, 200) == "0.5%" and percent(1, 0) == "–"
    assert text_width("汉字") > text_width("ab")
    assert shorten("abc", 1000) == "abc"
