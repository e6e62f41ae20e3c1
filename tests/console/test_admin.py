"""The admin's pages: users and roles (CSRF-protected forms), channel settings and "send test"."""

from __future__ import annotations

import html
import json
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaign.console.admin_channels import MASK, mask_url, send_test, shown_value
from campaign.console.admin_users import UserError, change_role, set_active
from campaign.models import Advisor, Role, User
from tests.console.conftest import PASSWORD, People, csrf_token, sign_in
from tests.console.test_marketer import ENGLISH, text

NEW_PASSWORD = "a much longer secret"


@pytest.fixture
def admin(client: FlaskClient, people: People) -> FlaskClient:
    sign_in(client, "admin")
    return client


def post(client: FlaskClient, path: str, data: dict[str, str]) -> str:
    """Post an admin form (with its CSRF token) and return the page it leads to, in English."""
    form = {"csrf_token": csrf_token(client, "/admin/users"), **data}
    response = client.post(path, data=form, headers=ENGLISH)
    if response.status_code == 303:
        response = client.get(response.headers["Location"], headers=ENGLISH)
    assert response.status_code == 200, response.status_code
    return html.unescape(text(response))


def user(session: Session, username: str) -> User:
    session.expire_all()
    found = session.scalar(select(User).where(User.username == username))
    assert found is not None
    return found


def test_admin_pages_are_for_admins_only(
    client: FlaskClient, people: People, session: Session
) -> None:
    pages = ["/admin/users", "/admin/channels"]
    posts = [
        "/admin/users",
        f"/admin/users/{people.advisor.id}/role",
        f"/admin/users/{people.advisor.id}/deactivate",
        f"/admin/users/{people.advisor.id}/reactivate",
        f"/admin/users/{people.advisor.id}/password",
        "/admin/channels/log/test",
    ]
    for username, start in (("mia", "/marketer/cohorts"), ("wang", "/advisor/tasks")):
        fresh = client.application.test_client()
        sign_in(fresh, username)
        token = csrf_token(fresh, start)
        for page in pages:
            assert fresh.get(page).status_code == 403, (username, page)
        for path in posts:
            response = fresh.post(path, data={"csrf_token": token, "role": "admin"})
            assert response.status_code == 403, (username, path)
    wang = user(session, "wang")
    assert wang.role is Role.ADVISOR and wang.active  # nothing changed


def test_forms_need_a_csrf_token(admin: FlaskClient, session: Session, people: People) -> None:
    response = admin.post(f"/admin/users/{people.advisor.id}/deactivate")
    assert response.status_code == 400
    assert user(session, "wang").active


def test_create_an_advisor_user_with_a_new_advisor(
    admin: FlaskClient, session: Session, client: FlaskClient
) -> None:
    page = post(
        admin,
        "/admin/users",
        {"username": "zhao", "display_name": "赵老师", "role": "advisor", "advisor": "new",
         "password": NEW_PASSWORD},
    )
    assert "Created advisor zhao." in page
    created = user(session, "zhao")
    assert created.role is Role.ADVISOR and created.display_name == "赵老师"
    advisor = session.get(Advisor, created.advisor_id)
    assert advisor is not None and advisor.name == "赵老师"
    assert created.password_hash != NEW_PASSWORD and created.check_password(NEW_PASSWORD)
    other = client.application.test_client()
    response = sign_in(other, "zhao", NEW_PASSWORD)
    assert response.headers["Location"].endswith("/advisor/tasks")  # type: ignore[attr-defined]


def test_create_a_marketer_linked_to_nothing(admin: FlaskClient, session: Session) -> None:
    page = post(admin, "/admin/users",
                {"username": "ming", "role": "marketer", "password": NEW_PASSWORD})
    assert "Created marketer ming." in page
    created = user(session, "ming")
    assert created.advisor_id is None and created.display_name == "ming"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({"username": "wang", "role": "marketer"}, "user 'wang' already exists"),
        ({"username": "WANG", "role": "marketer"}, "already exists"),
        ({"username": "new one", "role": "marketer"}, "without spaces"),
        ({"username": "x", "role": "marketer", "password": "short"}, "at least 8 characters"),
        ({"username": "x", "role": "advisor"}, "an advisor user needs an advisor"),
        ({"username": "x", "role": "advisor", "advisor": "999"}, "advisor 999 does not exist"),
        ({"username": "x", "role": "boss"}, "unknown role 'boss'"),
    ],
)
def test_create_refuses_what_cannot_work(
    admin: FlaskClient, session: Session, people: People, data: dict[str, str], reason: str
) -> None:
    before = session.scalar(select(func.count(User.id)))
    page = post(admin, "/admin/users", {"password": NEW_PASSWORD, **data})
    assert reason in page
    assert session.scalar(select(func.count(User.id))) == before


def test_an_advisor_cannot_be_linked_to_two_users(
    admin: FlaskClient, session: Session, people: People
) -> None:
    taken = str(people.advisor.advisor_id)
    page = post(admin, "/admin/users",
                {"username": "x", "role": "advisor", "advisor": taken, "password": NEW_PASSWORD})
    assert "is already linked to user 'wang'" in page


def test_change_a_role(admin: FlaskClient, session: Session, people: People) -> None:
    page = post(admin, f"/admin/users/{people.marketer.id}/role",
                {"role": "advisor", "advisor": "new"})
    assert "mia is now advisor." in page
    changed = user(session, "mia")
    assert changed.role is Role.ADVISOR and changed.advisor_id is not None
    page = post(admin, f"/admin/users/{people.marketer.id}/role", {"role": "marketer"})
    changed = user(session, "mia")
    assert changed.role is Role.MARKETER and changed.advisor_id is None
    # Keeping an advisor's own link while changing nothing else is allowed.
    link = str(people.advisor.advisor_id)
    page = post(
        admin, f"/admin/users/{people.advisor.id}/role", {"role": "advisor", "advisor": link}
    )
    assert "wang is now advisor." in page


def test_admins_cannot_lock_themselves_out(
    admin: FlaskClient, session: Session, people: People
) -> None:
    page = post(admin, f"/admin/users/{people.admin.id}/role", {"role": "marketer"})
    assert "you cannot take the admin role from yourself" in page
    page = post(admin, f"/admin/users/{people.admin.id}/deactivate", {})
    assert "you cannot deactivate yourself" in page
    found = user(session, "admin")
    assert found.role is Role.ADMIN and found.active


def test_the_last_active_admin_stays(session: Session, people: People) -> None:
    # Through the console the acting admin is always another active admin; the service still
    # refuses to leave no admin at all, whoever asks.
    admin_id = people.admin.id
    with pytest.raises(UserError, match="last active admin"):
        change_role(session, admin_id, "marketer", "", acting=people.marketer)
    with pytest.raises(UserError, match="last active admin"):
        set_active(session, admin_id, False, acting=people.marketer)
    change_role(session, people.marketer.id, "admin", "", acting=people.admin)
    assert set_active(session, admin_id, False, acting=people.marketer).active is False


def test_deactivate_and_reactivate(
    admin: FlaskClient, session: Session, people: People
) -> None:
    wang = admin.application.test_client()
    sign_in(wang, "wang")
    assert wang.get("/advisor/tasks").status_code == 200
    page = post(admin, f"/admin/users/{people.advisor.id}/deactivate", {})
    assert "Deactivated wang." in page and "inactive" in page
    assert not user(session, "wang").active
    assert wang.get("/advisor/tasks").status_code == 302  # signed out at the next request
    assert sign_in(wang, "wang").status_code == 200  # type: ignore[attr-defined]
    page = post(admin, f"/admin/users/{people.advisor.id}/reactivate", {})
    assert "Reactivated wang." in page
    assert sign_in(wang, "wang").status_code == 302  # type: ignore[attr-defined]


def test_reset_a_password_to_one_typed(
    admin: FlaskClient, session: Session, people: People
) -> None:
    page = post(admin, f"/admin/users/{people.advisor.id}/password", {"password": NEW_PASSWORD})
    assert "Set a new password for wang." in page
    other = admin.application.test_client()
    assert sign_in(other, "wang", PASSWORD).status_code == 200  # type: ignore[attr-defined]
    assert sign_in(other, "wang", NEW_PASSWORD).status_code == 302  # type: ignore[attr-defined]
    page = post(admin, f"/admin/users/{people.advisor.id}/password", {"password": "short"})
    assert "at least 8 characters" in page


def test_reset_a_password_to_a_generated_one(
    admin: FlaskClient, session: Session, people: People
) -> None:
    token = csrf_token(admin, "/admin/users")
    response = admin.post(f"/admin/users/{people.advisor.id}/password",
                          data={"csrf_token": token, "password": ""}, headers=ENGLISH)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    page = text(response)
    assert "New password for wang (shown once" in page
    generated = page.split('<code class="mono">', 1)[1].split("</code>", 1)[0]
    assert len(generated) >= 12
    other = admin.application.test_client()
    assert sign_in(other, "wang", generated).status_code == 302  # type: ignore[attr-defined]
    assert "shown once" not in text(admin.get("/admin/users", headers=ENGLISH))


def test_unknown_users_are_reported(admin: FlaskClient) -> None:
    page = post(admin, "/admin/users/999999/deactivate", {})
    assert "user 999999 does not exist" in page


# --- channels --------------------------------------------------------------------------------


@pytest.fixture
def outbox(app: Flask, tmp_path: Path) -> Path:
    path = tmp_path / "outbox.jsonl"
    app.config["CHANNELS"] = {
        "log": {"path": str(path), "logger": False},
        "email": {
            "host": "127.0.0.1",
            "port": 2525,
            "from_address": "camp@example.com",
            "username": "camp",
            "password": "smtp-password-1",
        },
        "sms": {"url": "https://sms.example.com/send?api_key=sms-key-2&region=cn"},
        "webhook": {"url": "https://u:hook-pass-3@school.example.com/in", "secret": "hook-4"},
        "wecom": "log",
    }
    return path


def test_channel_settings_are_shown_with_secrets_masked(admin: FlaskClient, outbox: Path) -> None:
    page = text(admin.get("/admin/channels", headers=ENGLISH))
    for secret in ("smtp-password-1", "sms-key-2", "hook-pass-3", "hook-4"):
        assert secret not in page
    assert "127.0.0.1" in page and "camp@example.com" in page and "region=cn" in page
    assert page.count(MASK) == 4
    assert 'id="channel-wecom"' in page and "sent to the log" in page
    assert "built in (advisor tasks)" in page
    assert page.count('name="recipient"') == 5  # log, email, sms, webhook, wecom (via log)


def test_send_test_through_the_log_channel(admin: FlaskClient, outbox: Path) -> None:
    token = csrf_token(admin, "/admin/channels")
    response = admin.post("/admin/channels/log/test",
                          data={"csrf_token": token, "recipient": "demo-learner"}, headers=ENGLISH)
    assert response.status_code == 200
    page = text(response)
    assert "Test sent on log:" in page and f"written to {outbox}" in page
    lines = [json.loads(line) for line in outbox.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 1
    assert lines[0]["recipient"]["external_id"] == "demo-learner"
    assert lines[0]["step"] == "send-test" and "admin" in lines[0]["text"]
    # A second test is a new message, not a duplicate the outbox skips.
    admin.post("/admin/channels/log/test", data={"csrf_token": token, "recipient": "x"})
    assert len(outbox.read_text(encoding="utf-8").splitlines()) == 2


def test_send_test_shows_the_channel_error(
    app: Flask, admin: FlaskClient, outbox: Path, tmp_path: Path
) -> None:
    app.config["CHANNELS"]["log"] = {"path": str(tmp_path), "logger": False}  # a folder
    token = csrf_token(admin, "/admin/channels")
    page = text(admin.post("/admin/channels/log/test",
                           data={"csrf_token": token, "recipient": "x"}, headers=ENGLISH))
    assert "Test on log failed:" in page and "cannot write the outbox" in page
    # E-mail to an address without "@": the adapter refuses before connecting.
    page = text(admin.post("/admin/channels/email/test",
                           data={"csrf_token": token, "recipient": "13800000000"},
                           headers=ENGLISH))
    assert "Test on email failed:" in page and "e-mail" in page.lower()


def test_send_test_on_channels_that_cannot_be_used(app: Flask, admin: FlaskClient) -> None:
    app.config["CHANNELS"] = {"email": {"host": "smtp.example.com", "from_address": "a@b.c",
                                        "colour": "blue"}}
    page = text(admin.get("/admin/channels", headers=ENGLISH))
    assert "The channel configuration has an error:" in page and "colour" in page
    token = csrf_token(admin, "/admin/channels")
    page = text(admin.post("/admin/channels/email/test",
                           data={"csrf_token": token, "recipient": "a@example.com"},
                           headers=ENGLISH))
    assert "Test on email failed:" in page and "configuration is wrong" in page
    page = text(admin.post("/admin/channels/sms/test",
                           data={"csrf_token": token, "recipient": "1380000"}, headers=ENGLISH))
    assert "Test on sms failed:" in page


def test_send_test_service_refusals() -> None:
    config: dict[str, object] = {"CHANNELS": {}}
    assert not send_test(config, "pigeon", "x").ok
    assert "engine's own channel" in send_test(config, "advisor_task", "x").detail
    assert "not configured" in send_test(config, "sms", "123").detail
    assert "type the address" in send_test(config, "log", "  ").detail


def test_masking() -> None:
    assert shown_value("corp_secret", "abc") == MASK
    assert shown_value("api_key", "") == "(empty)"
    assert shown_value("host", "smtp.example.com") == "smtp.example.com"
    masked = mask_url("https://a:b@h.example/p?token=t&x=1")
    assert masked == f"https://a:{MASK}@h.example/p?token={MASK}&x=1"
    assert mask_url("not a url") == "not a url"
