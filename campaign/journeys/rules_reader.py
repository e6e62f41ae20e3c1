"""Read the conversion keys of a journey: auto-tag rules, points, coupons, offer extras."""

from __future__ import annotations

from typing import Any

import yaml

from campaign.journeys.nodes import INVALID, Reader
from campaign.journeys.spec import CouponSpec, GroupBuy, LintSettings, PointsRules, TagRule
from campaign.journeys.steps_reader import slug_problem

TAG_RULE_KEYS = ("tag", "on", "question", "answer", "keywords", "silent_for")
POINTS_KEYS_CONTEST = ("by_rank", "default")


def _tag(r: Reader, node: yaml.Node) -> str | Any:
    tag = r.text(node, "tag")
    if tag is INVALID:
        return INVALID
    group, sep, value = str(tag).partition(":")
    if not sep or not group or not value or " " in str(tag):
        return r.report(node, "bad-value", f"'{tag}' is not a tag like 'goal:excel-automation'")
    return tag


def read_tag_rules(r: Reader, node: yaml.Node) -> tuple[TagRule, ...] | Any:
    """Read ``tag_rules:``; each rule sets ``tag`` on an event or after silence."""
    items = r.sequence(node, "tag_rules")
    if items is INVALID:
        return INVALID
    assert isinstance(items, list)
    rules: list[TagRule] = []
    ok = True
    for index, item in enumerate(items):
        m = r.mapping(item, f"tag rule {index + 1}", allowed=TAG_RULE_KEYS, required=("tag",))
        if not isinstance(m, dict) or "tag" not in m:
            ok = False
            continue
        if ("on" in m) == ("silent_for" in m):
            r.report(
                item,
                "tag-rule",
                "a tag rule needs either 'on' (an event) or "
                "'silent_for' (a duration without check-in), not both",
            )
            ok = False
            continue
        tag = _tag(r, m["tag"][1])
        on = r.text(m["on"][1], "on") if "on" in m else None
        question = r.text(m["question"][1], "question") if "question" in m else None
        answer = r.raw(m["answer"][1], "answer", "text") if "answer" in m else None
        keywords = r.text_list(m["keywords"][1], "keywords") if "keywords" in m else ()
        silent = r.duration(m["silent_for"][1], "silent_for") if "silent_for" in m else None
        if "silent_for" in m and any(k in m for k in ("question", "answer", "keywords")):
            r.report(item, "tag-rule", "'question', 'answer' and 'keywords' go with 'on'")
            ok = False
            continue
        if on is not None:
            r.event_refs.append((str(on), m["on"][1]))
        values = (tag, on, question, answer, keywords, silent)
        if any(v is INVALID for v in values):
            ok = False
            continue
        rules.append(TagRule(str(tag), on, question, answer, tuple(keywords), silent))  # type: ignore[arg-type]
    return tuple(rules) if ok else INVALID


def read_points(r: Reader, node: yaml.Node) -> PointsRules | Any:
    """Read ``points:``: event name to points, and ``contest_scored: {by_rank, default}``."""
    m = r.mapping(node, "points")
    if m is INVALID:
        return INVALID
    assert isinstance(m, dict)
    per_event: list[tuple[str, int]] = []
    by_rank: tuple[int, ...] = ()
    default = 0
    ok = True
    for name, (_, value) in m.items():
        if name == "contest_scored" and isinstance(value, yaml.MappingNode):
            contest = r.mapping(value, "contest_scored points", allowed=POINTS_KEYS_CONTEST)
            if not isinstance(contest, dict):
                ok = False
                continue
            if "by_rank" in contest:
                ranks = r.sequence(contest["by_rank"][1], "by_rank")
                read = (
                    [r.integer(x, "points for a rank", low=0) for x in ranks]
                    if isinstance(ranks, list)
                    else [INVALID]
                )
                if any(v is INVALID for v in read):
                    ok = False
                else:
                    by_rank = tuple(int(v) for v in read)  # type: ignore[arg-type]
            if "default" in contest:
                got = r.integer(contest["default"][1], "default", low=0)
                if got is INVALID:
                    ok = False
                else:
                    default = int(got)
            continue
        points = r.integer(value, f"points for {name}", low=-1000, high=1000)
        if points is INVALID:
            ok = False
            continue
        per_event.append((name, int(points)))
    return PointsRules(tuple(per_event), by_rank, default) if ok else INVALID


def read_coupons(r: Reader, node: yaml.Node) -> dict[str, CouponSpec] | Any:
    """Read ``coupons:``: key to {title, points, value}."""
    m = r.mapping(node, "coupons")
    if m is INVALID:
        return INVALID
    assert isinstance(m, dict)
    coupons: dict[str, CouponSpec] = {}
    ok = True
    for key, (key_node, value) in m.items():
        problem = slug_problem(key)
        if problem:
            r.report(key_node, "bad-value", f"coupon key {problem}")
            ok = False
        fields = r.mapping(
            value,
            f"coupon '{key}'",
            allowed=("title", "points", "value"),
            required=("title", "points", "value"),
        )
        if not isinstance(fields, dict) or len(fields) != 3:
            ok = False
            continue
        title = r.text(fields["title"][1], "coupon title")
        points = r.integer(fields["points"][1], "coupon points", low=1)
        worth = r.number(fields["value"][1], "coupon value", low=0)
        if title is INVALID or points is INVALID or worth is INVALID:
            ok = False
            continue
        r.visible_texts.append(fields["title"][1])
        coupons[key] = CouponSpec(key, str(title), int(points), float(worth))
    return coupons if ok else INVALID


def read_group_buy(r: Reader, node: yaml.Node) -> GroupBuy | Any:
    """Read ``offer.group_buy: {size, discount}``."""
    m = r.mapping(node, "group_buy", allowed=("size", "discount"), required=("size", "discount"))
    if not isinstance(m, dict) or len(m) != 2:
        return INVALID
    size = r.integer(m["size"][1], "group_buy size", low=2, high=100)
    discount = r.number(m["discount"][1], "group_buy discount", low=0)
    if size is INVALID or discount is INVALID:
        return INVALID
    return GroupBuy(int(size), float(discount))


def read_lint_settings(r: Reader, node: yaml.Node) -> LintSettings | Any:
    m = r.mapping(node, "lint", allowed=("banned_phrases", "allowed_phrases"))
    if m is INVALID:
        return INVALID
    assert isinstance(m, dict)
    banned = r.text_list(m["banned_phrases"][1], "banned_phrases") if "banned_phrases" in m else ()
    allowed = (
        r.text_list(m["allowed_phrases"][1], "allowed_phrases") if "allowed_phrases" in m else ()
    )
    if banned is INVALID or allowed is INVALID:
        return INVALID
    return LintSettings(tuple(banned), tuple(allowed))


def read_reply_within(r: Reader, node: yaml.Node) -> dict[str, Any]:
    """Read ``reply_within``: one duration, or ``{default: 2h, D6: 30m}`` per camp day."""
    if not isinstance(node, yaml.MappingNode):
        value = r.duration(node, "reply_within")
        return {} if value is INVALID else {"reply_within": value}
    m = r.mapping(node, "reply_within")
    if not isinstance(m, dict):
        return {}
    values: dict[str, Any] = {}
    per_day: list[tuple[int, Any]] = []
    for key, (key_node, value_node) in m.items():
        duration = r.duration(value_node, f"reply_within {key}")
        if key == "default":
            if duration is not INVALID:
                values["reply_within"] = duration
            continue
        day = key[1:] if key.startswith("D") else ""
        if not day.lstrip("-").isdigit() or int(day) == 0:
            r.report(key_node, "bad-time", f"'{key}' is not a camp day like D6 (or 'default')")
            continue
        if duration is not INVALID:
            per_day.append((int(day), duration))
    values["reply_within_on"] = tuple(sorted(per_day))
    return values
