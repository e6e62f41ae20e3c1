"""schemathesis generates requests from the OpenAPI spec: no operation answers with a 5xx.

It runs against the WSGI app on a real migrated SQLite database, with a key holding every
scope, so that requests get past authentication into the views. ``max_examples`` keeps the
whole run to a few seconds per operation. (schemathesis' ``from_fixture`` is not used: with
pytest 9.2 it reads a node attribute that pytest no longer has.)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.schemas import APIOperation

from campaign import migrations
from campaign.apikeys import create_key
from campaign.db import database, session_scope
from campaign.messages.planning import NewEnrollment, enroll
from campaign.models import Cohort, Learner
from tests.api.conftest import ALL_SCOPES, now, open_camp
from tests.conftest import make_test_app

MAX_EXAMPLES = 12


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Flask, str]]:
    """Yield an app with a camp, an enrolled learner and a key with every scope."""
    folder: Path = tmp_path_factory.mktemp("schemathesis")
    url = f"sqlite:///{folder / 'campaign.db'}"
    migrations.upgrade(url)
    app = make_test_app(url, folder / "instance")
    with session_scope(app) as session:
        cohort_id, advisor_id = open_camp(session)
        learner = Learner(external_id="0", name="零")
        session.add(learner)
        session.flush()
        cohort = session.get(Cohort, cohort_id)
        assert cohort is not None
        enroll(session, cohort, [NewEnrollment(learner.id, advisor_id)], now=now())
        token = create_key(session, "schemathesis", ALL_SCOPES, now=now()).token
    yield app, token
    database(app).engine.dispose()


# Path parameters that name rows the fixture made, so that generated bodies and queries reach
# the views' work instead of stopping at a 404.
KNOWN_PATHS = {"external_id": "0", "cohort_id": 1, "enrollment_id": 1}


def deleting_last(operation: APIOperation) -> tuple[bool, str]:
    return operation.method.upper() == "DELETE", operation.label


@pytest.mark.parametrize(
    ("mode", "known_paths"),
    [
        (GenerationMode.POSITIVE, False),
        (GenerationMode.POSITIVE, True),
        (GenerationMode.NEGATIVE, False),
    ],
    ids=["fits-the-spec", "fits-the-spec-on-existing-rows", "does-not-fit-the-spec"],
)
def test_no_operation_answers_with_a_server_error(
    fuzzed: tuple[Flask, str], mode: GenerationMode, known_paths: bool
) -> None:
    """Every operation, with data that fits the spec and data that does not."""
    app, token = fuzzed
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    headers = {"Authorization": f"Bearer {token}"}
    failures: list[str] = []
    operations = sorted((result.ok() for result in schema.get_all_operations()), key=deleting_last)
    assert len(operations) >= 17
    for operation in operations:
        names = {parameter.name for parameter in operation.path_parameters} & set(KNOWN_PATHS)
        if known_paths and not names:
            continue
        paths = {name: KNOWN_PATHS[name] for name in names} if known_paths else None

        @given(case=operation.as_strategy(generation_mode=mode, path_parameters=paths))
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def no_server_error(case: schemathesis.Case) -> None:
            response = case.call(headers=headers)
            case.validate_response(response, checks=[not_a_server_error])

        try:
            no_server_error()
        except Exception as exc:  # collected, so that every operation is tried
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)
