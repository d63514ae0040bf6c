"""Mail as a job: queued in a transaction, delivered to a real SMTP server after commit,
retried while the server defers, failed for good when it refuses."""

import uuid
from collections.abc import AsyncIterator

import pytest

from storefront.core.config import Settings
from storefront.core.db import Database, unit_of_work
from storefront.jobs.models import JobStatus
from storefront.jobs.runtime import Jobs
from storefront.mail import service as mail_service
from tests.fixtures.jobs import wait_for_job
from tests.fixtures.smtp import SmtpServer

pytestmark = pytest.mark.anyio


@pytest.fixture
async def mail_jobs(
    job_settings: Settings, job_database: Database, smtp_server: SmtpServer
) -> AsyncIterator[Jobs]:
    settings = job_settings.model_copy(
        update={
            "smtp_host": smtp_server.host,
            "smtp_port": smtp_server.port,
            "smtp_timeout_seconds": 2.0,
            "public_base_url": "https://shop.example",
        }
    )
    jobs = Jobs(settings, job_database)
    await jobs.start(sweep=False)
    try:
        yield jobs
    finally:
        await jobs.aclose(drain_timeout=5)


async def send_welcome(jobs: Jobs, to: str) -> uuid.UUID:
    async with unit_of_work(jobs.database.sessionmaker) as session:
        job = await mail_service.send(
            session,
            queue=jobs.queue,
            to=to,
            template="welcome",
            context={"full_name": "Ada Lovelace"},
        )
    return job.id


async def test_a_queued_mail_arrives_at_the_smtp_server(
    mail_jobs: Jobs, smtp_server: SmtpServer
) -> None:
    job_id = await send_welcome(mail_jobs, "ada@example.com")

    await wait_for_job(mail_jobs.database, job_id, JobStatus.SUCCEEDED, timeout=10)

    [mail] = smtp_server.received
    assert mail.rcpt_tos == ["ada@example.com"]
    assert "Ada Lovelace" in mail.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert mail.message.get_body(("html",)) is not None


async def test_a_deferring_server_gets_the_mail_on_a_retry(
    mail_jobs: Jobs, smtp_server: SmtpServer
) -> None:
    smtp_server.reject_recipients_with = "451 4.3.0 Try again later"
    job_id = await send_welcome(mail_jobs, "ada@example.com")

    await wait_for_job(mail_jobs.database, job_id, JobStatus.QUEUED, attempts=1, timeout=10)
    smtp_server.reject_recipients_with = None
    job = await wait_for_job(mail_jobs.database, job_id, JobStatus.SUCCEEDED, timeout=10)

    assert job.attempts >= 2
    assert len(smtp_server.received) == 1


async def test_a_refused_recipient_fails_the_job_without_retries(
    mail_jobs: Jobs, smtp_server: SmtpServer
) -> None:
    smtp_server.reject_recipients_with = "550 5.1.1 No such user"
    job_id = await send_welcome(mail_jobs, "nobody@example.com")

    job = await wait_for_job(mail_jobs.database, job_id, JobStatus.FAILED, timeout=10)

    assert job.attempts == 1
    assert job.error is not None and "550" in job.error
    assert smtp_server.received == []
