"""Journey keys for conversion: auto-tag rules, points, coupons, deposit and group-buy."""

from __future__ import annotations

from datetime import timedelta

from campaign.journeys.lint import lint_text
from campaign.journeys.spec import GroupBuy, TagRule
from tests.journeys.conftest import BASE, journey, position, step

EXTRAS = """\
tag_rules:
  - {on: survey_answered, question: goal, answer: A, tag: "goal:excel-automation"}
  - {on: replied, keywords: [多少钱, 怎么报], tag: "intent:A"}
  - {silent_for: 3d, tag: "activity:silent"}
points:
  checked_in: 2
  homework_submitted: 10
  contest_scored: {by_rank: [50, 30, 20], default: 5}
coupons:
  coupon-50: {title: 50 元优惠券, points: 100, value: 50}
"""


def with_extras(extras: str = EXTRAS, offer: str = "") -> str:
    head = BASE.replace('closes: "D8 23:59"}', f'closes: "D8 23:59"{offer}}}') + ""
    head = head.replace("steps:\n", extras + "steps:\n")
    return journey(step(), head=head)


def test_conversion_keys_are_read() -> None:
    result = lint_text(
        with_extras(offer=", deposit: 99, group_buy: {size: 3, discount: 300}"), "camp.yaml"
    )
    assert result.findings == []
    spec = result.spec
    assert spec is not None
    assert spec.tag_rules == (
        TagRule("goal:excel-automation", on="survey_answered", question="goal", answer="A"),
        TagRule("intent:A", on="replied", keywords=("多少钱", "怎么报")),
        TagRule("activity:silent", silent_for=timedelta(days=3)),
    )
    assert spec.points.for_event("homework_submitted") == 10
    assert spec.points.for_event("attended_live") == 0
    assert spec.points.contest_by_rank == (50, 30, 20) and spec.points.contest_default == 5
    assert spec.coupons["coupon-50"].points == 100
    assert spec.offer is not None
    assert spec.offer.deposit == 99 and spec.offer.group_buy == GroupBuy(3, 300)


def test_tag_rule_needs_one_trigger_and_a_real_tag() -> None:
    text = with_extras("tag_rules:\n  - {tag: intent-a, on: replied, silent_for: 1d}\n")
    [finding] = [f for f in lint_text(text, "camp.yaml").findings if f.code == "tag-rule"]
    assert "not both" in finding.message
    text = with_extras("tag_rules:\n  - {tag: intent-a, on: replied}\n")
    [finding] = [f for f in lint_text(text, "camp.yaml").findings if f.code == "bad-value"]
    assert (finding.line, finding.column) == position(text, "intent-a")


def test_tag_rule_events_are_checked_like_step_events() -> None:
    text = with_extras("tag_rules:\n  - {tag: 'intent:A', on: repled}\n")
    [finding] = [f for f in lint_text(text, "camp.yaml").findings if f.code == "unknown-event"]
    assert "did you mean 'replied'?" in finding.message


def test_coupon_titles_are_checked_for_banned_phrases() -> None:
    text = with_extras("coupons:\n  c: {title: 保过券, points: 10, value: 5}\n")
    assert [f.code for f in lint_text(text, "camp.yaml").findings] == ["banned-phrase"]


def test_exploration_is_bounded() -> None:
    text = with_extras("", offer=", exploration: 0.9")
    [finding] = lint_text(text, "camp.yaml").findings
    assert finding.code == "out-of-range"


def test_reply_within_may_be_tighter_on_contest_day() -> None:
    from tests.journeys.conftest import BASE, journey, step

    head = BASE.replace("days: 7", "days: 7\nreply_within: {default: 2h, D6: 30m}")
    spec = lint_text(journey(step(), head=head), "camp.yaml").spec
    assert spec is not None
    assert spec.reply_window(6) == timedelta(minutes=30)
    assert spec.reply_window(2) == timedelta(hours=2)
    bad = BASE.replace("days: 7", "days: 7\nreply_within: {default: 2h, contest: 30m}")
    [finding] = lint_text(journey(step(), head=bad), "camp.yaml").findings
    assert finding.code == "bad-time" and "D6" in finding.message
