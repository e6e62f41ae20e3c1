"""``campaign journeys lint``: exit codes, text and JSON output, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from campaign.commands.journeys import lint
from tests.journeys.conftest import FIXTURES, journey, step


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(lint, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result.exit_code, result.stdout, result.stderr


def test_clean_file_exits_zero() -> None:
    code, out, err = run(str(FIXTURES / "sample.yaml"))
    assert code == 0
    assert out == ""
    assert "0 error(s), 0 warning(s)" in err


def test_errors_exit_one_with_file_line_column(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(journey(step(at="D3 25:00")), encoding="utf-8")
    code, out, _ = run(str(bad))
    assert code == 1
    line = out.splitlines()[0]
    assert line.startswith(f"{bad}:13:9: error: at: hour 25")
    assert line.endswith("[bad-time]")


def test_warnings_alone_exit_zero(tmp_path: Path) -> None:
    path = tmp_path / "late.yaml"
    path.write_text(journey(step(at="D2 23:00")), encoding="utf-8")
    code, out, _ = run(str(path))
    assert code == 0
    assert ": warning: " in out


def test_json_format_has_the_same_fields(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(journey(step(channel="smss")), encoding="utf-8")
    code, out, _ = run("--format", "json", str(bad))
    assert code == 1
    [finding] = json.loads(out)
    assert finding == {
        "file": str(bad),
        "line": 14,
        "column": 14,
        "severity": "error",
        "code": "bad-value",
        "message": finding["message"],
    }
    assert "did you mean 'sms'?" in finding["message"]


def test_folders_are_searched_and_unreadable_files_reported(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(journey(step()), encoding="utf-8")
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested" / "binary.yml").write_bytes(b"\xff\xfe\x00garbage")
    (tmp_path / "notes.txt").write_text("not a journey", encoding="utf-8")
    code, out, _ = run(str(tmp_path), str(tmp_path / "missing.yaml"))
    assert code == 1
    lines = out.splitlines()
    assert len(lines) == 2
    assert "binary.yml:1:1: error: the file is not UTF-8" in lines[0]
    assert "missing.yaml:1:1: error: cannot read the file" in lines[1]


def test_empty_and_non_mapping_documents(tmp_path: Path) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing yet\n", encoding="utf-8")
    listed = tmp_path / "list.yaml"
    listed.write_text("- a\n- b\n", encoding="utf-8")
    code, out, _ = run(str(empty), str(listed))
    assert code == 1
    assert "the file is empty" in out
    assert "the journey must be a mapping, got a list" in out
