"""The one mail job: render the template and hand it to SMTP, retried with back-off."""

from storefront.jobs.registry import JobContext, PermanentJobError, job
from storefront.mail.errors import PermanentMailError
from storefront.mail.renderer import compose
from storefront.mail.schemas import MailRequest
from storefront.mail.sender import deliver

SEND_MAIL = "mail.send"


@job(SEND_MAIL, MailRequest, max_attempts=8, timeout_seconds=60.0)
async def send_mail(context: JobContext, request: MailRequest) -> None:
    try:
        await deliver(context.settings, compose(context.settings, request))
    except PermanentMailError as error:
        # Rejected for good (unknown mailbox, broken template): another try cannot help.
        raise PermanentJobError(str(error)) from error
