"""Sign-in, roles, CSRF, the login rate limit, and the language of the page."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from tests.console.conftest import People, csrf_token, sign_in


def test_signed_out_visitors_go_to_the_login_page(client: FlaskClient) -> None:
    response = client.get("/advisor/tasks")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_each_role_lands_on_its_start_page(client: FlaskClient, people: People) -> None:
    response = sign_in(client, "wang")
    assert response.status_code == 302 and response.headers["Location"].endswith("/advisor/tasks")
    client.post("/logout", data={"csrf_token": csrf_token(client, "/advisor/tasks")})
    response = sign_in(client, "mia")
    assert response.headers["Location"].endswith("/marketer/cohorts")


def test_wrong_password_is_refused(client: FlaskClient, people: People) -> None:
    response = sign_in(client, "wang", "nope")
    assert response.status_code == 200
    assert "用户名或密码错误" in response.get_data(as_text=True)  # Chinese unless asked otherwise
    assert client.get("/advisor/tasks").status_code == 302


def test_login_without_csrf_token_is_rejected(client: FlaskClient, people: People) -> None:
    response = client.post("/login", data={"username": "wang", "password": "x"})
    assert response.status_code == 400
    assert "CSRF" in response.get_data(as_text=True)


def test_advisors_cannot_open_marketer_or_admin_pages(client: FlaskClient, people: People) -> None:
    sign_in(client, "wang")
    assert client.get("/marketer/cohorts").status_code == 403
    assert client.get("/admin/users").status_code == 403
    assert client.get("/advisor/tasks").status_code == 200


def test_marketers_cannot_open_admin_pages(client: FlaskClient, people: People) -> None:
    sign_in(client, "mia")
    assert client.get("/admin/users").status_code == 403
    assert client.get("/marketer/journeys").status_code == 200


def test_admins_see_everything(client: FlaskClient, people: People) -> None:
    sign_in(client, "admin")
    for path in ("/admin/users", "/admin/channels", "/marketer/cohorts", "/marketer/journeys"):
        assert client.get(path).status_code == 200, path


def test_login_is_rate_limited(app: Flask, client: FlaskClient, people: People) -> None:
    codes = [sign_in(client, "wang", "wrong").status_code for _ in range(11)]
    assert codes[:10] == [200] * 10
    assert codes[10] == 429


def test_chinese_browser_gets_chinese(client: FlaskClient) -> None:
    page = client.get("/login", headers={"Accept-Language": "zh-CN,zh;q=0.9"}).get_data(
        as_text=True
    )
    assert "<h1>登录</h1>" in page
    page = client.get("/login", headers={"Accept-Language": "en-US"}).get_data(as_text=True)
    assert "<h1>Sign in</h1>" in page


def test_session_cookie_is_http_only(app: Flask, client: FlaskClient, people: People) -> None:
    response = sign_in(client, "wang")
    cookie = response.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
