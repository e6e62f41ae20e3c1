"""API keys: stored hashed, shown once, scoped, revocable; 401 and 403 as JSON."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask.testing import FlaskCliRunner
from sqlalchemy import select

from campaign.apikeys import (
    KeyRejected,
    authenticate,
    create_key,
    hash_secret,
    revoke_key,
    secret_matches,
)
from campaign.commands import main
from campaign.errors import NotFound
from campaign.models import ApiKey
from tests.api.conftest import Api, now


def assert_error(response: object, code: int, text: str) -> None:
    body = response.json  # type: ignore[attr-defined]
    assert response.status_code == code, body  # type: ignore[attr-defined]
    assert set(body) == {"code", "status", "message", "errors"}
    assert body["code"] == code
    assert text in body["message"]


def test_a_request_without_a_key_is_refused_with_401(api: Api) -> None:
    response = api.client.get("/api/learners")
    assert_error(response, 401, "send an API key")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_key_of_another_scheme_is_refused(api: Api) -> None:
    response = api.client.get("/api/learners", headers={"Authorization": f"Basic {api.token}"})
    assert_error(response, 401, "Bearer scheme")


@pytest.mark.parametrize("token", ["nodot", ".secret", "prefix.", "unknownpfx.secret"])
def test_a_malformed_or_unknown_key_is_refused(api: Api, token: str) -> None:
    assert_error(api.get("/api/learners", token=token), 401, "API key")


def test_a_key_with_a_wrong_secret_is_refused(api: Api) -> None:
    prefix = api.token.split(".")[0]
    assert_error(api.get("/api/learners", token=f"{prefix}.wrong"), 401, "not valid")


def test_a_revoked_key_is_refused_at_once(api: Api) -> None:
    token = api.key("learners:read")
    assert api.get("/api/learners", token=token).status_code == 200
    revoke_key(api.session, token.split(".")[0], now=now())
    api.session.commit()
    assert_error(api.get("/api/learners", token=token), 401, "revoked")


def test_a_key_without_the_scope_is_refused_with_403(api: Api) -> None:
    token = api.key("learners:read")
    response = api.put("/api/learners/l1", token=token, json={"name": "A"})
    assert_error(response, 403, "learners:write")
    assert api.get("/api/learners/l1").status_code == 404  # nothing was written


def test_auth_is_checked_before_the_body(api: Api) -> None:
    response = api.client.put("/api/learners/l1", json={"bogus": 1})
    assert response.status_code == 401


def test_the_key_is_stored_as_a_salted_hash_and_shown_once(api: Api) -> None:
    first = create_key(api.session, "crm", ["events:write"], now=now())
    second = create_key(api.session, "crm", ["events:write"], now=now())
    prefix, secret = first.token.split(".")
    row = api.session.scalars(select(ApiKey).where(ApiKey.prefix == prefix)).one()
    assert secret not in row.secret_hash
    assert row.secret_hash.startswith("pbkdf2_sha256$")
    assert row.secret_hash.split("$")[2] != second.key.secret_hash.split("$")[2]  # salted
    assert secret_matches(secret, row.secret_hash)
    assert not secret_matches(secret + "x", row.secret_hash)
    assert not secret_matches(secret, "garbage")


def test_authenticate_notes_when_a_key_was_last_used(api: Api) -> None:
    created = create_key(api.session, "crm", ["events:write"], now=now())
    first = now()
    assert authenticate(api.session, created.token, now=first).last_used_at == first
    # Within the resolution it is not written again; after it, it is.
    assert (
        authenticate(api.session, created.token, now=first + timedelta(seconds=5)).last_used_at
        == first
    )
    later = first + timedelta(hours=1)
    assert authenticate(api.session, created.token, now=later).last_used_at == later


def test_unknown_scopes_and_empty_names_are_refused(api: Api) -> None:
    from campaign.apikeys import InvalidApiKey

    with pytest.raises(InvalidApiKey, match="did you mean 'events:write'"):
        create_key(api.session, "crm", ["event:write"], now=now())
    with pytest.raises(InvalidApiKey, match="at least one scope"):
        create_key(api.session, "crm", [], now=now())
    with pytest.raises(InvalidApiKey, match="name"):
        create_key(api.session, " ", ["events:write"], now=now())
    with pytest.raises(NotFound):
        revoke_key(api.session, "nope", now=now())
    with pytest.raises(KeyRejected):
        authenticate(api.session, "x" * 300, now=now())


def test_hash_secret_is_deterministic_for_a_salt() -> None:
    salt = bytes(16)
    assert hash_secret("s", salt=salt) == hash_secret("s", salt=salt)


def test_the_cli_creates_lists_and_revokes_keys(runner: FlaskCliRunner, api: Api) -> None:
    created = runner.invoke(
        main,
        ["apikeys", "create", "school-crm", "--scope", "events:write", "--scope", "learners:read"],
    )
    assert created.exit_code == 0, created.output
    token = created.output.strip().splitlines()[-1]
    prefix = token.split(".")[0]
    assert "learners:read events:write" in created.output
    assert api.get("/api/learners", token=token).status_code == 200

    listed = runner.invoke(main, ["apikeys", "list"])
    assert listed.exit_code == 0
    assert prefix in listed.output and "school-crm" in listed.output and "active" in listed.output
    assert token.split(".")[1] not in listed.output

    revoked = runner.invoke(main, ["apikeys", "revoke", prefix])
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    again = runner.invoke(main, ["apikeys", "revoke", prefix])
    assert "already revoked" in again.output
    assert api.get("/api/learners", token=token).status_code == 401
    assert prefix not in runner.invoke(main, ["apikeys", "list", "--active"]).output


def test_the_cli_reports_bad_input_without_a_traceback(runner: FlaskCliRunner) -> None:
    missing = runner.invoke(main, ["apikeys", "create", "crm"])
    assert missing.exit_code == 1 and "at least one scope" in missing.output
    unknown = runner.invoke(main, ["apikeys", "revoke", "nope"])
    assert unknown.exit_code == 1 and "no API key has the prefix" in unknown.output
    everything = runner.invoke(main, ["apikeys", "create", "ops", "--all-scopes"])
    assert everything.exit_code == 0 and "privacy:write" in everything.output
