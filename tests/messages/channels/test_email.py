"""The e-mail channel against a real SMTP server (aiosmtpd) on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from campaign.journeys.spec import Channel
from campaign.messages.channels._settings import ChannelConfigError, Settings
from campaign.messages.channels.base import PermanentChannelError, TransientChannelError
from campaign.messages.channels.email import EmailChannel, message_id

from .conftest import make_message

UNSUBSCRIBE = "https://school.example.com/u/abc123"


class EphemeralController(Controller):
    """aiosmtpd's controller on port 0: learn the real port before the readiness probe."""

    def _trigger_server(self) -> None:
        assert isinstance(self.server, asyncio.Server)
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]


@dataclass
class Mailbox:
    """An SMTP handler that stores what it accepts and refuses what it is told to."""

    received: list[Envelope] = field(default_factory=list)
    rcpt_replies: dict[str, str] = field(default_factory=dict)  # address -> reply
    data_reply: str | None = None

    async def handle_RCPT(
        self,
        server: SMTPServer,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        reply = self.rcpt_replies.get(address)
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        if self.data_reply is not None:
            return self.data_reply
        self.received.append(envelope)
        return "250 Message accepted for delivery"

    def parsed(self, index: int = -1) -> EmailMessage:
        content = self.received[index].original_content
        assert content is not None
        parsed = message_from_bytes(content, policy=default_policy)
        assert isinstance(parsed, EmailMessage)
        return parsed


@pytest.fixture
def mailbox() -> Mailbox:
    return Mailbox()


@pytest.fixture
def smtp_port(mailbox: Mailbox) -> Iterator[int]:
    controller = EphemeralController(
        mailbox, hostname="127.0.0.1", port=0, server_hostname="mx.test"
    )
    controller.start()
    try:
        yield controller.port
    finally:
        controller.stop()


def channel_for(port: int, **overrides: Any) -> EmailChannel:
    settings: dict[str, Any] = dict(
        host="127.0.0.1",
        port=port,
        from_address="camp@school.example.com",
        from_name="奶茶 Python 训练营",
        timeout=5.0,
    )
    settings.update(overrides)
    return EmailChannel(**settings)


def test_sends_a_utf8_text_message(mailbox: Mailbox, smtp_port: int) -> None:
    channel = channel_for(smtp_port)
    result = channel.send(make_message(Channel.EMAIL, subject="第一天作业提醒"))
    [envelope] = mailbox.received
    assert envelope.mail_from == "camp@school.example.com"
    assert envelope.rcpt_tos == ["xiaoming@example.com"]
    mail = mailbox.parsed()
    assert mail["Subject"] == "第一天作业提醒"
    assert mail["To"].addresses[0].display_name == "王小明"
    assert mail["To"].addresses[0].addr_spec == "xiaoming@example.com"
    assert mail["From"].addresses[0].display_name == "奶茶 Python 训练营"
    assert mail.get_content_type() == "text/plain"
    assert mail.get_content_charset() == "utf-8"
    assert mail.get_content().strip() == make_message().text
    assert mail["Message-ID"] == "<campaign.d42-a1@school.example.com>"
    assert result.provider_id == "<campaign.d42-a1@school.example.com>"
    assert mail["Date"] is not None
    assert mail["X-Campaign-Delivery"] == "42"
    assert "List-Unsubscribe" not in mail  # no URL given, not marketing


def test_marketing_carries_one_click_unsubscribe(mailbox: Mailbox, smtp_port: int) -> None:
    channel = channel_for(smtp_port, unsubscribe_mailto="unsubscribe@school.example.com")
    channel.send(
        make_message(Channel.EMAIL, selling=True, unsubscribe_url=UNSUBSCRIBE, subject="优惠")
    )
    mail = mailbox.parsed()
    assert mail["List-Unsubscribe"] == (
        f"<{UNSUBSCRIBE}>, <mailto:unsubscribe@school.example.com?subject=unsubscribe>"
    )
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    body = mail.get_content()
    assert body.startswith(make_message().text)
    assert f"一键退订：{UNSUBSCRIBE}" in body


def test_an_http_unsubscribe_url_gets_no_one_click_header(mailbox: Mailbox, smtp_port: int) -> None:
    url = "http://localhost:5000/u/abc"
    channel_for(smtp_port).send(make_message(Channel.EMAIL, selling=True, unsubscribe_url=url))
    mail = mailbox.parsed()
    assert mail["List-Unsubscribe"] == f"<{url}>"
    assert "List-Unsubscribe-Post" not in mail


def test_marketing_without_an_unsubscribe_url_is_refused(mailbox: Mailbox, smtp_port: int) -> None:
    with pytest.raises(PermanentChannelError, match=r"needs an unsubscribe URL"):
        channel_for(smtp_port).send(make_message(Channel.EMAIL, selling=True))
    assert mailbox.received == []


@pytest.mark.parametrize("email", [None, "", "not-an-address", "a@b@c", "x@y.com\r\nBcc: z@q"])
def test_a_missing_or_bad_address_is_permanent(
    mailbox: Mailbox, smtp_port: int, email: str | None
) -> None:
    with pytest.raises(PermanentChannelError, match=r"e-mail address"):
        channel_for(smtp_port).send(make_message(Channel.EMAIL, recipient_email=email))
    assert mailbox.received == []


def test_header_values_stay_on_one_line(mailbox: Mailbox, smtp_port: int) -> None:
    channel_for(smtp_port).send(
        make_message(
            Channel.EMAIL, subject="优惠\r\nBcc: spy@example.com", recipient_name="王\n小明"
        )
    )
    mail = mailbox.parsed()
    assert mail["Subject"] == "优惠 Bcc: spy@example.com"
    assert mail["To"].addresses[0].display_name == "王 小明"
    assert mail["Bcc"] is None
    assert mailbox.received[0].rcpt_tos == ["xiaoming@example.com"]


def test_an_internationalised_domain_is_idna_encoded(mailbox: Mailbox, smtp_port: int) -> None:
    channel_for(smtp_port).send(make_message(Channel.EMAIL, recipient_email="xm@例子.中国"))
    assert mailbox.received[0].rcpt_tos == ["xm@xn--fsqu00a.xn--fiqs8s"]
    with pytest.raises(PermanentChannelError, match="non-ASCII local part"):
        channel_for(smtp_port).send(make_message(Channel.EMAIL, recipient_email="小明@例子.中国"))


def test_subject_defaults_to_the_first_line(mailbox: Mailbox, smtp_port: int) -> None:
    channel_for(smtp_port).send(make_message(Channel.EMAIL, text="\n明晚 19:30 直播\n记得来"))
    assert mailbox.parsed()["Subject"] == "明晚 19:30 直播"


def test_message_id_is_stable_and_safe() -> None:
    assert message_id("d42-a1", "x.com") == message_id("d42-a1", "x.com")
    odd = message_id("delivery:42/attempt 1", "x.com")
    assert odd.startswith("<campaign.") and odd.endswith("@x.com>")
    assert " " not in odd and "/" not in odd


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        ("550 5.1.1 No such user", PermanentChannelError),
        ("451 4.3.0 Try again later", TransientChannelError),
    ],
)
def test_recipient_refusals(
    mailbox: Mailbox, smtp_port: int, reply: str, error: type[Exception]
) -> None:
    mailbox.rcpt_replies["xiaoming@example.com"] = reply
    with pytest.raises(error, match=reply.split()[0]) as caught:
        channel_for(smtp_port).send(make_message(Channel.EMAIL))
    assert "recipient" in str(caught.value)


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        ("554 5.6.0 Message rejected as spam", PermanentChannelError),
        ("452 4.3.1 Insufficient storage", TransientChannelError),
    ],
)
def test_data_refusals(
    mailbox: Mailbox, smtp_port: int, reply: str, error: type[Exception]
) -> None:
    mailbox.data_reply = reply
    with pytest.raises(error, match=reply.split()[0]):
        channel_for(smtp_port).send(make_message(Channel.EMAIL))


def test_connection_refused_is_transient(closed_port: int) -> None:
    with pytest.raises(TransientChannelError, match=r"cannot connect"):
        channel_for(closed_port).send(make_message(Channel.EMAIL))


def test_a_server_that_never_greets_times_out_as_transient() -> None:
    with socket.socket() as listener:  # accepts connections (backlog) but never speaks
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        channel = channel_for(listener.getsockname()[1], timeout=0.2)
        with pytest.raises(TransientChannelError):
            channel.send(make_message(Channel.EMAIL))


# --- STARTTLS and AUTH ------------------------------------------------------------------------


def authenticate(
    server: SMTPServer, session: Session, envelope: Envelope, mechanism: str, data: Any
) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"camp", b"s3cret")
    return AuthResult(success=ok, handled=False)  # handled=False: the server answers 535


@pytest.fixture
def tls_port(mailbox: Mailbox, certificate: tuple[Path, Path]) -> Iterator[int]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    controller = EphemeralController(
        mailbox,
        hostname="127.0.0.1",
        port=0,
        server_hostname="mx.test",
        tls_context=context,
        require_starttls=True,
        authenticator=authenticate,
        auth_require_tls=True,
        auth_required=True,
    )
    controller.start()
    try:
        yield controller.port
    finally:
        controller.stop()


def test_starttls_and_login(
    mailbox: Mailbox, tls_port: int, certificate: tuple[Path, Path]
) -> None:
    channel = channel_for(
        tls_port, starttls=True, ca_file=str(certificate[0]), username="camp", password="s3cret"
    )
    channel.send(make_message(Channel.EMAIL))
    assert mailbox.parsed().get_content().strip() == make_message().text


def test_a_wrong_password_is_permanent(
    mailbox: Mailbox, tls_port: int, certificate: tuple[Path, Path]
) -> None:
    channel = channel_for(
        tls_port, starttls=True, ca_file=str(certificate[0]), username="camp", password="nope"
    )
    with pytest.raises(PermanentChannelError, match=r"535"):
        channel.send(make_message(Channel.EMAIL))
    assert mailbox.received == []


def test_an_untrusted_certificate_is_permanent(mailbox: Mailbox, tls_port: int) -> None:
    channel = channel_for(tls_port, starttls=True, username="camp", password="s3cret")
    with pytest.raises(PermanentChannelError, match=r"certificate not trusted"):
        channel.send(make_message(Channel.EMAIL))


def test_without_starttls_the_server_refuses(mailbox: Mailbox, tls_port: int) -> None:
    with pytest.raises(PermanentChannelError, match=r"530"):
        channel_for(tls_port).send(make_message(Channel.EMAIL))


# --- settings ---------------------------------------------------------------------------------


def test_settings() -> None:
    channel = EmailChannel.from_settings(
        Settings(
            "email",
            {
                "HOST": "smtp.example.com",
                "starttls": "true",
                "from_address": "camp@school.example.com",
                "username": "camp",
                "password": 12345,  # a numeric password, JSON-decoded from the environment
                "timeout": "2.5",
            },
        )
    )
    assert (channel.host, channel.port, channel.starttls) == ("smtp.example.com", 587, True)
    assert channel.password == "12345" and channel.timeout == 2.5
    with pytest.raises(ChannelConfigError, match=r"email.host: is required"):
        EmailChannel.from_settings(Settings("email", {"from_address": "a@b.c"}))
    with pytest.raises(ChannelConfigError, match=r"starttls .* or ssl, not both"):
        EmailChannel.from_settings(
            Settings(
                "email",
                {"host": "h", "from_address": "a@b.c", "starttls": True, "ssl": True},
            )
        )
    with pytest.raises(ChannelConfigError, match=r"username and password go together"):
        EmailChannel.from_settings(
            Settings("email", {"host": "h", "from_address": "a@b.c", "username": "u"})
        )
    with pytest.raises(ChannelConfigError, match=r"email.starttls: expected true or false"):
        EmailChannel.from_settings(
            Settings("email", {"host": "h", "from_address": "a@b.c", "starttls": "maybe"})
        )
