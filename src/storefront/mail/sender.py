"""Deliver a built message over SMTP, or log it when no SMTP host is configured."""

import asyncio
import contextlib
import logging
from email.message import EmailMessage

from aiosmtplib import SMTP, SMTPException

from storefront.core.config import Settings
from storefront.core.tracing import client_span
from storefront.mail.failures import classify

logger = logging.getLogger("storefront.mail")


async def deliver(settings: Settings, message: EmailMessage) -> None:
    """Send `message`, or log it without an SMTP host.

    Raises PermanentMailError when retrying cannot help, TransientMailError otherwise.
    """
    if not settings.smtp_host:
        _log_instead_of_sending(settings, message)
        return
    client = _client(settings)
    try:
        with client_span(
            "smtp send", protocol="smtp", host=settings.smtp_host, port=settings.smtp_port
        ):
            await _send(settings, client, message)
        # Accepted: a failed goodbye must not make the job send the mail a second time.
        with contextlib.suppress(SMTPException, OSError):
            await client.quit()
    finally:
        client.close()
    logger.info(
        "mail sent",
        extra={"mail_to": message["To"], "mail_subject": message["Subject"]},
    )


def _client(settings: Settings) -> SMTP:
    password = settings.smtp_password
    return SMTP(
        hostname=settings.smtp_host,
        port=settings.smtp_port,
        timeout=settings.smtp_timeout_seconds,
        start_tls=settings.smtp_starttls,
        username=settings.smtp_username or None,
        password=password.get_secret_value() if password is not None else None,
    )


async def _send(settings: Settings, client: SMTP, message: EmailMessage) -> None:
    destination = f"{settings.smtp_host}:{settings.smtp_port}"
    try:
        # aiosmtplib times each command; this bounds the whole conversation, so a server
        # that answers just before each command's timeout cannot hold the job for minutes.
        async with asyncio.timeout(settings.smtp_timeout_seconds):
            await client.connect()
            await client.send_message(message)
    except (SMTPException, OSError, ValueError) as error:
        raise classify(error, destination=destination) from error


def _log_instead_of_sending(settings: Settings, message: EmailMessage) -> None:
    fields = {"mail_to": message["To"], "mail_subject": message["Subject"]}
    if settings.is_production:
        # Bodies carry password-reset tokens: production logs must never hold them.
        logger.warning("mail not sent: SMTP_HOST is empty (body withheld)", extra=fields)
        return
    logger.info(
        "mail not sent: SMTP_HOST is empty, logged instead\nTo: %s\nSubject: %s\n\n%s",
        message["To"],
        message["Subject"],
        _text_body(message),
        extra=fields,
    )


def _text_body(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    if part is None:
        return ""
    content: str = part.get_content()
    return content
