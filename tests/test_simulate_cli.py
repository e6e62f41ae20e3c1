"""``campaign journeys simulate``: calendar as table, JSON or CSV; lint errors exit 1 cleanly."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from campaign.commands.simulate import simulate

JOURNEY = """\
journey: mini-camp
title: 迷你营
timezone: Asia/Shanghai
days: 7
quiet_hours: {start: "21:30", end: "08:00"}
caps: {automated_1v1_per_day: 1}
milestones:
  awards:     {at: "D7 20:00", kind: peak}
  graduation: {at: "D7 20:40", kind: end}
courses:
  office-automation: {title: "Python 自动化办公", price: 1999, for_tags: ["goal:excel-automation"]}
offer: {opens: "D5 20:00", closes: "D8 23:59"}
steps:
  - key: welcome
    on: enrolled
    channel: wecom
    quiet_hours: exempt
    template: "{{ learner.name }} 你好!"
  - key: homework-reminder
    at: "D1..D2 21:00"
    channel: advisor_task
    when: {not: {event: homework_submitted, within: today}}
    expires_after: 2h
    template: "{{ learner.name }},今天的作业还差一点点。"
  - key: recommend
    at: "D5 21:00"
    channel: advisor_task
    selling: true
    template: "{{ offer.course.title }} 正适合你。"
  - key: graduation-thanks
    at: {after: graduation, offset: 30m}
    channel: advisor_task
    template: "恭喜结营,{{ learner.name }}!"
"""


@pytest.fixture
def journey_file(tmp_path: Path) -> Path:
    path = tmp_path / "journey.yaml"
    path.write_text(JOURNEY, encoding="utf-8")
    return path


def invoke(*args: str) -> Result:
    result = CliRunner().invoke(simulate, list(args))
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def run(path: Path, *extra: str) -> Result:
    return invoke(str(path), "--starts-on", "2025-06-02", "--learners", "300", *extra)


def test_table_shows_the_calendar_with_reasons_and_milestones(journey_file: Path) -> None:
    result = run(journey_file)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    header = next(line for line in lines if line.startswith("local time"))
    assert header.split() == ["local", "time", "day", "step", "channel", "to", "reached",
                              "held", "back", "notes"]
    reminder = next(line for line in lines if "D1 21:00" in line)
    assert "homework-reminder" in reminder and "advisor_task" in reminder
    assert "condition " in reminder
    assert any("awards" in line and "★ peak" in line for line in lines)
    assert any("graduation " in line and "● end" in line for line in lines)
    assert any(line.startswith("on enrolled +0m") and "welcome" in line for line in lines)
    assert lines[-3].startswith("reached ")
    # Rows line up: every calendar line has the step name where the header has "step".
    column = header.index("step")
    assert reminder[column:].startswith("homework-reminder")


def test_json_is_rows_and_totals(journey_file: Path) -> None:
    result = run(journey_file, "--format", "json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["learners"] == 300 and data["starts_on"] == "2025-06-02"
    keys = [row["key"] for row in data["rows"]]
    assert keys == ["welcome", "homework-reminder", "homework-reminder", "recommend", "awards",
                    "graduation", "graduation-thanks"]
    recommend = data["rows"][3]
    assert recommend["selling"] is True
    assert recommend["reached"] + sum(recommend["held"].values()) == 300
    assert data["rows"][4]["milestone"] == "peak"
    assert data["totals"]["reached"] == sum(row["reached"] for row in data["rows"])


def test_csv_has_a_header_and_one_line_per_row(journey_file: Path) -> None:
    result = run(journey_file, "--format", "csv")
    assert result.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 7
    reminder = rows[1]
    assert (reminder["step"], reminder["camp_time"]) == ("homework-reminder", "D1 21:00")
    held = sum(int(v) for k, v in reminder.items() if k.startswith("held_") and k != "held_total")
    assert held == int(reminder["held_total"])
    assert int(reminder["reached"]) + held == 300
    assert rows[5]["milestone"] == "end"


def test_output_is_the_same_for_the_same_seed(journey_file: Path) -> None:
    first = run(journey_file, "--seed", "5", "--format", "csv").stdout
    assert run(journey_file, "--seed", "5", "--format", "csv").stdout == first
    assert run(journey_file, "--seed", "6", "--format", "csv").stdout != first


def test_no_progress_bar_when_stderr_is_not_a_terminal(journey_file: Path) -> None:
    result = run(journey_file)
    assert "simulating" not in result.stderr


def test_a_journey_with_errors_is_not_simulated(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(JOURNEY.replace('"D5 21:00"', '"D5 25:00"'), encoding="utf-8")
    result = run(path)
    assert result.exit_code == 1
    line = JOURNEY.splitlines().index('    at: "D5 21:00"') + 1
    assert f"{path}:{line}:9: error:" in result.stderr
    assert "error:" in result.stderr
    assert result.stdout == ""


def test_yaml_syntax_errors_are_findings_not_tracebacks(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("journey: [unclosed\n", encoding="utf-8")
    result = run(path)
    assert result.exit_code == 1
    assert f"{path}:" in result.stderr


def test_a_missing_file_says_so(tmp_path: Path) -> None:
    result = run(tmp_path / "nope.yaml")
    assert result.exit_code == 1
    assert "nope.yaml: error: cannot read the journey" in result.stderr


def test_warnings_go_to_stderr_and_the_simulation_runs(journey_file: Path, tmp_path: Path) -> None:
    path = tmp_path / "late.yaml"
    path.write_text(JOURNEY.replace('"D5 21:00"', '"D5 23:00"'), encoding="utf-8")
    result = run(path, "--format", "json")
    assert result.exit_code == 0
    assert "warning:" in result.stderr
    json.loads(result.stdout)  # stdout holds only the report


def test_bad_options_are_usage_errors(journey_file: Path) -> None:
    result = invoke(str(journey_file), "--starts-on", "June 2", "--learners", "10")
    assert result.exit_code == 2
    assert "--starts-on" in result.output
    result = invoke(str(journey_file), "--starts-on", "2025-06-02", "--learners", "0")
    assert result.exit_code == 2


def test_the_sample_camp_simulates() -> None:
    example = Path(__file__).parents[1] / "examples" / "python-camp" / "journey.yaml"
    result = invoke(str(example), "--starts-on", "2025-06-02", "--learners", "500",
                    "--format", "json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    kinds = {row["milestone"] for row in data["rows"] if row["kind"] == "milestone"}
    assert {"peak", "end"} <= kinds
    for row in data["rows"]:
        if row["kind"] == "step" and row["audience"] == "learner":
            assert row["reached"] + sum(row["held"].values()) == 500, row["key"]
