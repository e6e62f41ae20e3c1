"""Funnel numbers on a small hand-built cohort: every stage, advisor, tag, step and variant."""

from __future__ import annotations

import csv
import io
import json

import pytest
from flask.testing import FlaskCliRunner
from sqlalchemy.orm import Session

from campaign.commands import main
from campaign.models import Delivery
from campaign.offers.funnel import UnknownDimension, funnel
from tests.engine.helpers import Camp
from tests.offers.helpers import enrollment_of, small_cohort

STAGE_KEYS = ("enrolled", "joined", "attended", "homework", "consulted", "deposit", "paid")


def counts(row: object) -> tuple[int, ...]:
    return tuple(row.counts[k] for k in STAGE_KEYS)  # type: ignore[attr-defined]


def test_stage_counts_and_rates_of_a_small_cohort(camp: Camp, session: Session) -> None:
    small_cohort(camp)
    result = funnel(session, cohort_id=camp.cohort.id)
    [row] = result.rows
    assert row.key == str(camp.cohort.id) and row.label.startswith("Engine camp")
    # Reached: a learner counts at every stage up to the furthest one they reached.
    assert counts(row) == (6, 5, 4, 4, 3, 2, 2)
    # Did: the stage's own fact only (b1 paid without joining; b2 consulted by tag).
    assert row.did == {
        "joined": 4,
        "attended": 2,
        "homework": 2,
        "consulted": 2,
        "deposit": 1,
        "paid": 2,
    }
    assert row.rates == {
        "joined": round(5 / 6, 4),
        "attended": 0.8,
        "homework": 1.0,
        "consulted": 0.75,
        "deposit": round(2 / 3, 4),
        "paid": 1.0,
        "conversion": round(2 / 6, 4),
    }
    product = 1.0
    for stage in STAGE_KEYS[1:]:
        product *= row.counts[stage] / row.counts[STAGE_KEYS[STAGE_KEYS.index(stage) - 1]]
    assert product == pytest.approx(2 / 6)  # stage rates multiply to the conversion rate
    assert row.counts["refunded"] == 0 and row.anonymous == 0


def test_by_advisor_and_by_tag(camp: Camp, session: Session) -> None:
    small_cohort(camp)
    by_advisor = {r.label: counts(r) for r in funnel(session, by="advisor").rows}
    assert by_advisor == {"王老师": (3, 3, 2, 2, 1, 1, 1), "李老师": (3, 2, 2, 2, 2, 1, 1)}
    by_tag = {r.key: counts(r) for r in funnel(session, cohort_id=camp.cohort.id, by="tag").rows}
    assert by_tag["goal:excel-automation"] == (3, 3, 3, 3, 3, 2, 2)
    assert by_tag["intent:A"] == (1, 1, 1, 1, 1, 0, 0)


def test_by_step_counts_who_was_reached_and_paid_after(camp: Camp, session: Session) -> None:
    people = small_cohort(camp)
    by_step = {r.key: r.counts for r in funnel(session, by="step").rows}
    assert by_step["welcome"] == {"reached": 6, "paid": 2, "attributed": 1}  # b1's last touch
    assert by_step["showcase"] == {"reached": 6, "paid": 1, "attributed": 0}  # b1 paid before
    # Five recommend tasks were created; only a1's advisor sent it: one learner reached.
    assert by_step["recommend"] == {"reached": 1, "paid": 1, "attributed": 1}
    a1 = enrollment_of(session, people["a1"])
    variant = session.scalars(
        Delivery.__table__.select()
        .with_only_columns(Delivery.variant)
        .where(Delivery.enrollment_id == a1.id, Delivery.step_key == "recommend")
    ).one()
    by_variant = {r.key: r.counts for r in funnel(session, by="variant").rows}
    assert by_variant[f"recommend/{variant}"] == {"reached": 1, "paid": 1, "attributed": 1}
    assert by_variant["welcome/a"]["reached"] == 6
    welcome = next(r for r in funnel(session, by="step").rows if r.key == "welcome")
    assert welcome.rates == {"paid": pytest.approx(2 / 6, abs=1e-4)}


def test_an_unknown_dimension_is_refused(session: Session) -> None:
    with pytest.raises(UnknownDimension, match="one of stage, advisor, tag, step, variant"):
        funnel(session, by="weekday")


def test_an_empty_database_has_an_empty_funnel(session: Session) -> None:
    assert funnel(session).rows == []


def test_report_funnel_as_table_json_and_csv(camp: Camp, runner: FlaskCliRunner) -> None:
    small_cohort(camp)
    cohort = str(camp.cohort.id)
    table = runner.invoke(main, ["report", "funnel", "--cohort", cohort])
    assert table.exit_code == 0, table.output
    assert "enrolled" in table.output and "5 (83.3%)" in table.output
    assert "33.3%" in table.output
    as_json = runner.invoke(main, ["report", "funnel", "--by", "advisor", "--format", "json"])
    data = json.loads(as_json.output)
    assert data["by"] == "advisor"
    assert {r["label"]: r["counts"]["paid"] for r in data["rows"]} == {"王老师": 1, "李老师": 1}
    as_csv = runner.invoke(main, ["report", "funnel", "--by", "step", "--format", "csv"])
    rows = list(csv.DictReader(io.StringIO(as_csv.output)))
    recommend = next(r for r in rows if r["key"] == "recommend")
    assert (recommend["reached"], recommend["paid"], recommend["rate_paid"]) == ("1", "1", "1.0")
    bad = runner.invoke(main, ["report", "funnel", "--by", "weekday"])
    assert bad.exit_code == 2 and "weekday" in bad.output
