"""Sending mail from a request or a job: queued in its transaction, sent after the commit."""

from pydantic import JsonValue
from sqlalchemy.ext.asyncio import AsyncSession

from storefront.jobs import service as jobs_service
from storefront.jobs.models import Job
from storefront.jobs.queue import JobQueue
from storefront.mail.schemas import MailRequest, MailTemplate
from storefront.mail.tasks import SEND_MAIL


async def send(
    session: AsyncSession,
    *,
    queue: JobQueue,
    to: str,
    template: MailTemplate,
    context: dict[str, JsonValue],
) -> Job:
    request = MailRequest(to=to, template=template, context=context)
    return await jobs_service.enqueue(session, queue=queue, name=SEND_MAIL, payload=request)
