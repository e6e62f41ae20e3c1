"""The e-mail channel: one text/plain UTF-8 message per delivery over SMTP.

Marketing e-mail always carries a way out: a message with an ``unsubscribe_url`` gets the
``List-Unsubscribe`` header (the URL, plus a ``mailto:`` when configured) and, for an https URL,
``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` (RFC 8058), and the link is added to the
body of selling messages. A selling message without an ``unsubscribe_url`` is refused.

The ``Message-ID`` is derived from the idempotency key, so a retried delivery carries the same
id and mail clients can fold a duplicate away. SMTP itself does not de-duplicate, so the channel
is not idempotent.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import smtplib
import ssl
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime
from typing import ClassVar
from urllib.parse import urlsplit

from campaign.journeys.spec import Channel
from campaign.messages.channels._settings import Settings
from campaign.messages.channels.base import (
    ChannelError,
    OutgoingMessage,
    PermanentChannelError,
    SendResult,
    TransientChannelError,
)

DEFAULT_FOOTER = "如不想再收到此类邮件，可一键退订：{url}"
_SAFE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def message_id(idempotency_key: str, domain: str) -> str:
    """Return a ``Message-ID`` that is the same for every retry of one delivery."""
    local = (
        idempotency_key
        if _SAFE_ID.fullmatch(idempotency_key)
        else (hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()[:40])
    )
    return f"<campaign.{local}@{domain}>"


def _one_line(text: str) -> str:
    """Return ``text`` with line breaks and runs of space folded to single spaces."""
    return " ".join(text.split())


def _address(email: str, name: str | None = None) -> Address:
    """Parse ``email`` into an address; raise ``ValueError`` when it is not one.

    A non-ASCII domain is IDNA-encoded; a non-ASCII local part (SMTPUTF8) is not supported.
    """
    if "@" not in email or any(ch in email for ch in "\r\n<>,;\"'() "):
        raise ValueError(f"not an e-mail address: {email!r}")
    local, _, domain = email.rpartition("@")
    if not local or not domain or "@" in local:
        raise ValueError(f"not an e-mail address: {email!r}")
    if not local.isascii():
        raise ValueError(f"e-mail address with a non-ASCII local part (SMTPUTF8): {email!r}")
    try:
        ascii_domain = domain if domain.isascii() else domain.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError(f"not an e-mail address (bad domain): {email!r}") from None
    return Address(display_name=_one_line(name or ""), username=local, domain=ascii_domain)


def _smtp_error(code: int, text: bytes | str, what: str) -> ChannelError:
    detail = text.decode("utf-8", errors="replace") if isinstance(text, bytes) else text
    reason = f"SMTP {code} {detail}".strip() + f" ({what})"
    if 500 <= code < 600:
        return PermanentChannelError(reason)
    return TransientChannelError(reason)


class EmailChannel:
    """Send e-mail through one SMTP server (a relay, or a provider's submission port)."""

    channel: ClassVar[Channel] = Channel.EMAIL
    idempotent: ClassVar[bool] = False

    def __init__(
        self,
        *,
        host: str,
        from_address: str,
        port: int | None = None,
        from_name: str | None = None,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        use_ssl: bool = False,
        verify_tls: bool = True,
        ca_file: str | None = None,
        timeout: float = 10.0,
        unsubscribe_mailto: str | None = None,
        unsubscribe_footer: str = DEFAULT_FOOTER,
        message_id_domain: str | None = None,
        local_hostname: str | None = None,
    ) -> None:
        if starttls and use_ssl:
            raise ValueError("choose starttls (upgrade a plain connection) or ssl, not both")
        if (username is None) != (password is None):
            raise ValueError("username and password go together")
        self.from_mailbox = _address(from_address, from_name)
        if unsubscribe_mailto is not None:
            _address(unsubscribe_mailto)
        self.host = host
        self.port = port if port is not None else (465 if use_ssl else 587 if starttls else 25)
        self.username = username
        self.password = password
        self.starttls = starttls
        self.use_ssl = use_ssl
        self.verify_tls = verify_tls
        self.ca_file = ca_file
        self.timeout = timeout
        self.unsubscribe_mailto = unsubscribe_mailto
        self.unsubscribe_footer = unsubscribe_footer
        self.message_id_domain = message_id_domain or self.from_mailbox.domain
        self.local_hostname = local_hostname

    @classmethod
    def from_settings(cls, settings: Settings) -> EmailChannel:
        """Build from ``CHANNELS["email"]``; see docs/channels.md for every key."""
        port = settings.integer("port", 0, minimum=0)
        try:
            channel = cls(
                host=settings.required_text("host"),
                port=port or None,
                from_address=settings.required_text("from_address"),
                from_name=settings.optional_text("from_name"),
                username=settings.optional_text("username"),
                password=settings.optional_text("password"),
                starttls=settings.flag("starttls", False),
                use_ssl=settings.flag("ssl", False),
                verify_tls=settings.flag("verify_tls", True),
                ca_file=settings.optional_text("ca_file"),
                timeout=settings.number("timeout", 10.0),
                unsubscribe_mailto=settings.optional_text("unsubscribe_mailto"),
                unsubscribe_footer=settings.text("unsubscribe_footer", DEFAULT_FOOTER),
                message_id_domain=settings.optional_text("message_id_domain"),
                local_hostname=settings.optional_text("local_hostname"),
            )
        except ValueError as exc:
            raise settings.invalid(str(exc)) from exc
        settings.check_all_read()
        return channel

    # --- building the message ---------------------------------------------------------------

    def build(self, message: OutgoingMessage) -> EmailMessage:
        """Return the e-mail for ``message``; raise permanent errors for what cannot be sent."""
        recipient = message.recipient
        if not recipient.email:
            raise PermanentChannelError("no e-mail address for this learner")
        try:
            to = _address(recipient.email, recipient.name)
        except ValueError as exc:
            raise PermanentChannelError(str(exc)) from exc
        url = message.unsubscribe_url
        if url is not None and urlsplit(url).scheme not in ("http", "https"):
            raise PermanentChannelError(f"the unsubscribe URL is not http(s): {url!r}")
        if message.selling and not url:
            raise PermanentChannelError(
                "a marketing e-mail needs an unsubscribe URL (List-Unsubscribe); none was given"
            )
        body = message.text
        if message.selling and url and url not in body:
            body = f"{body.rstrip()}\n\n{self.unsubscribe_footer.format(url=url)}\n"

        mail = EmailMessage(policy=SMTP_POLICY)
        mail["Subject"] = _one_line(message.subject or "") or _first_line(message.text)
        mail["From"] = self.from_mailbox
        mail["To"] = to
        mail["Date"] = format_datetime(datetime.now(UTC))  # real time, even on a demo's clock
        mail["Message-ID"] = message_id(message.idempotency_key, self.message_id_domain)
        if url:
            targets = [f"<{url}>"]
            if self.unsubscribe_mailto:
                targets.append(f"<mailto:{self.unsubscribe_mailto}?subject=unsubscribe>")
            mail["List-Unsubscribe"] = ", ".join(targets)
            if urlsplit(url).scheme == "https":  # RFC 8058 one-click needs an https URI
                mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        mail["X-Campaign-Delivery"] = str(message.delivery_id)
        mail.set_content(body, charset="utf-8")
        return mail

    # --- sending ------------------------------------------------------------------------------

    def _tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.ca_file)
        if not self.verify_tls:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def _connect(self) -> smtplib.SMTP:
        if self.use_ssl:
            return smtplib.SMTP_SSL(
                self.host,
                self.port,
                local_hostname=self.local_hostname,
                timeout=self.timeout,
                context=self._tls_context(),
            )
        return smtplib.SMTP(
            self.host, self.port, local_hostname=self.local_hostname, timeout=self.timeout
        )

    def send(self, message: OutgoingMessage) -> SendResult:
        mail = self.build(message)  # validated the address, so it parses below
        recipient = _address(message.recipient.email or "").addr_spec
        try:
            smtp = self._connect()
        except smtplib.SMTPResponseException as exc:
            raise _smtp_error(exc.smtp_code, exc.smtp_error, "connect") from exc
        except ssl.SSLCertVerificationError as exc:
            raise PermanentChannelError(f"SMTP server certificate not trusted: {exc}") from exc
        except OSError as exc:
            raise TransientChannelError(f"cannot connect to SMTP {self.host}: {exc}") from exc
        try:
            self._deliver(smtp, mail, recipient)
        finally:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                smtp.quit()  # the message is accepted by now or failed: QUIT's answer is moot
            smtp.close()
        return SendResult(provider_id=str(mail["Message-ID"]), detail=f"accepted by {self.host}")

    def _deliver(self, smtp: smtplib.SMTP, mail: EmailMessage, recipient: str) -> None:
        try:
            if self.starttls:
                smtp.starttls(context=self._tls_context())
            if self.username is not None and self.password is not None:
                smtp.login(self.username, self.password)
            refused = smtp.send_message(
                mail, from_addr=self.from_mailbox.addr_spec, to_addrs=[recipient]
            )
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()), (550, b"recipient refused"))
            raise _smtp_error(code, text, "recipient") from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise PermanentChannelError(f"SMTP server does not support it: {exc}") from exc
        except smtplib.SMTPResponseException as exc:
            raise _smtp_error(exc.smtp_code, exc.smtp_error, _stage(exc)) from exc
        except ssl.SSLCertVerificationError as exc:
            raise PermanentChannelError(f"SMTP server certificate not trusted: {exc}") from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise TransientChannelError(f"SMTP conversation failed: {exc}") from exc
        if refused:
            code, text = next(iter(refused.values()))
            raise _smtp_error(code, text, "recipient")


def _stage(exc: smtplib.SMTPResponseException) -> str:
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return "login"
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return "sender"
    if isinstance(exc, smtplib.SMTPDataError):
        return "data"
    return "command"


def _first_line(text: str, limit: int = 60) -> str:
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    return line if len(line) <= limit else line[: limit - 1] + "…"
