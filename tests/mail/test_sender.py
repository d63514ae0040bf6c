import asyncio
import logging
import socket
import time
from collections.abc import AsyncIterator, Iterator
from email.message import EmailMessage

import pytest
from pydantic import SecretStr

from storefront.mail.errors import PermanentMailError, TransientMailError
from storefront.mail.renderer import compose
from storefront.mail.schemas import MailRequest
from storefront.mail.sender import deliver
from tests.fixtures.smtp import SmtpServer
from tests.mail.factories import PUBLIC_BASE_URL, mail_settings

pytestmark = pytest.mark.anyio

PASSWORD = "correct-horse-battery-staple"
RESET = MailRequest(to="ada@example.com", template="password_reset", context={"token": "t0k3n"})


def reset_message() -> EmailMessage:
    return compose(mail_settings(), RESET)


async def test_a_mail_arrives_with_its_subject_both_parts_and_recipient(
    smtp_server: SmtpServer,
) -> None:
    settings = mail_settings(smtp_host=smtp_server.host, smtp_port=smtp_server.port)
    request = MailRequest(to="zoe@example.com", template="welcome", context={"full_name": "Zoë"})

    await deliver(settings, compose(settings, request))

    [mail] = smtp_server.received
    assert mail.mail_from == "noreply@shop.example"
    assert mail.rcpt_tos == ["zoe@example.com"]
    assert mail.message["Subject"] == "Welcome to Storefront, Zoë"
    assert mail.message["To"] == "zoe@example.com"
    text = mail.message.get_body(preferencelist=("plain",))
    html = mail.message.get_body(preferencelist=("html",))
    assert text is not None
    assert html is not None
    assert "Hello Zoë," in text.get_content()
    assert f'href="{PUBLIC_BASE_URL}/docs"' in html.get_content()


async def test_without_an_smtp_host_the_mail_is_logged_and_not_sent(
    smtp_server: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="storefront.mail")
    # The port points at a live server: had anything been sent, it would have arrived.
    settings = mail_settings(smtp_host="", smtp_port=smtp_server.port)

    await deliver(settings, reset_message())

    assert smtp_server.received == []
    [record] = [r for r in caplog.records if r.name == "storefront.mail"]
    assert record.levelno == logging.INFO
    logged = record.getMessage()
    assert "To: ada@example.com" in logged
    assert "Subject: Reset your Storefront password" in logged
    assert f"{PUBLIC_BASE_URL}/reset-password?token=t0k3n" in logged


async def test_production_never_logs_a_body_it_cannot_send(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="storefront.mail")
    settings = mail_settings(
        environment="production",
        secret_key="k" * 48,
        database_url="postgresql+asyncpg://storefront@db/storefront",
        redis_url="redis://redis:6379/0",
    )

    await deliver(settings, reset_message())

    [record] = [r for r in caplog.records if r.name == "storefront.mail"]
    assert record.levelno == logging.WARNING
    assert record.__dict__["mail_to"] == "ada@example.com"
    assert "t0k3n" not in caplog.text


@pytest.mark.parametrize(
    ("stage", "reply", "error"),
    [
        ("recipients", "550 5.1.1 No such user", PermanentMailError),
        ("recipients", "451 4.3.0 Try again later", TransientMailError),
        ("data", "554 5.6.0 Message rejected as spam", PermanentMailError),
        ("data", "452 4.3.1 Insufficient system storage", TransientMailError),
    ],
)
async def test_server_rejections_are_permanent_for_5xx_and_transient_for_4xx(
    smtp_server: SmtpServer, stage: str, reply: str, error: type[Exception]
) -> None:
    if stage == "recipients":
        smtp_server.reject_recipients_with = reply
    else:
        smtp_server.reject_data_with = reply
    settings = mail_settings(smtp_host=smtp_server.host, smtp_port=smtp_server.port)

    with pytest.raises(error) as caught:
        await deliver(settings, reset_message())

    assert reply in str(caught.value)
    assert smtp_server.received == []


@pytest.fixture
def refusing_port() -> Iterator[int]:
    """A port bound but not listening: connecting is refused, and nobody else can take it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


async def test_a_refused_connection_is_transient(refusing_port: int) -> None:
    settings = mail_settings(smtp_host="127.0.0.1", smtp_port=refusing_port)
    with pytest.raises(TransientMailError, match=f"127.0.0.1:{refusing_port}"):
        await deliver(settings, reset_message())


@pytest.fixture
async def silent_port() -> AsyncIterator[int]:
    """A server that accepts the connection and then never says a word."""

    async def listen_forever(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    server = await asyncio.start_server(listen_forever, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()


async def test_a_server_that_never_answers_times_out_as_transient(silent_port: int) -> None:
    timeout = 0.3
    settings = mail_settings(
        smtp_host="127.0.0.1", smtp_port=silent_port, smtp_timeout_seconds=timeout
    )
    started = time.monotonic()

    with pytest.raises(TransientMailError, match="did not answer in time"):
        await deliver(settings, reset_message())

    elapsed = time.monotonic() - started
    assert timeout <= elapsed < timeout + 1.0


async def test_credentials_are_used_to_log_in(smtp_server: SmtpServer) -> None:
    smtp_server.accounts = {"mailer": PASSWORD}
    settings = mail_settings(
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
        smtp_username="mailer",
        smtp_password=SecretStr(PASSWORD),
    )

    await deliver(settings, reset_message())

    assert len(smtp_server.received) == 1


async def test_refused_credentials_are_retried_and_the_password_never_shows(
    smtp_server: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    smtp_server.accounts = {"mailer": "another-password"}
    settings = mail_settings(
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
        smtp_username="mailer",
        smtp_password=SecretStr(PASSWORD),
    )

    with pytest.raises(TransientMailError, match="535") as caught:
        await deliver(settings, reset_message())

    assert PASSWORD not in str(caught.value)
    assert PASSWORD not in caplog.text
    assert smtp_server.received == []


async def test_a_sent_mail_is_logged_without_its_body(
    smtp_server: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="storefront.mail")
    settings = mail_settings(smtp_host=smtp_server.host, smtp_port=smtp_server.port)

    await deliver(settings, reset_message())

    [record] = [r for r in caplog.records if r.name == "storefront.mail"]
    assert record.getMessage() == "mail sent"
    assert record.__dict__["mail_to"] == "ada@example.com"
    assert "t0k3n" not in caplog.text
