"""The marketer's journey pages: versions, lint at the lines, editor, publish, diff, simulate."""

from __future__ import annotations

import io
import re
from collections.abc import Mapping

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from campaign.models import Journey, JourneyVersion
from campaign.publishing import publish_journey
from tests.conftest import SAMPLE_JOURNEY
from tests.console.conftest import People, csrf_token, sign_in

# The sample journey with one channel misspelt: an error at line 28, column 14.
BROKEN = SAMPLE_JOURNEY.replace(
    "channel: advisor_task\n    selling: true", "channel: pigeon\n    selling: true"
)
# The sample journey with a step in quiet hours: a warning (at line 36), publishable.
LATE_STEP = """\
  - key: late-note
    at: "D3 22:30"
    channel: wecom
    template: "晚上好 {{ learner.name }}"
"""
WITH_WARNING = SAMPLE_JOURNEY + LATE_STEP
ENGLISH = {"Accept-Language": "en"}


def post(
    client: FlaskClient, path: str, data: Mapping[str, object], page: str = "/marketer/journeys"
) -> TestResponse:
    """Post a console form with the CSRF token a page of ``page`` carries, in English."""
    form = {"csrf_token": csrf_token(client, page), **data}
    return client.post(path, data=form, headers=ENGLISH)


def text(response: TestResponse) -> str:
    return response.get_data(as_text=True)


def publish(session: Session, source: str = SAMPLE_JOURNEY) -> JourneyVersion:
    version, _ = publish_journey(session, source, "camp.yaml")
    session.commit()
    return version


@pytest.fixture
def marketer(client: FlaskClient, people: People) -> FlaskClient:
    sign_in(client, "mia")
    return client


def versions(session: Session) -> int:
    session.expire_all()
    return int(session.scalar(select(func.count(JourneyVersion.id))) or 0)


def test_journey_pages_need_the_marketer_role(
    client: FlaskClient, people: People, session: Session
) -> None:
    publish(session)
    publish(session, WITH_WARNING)
    pages = [
        "/marketer/journeys",
        "/marketer/journeys/python-camp",
        "/marketer/journeys/python-camp/versions/1",
        "/marketer/journeys/python-camp/diff?a=1&b=2",
        "/marketer/editor",
        "/marketer/editor?journey=python-camp",
        "/marketer/journeys/python-camp/simulate?learners=20",
    ]
    assert all(client.get(page).status_code == 302 for page in pages)  # to the login page
    sign_in(client, "wang")
    token = csrf_token(client, "/advisor/tasks")
    for page in pages:
        assert client.get(page).status_code == 403, page
    refused = client.post(
        "/marketer/editor",
        data={"csrf_token": token, "source": SAMPLE_JOURNEY, "action": "publish"},
    )
    assert refused.status_code == 403
    for user in ("mia", "admin"):
        client.post("/logout", data={"csrf_token": token})
        sign_in(client, user)
        token = csrf_token(client, "/marketer/journeys")
        for page in pages:
            assert client.get(page).status_code == 200, (user, page)


def test_journeys_list_their_versions(marketer: FlaskClient, session: Session) -> None:
    publish(session)
    publish(session, WITH_WARNING)
    page = text(marketer.get("/marketer/journeys", headers=ENGLISH))
    assert "python-camp" in page and ">v1</a>" in page and ">v2</a>" in page
    detail = text(marketer.get("/marketer/journeys/python-camp", headers=ENGLISH))
    assert "1 warning" in detail and "quiet-hours" in detail  # the lint of the latest version
    assert "/marketer/journeys/python-camp/diff?a=1&amp;b=2" in detail


def test_a_version_shows_its_source_with_line_numbers_and_findings(
    marketer: FlaskClient, session: Session
) -> None:
    publish(session, WITH_WARNING)
    page = text(marketer.get("/marketer/journeys/python-camp/versions/1", headers=ENGLISH))
    rows = re.findall(r'<tr id="L(\d+)" class="(\w*)">', page)
    assert len(rows) == len(WITH_WARNING.splitlines())
    assert [int(n) for n, _ in rows] == list(range(1, len(rows) + 1))
    assert dict(rows)["36"] == "warning"
    assert "falls in quiet hours" in line_block(page, 36)
    assert marketer.get("/marketer/journeys/python-camp/versions/9").status_code == 404
    assert marketer.get("/marketer/journeys/nope").status_code == 404


def main(page: str) -> str:
    """Return the page's content (the header carries a CSRF token that changes each second)."""
    return page[page.index("<main>"):]


def line_block(page: str, line: int) -> str:
    """Return the HTML of source line ``line``: the line and the findings shown under it."""
    match = re.search(rf'<tr id="L{line}" .*?</tr>', page, re.S)
    assert match, f"line {line} is not on the page"
    return match.group(0)


def test_editor_check_shows_errors_at_their_lines(marketer: FlaskClient, session: Session) -> None:
    response = post(marketer, "/marketer/editor", {"source": BROKEN, "action": "lint"})
    assert response.status_code == 200
    page = text(response)
    assert "1 error" in page
    block = line_block(page, 28)
    assert 'class="error"' in block and "pigeon" in block and "column 14" in block
    assert 'href="#L28"' in page  # the list of findings links to the line
    assert "channel: pigeon" in page  # the textarea keeps what was typed
    assert versions(session) == 0


def test_publishing_a_journey_with_errors_stores_nothing(
    marketer: FlaskClient, session: Session
) -> None:
    response = post(marketer, "/marketer/editor", {"source": BROKEN, "action": "publish"})
    assert response.status_code == 422
    page = text(response)
    assert "Not published: 1 error(s) to fix first." in page
    assert "pigeon" in line_block(page, 28)
    assert versions(session) == 0
    assert session.scalar(select(func.count(Journey.id))) == 0


def test_an_uploaded_file_is_checked_and_published(
    marketer: FlaskClient, session: Session
) -> None:
    upload = {
        "file": (io.BytesIO(BROKEN.encode("utf-8")), "my-camp.yaml"),
        "source": "",
        "action": "publish",
    }
    response = post(marketer, "/marketer/editor", upload)
    assert response.status_code == 422
    assert 'value="my-camp.yaml"' in text(response)
    assert "pigeon" in line_block(text(response), 28)
    good = {"file": (io.BytesIO(SAMPLE_JOURNEY.encode("utf-8")), "my-camp.yaml"),
            "action": "publish"}
    response = post(marketer, "/marketer/editor", good)
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/marketer/journeys/python-camp")
    session.expire_all()
    assert session.scalars(select(JourneyVersion.filename)).one() == "my-camp.yaml"


def test_an_unreadable_upload_is_refused(marketer: FlaskClient, session: Session) -> None:
    upload = {"file": (io.BytesIO(b"\xff\xfe\x00bad"), "camp.yaml"), "action": "publish"}
    response = post(marketer, "/marketer/editor", upload)
    assert response.status_code == 400
    assert "not UTF-8" in text(response)
    empty = post(marketer, "/marketer/editor", {"source": "  ", "action": "publish"})
    assert empty.status_code == 400
    assert versions(session) == 0


def test_warnings_do_not_block_publishing(marketer: FlaskClient, session: Session) -> None:
    check = post(marketer, "/marketer/editor", {"source": WITH_WARNING, "action": "lint"})
    assert "1 warning" in text(check) and "0 error" not in text(check)
    assert 'class="warning"' in line_block(text(check), 36)
    response = post(
        marketer,
        "/marketer/editor",
        {"source": WITH_WARNING, "filename": "camp.yaml", "action": "publish"},
    )
    assert response.status_code == 303
    assert versions(session) == 1
    page = text(marketer.get(response.headers["Location"], headers=ENGLISH))
    assert "Published python-camp version 1." in page
    again = post(marketer, "/marketer/editor", {"source": WITH_WARNING, "action": "publish"})
    assert again.status_code == 303
    assert "No change: this is already version 1" in text(
        marketer.get(again.headers["Location"], headers=ENGLISH)
    )
    assert versions(session) == 1


def test_the_editor_starts_from_the_latest_version(
    marketer: FlaskClient, session: Session
) -> None:
    publish(session)
    page = text(marketer.get("/marketer/editor?journey=python-camp", headers=ENGLISH))
    assert "一杯奶茶钱学会 Python" in page and 'value="camp.yaml"' in page
    assert "No problems found." in page


def test_diff_between_versions(marketer: FlaskClient, session: Session) -> None:
    publish(session)
    publish(session, WITH_WARNING)
    page = text(marketer.get("/marketer/journeys/python-camp/diff?a=1&b=2", headers=ENGLISH))
    assert "Steps added" in page and "late-note" in page
    assert '<span class="add">+  - key: late-note</span>' in page
    default = text(marketer.get("/marketer/journeys/python-camp/diff", headers=ENGLISH))
    assert "v1 → v2" in default
    same = text(marketer.get("/marketer/journeys/python-camp/diff?a=2&b=2", headers=ENGLISH))
    assert "No change" in same
    assert marketer.get("/marketer/journeys/python-camp/diff?a=1&b=7").status_code == 404


def test_simulated_calendar(marketer: FlaskClient, session: Session) -> None:
    publish(session)
    url = "/marketer/journeys/python-camp/simulate?learners=120&seed=7&starts_on=2026-12-07"
    response = marketer.get(url, headers=ENGLISH)
    assert response.status_code == 200
    page = text(response)
    assert "120 synthetic learners, seed 7" in page
    assert "Reach per camp day" in page and "<svg" in page
    assert 'aria-label="Reach per camp day"' in page
    assert ">D1 12-07</text>" in page  # a bar per camp day, labelled with its date
    assert "homework-reminder" in page and "D5 21:00" in page
    again = text(marketer.get(url, headers=ENGLISH))
    assert main(again) == main(page)  # the same seed, the same calendar
    other = text(marketer.get(url.replace("seed=7", "seed=8"), headers=ENGLISH))
    assert main(other) != main(page)


def test_simulation_limits_its_inputs(marketer: FlaskClient, session: Session) -> None:
    publish(session)
    url = "/marketer/journeys/python-camp/simulate?learners=999999&starts_on=soon"
    page = text(marketer.get(url, headers=ENGLISH))
    assert "learners must be between 1 and 10000." in page
    assert "The start date must look like 2026-12-07." in page
    assert "10000 synthetic learners" in page
    assert marketer.get("/marketer/journeys/python-camp/simulate?version=5").status_code == 404


def test_journey_pages_speak_chinese(marketer: FlaskClient, session: Session) -> None:
    publish(session, WITH_WARNING)
    page = text(marketer.get("/marketer/journeys/python-camp/versions/1"))
    assert "1 个警告" in page
    editor = text(marketer.get("/marketer/editor"))
    assert "发布" in editor and "检查" in editor
