"""create_app: configuration layering and the instance folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from campaign import create_app
from campaign.db import database


def build(instance: Path, test_config: dict[str, object] | None = None) -> dict[str, object]:
    app = create_app(test_config, instance_path=str(instance))
    database(app).engine.dispose()
    return dict(app.config)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the developer's own CAMPAIGN_* variables out of these tests."""
    monkeypatch.delenv("CAMPAIGN_DATABASE_URL", raising=False)
    monkeypatch.delenv("CAMPAIGN_GREETING", raising=False)


def test_defaults_put_sqlite_in_the_instance_folder(tmp_path: Path) -> None:
    instance = tmp_path / "instance"
    config = build(instance)
    assert instance.is_dir()
    assert config["DATABASE_URL"] == f"sqlite:///{instance / 'campaign.db'}"


def test_instance_config_overrides_defaults(tmp_path: Path) -> None:
    instance = tmp_path / "instance"
    instance.mkdir()
    (instance / "config.py").write_text(
        "DATABASE_URL = 'sqlite:////srv/from-instance.db'\nGREETING = 'instance'\n"
    )
    config = build(instance)
    assert config["DATABASE_URL"] == "sqlite:////srv/from-instance.db"
    assert config["GREETING"] == "instance"


def test_environment_overrides_instance_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    instance = tmp_path / "instance"
    instance.mkdir()
    (instance / "config.py").write_text(
        "DATABASE_URL = 'sqlite:////srv/from-instance.db'\nGREETING = 'instance'\n"
    )
    monkeypatch.setenv("CAMPAIGN_DATABASE_URL", "postgresql+psycopg://app@db.example/campaign")
    config = build(instance)
    assert config["DATABASE_URL"] == "postgresql+psycopg://app@db.example/campaign"
    assert config["GREETING"] == "instance"


def test_test_config_overrides_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAMPAIGN_DATABASE_URL", "postgresql+psycopg://app@db.example/campaign")
    monkeypatch.setenv("CAMPAIGN_GREETING", "environment")
    config = build(tmp_path / "instance", {"DATABASE_URL": "sqlite:////tmp/test.db"})
    assert config["DATABASE_URL"] == "sqlite:////tmp/test.db"
    assert config["GREETING"] == "environment"


def test_environment_is_read_when_the_app_is_built_not_at_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = build(tmp_path / "one")
    monkeypatch.setenv("CAMPAIGN_GREETING", "later")
    second = build(tmp_path / "two")
    assert "GREETING" not in first
    assert second["GREETING"] == "later"


def test_healthz_answers_json(tmp_path: Path) -> None:
    app = create_app({"TESTING": True}, instance_path=str(tmp_path / "instance"))
    try:
        response = app.test_client().get("/healthz")
    finally:
        database(app).engine.dispose()
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}
