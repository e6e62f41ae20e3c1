"""The ``campaign`` CLI: publish, versions, diff, cohorts, db; user errors exit non-zero cleanly."""

from __future__ import annotations

from pathlib import Path

from click.testing import Result
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import inspect

from campaign.commands import main
from campaign.db import database
from campaign.migrations import head_revision
from tests.conftest import SAMPLE_JOURNEY


def run(runner: FlaskCliRunner, *args: str) -> Result:
    result = runner.invoke(main, list(args))
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def test_publish_then_publish_again_is_a_no_op(runner: FlaskCliRunner, journey_file: Path) -> None:
    first = run(runner, "journeys", "publish", str(journey_file))
    assert first.exit_code == 0
    assert "published python-camp version 1 (" in first.output
    again = run(runner, "journeys", "publish", str(journey_file))
    assert again.exit_code == 0
    assert "unchanged" in again.output
    assert "is already python-camp version 1" in again.output


def test_publish_refuses_a_journey_with_errors(runner: FlaskCliRunner, tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(SAMPLE_JOURNEY.replace('"D5 21:00"', '"D5 25:00"'), encoding="utf-8")
    result = run(runner, "journeys", "publish", str(path))
    assert result.exit_code == 1
    assert f"{path}:27:" in result.output
    assert "error: " in result.output
    assert "Error: " in result.output and "fix them" in result.output


def test_publish_a_missing_file_says_so(runner: FlaskCliRunner, tmp_path: Path) -> None:
    result = run(runner, "journeys", "publish", str(tmp_path / "nope.yaml"))
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_publish_a_file_that_is_not_utf8_says_so(runner: FlaskCliRunner, tmp_path: Path) -> None:
    path = tmp_path / "gbk.yaml"
    path.write_bytes(SAMPLE_JOURNEY.encode("gbk"))
    result = run(runner, "journeys", "publish", str(path))
    assert result.exit_code == 1
    assert "is not UTF-8 text" in result.output


def test_versions_and_diff(runner: FlaskCliRunner, journey_file: Path) -> None:
    run(runner, "journeys", "publish", str(journey_file))
    journey_file.write_text(SAMPLE_JOURNEY.replace('"D5 21:00"', '"D5 20:30"'), encoding="utf-8")
    assert "version 2" in run(runner, "journeys", "publish", str(journey_file)).output
    listing = run(runner, "journeys", "versions", "python-camp")
    assert listing.exit_code == 0
    lines = listing.output.splitlines()
    assert lines[0] == "python-camp: 一杯奶茶钱学会 Python · 7 天体验营"
    assert lines[1].lstrip().startswith("v1 ")
    assert lines[2].lstrip().startswith("v2 ") and lines[2].endswith("(latest)")
    diff = run(runner, "journeys", "diff", "python-camp", "1", "2")
    assert diff.exit_code == 0
    assert "steps changed: recommend" in diff.output
    assert '+    at: "D5 20:30"' in diff.output


def test_versions_of_an_unknown_journey(runner: FlaskCliRunner) -> None:
    result = run(runner, "journeys", "versions", "python-camp")
    assert result.exit_code == 1
    assert "Error: journey 'python-camp' is not published" in result.output


def test_diff_with_an_unknown_version(runner: FlaskCliRunner, journey_file: Path) -> None:
    run(runner, "journeys", "publish", str(journey_file))
    result = run(runner, "journeys", "diff", "python-camp", "1", "9")
    assert result.exit_code == 1
    assert "has no version '9'" in result.output


def test_open_and_list_cohorts(runner: FlaskCliRunner, journey_file: Path) -> None:
    run(runner, "journeys", "publish", str(journey_file))
    opened = run(
        runner, "cohorts", "open", "python-camp", "--starts-on", "2026-03-02", "--capacity", "200"
    )
    assert opened.exit_code == 0, opened.output
    assert "python-camp version 1" in opened.output
    assert "D1 is Monday 2026-03-02, Asia/Shanghai, capacity 200" in opened.output
    listing = run(runner, "cohorts", "list")
    assert listing.exit_code == 0
    assert "python-camp" in listing.output and "2026-03-02" in listing.output
    assert "open" in listing.output
    assert run(runner, "cohorts", "list", "python-camp").output == listing.output


def test_list_cohorts_when_there_are_none(runner: FlaskCliRunner) -> None:
    assert "no cohorts yet" in run(runner, "cohorts", "list").output


def test_open_a_cohort_of_an_unknown_journey(runner: FlaskCliRunner) -> None:
    result = run(runner, "cohorts", "open", "python-camp", "--starts-on", "2026-03-02")
    assert result.exit_code == 1
    assert "Error: journey 'python-camp' is not published" in result.output


def test_open_a_cohort_with_an_unknown_timezone(runner: FlaskCliRunner, journey_file: Path) -> None:
    run(runner, "journeys", "publish", str(journey_file))
    result = run(
        runner,
        "cohorts",
        "open",
        "python-camp",
        "--starts-on",
        "2026-03-02",
        "--timezone",
        "Mars/Olympus",
    )
    assert result.exit_code == 1
    assert "Error: unknown timezone 'Mars/Olympus'" in result.output


def test_open_a_cohort_with_a_bad_date(runner: FlaskCliRunner) -> None:
    result = run(runner, "cohorts", "open", "python-camp", "--starts-on", "2026-02-30")
    assert result.exit_code == 2
    assert "--starts-on" in result.output


def test_db_upgrade_creates_the_tables(empty_app: Flask) -> None:
    runner = empty_app.test_cli_runner()
    assert "empty (never migrated)" in run(runner, "db", "current").output
    result = run(runner, "db", "upgrade")
    assert result.exit_code == 0, result.output
    head = head_revision()
    assert f"is at {head} (head)" in result.output
    with database(empty_app).engine.connect() as connection:
        assert "journeys" in inspect(connection).get_table_names()
    assert f"{head} (head)" in run(runner, "db", "current").output
    down = run(runner, "db", "downgrade", "base")
    assert down.exit_code == 0
    assert "empty (never migrated)" in down.output


def test_db_upgrade_to_an_unknown_revision(empty_app: Flask) -> None:
    result = run(empty_app.test_cli_runner(), "db", "upgrade", "9999")
    assert result.exit_code == 1
    assert "Error: " in result.output and "9999" in result.output


def test_db_upgrade_sql_prints_the_ddl(empty_app: Flask) -> None:
    result = run(empty_app.test_cli_runner(), "db", "upgrade", "--sql")
    assert result.exit_code == 0
    assert "CREATE TABLE journeys" in result.output


def test_commands_on_an_unmigrated_database_say_to_upgrade(empty_app: Flask) -> None:
    result = run(empty_app.test_cli_runner(), "cohorts", "list")
    assert result.exit_code == 1
    assert "run 'campaign db upgrade'" in result.output
