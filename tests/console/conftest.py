"""Console fixtures: users of each role and a browser-like client that signs in with CSRF."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from campaign.models import Advisor, Role, User

PASSWORD = "correct horse battery"


@dataclass
class People:
    admin: User
    marketer: User
    advisor: User
    other_advisor: User


@pytest.fixture
def people(session: Session) -> People:
    advisors = [Advisor(name="王老师"), Advisor(name="李老师")]
    session.add_all(advisors)
    session.flush()
    users = []
    for username, role, advisor in (
        ("admin", Role.ADMIN, None),
        ("mia", Role.MARKETER, None),
        ("wang", Role.ADVISOR, advisors[0]),
        ("li", Role.ADVISOR, advisors[1]),
    ):
        user = User(
            username=username,
            display_name=username,
            role=role,
            advisor_id=advisor.id if advisor else None,
        )
        user.set_password(PASSWORD)
        users.append(user)
    session.add_all(users)
    session.commit()
    return People(*users)


def csrf_token(client: FlaskClient, path: str = "/login") -> str:
    """Load a page and return the CSRF token it carries."""
    page = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf-token" content="([^"]+)"', page)
    assert match, "the page carries no CSRF token"
    return match.group(1)


def sign_in(client: FlaskClient, username: str, password: str = PASSWORD) -> object:
    """Sign in through the login form, as a browser would."""
    token = csrf_token(client)
    return client.post(
        "/login", data={"username": username, "password": password, "csrf_token": token}
    )


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
