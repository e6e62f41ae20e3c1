"""Lint's whole-journey rules: peak-end, offer timing, quiet hours, caps, events, templates."""

from __future__ import annotations

from campaign.journeys.findings import Finding, Severity
from campaign.journeys.lint import lint_text
from tests.journeys.conftest import BASE, journey, position, step


def found(text: str, code: str) -> list[Finding]:
    return [f for f in lint_text(text, "camp.yaml").findings if f.code == code]


def at(finding: Finding, text: str, needle: str, nth: int = 1) -> None:
    assert (finding.line, finding.column) == position(text, needle, nth)


# --- templates ---------------------------------------------------------------------------


def test_template_variable_the_context_will_not_have() -> None:
    text = journey(step(template="{{ learner.nmae }} 你好"))
    [finding] = found(text, "template-variable")
    at(finding, text, "learner.nmae")
    assert "known: goal, level, name" in finding.message


def test_template_unknown_root_and_nested_attribute() -> None:
    text = journey(step(template="{{ leaner.name }} {{ offer.course.titel }}"))
    findings = found(text, "template-variable")
    assert [f.column for f in findings] == [
        position(text, "leaner.name")[1],
        position(text, "offer.course.titel")[1],
    ]


def test_template_loop_variables_are_allowed() -> None:
    text = journey(step(template="{% for t in learner.tags %}{{ t }}{% endfor %}"))
    assert found(text, "template-variable") == []


def test_template_syntax_error() -> None:
    text = journey(step(template="hi {{ learner.name"))
    [finding] = found(text, "template-syntax")
    assert finding.severity is Severity.ERROR
    assert finding.line == position(text, "hi {{")[0]


def test_template_syntax_error_line_inside_a_block_scalar() -> None:
    text = journey(
        "  - key: x\n    at: D1 10:00\n    channel: log\n    template: |\n"
        "      line one\n      {% if %}\n"
    )
    [finding] = found(text, "template-syntax")
    assert finding.line == position(text, "{% if %}")[0]


def test_offer_variables_need_courses() -> None:
    head = BASE.split("courses:")[0] + "steps:\n"
    text = journey(step(template="{{ offer.reason }}"), head=head)
    [finding] = found(text, "template-variable")
    assert "no courses" in finding.message


# --- banned phrases ----------------------------------------------------------------------


def test_banned_chinese_phrase_is_located_in_the_template() -> None:
    text = journey(step(template="学完保过,放心"))
    [finding] = found(text, "banned-phrase")
    at(finding, text, "保过")
    assert finding.severity is Severity.ERROR


def test_banned_phrase_ignores_spacing_and_case() -> None:
    text = journey(step(template="100%通过"), step(key="b", template="A Guaranteed  Pass!"))
    findings = found(text, "banned-phrase")
    assert len(findings) == 2
    at(findings[1], text, "Guaranteed  Pass")


def test_banned_phrase_in_a_block_template_points_at_its_line() -> None:
    text = journey(
        "  - key: x\n    at: D1 10:00\n    channel: log\n    template: |\n"
        "      第一行\n      我们包就业\n"
    )
    [finding] = found(text, "banned-phrase")
    at(finding, text, "包就业")


def test_banned_phrases_are_configurable_per_journey_and_globally() -> None:
    head = BASE.replace(
        "days: 7", "days: 7\nlint: {banned_phrases: [稳赚], allowed_phrases: [稳过]}"
    )
    text = journey(step(template="稳赚 稳过"), head=head)
    assert [f.message.split("'")[1] for f in found(text, "banned-phrase")] == ["稳赚"]
    extra = lint_text(journey(step(template="秒杀")), "camp.yaml", extra_banned=["秒杀"])
    assert [f.code for f in extra.findings] == ["banned-phrase"]


# --- peak-end ----------------------------------------------------------------------------


def test_journey_without_a_peak() -> None:
    text = journey(step()).replace("kind: peak", "kind: ritual")
    [finding] = found(text, "peak-end")
    assert "no milestone of kind 'peak'" in finding.message
    at(finding, text, "milestones")


def test_journey_with_two_ends() -> None:
    text = journey(step()).replace(
        "  graduation:", '  farewell: {at: "D7 21:00", kind: end}\n  graduation:'
    )
    [finding] = found(text, "peak-end")
    assert "exactly one milestone of kind 'end'" in finding.message
    at(finding, text, "graduation")


def test_end_before_the_peak() -> None:
    text = journey(step()).replace('{at: "D7 20:40", kind: end}', '{at: "D6 20:40", kind: end}')
    [finding] = found(text, "peak-end")
    assert "must come after the last peak" in finding.message
    at(finding, text, '"D6 20:40"')


def test_end_too_long_after_the_peak() -> None:
    text = (
        journey(step())
        .replace("D7 20:00", "D5 20:00")
        .replace("days: 7", "days: 7\nmax_peak_to_end: 12h")
    )
    [finding] = found(text, "peak-end")
    assert "48h40m after the peak" in finding.message and "(12h)" in finding.message


def test_selling_step_in_the_hour_around_the_end() -> None:
    text = journey(step(at="D7 21:00") + "    selling: true\n")
    [finding] = found(text, "peak-end")
    at(finding, text, '"D7 21:00"')
    assert "calm" in finding.message


def test_selling_step_after_a_calm_hour_is_fine() -> None:
    text = journey(step(at="D8 12:00") + "    selling: true\n")
    assert found(text, "peak-end") == []


def test_peak_outside_the_camp_days_warns() -> None:
    text = journey(step()).replace("D7 20:00", "D9 20:00").replace("D7 20:40", "D9 20:40")
    findings = found(text, "peak-end")
    assert {f.severity for f in findings} == {Severity.WARNING}
    assert "outside the camp" in findings[0].message


# --- offer ---------------------------------------------------------------------------------


def test_offer_opening_too_early_warns() -> None:
    text = journey(step()).replace('opens: "D5 20:00"', 'opens: "D2 20:00"')
    [finding] = found(text, "offer-window")
    assert finding.severity is Severity.WARNING
    assert "26% into the 7-day camp" in finding.message
    at(finding, text, '"D2 20:00"')


def test_selling_outside_the_offer_window_warns() -> None:
    text = journey(step(at="D3 12:00") + "    selling: true\n")
    [finding] = found(text, "selling-outside-offer")
    at(finding, text, '"D3 12:00"')


# --- quiet hours -------------------------------------------------------------------------


def test_step_in_quiet_hours_says_when_it_will_go_out() -> None:
    text = journey(step(at="D2 22:30"))
    [finding] = found(text, "quiet-hours")
    assert finding.severity is Severity.WARNING
    assert "will go out at D3 08:00" in finding.message
    at(finding, text, '"D2 22:30"')


def test_step_in_quiet_hours_with_drop_says_it_is_dropped() -> None:
    text = journey(step(at="D2 07:00") + "    quiet_hours: drop\n")
    assert "dropped" in found(text, "quiet-hours")[0].message


def test_exempt_step_and_custom_quiet_hours() -> None:
    exempt = journey(step(at="D2 22:30") + "    quiet_hours: exempt\n")
    assert found(exempt, "quiet-hours") == []
    head = BASE.replace("days: 7", 'days: 7\nquiet_hours: {start: "23:00", end: "07:00"}')
    assert found(journey(step(at="D2 22:30"), head=head), "quiet-hours") == []


def test_range_of_days_is_reported_per_day_at_the_range() -> None:
    text = journey(step(at="D1..D3 23:00"))
    findings = found(text, "quiet-hours")
    assert len(findings) == 3
    assert {(f.line, f.column) for f in findings} == {position(text, '"D1..D3 23:00"')}


# --- caps ----------------------------------------------------------------------------------


def test_day_over_the_automated_cap_lists_the_steps() -> None:
    text = journey(
        step(key="first", at="D2 09:00", channel="wecom"),
        step(key="second", at="D2 12:00", channel="sms") + "    priority: 90\n",
    )
    [finding] = found(text, "over-cap")
    assert "D2 has 2 automated 1v1 messages" in finding.message
    assert "held back: 'first' (D2 09:00)" in finding.message


def test_advisor_tasks_and_group_posts_do_not_count_toward_the_cap() -> None:
    text = journey(
        step(key="first", at="D2 09:00", channel="wecom"),
        step(key="task", at="D2 12:00", channel="advisor_task"),
        step(key="post", at="D2 13:00", channel="wecom") + "    audience: cohort\n",
    )
    assert found(text, "over-cap") == []


def test_quiet_hours_move_counts_on_the_day_it_goes_out() -> None:
    text = journey(
        step(key="late", at="D1 23:00", channel="wecom"),
        step(key="morning", at="D2 09:00", channel="wecom"),
    )
    assert "D2 has 2" in found(text, "over-cap")[0].message


# --- events --------------------------------------------------------------------------------


def test_unknown_event_warns_with_a_suggestion() -> None:
    text = journey("  - key: w\n    on: enroled\n    channel: wecom\n    template: hi\n")
    [finding] = found(text, "unknown-event")
    assert "did you mean 'enrolled'?" in finding.message
    at(finding, text, "enroled")


def test_declared_custom_events_are_known() -> None:
    head = BASE.replace("days: 7", "days: 7\nevents: [poll_voted]")
    text = journey(
        "  - key: w\n    on: poll_voted\n    delay: 5m\n    channel: wecom\n    template: hi\n",
        head=head,
    )
    assert lint_text(text, "camp.yaml").findings == []


# --- found by the example's author -----------------------------------------------------------


def test_unknown_filter_is_a_template_error() -> None:
    text = journey(step(template="{{ learner.name | nosuchfilter }}"))
    [finding] = found(text, "template-syntax")
    assert "nosuchfilter" in finding.message


def test_banned_phrases_in_titles_learners_read() -> None:
    text = (
        journey(step())
        .replace("title: Mini camp", "title: 保过班")
        .replace("Python 自动化办公", "自动化办公 包就业")
    )
    findings = found(text, "banned-phrase")
    assert [(f.line, f.column) for f in findings] == [
        position(text, "保过"),
        position(text, "包就业"),
    ]


def test_bare_offer_without_courses() -> None:
    head = BASE.split("courses:")[0] + "steps:\n"
    [finding] = found(journey(step(template="{{ offer }}"), head=head), "template-variable")
    assert "no courses" in finding.message


def test_dropped_quiet_hour_steps_do_not_count_toward_the_cap() -> None:
    text = journey(
        step(key="night", at="D1 23:00", channel="email") + "    quiet_hours: drop\n",
        step(key="morning", at="D1 09:00", channel="wecom"),
    )
    assert found(text, "over-cap") == []


def test_group_steps_cannot_address_one_learner() -> None:
    text = journey(
        step(template="{{ learner.name }}") + "    audience: cohort\n    when: {tag: 'goal:*'}\n"
    )
    [variable] = found(text, "template-variable")
    assert "audience is cohort" in variable.message
    [condition] = found(text, "group-condition")
    assert condition.severity is Severity.WARNING
    at(condition, text, "{tag")
