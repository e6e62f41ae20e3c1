"""The console benchmark still runs: seeds a tiny school, times both pages, reports numbers."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from sqlalchemy import text

from bench.console.__main__ import main
from campaign.db import make_engine


@pytest.mark.postgres
def test_the_console_bench_measures_both_pages_at_both_sizes(
    postgres_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "console.json"
    argv = ["--enrollments", "300", "--baseline", "120", "--samples", "4", "--warmup", "1"]
    argv += ["--postgres-url", postgres_url, "--output", str(output)]

    assert main(argv) == 0

    report = json.loads(output.read_text(encoding="utf-8"))
    assert [size["enrollments"] for size in report["sizes"]] == [120, 300]
    for size in report["sizes"]:
        assert size["rows"]["enrollments"] == size["enrollments"]
        assert size["rows"]["deliveries"] > size["enrollments"]
        assert size["rows"]["tasks"] > 0
        assert set(size["pages"]) == {"tasks", "learner"}
        for page in size["pages"].values():
            assert page["samples"] == 4
            assert 0 < page["p50_ms"] <= page["p95_ms"] <= page["max_ms"]
            assert page["statements_p50"] > 0
        assert size["pages"]["tasks"]["rows_p50"] > 0  # the queue shows open tasks
        assert size["pages"]["learner"]["rows_p50"] > 0  # and the learner page a timeline
    said = capsys.readouterr()
    assert "tasks" in said.out and "learner" in said.out and "p95" in said.out
    schemas = re.findall(r"schema (bench_console_[0-9a-f]+): migrating", said.err)
    assert len(schemas) == 2
    engine = make_engine(postgres_url)
    try:
        with engine.connect() as connection:
            left = connection.execute(
                text("SELECT nspname FROM pg_namespace WHERE nspname = ANY(:names)"),
                {"names": schemas},
            ).all()
    finally:
        engine.dispose()
    assert left == []  # dropped at the end (no --keep)
