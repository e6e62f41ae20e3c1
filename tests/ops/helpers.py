"""Helpers for the operations tests: apps, ``campaign`` processes and their environment."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flask import Flask
from prometheus_client.parser import text_string_to_metric_families

from campaign import create_app
from campaign.db import database
from tests.e2e.conftest import CAMPAIGN, free_port

ROOT = Path(__file__).resolve().parents[2]


def closed_port_url() -> str:
    """Return a Redis URL on a local port nothing listens on."""
    return f"redis://127.0.0.1:{free_port()}/0"


def make_app(instance: Path, **settings: Any) -> Flask:
    """Build an app whose instance folder is private to the test, with ``settings``."""
    return create_app({"TESTING": True, **settings}, instance_path=str(instance))


@contextlib.contextmanager
def app_on(instance: Path, **settings: Any) -> Iterator[Flask]:
    """Yield :func:`make_app`'s app and close its database connections afterwards."""
    app = make_app(instance, **settings)
    try:
        yield app
    finally:
        database(app).engine.dispose()


def campaign_env(instance: Path, **settings: str) -> dict[str, str]:
    """Return the environment of a ``campaign`` process: only the CAMPAIGN_* settings given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAMPAIGN_")}
    env.update(PYTHONUNBUFFERED="1", CAMPAIGN_INSTANCE_PATH=str(instance))
    env.update({f"CAMPAIGN_{key}": value for key, value in settings.items()})
    return env


def run_campaign(
    args: list[str], env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``campaign ARGS`` to completion and return what it printed and its exit code."""
    return subprocess.run(
        [str(CAMPAIGN), *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Parse Prometheus text into {(sample name, sorted labels): value}."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found
